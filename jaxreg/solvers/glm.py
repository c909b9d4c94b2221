"""Lasso, elastic net and sparse logistic regression: the public solvers.

Thin functions over the working-set coordinate descent of :mod:`.cd`: they
validate the input, prepare the design (centring for the quadratic datafit),
translate the penalty into per-feature ``(l1, l2)`` strengths and turn the
final state into a :class:`~jaxreg.solvers.base.SolverResult`, warning
(``ConvergenceWarning``, never a NaN) when the budget ran out.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxreg import penalties
from jaxreg._validation import check_nonnegative, check_positive_int
from jaxreg.solvers.base import (
    SolverResult,
    binary_labels,
    check_l1_ratio,
    check_strength,
    check_X_y,
    prepare,
    warn_not_converged,
)
from jaxreg.solvers.cd import init_state, solve
from jaxreg.solvers.datafits import LOGISTIC, QUADRATIC, Logistic, Quadratic


def fit(
    datafit,
    X,
    y,
    l1,
    l2,
    *,
    fit_intercept,
    tol,
    max_iter,
    max_epochs,
    p0,
    coef_init=None,
    what,
):
    """Checks, prepares and solves one problem; returns a :class:`SolverResult`."""
    X, y = check_X_y(X, y)
    if isinstance(datafit, Logistic):
        y = binary_labels(y)
    check_positive_int("max_iter", max_iter)
    check_nonnegative("tol", tol)
    center = fit_intercept and isinstance(datafit, Quadratic)
    design = prepare(X, y, center=center)
    return fit_prepared(
        datafit,
        design,
        l1,
        l2,
        center=center,
        fit_intercept=fit_intercept,
        tol=tol,
        max_iter=max_iter,
        max_epochs=max_epochs,
        p0=p0,
        coef_init=coef_init,
        what=what,
    )


def fit_prepared(
    datafit,
    design,
    l1,
    l2,
    *,
    center,
    fit_intercept,
    tol,
    max_iter,
    max_epochs,
    p0,
    coef_init=None,
    what,
):
    """:func:`fit` on a design already prepared (and on the device)."""
    dtype = design.XT.dtype
    d = design.XT.shape[0]
    w0 = None
    if coef_init is not None:
        w0 = jnp.asarray(coef_init, dtype)
        if w0.shape != (d,):
            raise ValueError(f"coef_init must have shape ({d},), got {w0.shape}")
    st, l1v, l2v, tol_abs = _setup(datafit, design, w0, l1, l2, tol)
    st = solve(
        datafit,
        design,
        l1v,
        l2v,
        st,
        tol_abs,
        fit_intercept=fit_intercept and not center,
        max_iter=max_iter,
        max_epochs=max_epochs,
        p0=p0,
    )
    return finish(st, design, center, tol_abs, what)


@functools.partial(jax.jit, static_argnames="datafit")
def _setup(datafit, design, w0, l1, l2, tol):
    """Initial state, per-feature strengths and ``tol · P(0)``: one dispatch."""
    d = design.XT.shape[0]
    dtype = design.XT.dtype
    p_zero = datafit.value(design.y, jnp.zeros_like(design.y))
    l1v, l2v = jnp.full((d,), l1, dtype), jnp.full((d,), l2, dtype)
    return init_state(design, w0, 0.0), l1v, l2v, (tol * p_zero).astype(dtype)


def finish(st, design, center, tol_abs, what):
    """Turns a final state into a :class:`SolverResult`, warning if needed."""
    if center:
        intercept = design.y_offset - jnp.dot(design.xbar, st.w)
    else:
        intercept = st.b
    converged = st.gap <= tol_abs
    if not bool(converged):
        warn_not_converged(st.gap, tol_abs, what)
    return SolverResult(st.w, intercept, st.gap, st.n_outer, converged)


def strengths(penalty, l1_ratio=1.0):
    """``(l1, l2)`` per-coordinate strengths of a separable penalty.

    ``penalty`` is a number ``lam`` (elastic net ``lam(ρ|w| + (1-ρ)/2 w²)``
    with ``ρ = l1_ratio``) or a :mod:`jaxreg.penalties` ``L1``, ``L2`` or
    ``ElasticNet``; anything else (group lasso, nuclear norm) is not separable
    and raises ``ValueError`` (use :func:`~jaxreg.solvers.fista.
    proximal_gradient`).
    """
    if isinstance(penalty, penalties.L1):
        return penalty.strength, 0.0
    if isinstance(penalty, penalties.L2):
        return 0.0, penalty.strength
    if isinstance(penalty, penalties.ElasticNet):
        rho = penalty.l1_ratio
        return penalty.strength * rho, penalty.strength * (1.0 - rho)
    if isinstance(penalty, penalties.Penalty):
        raise ValueError(
            f"penalty must be L1, L2 or ElasticNet for coordinate descent, got "
            f"{type(penalty).__name__}; use proximal_gradient"
        )
    check_strength("penalty", penalty)
    check_l1_ratio(l1_ratio)
    return penalty * l1_ratio, penalty * (1.0 - l1_ratio)


def lasso(
    X,
    y,
    lam,
    *,
    fit_intercept=True,
    tol=1e-4,
    max_iter=100,
    max_epochs=100_000,
    coef_init=None,
    p0=64,
) -> SolverResult:
    """Lasso by working-set coordinate descent.

    Minimizes ``1/(2n) ||y - Xw - b||² + lam ||w||₁`` (scikit-learn's ``Lasso``
    with ``alpha = lam``), the intercept ``b`` unpenalized.

    Args:
      X: design, shape ``(n_samples, n_features)``, numpy or jax.
      y: targets, shape ``(n_samples,)``.
      lam: L1 strength ``>= 0``.
      fit_intercept: fit an unpenalized intercept (by centring X and y).
      tol: stop when the duality gap is ``<= tol · P(0)``, ``P(0) =
        1/(2n) ||y - ȳ||²``. scikit-learn's ``tol`` means ``gap <= tol ·
        ||y||²/n = 2·tol·P(0)``, so ``tol=1e-4`` here is twice as strict. In
        float32 gaps down to about ``1e-6 · P(0)`` are reliable; ask for less
        only with x64 enabled.
      max_iter: maximum number of outer (working-set) iterations.
      max_epochs: maximum total number of coordinate-descent epochs.
      coef_init: warm start, shape ``(n_features,)``.
      p0: smallest working-set size.

    Returns:
      A :class:`~jaxreg.solvers.base.SolverResult`; a ``ConvergenceWarning``
      (not a NaN) if the budget ran out first.

    Examples:
      >>> import numpy as np, jaxreg as jr
      >>> X = np.random.default_rng(0).normal(size=(50, 20))
      >>> y = X[:, 0] - 2 * X[:, 1]
      >>> res = jr.lasso(X, y, lam=0.1)
      >>> [round(float(c), 2) for c in res.coef[:2]]
      [0.89, -1.91]
    """
    check_strength("lam", lam)
    return fit(
        QUADRATIC,
        X,
        y,
        lam,
        0.0,
        fit_intercept=fit_intercept,
        tol=tol,
        max_iter=max_iter,
        max_epochs=max_epochs,
        p0=p0,
        coef_init=coef_init,
        what="lasso",
    )


def enet(
    X,
    y,
    lam,
    l1_ratio=0.5,
    *,
    fit_intercept=True,
    tol=1e-4,
    max_iter=100,
    max_epochs=100_000,
    coef_init=None,
    p0=64,
) -> SolverResult:
    """Elastic net by working-set coordinate descent.

    Minimizes ``1/(2n) ||y - Xw - b||² + lam (ρ ||w||₁ + (1 - ρ)/2 ||w||²)``
    with ``ρ = l1_ratio`` (scikit-learn's ``ElasticNet(alpha=lam,
    l1_ratio=ρ)``; glmnet calls ``lam`` lambda and ``ρ`` alpha). Named ``enet``
    (like ``enet_path``) because ``jaxreg.elastic_net`` is the penalty
    factory. Arguments and return value as in :func:`lasso`.
    """
    check_strength("lam", lam)
    check_l1_ratio(l1_ratio)
    return fit(
        QUADRATIC,
        X,
        y,
        lam * l1_ratio,
        lam * (1.0 - l1_ratio),
        fit_intercept=fit_intercept,
        tol=tol,
        max_iter=max_iter,
        max_epochs=max_epochs,
        p0=p0,
        coef_init=coef_init,
        what="enet",
    )


def logistic_regression(
    X,
    y,
    penalty,
    l1_ratio=1.0,
    *,
    fit_intercept=True,
    tol=1e-4,
    max_iter=100,
    max_epochs=100_000,
    coef_init=None,
    p0=64,
) -> SolverResult:
    """Sparse logistic regression by working-set prox-Newton coordinate descent.

    Minimizes ``1/n Σᵢ log(1 + exp(-yᵢ(xᵢᵀw + b))) + lam (ρ ||w||₁ +
    (1 - ρ)/2 ||w||²)`` with ``ρ = l1_ratio``, labels ``{0, 1}``, ``±1`` or boolean,
    ``b`` unpenalized. scikit-learn's ``LogisticRegression(C, l1_ratio=ρ)``
    minimizes ``C Σᵢ log(...) + ρ||w||₁ + (1 - ρ)/2 ||w||²``, i.e. this with
    ``lam = 1/(n C)``; skglm's ``SparseLogisticRegression(alpha)`` is
    ``lam = alpha``, ``ρ = 1``; celer's ``C`` maps like scikit-learn's.

    Args:
      X, y: design ``(n_samples, n_features)`` and binary labels.
      penalty: a strength ``lam >= 0`` (with ``l1_ratio``), or a penalty from
        :mod:`jaxreg.penalties`: ``l1(lam)``, ``l2(lam)`` or
        ``elastic_net(lam, ρ)`` (then ``l1_ratio`` is ignored).
      l1_ratio: ``ρ`` in ``[0, 1]`` when ``penalty`` is a number.
      fit_intercept: fit an unpenalized intercept.
      tol: stop when the duality gap is ``<= tol · P(0)``, ``P(0) = log 2``.
        With an intercept the gap certifies ``w`` at the current ``b``; ``b``
        itself is solved to the same accuracy by the inner Newton steps.
      max_iter, max_epochs, coef_init, p0: as in :func:`lasso`.

    Returns:
      A :class:`~jaxreg.solvers.base.SolverResult`.
    """
    l1, l2 = strengths(penalty, l1_ratio)
    return fit(
        LOGISTIC,
        X,
        y,
        l1,
        l2,
        fit_intercept=fit_intercept,
        tol=tol,
        max_iter=max_iter,
        max_epochs=max_epochs,
        p0=p0,
        coef_init=coef_init,
        what="logistic_regression",
    )
