r"""Gradients of linear-model solutions: ``jax.grad`` through ``lasso`` & co.

:func:`~jaxreg.solvers.glm.fit` (hence ``lasso``, ``enet``,
``logistic_regression``) and :func:`~jaxreg.solvers.bcd.group_lasso` hand
their call to :func:`differentiable_fit` when an argument is a JAX tracer
(``jax.grad``, ``jax.vjp``, ``jax.jacrev``, ``jit``, ``vmap``). The solution
``(w, b)`` then carries a ``custom_vjp`` (:func:`~jaxreg.solvers.implicit.
implicit_support_argmin`) built from the contracts alone, for any datafit and
any penalty whose ``value`` is smooth on its support:

.. math::

    \phi(w, b;\ X, y, \text{penalty}) = F_y(Xw + b) + \text{penalty.value}(w),

differentiated with respect to ``X`` (dense), ``y`` (least squares; labels of
a classifier are not differentiable), and every array leaf of the penalty:
the strength, the per-feature ``weights`` (``penalty_factor``), the
``l1_ratio``, the group weights. The reverse pass solves
:math:`\nabla^2_{SS}\phi\,u = \bar x_S` on the support
:math:`S = \{j : w_j \neq 0\} \cup \{b\}` by conjugate gradients on
Hessian-vector products and is zero off the support (the generalized
Jacobian of sparse-ho, Bertrand et al. 2022); the solver is never unrolled.

**Which forward solver runs.** Under eager ``jax.grad``/``jax.vjp`` (no
``jit`` around the call) JAX evaluates the ``custom_vjp`` forward pass on
concrete arrays, so the usual host-driven working-set coordinate descent
runs, with its validation, warm start (``coef_init``) and
``ConvergenceWarning``. Inside ``jit`` or ``vmap`` the inputs are abstract and
that solver cannot run; batched FISTA (:mod:`.fista`, ``max_iter · 100``
proximal-gradient steps, stopped on the same duality gap; for the Tweedie
family, which has neither a conjugate nor a global curvature bound, the
line-search FISTA of :func:`~jaxreg.solvers.composite.proximal_gradient`,
reporting the stationarity measure) runs instead:
traceable, slower, ``coef_init`` ignored, and no warning can be raised, so
read ``result.converged``. The group lasso is differentiable eagerly only
(under ``jit`` it raises ``ValueError``). Forward mode (``jvp``, ``jacfwd``)
is not defined: use ``grad``/``vjp``/``jacrev``.

**At a kink** (a strength at which a coordinate enters or leaves the
support) the solution path is continuous but not differentiable; the
gradient returned is the one-sided derivative of the support the solver
found (the Jacobian of the linear system on that support): finite, equal to
the left or right derivative, never NaN. With a singular support Hessian
(more active features than samples and no L2 part, or a separable logistic
problem) CG returns its last iterate after ``max_iter`` steps.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg._pytree import register_dataclass
from jaxreg.solvers.base import SolverResult, default_dtype
from jaxreg.solvers.datafits import normalized_weights
from jaxreg.solvers.design import DenseDesign, as_design, exact_mean, is_sparse
from jaxreg.solvers.implicit import implicit_support_argmin

__all__ = [
    "cg_tol",
    "differentiable_fit",
    "is_traced",
    "linear_objective",
    "raw_design",
    "support_of",
]

#: conjugate-gradient budget of the reverse pass
CG_MAX_ITER = 500


def cg_tol(dtype):
    """Relative CG residual of the reverse pass: 1e-10 in float64, 1e-5 in
    float32 (about what float32 Hessian-vector products resolve)."""
    return 1e-10 if jnp.dtype(dtype) == jnp.float64 else 1e-5


def is_traced(*trees) -> bool:
    """Whether any leaf of ``trees`` is a JAX tracer (``grad``, ``jit``, ``vmap``)."""
    return any(
        isinstance(leaf, jax.core.Tracer) for t in trees for leaf in jax.tree.leaves(t)
    )


def linear_objective(x, theta):
    """``φ((w, b), (design, datafit, penalty)) = F(X̃w + b) + penalty.value(w)``.

    ``design`` is any :mod:`~jaxreg.solvers.design` design (uncentred: the
    intercept is the free coordinate ``b``; a dense one built from a traced
    ``X`` carries the gradient to ``X``). ``w`` may be laid out as the
    penalty wants it (``(G, m)`` for a block penalty); the design reads it
    flattened.
    """
    w, b = x
    design, datafit, penalty = theta
    return datafit.value(design.matvec(jnp.ravel(w)) + b) + penalty.value(w)


def raw_design(X, dtype):
    """An uncentred dense design of ``X`` (possibly traced) for
    :func:`linear_objective` (``xbar = colsq = 0``: only products are read)."""
    XT = jnp.asarray(X, dtype).T
    zeros = jnp.zeros((XT.shape[0],), dtype)
    return DenseDesign(XT, zeros, zeros)


def support_of(fit_intercept: bool):
    """``(w, b) ↦ (w ≠ 0, fit_intercept)``: the generalized support (an exact
    zero inside a nonzero group is held at 0, which is harmless)."""

    def support(x):
        w, b = x
        return w != 0, jnp.full(jnp.shape(b), fit_intercept)

    return support


def _datafit(datafit_cls, y, a):
    try:
        return datafit_cls.from_targets(y, a)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        raise ValueError(
            f"y of the {datafit_cls.__name__} datafit are labels encoded on the "
            "host and cannot be traced or differentiated; pass them as a "
            "numpy array"
        ) from None


def _check_shapes(X, y):
    if len(np.shape(X)) != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got {np.shape(X)}")
    if np.shape(y) != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},), got {np.shape(y)}")


def differentiable_fit(
    X,
    y,
    penalty,
    datafit_cls,
    *,
    sample_weight=None,
    fit_intercept=True,
    host_solve,
    traced_solve=None,
    what="fit",
) -> SolverResult:
    """A solver call whose ``(coef, intercept)`` is differentiable (module doc).

    Args:
      X, y, penalty: the problem; any of them may hold tracers. ``X`` dense
        (``scipy.sparse``/``BCOO`` is accepted but not differentiated).
      datafit_cls: the datafit class.
      sample_weight: per-sample weights (concrete; not differentiated).
      fit_intercept: unpenalized intercept.
      host_solve: ``host_solve(X, y, penalty) -> SolverResult`` on concrete
        values (the working-set solver with its options bound).
      traced_solve: ``traced_solve(design, datafit, penalty, center) ->
        ((w, b), (gap, n_iter, converged))`` for tracers, or ``None`` (a
        ``ValueError`` under ``jit``/``vmap``): ``design`` is centred when
        there is an intercept, and ``center`` says whether the targets are
        too (the intercept eliminated) or the intercept is a free coordinate.
      what: the solver's name in messages.

    Returns:
      A :class:`~jaxreg.solvers.base.SolverResult` whose ``coef`` and
      ``intercept`` are differentiable in ``X``, ``y`` and the penalty's
      array leaves.
    """
    sparse = is_sparse(X)
    if not sparse and not isinstance(X, jax.Array):
        X = np.asarray(X)
    if not isinstance(y, jax.Array):
        y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    _check_shapes(X, y)
    dtype = default_dtype(X, y)
    n = X.shape[0]
    a = jnp.asarray(normalized_weights(sample_weight, n, dtype))
    datafit = _datafit(datafit_cls, y, a)
    datafit = type(datafit)(jnp.asarray(datafit.y, dtype), a)
    penalty = jax.tree.map(lambda leaf: jnp.asarray(leaf, dtype), penalty)
    if sparse:
        raw = as_design(X, a, center=False, dtype=dtype, to_device=jnp.asarray)
    else:
        raw = raw_design(X, dtype)

    def solve(theta):
        raw_, df, pen = theta
        if is_traced(theta):
            if traced_solve is None:
                raise ValueError(
                    f"{what} is host-driven and cannot run under jit/vmap; "
                    "differentiate it eagerly (jax.grad outside jit)"
                )
            # the design centred whenever there is an intercept, as prepare()
            # centres it: a free intercept beside far-from-zero columns
            # would slow FISTA by the columns' means (its step is 1/L)
            if sparse:
                design = as_design(
                    X, a, center=fit_intercept, dtype=dtype, to_device=None
                )
            else:
                XT = raw_.XT
                design = DenseDesign(XT, *DenseDesign.moments(XT, a, fit_intercept))
            return traced_solve(design, df, pen, fit_intercept and datafit_cls.centre)
        res = host_solve(X if sparse else raw_.XT.T, df.y, pen)
        x = (res.coef, jnp.asarray(res.intercept, dtype))
        return x, (res.gap, res.n_iter, res.converged)

    wrapped = implicit_support_argmin(
        solve,
        linear_objective,
        support_of(fit_intercept),
        tol=cg_tol(dtype),
        max_iter=CG_MAX_ITER,
    )
    (coef, intercept), (gap, n_iter, converged) = wrapped((raw, datafit, penalty))
    return SolverResult(coef, intercept, gap, n_iter, converged)


@functools.partial(register_dataclass, data_fields=["penalty"], meta_fields=["free"])
@dataclasses.dataclass(frozen=True)
class _OnCoef:
    """A separable ``penalty`` on ``w`` of the parameters ``(w, b)``; ``b``
    is free (``free``) or held at 0."""

    penalty: Any
    free: bool

    def value(self, params):
        return jnp.sum(self.penalty.coord_value(params[0]))

    def prox(self, params, step=1.0):
        w, b = params
        return self.penalty.coord_prox(w, step), b if self.free else jnp.zeros_like(b)


def _glm_objective(params, design, datafit):
    w, b = params
    return datafit.value(design.matvec(w) + b)


def fista_solve(fit_intercept, tol, max_iter):
    """A ``traced_solve`` for separable penalties on one strength, the
    intercept by centring (least squares) or as a free coordinate beside the
    centred columns (``b = b̃ - xbarᵀw``): batched
    FISTA at the fixed step ``1/L``, or, for a datafit without a global
    curvature bound (the Tweedie family, ``curvature = inf``), the line-search
    FISTA of :func:`~jaxreg.solvers.composite.proximal_gradient` (``tol`` its
    relative prox-gradient mapping), reporting the measure of
    :func:`~jaxreg.solvers.cd.optimality_gap`."""
    from jaxreg.solvers import cd, fista
    from jaxreg.solvers.composite import proximal_gradient
    from jaxreg.solvers.glm import objective_at_zero

    def traced_solve(design, datafit, penalty, center):
        dtype = design.dtype
        a = datafit.weights
        y_offset = exact_mean(a, datafit.y)[0] if center else jnp.zeros((), dtype)
        df = type(datafit)(datafit.y - y_offset, a)
        fit_col = fit_intercept and not center
        if not math.isfinite(df.curvature):
            # tol's scale as in the eager fit: the intercept-only deviance
            tol_abs = tol * objective_at_zero(df, design, fit_col)
            b0 = df.intercept_at_zero().astype(dtype) if fit_col else 0.0
            init = (jnp.zeros((design.n_features,), dtype), jnp.asarray(b0, dtype))
            res = proximal_gradient(
                _glm_objective,
                init,
                _OnCoef(penalty, fit_col),
                design,
                df,
                tol=tol,
                max_iter=max_iter,
            )
            w, b = res.params
            u = design.matvec(w) + b
            v = design.rmatvec(df.neg_grad(u))
            gap = cd.optimality_gap(df, penalty, u, w, v, design.colsq)[0]
            b = (b if fit_col else y_offset) - jnp.dot(design.xbar, w)
            return (w, b), (gap, res.n_iter, res.converged & (gap <= tol_abs))
        tol_abs = tol * df.value(jnp.zeros((design.n_samples,), dtype))
        strengths = jnp.reshape(jnp.asarray(penalty.strength, dtype), (1,))
        W, B, gaps, iters = fista.solve_batched(
            design,
            df,
            penalty,
            strengths,
            tol_abs,
            fit_intercept=fit_col,
            max_iter=max_iter,
        )
        w = W[0]
        b = (B[0] if fit_col else y_offset) - jnp.dot(design.xbar, w)
        return (w, b), (gaps[0], iters[0], gaps[0] <= tol_abs)

    return traced_solve
