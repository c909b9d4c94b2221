"""Regularization paths and K-fold cross-validation.

A path solves the same problem for a decreasing grid of strengths
``λ_max = λ₀ > λ₁ > … > λ_{L-1} = eps·λ_max`` (geometric, like scikit-learn's
``lasso_path`` and glmnet), where ``λ_max`` is the smallest strength with
``w = 0`` optimal: ``||Xᵀ(-∇F(b₀))||_∞ / ρ`` (``b₀`` the optimal intercept at
``w = 0``; for the Lasso ``||Xᵀ(y - ȳ)||_∞ / n``).

Two modes:

- **sequential** (default): working-set coordinate descent (:mod:`.cd`) with
  warm starts, the loop over ``λ`` inside the compiled code
  (``lax.while_loop``), so the whole path is one device call per working-set
  bucket; the host only steps in when the support outgrows the bucket.
- **batched** (``batched=True``): every ``λ`` solved independently and at once
  by FISTA vmapped over ``λ`` (:mod:`.fista`), matrix-matrix products instead
  of coordinate updates: the mode for accelerators, and for folds × ``λ`` in
  :func:`cross_validate`.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxreg._validation import check_nonnegative, check_positive_int
from jaxreg.solvers import cd, fista
from jaxreg.solvers.base import (
    binary_labels,
    check_l1_ratio,
    check_X_y,
    prepare,
    warn_not_converged,
)
from jaxreg.solvers.datafits import LOGISTIC, QUADRATIC, Logistic, Quadratic


class PathResult(NamedTuple):
    """A regularization path.

    Attributes:
      lambdas: strengths, decreasing, shape ``(L,)``.
      coef: coefficients, shape ``(L, n_features)`` (scikit-learn's
        ``lasso_path`` returns the transpose).
      intercept: shape ``(L,)``.
      gap: duality gap at each ``λ``, shape ``(L,)``.
      n_iter: outer iterations at each ``λ``, shape ``(L,)``.
      converged: shape ``(L,)``.
    """

    lambdas: jax.Array
    coef: jax.Array
    intercept: jax.Array
    gap: jax.Array
    n_iter: jax.Array
    converged: jax.Array


def _datafit(name):
    if name == "quadratic":
        return QUADRATIC
    if name == "logistic":
        return LOGISTIC
    raise ValueError(f"datafit must be 'quadratic' or 'logistic', got {name!r}")


def _intercept0(datafit, design, fit_col):
    """Optimal intercept at ``w = 0`` when it is a free coordinate."""
    if not fit_col:
        return jnp.zeros((), design.XT.dtype)
    p = jnp.clip(jnp.mean(design.y > 0), 1e-12, 1 - 1e-12)
    return jnp.log(p / (1 - p)).astype(design.XT.dtype)


def lambda_max(datafit, design, fit_col, l1_ratio=1.0):
    """Smallest strength whose solution is ``w = 0``."""
    b0 = _intercept0(datafit, design, fit_col)
    r = datafit.neg_grad(design.y, jnp.full_like(design.y, b0))
    v = design.XT @ r - design.xbar * jnp.sum(r)
    return jnp.max(jnp.abs(v)) / max(l1_ratio, 1e-3)


def lambda_grid(lam_max, n_lambdas, eps):
    """``n_lambdas`` values from ``lam_max`` down to ``eps·lam_max``, geometric."""
    return lam_max * jnp.geomspace(1.0, eps, n_lambdas)


@functools.partial(jax.jit, static_argnames=cd.STATIC)
def _path_bucket(datafit, K, fit_intercept, design, l1s, l2s, start, st, out, budget):
    d = design.XT.shape[0]
    dtype = design.XT.dtype
    n_lam = l1s.shape[0]

    def cond(c):
        i, st, _, _ = c
        return (i < n_lam) & (st.status != cd.GROW)

    def body(c):
        i, st, cache, (coefs, ints, gaps, iters) = c
        zero = jnp.zeros((), jnp.int32)
        st = st._replace(n_outer=zero, n_epochs=zero)
        l1 = jnp.full((d,), l1s[i], dtype)
        l2 = jnp.full((d,), l2s[i], dtype)
        st, cache = cd.run_outer(
            datafit, K, fit_intercept, design, l1, l2, st, cache, budget
        )
        keep = st.status != cd.GROW
        coefs = coefs.at[i].set(jnp.where(keep, st.w, coefs[i]))
        ints = ints.at[i].set(st.b)
        gaps = gaps.at[i].set(st.gap)
        iters = iters.at[i].set(st.n_outer)
        st = st._replace(status=jnp.where(keep, cd.RUNNING, cd.GROW).astype(jnp.int32))
        return jnp.where(keep, i + 1, i), st, cache, (coefs, ints, gaps, iters)

    st = st._replace(status=jnp.zeros((), jnp.int32))
    cache = cd.empty_cache(datafit, design, K)
    start, st, _, out = lax.while_loop(cond, body, (start, st, cache, out))
    return start, st, out


def _check_path_args(lambdas, n_lambdas, eps, tol, max_iter):
    if lambdas is not None:
        check_nonnegative("lambdas", lambdas)
    check_positive_int("n_lambdas", n_lambdas)
    check_nonnegative("eps", eps)
    check_nonnegative("tol", tol)
    check_positive_int("max_iter", max_iter)


def solve_path(
    datafit,
    design,
    lambdas,
    l1_ratio,
    *,
    fit_col,
    tol_abs,
    max_iter,
    max_epochs,
    p0,
    batched,
):
    """Path on a prepared design; returns (coefs, intercepts, gaps, n_iter)."""
    d = design.XT.shape[0]
    dtype = design.XT.dtype
    lambdas = jnp.asarray(lambdas, dtype)
    l1s, l2s = lambdas * l1_ratio, lambdas * (1.0 - l1_ratio)
    if batched:
        return fista.solve_batched(
            datafit,
            design,
            l1s,
            l2s,
            tol_abs,
            fit_intercept=fit_col,
            max_iter=max_iter * 100,
        )
    n_lam = lambdas.shape[0]
    out = (
        jnp.zeros((n_lam, d), dtype),
        jnp.zeros((n_lam,), dtype),
        jnp.zeros((n_lam,), dtype),
        jnp.zeros((n_lam,), jnp.int32),
    )
    b0 = _intercept0(datafit, design, fit_col)
    st = cd.init_state(design, None, b0)
    start = jnp.zeros((), jnp.int32)
    K = cd.bucket(d, 0, p0)
    while True:
        budget = cd.Budget(tol_abs, max_iter, max_epochs, cd.grow_threshold(K, d))
        start, st, out = _path_bucket(
            datafit, K, fit_col, design, l1s, l2s, start, st, out, budget
        )
        if int(start) >= n_lam:
            return out
        K = cd.next_bucket(d, st.w, K)


def path(
    X,
    y,
    *,
    datafit="quadratic",
    lambdas=None,
    n_lambdas=100,
    eps=1e-3,
    l1_ratio=1.0,
    fit_intercept=True,
    tol=1e-4,
    max_iter=100,
    max_epochs=100_000,
    p0=64,
    batched=False,
) -> PathResult:
    """Regularization path for the Lasso / elastic net / sparse logistic model.

    Minimizes, for each ``λ`` in the grid, ``F(Xw + b) + λ (ρ ||w||₁ +
    (1 - ρ)/2 ||w||²)`` with ``F`` the quadratic ``1/(2n)||y - u||²`` or the
    mean log-loss and ``ρ = l1_ratio``.

    Args:
      X, y: data (labels ``{0, 1}``, ``±1`` or boolean for ``datafit="logistic"``).
      datafit: ``"quadratic"`` or ``"logistic"``.
      lambdas: explicit strengths (sorted decreasing for warm starts); default
        ``n_lambdas`` values from ``λ_max`` to ``eps·λ_max``.
      n_lambdas, eps: grid size and ratio (scikit-learn's defaults 100, 1e-3).
      l1_ratio: ``ρ`` in ``[0, 1]`` (``ρ = 0`` needs explicit ``lambdas``).
      fit_intercept: unpenalized intercept.
      tol: per-``λ`` stopping rule ``gap <= tol · P(0)``.
      max_iter, max_epochs, p0: per-``λ`` budgets, as in :func:`~.glm.lasso`.
      batched: solve all ``λ`` at once with vmapped FISTA instead.

    Returns:
      A :class:`PathResult`.
    """
    datafit = _datafit(datafit)
    X, y = check_X_y(X, y)
    if isinstance(datafit, Logistic):
        y = binary_labels(y)
    check_l1_ratio(l1_ratio)
    _check_path_args(lambdas, n_lambdas, eps, tol, max_iter)
    center = fit_intercept and isinstance(datafit, Quadratic)
    fit_col = fit_intercept and not center
    design = prepare(X, y, center=center)
    if lambdas is None:
        if l1_ratio == 0:
            raise ValueError("l1_ratio=0 has no λ_max: pass explicit lambdas")
        lam_max = lambda_max(datafit, design, fit_col, l1_ratio)
        lambdas = lambda_grid(lam_max, n_lambdas, eps)
    p_zero = datafit.value(design.y, jnp.zeros_like(design.y))
    tol_abs = tol * p_zero
    coefs, ints, gaps, iters = solve_path(
        datafit,
        design,
        lambdas,
        l1_ratio,
        fit_col=fit_col,
        tol_abs=tol_abs,
        max_iter=max_iter,
        max_epochs=max_epochs,
        p0=p0,
        batched=batched,
    )
    if center:
        ints = design.y_offset - coefs @ design.xbar
    converged = gaps <= tol_abs
    if not bool(jnp.all(converged)):
        warn_not_converged(jnp.max(gaps), tol_abs, "path")
    return PathResult(jnp.asarray(lambdas), coefs, ints, gaps, iters, converged)


def lasso_path(X, y, **kwargs) -> PathResult:
    """Lasso path: :func:`path` with the quadratic datafit and ``l1_ratio=1``."""
    return path(X, y, datafit="quadratic", l1_ratio=1.0, **kwargs)


def enet_path(X, y, l1_ratio=0.5, **kwargs) -> PathResult:
    """Elastic-net path: :func:`path` with the quadratic datafit."""
    return path(X, y, datafit="quadratic", l1_ratio=l1_ratio, **kwargs)


def logistic_path(X, y, l1_ratio=1.0, **kwargs) -> PathResult:
    """Sparse logistic path: :func:`path` with the logistic datafit."""
    return path(X, y, datafit="logistic", l1_ratio=l1_ratio, **kwargs)


class CVResult(NamedTuple):
    """K-fold cross-validation of a path.

    Attributes:
      lambdas: the common grid, shape ``(L,)``.
      scores: held-out loss per ``λ`` and fold, shape ``(L, n_folds)`` (mean
        squared error, or mean log-loss for the logistic datafit).
      best_index: index of the smallest mean held-out loss (first on ties).
      best_lambda: ``lambdas[best_index]``.
    """

    lambdas: np.ndarray
    scores: np.ndarray
    best_index: int
    best_lambda: float


def kfold(n_samples, n_folds):
    """Contiguous folds, like scikit-learn's ``KFold(n_folds)`` (no shuffle)."""
    check_positive_int("cv", n_folds)
    if n_folds < 2 or n_folds > n_samples:
        raise ValueError(f"cv must lie in [2, n_samples={n_samples}], got {n_folds}")
    sizes = np.full(n_folds, n_samples // n_folds)
    sizes[: n_samples % n_folds] += 1
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    idx = np.arange(n_samples)
    return [
        (np.concatenate([idx[:a], idx[b:]]), idx[a:b])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]


def cross_validate(
    X,
    y,
    *,
    datafit="quadratic",
    lambdas=None,
    n_lambdas=100,
    eps=1e-3,
    l1_ratio=1.0,
    cv=5,
    fit_intercept=True,
    tol=1e-4,
    max_iter=100,
    batched=False,
) -> CVResult:
    """K-fold selection of ``λ`` on a path, as scikit-learn's ``LassoCV``.

    The grid is computed once on the full data (as ``LassoCV`` does); each
    fold fits a warm-started path on its training part (centred with the
    training means) and scores every ``λ`` on its held-out part.

    Args:
      X, y, datafit, lambdas, n_lambdas, eps, l1_ratio, fit_intercept, tol,
        max_iter, batched: as in :func:`path`.
      cv: number of contiguous folds, or a list of ``(train, test)`` index
        arrays (e.g. ``list(KFold(5).split(X))``).

    Returns:
      A :class:`CVResult`; refit on the full data at ``best_lambda``.
    """
    datafit_obj = _datafit(datafit)
    X, y = check_X_y(X, y)
    Xn, yn = np.asarray(X), np.asarray(y)
    if isinstance(datafit_obj, Logistic):
        yn = binary_labels(yn)
    folds = kfold(Xn.shape[0], cv) if isinstance(cv, int) else list(cv)
    if lambdas is None:
        center = fit_intercept and isinstance(datafit_obj, Quadratic)
        design = prepare(Xn, yn, center=center)
        lam_max = lambda_max(
            datafit_obj, design, fit_intercept and not center, l1_ratio
        )
        lambdas = lambda_grid(lam_max, n_lambdas, eps)
    lambdas = np.asarray(lambdas)
    scores = []
    for train, test in folds:
        res = path(
            Xn[train],
            yn[train],
            datafit=datafit,
            lambdas=lambdas,
            l1_ratio=l1_ratio,
            fit_intercept=fit_intercept,
            tol=tol,
            max_iter=max_iter,
            batched=batched,
        )
        coefs = np.asarray(res.coef, dtype=np.float64)
        pred = Xn[test] @ coefs.T + np.asarray(res.intercept, np.float64)
        if isinstance(datafit_obj, Logistic):
            loss = np.logaddexp(0.0, -yn[test][:, None] * pred).mean(axis=0)
        else:
            loss = ((yn[test][:, None] - pred) ** 2).mean(axis=0)
        scores.append(loss)
    scores = np.stack(scores, axis=1)
    best = int(np.argmin(scores.mean(axis=1)))
    return CVResult(lambdas, scores, best, float(lambdas[best]))
