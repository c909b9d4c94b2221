"""Ridge regression: Cholesky (primal or dual), SVD, or CG.

Minimizes ``½ Σᵢ aᵢ (yᵢ - xᵢᵀw - b)² + lam/2 ||w||²`` with ``a`` the
normalized sample weights (``1/(2n)||y - Xw - b||² + lam/2||w||²`` by
default), the intercept ``b`` unpenalized and eliminated by (weighted)
centring. With ``Z = A^½ X̃`` (``A = diag(a)``, ``X̃`` centred) the solution
is ``w = (ZᵀZ + lam·I)⁻¹ Zᵀ A^½ y = Zᵀ (ZZᵀ + lam·I)⁻¹ A^½ y``.
scikit-learn's ``Ridge`` minimizes ``Σᵢ sᵢ(yᵢ - xᵢᵀw - b)² + alpha ||w||²``,
so ``alpha = lam · Σᵢ sᵢ`` (``n·lam`` without weights).

- ``method="cholesky"`` (dense ``X``): factorizes the ``d × d`` primal system
  when ``d <= n`` and the ``n × n`` dual system when ``d > n`` (a wide ``X``
  never forms the singular ``d × d`` one). A primal system that is not
  resolved in the dtype (that reciprocal condition number below
  ``1000·eps``: collinear features with ``lam`` below float resolution, e.g.
  every one-hot column beside the intercept) is solved with its null
  directions damped (:func:`_null_penalty`): the exactly collinear
  directions at 0, as float64 gives, with a ``LinAlgWarning``. When ``lam =
  0``, or when the
  factorization fails (a rank-deficient system with ``lam`` below float
  resolution), it is solved through the SVD of ``Z`` with singular values
  below ``eps·max(n, d)·σ₁`` dropped: the minimum-norm least-squares solution
  at ``lam = 0``, as scikit-learn's ``Ridge(alpha=0)`` returns (via
  ``lstsq``).
- ``method="cg"``: conjugate gradient on products with ``X̃`` (no normal
  matrix; a dense ``X̃`` is formed once, as implicit centring cancels on
  offset columns: :meth:`~jaxreg.solvers.design.DenseDesign.centred`), on
  the primal system when
  ``d <= n`` and on the dual one when ``d > n`` (where the primal CG stalls in
  float32 for small ``lam``), stopped when the residual of that system is
  ``<= tol`` times its right-hand side's norm (scikit-learn's ``sparse_cg``
  rule), checked every 10 iterations, and at ``max_iter``, which it never
  passes. The residual, not the duality gap, because the gap is quadratic in
  the error: in float32 it is resolved to about ``eps·P(0)``, which leaves
  coefficients about ``sqrt(eps)`` (3e-4) off. The only method for
  sparse ``X``; ``"auto"`` picks ``"cholesky"`` for dense and ``"cg"`` for
  sparse ``X``.

:func:`ridge_folds` solves many weightings of one ``X`` (cross-validation
folds) for a grid of strengths in one compiled program, from one SVD per
weighting.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxreg import penalties
from jaxreg._programs import stored_jit, tuned_jit
from jaxreg._validation import check_nonnegative, check_positive_int
from jaxreg.solvers import hypergrad
from jaxreg.solvers.base import (
    RESOLVED_RCOND,
    SolverResult,
    check_strength,
    check_X_y,
    default_dtype,
    prepare,
    to_device,
    warn_ill_conditioned,
)
from jaxreg.solvers.base import warn_not_converged as _warn
from jaxreg.solvers.datafits import Quadratic, duality_gap
from jaxreg.solvers.design import as_design, is_sparse
from jaxreg.solvers.glm import fit


def _gap(design, datafit, w, lam):
    u = design.matvec(w)
    v = design.rmatvec(datafit.neg_grad(u))
    return duality_gap(datafit, penalties.L2(lam), u, w, v, colsq=design.colsq)[0]


def _by_svd(Z, ys, lam):
    """``w = Σ σₖ/(σₖ² + lam) vₖ uₖᵀ ys`` from the thin SVD of ``Zᵀ``,
    singular values below ``eps·max(n, d)·σ₁`` dropped when ``lam = 0``
    (numpy's ``lstsq`` rule): the minimum-norm solution."""
    u, sv, vt = jnp.linalg.svd(Z.T, full_matrices=False)
    # the cutoff defines the minimum-norm solution at lam = 0; with lam > 0
    # every component is well defined and dropping one would bias w
    keep = (sv > jnp.finfo(Z.dtype).eps * max(Z.shape) * sv[0]) | (lam > 0)
    scale = jnp.where(keep, sv / jnp.where(keep, sv * sv + lam, 1.0), 0.0)
    return vt.T @ (scale * (u.T @ ys))


_NULL_CUT = 100  # × eps·σ₁ of the column-scaled design: a null direction


def _null_penalty(Z):
    """``μ·N Nᵀ`` (``d × d``) that damps the null directions of the primal
    system: those ``v`` with ``Zᵀv = 0`` to the dtype's resolution, found as
    the right singular vectors of the design with unit-norm columns whose
    singular value is below ``_NULL_CUT·eps·σ₁`` (mapped back, ``vₖ =
    D⁻¹ṽₖ``, and normalized; ``μ`` the largest diagonal entry of ``ZZᵀ``).
    Entries of ``ṽₖ`` at roundoff are set to 0 first. The ridge solution
    lies in the range of ``Z``, orthogonal to them, so
    the penalty leaves it unchanged while the system it is added to becomes
    resolved: exactly collinear features (every one-hot column beside the
    intercept, a constant one) no longer put ``roundoff/lam`` along those
    directions. Scaling first keeps features on small scales, whose small
    singular values are accurate, out of the null set; the cut does not grow
    with ``n``."""
    norms = jnp.sqrt(jnp.sum(Z * Z, axis=1))
    scale = jnp.where(norms > 0, norms, 1.0)
    _, sv, vt = jnp.linalg.svd((Z / scale[:, None]).T, full_matrices=False)
    cut = _NULL_CUT * jnp.finfo(Z.dtype).eps
    null = sv <= cut * sv[0]
    # entries at roundoff are zeros: mapped back by D⁻¹ they would couple a
    # small-scale feature (and its large coefficient) to the null direction
    v = jnp.where(jnp.abs(vt.T) > cut, vt.T, 0.0)
    N = (v / scale[:, None]) * null[None, :]
    N = N / jnp.where(null, jnp.linalg.norm(N, axis=0), 1.0)[None, :]
    return jnp.max(norms) ** 2 * (N @ N.T)


def _normal_factor(Z, lam, extra=None):
    """The Cholesky factor of ``ZZᵀ + lam·I`` (``+ extra``; ``d <= n``;
    else of ``ZᵀZ + lam·I``, the dual system) and an estimate of its
    reciprocal condition number with the diagonal scaled to 1, which
    governs Cholesky's accuracy (features of any scales are fine; collinear
    ones are not): the minimum of ``L_jj² / A_jj``, the part of row ``j``
    not explained by the rows before it (``1 - R²``); 0 when the
    factorization fails. A constant feature (a zero row of ``Z``) is
    decoupled from the others and ignored."""
    d, n = Z.shape
    eye = jnp.eye(min(d, n), dtype=Z.dtype)
    A = Z @ Z.T + lam * eye if d <= n else Z.T @ Z + lam * eye
    if extra is not None:
        A = A + extra
    c = jax.scipy.linalg.cho_factor(A)
    share = jnp.square(jnp.diagonal(c[0])) / jnp.diagonal(A)
    if d <= n:
        share = jnp.where(jnp.any(Z != 0, axis=1), share, 1.0)
    rcond = jnp.min(share)
    return c, jnp.where(jnp.isfinite(rcond), rcond, 0.0)


@functools.partial(jax.jit, static_argnames="exact")
def _ridge_direct(design, datafit, lam, exact):
    d, n = design.XT.shape
    sqa = jnp.sqrt(datafit.weights)
    Z = design.centred().XT * sqa[None, :]  # (d, n) = (A^½ X̃)ᵀ
    ys = sqa * datafit.y
    if exact:
        w = _by_svd(Z, ys, lam)
        # the SVD's error grows with the condition number of Z, the square
        # root of the normal system's; lam = 0 asks for the minimum-norm
        # solution, well defined however collinear the features are
        rcond = jnp.where(lam > 0, jnp.sqrt(_normal_factor(Z, lam)[1]), 1.0)
    else:
        c, rcond = _normal_factor(Z, lam)
        if d <= n:

            def damped(_):  # collinear features: their null directions damped
                c = _normal_factor(Z, lam, _null_penalty(Z))[0]
                return jax.scipy.linalg.cho_solve(c, Z @ ys)

            # the caller warns on the undamped rcond: the damped directions
            # may be nearly (not exactly) collinear ones the dtype cannot tell
            resolved = rcond >= RESOLVED_RCOND * jnp.finfo(Z.dtype).eps
            w = lax.cond(
                resolved,
                lambda _: jax.scipy.linalg.cho_solve(c, Z @ ys),
                damped,
                None,
            )
        else:
            w = Z @ jax.scipy.linalg.cho_solve(c, ys)
        # a factorization that failed (rank deficient, lam below resolution)
        w = lax.cond(
            jnp.all(jnp.isfinite(w)), lambda _: w, lambda _: _by_svd(Z, ys, lam), None
        )
    return w, _gap(design, datafit, w, lam), rcond


@tuned_jit(static_argnames="max_iter")
def _ridge_cg(design, datafit, lam, tol, max_iter):
    design = design.centred()  # one fixed operator (Design.centred)
    sqa = jnp.sqrt(datafit.weights)
    wide = design.n_features > design.n_samples

    def Z(v):
        return sqa * design.matvec(v)

    def ZT(r):
        return design.rmatvec(sqa * r)

    if wide:  # (ZZᵀ + lam) α = A^½ y, w = Zᵀα
        matvec, b = (lambda p: Z(ZT(p)) + lam * p), sqa * datafit.y
        to_w = ZT
    else:  # (ZᵀZ + lam) w = Zᵀ A^½ y
        matvec, b = (lambda p: ZT(Z(p)) + lam * p), ZT(sqa * datafit.y)
        to_w = lambda x: x  # noqa: E731
    tiny = jnp.finfo(b.dtype).tiny

    def cg_step(_, c):
        x, r, p, rs = c
        Ap = matvec(p)
        alpha = rs / jnp.maximum(jnp.dot(p, Ap), tiny)
        x = x + alpha * p
        r = r - alpha * Ap
        rs_new = jnp.dot(r, r)
        p = r + (rs_new / jnp.maximum(rs, tiny)) * p
        return x, r, p, rs_new

    def body(c):
        k, state = c
        steps = jnp.minimum(10, max_iter - k)  # never past max_iter
        return k + steps, lax.fori_loop(0, steps, cg_step, state)

    # ‖r‖ <= tol·‖b‖, on the recurrence's residual (in float32 it keeps
    # falling where the true one floors at about eps·cond)
    bound = tol * tol * jnp.dot(b, b)

    def cond(c):
        k, (*_, rs) = c
        return (rs > bound) & (k < max_iter)

    x0 = jnp.zeros_like(b)
    k, (x, *_, rs) = lax.while_loop(cond, body, (0, (x0, b, b, jnp.dot(b, b))))
    w = to_w(x)
    rel = jnp.sqrt(rs / jnp.maximum(jnp.dot(b, b), tiny))  # 0 where b = 0
    return w, _gap(design, datafit, w, lam), k, rel


def ridge(
    X,
    y,
    lam,
    *,
    sample_weight=None,
    fit_intercept=True,
    method="auto",
    tol=1e-6,
    max_iter=1000,
) -> SolverResult:
    """Ridge regression ``min ½ Σᵢ aᵢ(yᵢ - xᵢᵀw - b)² + lam/2 ||w||²``.

    Args:
      X: design, shape ``(n_samples, n_features)``, dense or sparse.
      y: targets, shape ``(n_samples,)``.
      lam: L2 strength ``>= 0``; ``0`` gives the minimum-norm least-squares
        solution. scikit-learn's ``Ridge(alpha)`` is ``lam = alpha / Σᵢ sᵢ``
        (``alpha / n`` without sample weights).
      sample_weight: per-sample weights ``>= 0`` (``a = s/Σs``), or None.
      fit_intercept: unpenalized intercept by (weighted) centring.
      method: ``"auto"``, ``"cholesky"`` (dense only), ``"svd"`` (dense
        only: through the thin SVD of the centred design, as at ``lam = 0``)
        or ``"cg"``.
      tol: for ``"cg"``, stop when the residual of the CG system is ``<=
        tol`` times its right-hand side's norm (``||Zᵀ A^½ y||``, or
        ``||A^½ y||`` for the dual system of a wide ``X``), as scikit-learn's
        ``sparse_cg``; the direct result is reported as converged when its
        duality gap is ``<= tol · P(0)``.
      max_iter: maximum CG iterations.

    Under ``jit``, ``vmap`` or ``grad`` (traced ``X``, ``y`` or ``lam``) the
    problem is :func:`jaxreg.solvers.fit` with ``jr.l2(lam)``, the same
    objective, differentiable by implicit differentiation (``method`` is then
    ignored and ``tol`` is its duality-gap target relative to ``P(0)``).

    Returns:
      A :class:`~jaxreg.solvers.base.SolverResult` (``n_iter`` is 1 for the
      direct methods).

    Examples:
      >>> import numpy as np, jaxreg as jr
      >>> X = np.random.default_rng(0).normal(size=(30, 5))
      >>> w = jr.ridge(X, X @ np.ones(5), lam=0.0).coef
      >>> bool(np.allclose(w, 1.0, atol=1e-4))
      True
    """
    check_strength("lam", lam)  # traced: its shape only
    if hypergrad.is_traced(X, y, lam):
        return fit(
            X,
            y,
            penalties.L2(lam),
            sample_weight=sample_weight,
            fit_intercept=fit_intercept,
            tol=tol,
            max_iter=max_iter,
            what="ridge",
        )
    X, y = check_X_y(X, y)
    check_nonnegative("tol", tol)
    check_positive_int("max_iter", max_iter)
    if method not in ("auto", "cholesky", "svd", "cg"):
        raise ValueError(
            f"method must be 'auto', 'cholesky', 'svd' or 'cg', got {method!r}"
        )
    if method == "auto":
        method = "cg" if is_sparse(X) else "cholesky"
    if method in ("cholesky", "svd") and is_sparse(X):
        raise ValueError(f"method={method!r} needs a dense X; use 'cg' for sparse X")
    problem = prepare(
        X, y, Quadratic, fit_intercept=fit_intercept, sample_weight=sample_weight
    )
    design, datafit = problem.design, problem.datafit
    lam_arr = jnp.asarray(lam, design.dtype)
    if method in ("cholesky", "svd"):
        exact = method == "svd" or float(lam) == 0
        w, gap, rcond = _ridge_direct(design, datafit, lam_arr, exact=exact)
        n_iter = jnp.ones((), jnp.int32)
        warn_ill_conditioned(float(rcond), design.dtype, f"ridge ({method})")
        p0 = datafit.value(jnp.zeros((design.n_samples,), design.dtype))
        converged = gap <= tol * p0
    else:
        w, gap, n_iter, residual = _ridge_cg(
            design, datafit, lam_arr, jnp.asarray(tol, design.dtype), max_iter
        )
        converged = residual <= tol
    if not bool(jnp.all(jnp.isfinite(w))):
        raise ValueError(
            f"ridge with lam={lam!r} gave a non-finite solution; rescale X or pass "
            "a larger lam"
        )
    if method == "cg" and not bool(converged):
        _warn(residual, tol, "ridge (cg)", measure="relative residual", bound="tol")
    intercept = problem.y_offset - jnp.dot(design.xbar, w)
    return SolverResult(w, intercept, gap, n_iter, converged)


class _Spectral(NamedTuple):
    """The thin SVD ``Z = U diag(σ) Vᵀ`` (``Z = Cᵀ``, ``C`` is ``(d, n)``)
    that solves ridge for any strength. The SVD, not an eigendecomposition
    of ``ZᵀZ`` or ``ZZᵀ``: a Gram matrix squares the condition number, and
    in float32 features on different scales (an income next to a rate) lose
    their small directions outright. ``cut = eps·max(n, d)·σ₁``: at strength
    0, smaller singular values are dropped (numpy's ``lstsq`` rule, the
    minimum-norm solution)."""

    C: jax.Array  # (d, n)
    U: jax.Array  # (n, k)
    sv: jax.Array  # (k,) descending
    V: jax.Array  # (d, k)
    cut: jax.Array

    @classmethod
    def of(cls, C):
        U, sv, Vt = jnp.linalg.svd(C.T, full_matrices=False)
        return cls(C, U, sv, Vt.T, jnp.finfo(C.dtype).eps * max(C.shape) * sv[0])

    def coef(self, z, lam):
        """``w = (ZᵀZ + lam·I)⁻¹Zᵀz = V diag(σ/(σ² + lam)) Uᵀz`` (``(d, T)``
        for ``z`` ``(n, T)``), then one refinement step on the residual of
        the normal equations formed through ``Z`` (in ``Z``'s row space, so
        ``V`` solves it): in float32 on diabetes degree-3 features (442 ×
        285, ``alpha = 1``) the coefficients' error falls from 4e-5 to 4e-6
        relative to float64."""
        C, V, sv = self.C, self.V, self.sv
        keep = (sv > self.cut) | (lam > 0)
        f = jnp.where(keep, 1.0 / jnp.where(keep, sv * sv + lam, 1.0), 0.0)
        w = V @ ((f * sv)[:, None] * (self.U.T @ z))
        r = C @ (z - C.T @ w) - lam * w
        return w + V @ (f[:, None] * (V.T @ r))


@stored_jit(static_argnames="center")
def _spectral_folds(design, Y, A, lams, center):
    idx = jnp.arange(design.n_features)

    def fold(args):
        a, lam = args
        part = design.reweighted(a, center)
        root = jnp.sqrt(a)
        y_off = a @ Y if center else jnp.zeros(Y.shape[1], Y.dtype)
        spectral = _Spectral.of(part.columns(idx) * root[None, :])  # C = Zᵀ
        z = root[:, None] * (Y - y_off[None, :])
        W = jax.vmap(lambda lam: spectral.coef(z, lam).T)(lam)  # (L, T, d)
        return W, y_off[None, :] - W @ part.xbar

    return lax.map(fold, (A, lams))


def ridge_folds(X, Y, S, alphas, *, fit_intercept=True):
    """Ridge for every row of sample weights ``S`` and every ``alpha``, in one
    compiled program.

    For each weighting ``s = S[f]`` and each ``alpha`` minimizes
    scikit-learn's ``Σᵢ sᵢ(yᵢ - xᵢᵀw - b)² + alpha ||w||²`` (the intercept
    unpenalized, eliminated by weighted centring), for every column of ``Y``.
    A cross-validation fold is the full ``X`` weighted with zeros on its
    held-out rows, so folds of any sizes share one program. With ``a = s/Σs``,
    ``Z = A^½ X̃`` and ``lam = alpha/Σs``, one thin SVD ``Z = U diag(σ) Vᵀ``
    per weighting gives every ``alpha``: ``w = V diag(σ/(σ² + lam)) Uᵀz``.
    At ``alpha = 0`` singular values below ``eps·max(n, d)·σ₁`` are dropped:
    the minimum-norm least-squares solution, as :func:`ridge`'s. A sparse
    ``X`` stays sparse in memory; its columns are densified one weighting at
    a time inside the program.

    Args:
      X: ``(n, d)``, dense or sparse.
      Y: ``(n, T)`` targets.
      S: ``(F, n)`` sample weights ``>= 0``, each row with a positive sum.
      alphas: ``(L,)`` strengths ``>= 0``.
      fit_intercept: unpenalized intercept.

    Returns:
      ``(coef, intercept)``: ``(F, L, T, d)`` and ``(F, L, T)`` numpy arrays
      (float64 holding the float32 results unless x64 is enabled).
    """
    S = np.asarray(S, np.float64)
    totals = S.sum(axis=1)
    for f, total in enumerate(totals):
        if not (total > 0 and np.all(S[f] >= 0)):
            raise ValueError(
                f"S[{f}] must be sample weights >= 0 with a positive sum, got sum "
                f"{total} and minimum {S[f].min()}"
            )
    dtype = default_dtype(X, Y)
    design = as_design(
        X,
        jnp.full((X.shape[0],), 1.0 / X.shape[0], dtype),
        center=fit_intercept,
        dtype=dtype,
        to_device=to_device,
    )
    coef, intercept = _spectral_folds(
        design,
        jnp.asarray(Y, dtype),
        jnp.asarray(S / totals[:, None], dtype),
        jnp.asarray(np.asarray(alphas, np.float64)[None] / totals[:, None], dtype),
        fit_intercept,
    )
    return np.asarray(coef, np.float64), np.asarray(intercept, np.float64)
