"""Ridge regression by Cholesky factorization or conjugate gradient.

Minimizes ``1/(2n) ||y - Xw - b||² + lam/2 ||w||²`` (the intercept ``b``
unpenalized, eliminated by centring). The solution is
``w = (XᵀX + n·lam·I)⁻¹ Xᵀy`` on centred data — scikit-learn's ``Ridge``
minimizes ``||y - Xw||² + alpha ||w||²``, so ``alpha = n·lam``.

- ``method="cholesky"``: factorizes the ``d × d`` system when ``d <= n``, or
  the ``n × n`` dual system ``(XXᵀ + n·lam·I) a = y``, ``w = Xᵀa`` when
  ``d > n`` (one matrix product and one Cholesky; no SVD).
- ``method="cg"``: matrix-free conjugate gradient on the primal normal
  equations, stopped on the duality gap (checked every 10 iterations), for
  problems too large to form ``XᵀX``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from jaxreg._validation import check_nonnegative, check_positive_int
from jaxreg.solvers.base import SolverResult, check_strength, check_X_y, prepare
from jaxreg.solvers.base import warn_not_converged as _warn
from jaxreg.solvers.datafits import QUADRATIC, duality_gap


def _gap(design, w, lam):
    d = w.shape[0]
    u = w @ design.XT - jnp.dot(design.xbar, w)
    r = QUADRATIC.neg_grad(design.y, u)
    v = design.XT @ r - design.xbar * jnp.sum(r)
    zero = jnp.zeros((d,), w.dtype)
    return duality_gap(QUADRATIC, design.y, u, w, v, zero, zero + lam)[0]


@jax.jit
def _ridge_cholesky(design, lam):
    XT, xbar, y = design.XT, design.xbar, design.y
    d, n = XT.shape
    Xc = XT - xbar[:, None]  # (d, n) centred; explicit, the factorization costs more
    if d <= n:
        A = Xc @ Xc.T + n * lam * jnp.eye(d, dtype=XT.dtype)
        c = jax.scipy.linalg.cho_factor(A)
        w = jax.scipy.linalg.cho_solve(c, Xc @ y)
    else:
        A = Xc.T @ Xc + n * lam * jnp.eye(n, dtype=XT.dtype)
        c = jax.scipy.linalg.cho_factor(A)
        w = Xc @ jax.scipy.linalg.cho_solve(c, y)
    return w, _gap(design, w, lam)


@functools.partial(jax.jit, static_argnames="max_iter")
def _ridge_cg(design, lam, tol_abs, max_iter):
    XT, xbar, y = design.XT, design.xbar, design.y
    n = XT.shape[1]

    def matvec(p):  # (XcᵀXc/n + lam) p
        u = p @ XT - jnp.dot(xbar, p)
        return (XT @ u - xbar * jnp.sum(u)) / n + lam * p

    b = (XT @ y - xbar * jnp.sum(y)) / n
    w = jnp.zeros_like(b)
    r = b
    p = r
    rs = jnp.dot(r, r)

    def cg_step(_, c):
        w, r, p, rs = c
        Ap = matvec(p)
        alpha = rs / jnp.maximum(jnp.dot(p, Ap), jnp.finfo(b.dtype).tiny)
        w = w + alpha * p
        r = r - alpha * Ap
        rs_new = jnp.dot(r, r)
        p = r + (rs_new / jnp.maximum(rs, jnp.finfo(b.dtype).tiny)) * p
        return w, r, p, rs_new

    def body(c):
        k, state, _ = c
        state = lax.fori_loop(0, 10, cg_step, state)
        return k + 10, state, _gap(design, state[0], lam)

    def cond(c):
        k, _, gap = c
        return (gap > tol_abs) & (k < max_iter)

    inf = jnp.asarray(jnp.inf, b.dtype)
    k, (w, *_), gap = lax.while_loop(cond, body, (0, (w, r, p, rs), inf))
    return w, gap, k


def ridge(
    X, y, lam, *, fit_intercept=True, method="cholesky", tol=1e-6, max_iter=1000
) -> SolverResult:
    """Ridge regression ``min 1/(2n)||y - Xw - b||² + lam/2 ||w||²``.

    Args:
      X: design, shape ``(n_samples, n_features)``.
      y: targets, shape ``(n_samples,)``.
      lam: L2 strength ``>= 0`` (``0`` needs a full-rank system); scikit-learn's
        ``Ridge(alpha)`` is ``lam = alpha / n``.
      fit_intercept: unpenalized intercept by centring.
      method: ``"cholesky"`` (direct) or ``"cg"`` (iterative, matrix-free).
      tol: for ``"cg"``, stop when the duality gap is ``<= tol · P(0)``; the
        Cholesky result is reported as converged when its gap meets it too.
      max_iter: maximum CG iterations.

    Returns:
      A :class:`~jaxreg.solvers.base.SolverResult` (``n_iter`` is 1 for
      Cholesky).

    Examples:
      >>> import numpy as np, jaxreg as jr
      >>> X = np.random.default_rng(0).normal(size=(30, 5))
      >>> w = jr.ridge(X, X @ np.ones(5), lam=0.0).coef
      >>> bool(np.allclose(w, 1.0, atol=1e-4))
      True
    """
    X, y = check_X_y(X, y)
    check_strength("lam", lam)
    check_nonnegative("tol", tol)
    check_positive_int("max_iter", max_iter)
    if method not in ("cholesky", "cg"):
        raise ValueError(f"method must be 'cholesky' or 'cg', got {method!r}")
    design = prepare(X, y, center=fit_intercept)
    lam_arr = jnp.asarray(lam, design.XT.dtype)
    tol_abs = tol * QUADRATIC.value(design.y, jnp.zeros_like(design.y))
    if method == "cholesky":
        w, gap = _ridge_cholesky(design, lam_arr)
        n_iter = jnp.ones((), jnp.int32)
    else:
        w, gap, n_iter = _ridge_cg(design, lam_arr, tol_abs, max_iter)
    if not bool(jnp.all(jnp.isfinite(w))):
        raise ValueError(
            f"lam={lam!r} leaves the ridge system singular (X has rank below its "
            f"{X.shape[1]} features after centring): pass lam > 0"
        )
    converged = gap <= tol_abs
    if method == "cg" and not bool(converged):
        _warn(gap, tol_abs, "ridge (cg)")
    intercept = design.y_offset - jnp.dot(design.xbar, w)
    return SolverResult(w, intercept, gap, n_iter, converged)
