"""Multi-task Lasso and elastic net: the row-wise group norm across tasks.

scikit-learn's ``MultiTaskElasticNet(alpha, l1_ratio=ρ)`` minimizes, for
targets ``Y`` ``(n, T)``, coefficients ``W`` ``(T, d)`` and intercepts ``b``
``(T,)``,

    1/(2n) ||Y - XWᵀ - 1bᵀ||_F² + αρ Σⱼ ||W[:, j]||₂ + α(1-ρ)/2 ||W||_F²

(``MultiTaskLasso`` is ``ρ = 1``): feature ``j`` is kept or dropped for all
tasks at once. It is solved as the group lasso of
:func:`jaxreg.solvers.bcd.group_lasso` (working-set block CD, gap-safe
screening) on the stacked single-output problem ``vec(Y) ≈ (X ⊗ I_T)
vec(W)``: row ``i·T + t`` holds sample ``i`` of task ``t``, column ``j·T +
t`` coefficient ``W[t, j]``, and the ``T`` columns of feature ``j`` form a
group. A dense ``X`` is the :class:`~jaxreg.solvers.design.MultiTaskDesign`
(``X ⊗ I_T`` never formed: its products are ``(n, d) x (d, T)`` matrix
products); a sparse one is stacked as ``scipy.sparse`` (``T·nnz(X)``
entries). The data rows weigh ``sᵢ/n`` (``s`` the sample weights scaled
to sum to ``n``) and the ridge term is ``d·T`` extra rows of the identity
with target 0 and weight ``α(1-ρ)`` each, the group strength ``αρ``: the
stacked objective is the one above, and ``alpha`` changes only the ridge
rows' weight and the strength, so a path or a fold builds the stacked
problem once and solves its grid in one compiled loop
(:func:`jaxreg.solvers.bcd.solve_folds_prepared`). The intercept is eliminated
by (weighted) centring for dense ``X`` and is an unpenalized group of ``T``
indicator columns for sparse ``X`` (which is never densified).
"""

from __future__ import annotations

from numbers import Real
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

from jaxreg._estimator_base import (
    _check_params,
    _feature_order,
    _LinearRegressor,
    _SparseCoef,
    _validate_X_and_y,
    _weights_array,
)
from jaxreg.solvers.base import (
    Problem,
    SolverResult,
    default_dtype,
    to_device,
    warn_not_converged,
)
from jaxreg.solvers.bcd import Layout, group_layout, solve_folds_prepared
from jaxreg.solvers.datafits import Quadratic, normalized_weights
from jaxreg.solvers.design import MultiTaskDesign, as_design

__all__ = ["MultiTaskElasticNet", "MultiTaskLasso", "multitask_enet"]


class _Stacked(NamedTuple):
    """The stacked group-lasso problem of ``X`` for ``T`` tasks, built once
    for every fold and ``alpha`` (the folds are sample weights with zeros on
    held-out rows; ``alpha`` only sets the strength and the ridge rows'
    weight)."""

    design: Any  # MultiTaskDesign (dense X) or SparseDesign (stacked)
    layout: Layout
    group_weights: np.ndarray
    shape: tuple  # (n, d, T)
    ridge: bool  # d·T identity rows follow (l1_ratio < 1)
    center: bool  # dense X with an intercept: centred with each fold's means
    free: bool  # sparse X with an intercept: a group of T indicator columns


def _stack(X, T, ridge, fit_intercept) -> _Stacked:
    n, d = X.shape
    sparse = sp.issparse(X)
    dtype = default_dtype(X)
    labels = [np.repeat(np.arange(d), T)]
    group_weights = [np.ones(d)]
    free = fit_intercept and sparse
    if free:  # one unpenalized group of T intercept columns
        labels.append(np.full(T, d))
        group_weights.append(np.zeros(1))
    n_rows = n * T + (d * T if ridge else 0)
    a = np.full(n_rows, 1.0 / n_rows)  # placeholder weights: each fold's own
    if sparse:
        eye = sp.identity(T, format="csr")
        blocks = [sp.kron(sp.csr_matrix(X), eye, format="csc")]
        if free:
            blocks.append(sp.kron(np.ones((n, 1)), eye, format="csc"))
        stacked = sp.hstack(blocks, format="csc")
        if ridge:
            unit = sp.hstack(
                [sp.identity(d * T), sp.csc_matrix((d * T, T * free))], format="csc"
            )
            stacked = sp.vstack([stacked, unit], format="csc")
        design = as_design(stacked, a, center=False, dtype=dtype, to_device=to_device)
    else:
        design = MultiTaskDesign.of(
            to_device(X.T, dtype), T, ridge, jnp.asarray(a, dtype)
        )
    labels = np.concatenate(labels)
    return _Stacked(
        design,
        group_layout(labels, labels.shape[0]),
        np.concatenate(group_weights),
        (n, d, T),
        ridge,
        fit_intercept and not sparse,
        free,
    )


def _solve_folds(st, X, Y, S, alphas, l1_ratio, *, tol, max_iter, coef_init=None):
    """The multi-task elastic net at each of ``alphas`` (decreasing, warm
    started) for each fold: the rows of ``S`` (``(F, n)``, sample weights
    normalized to sum to 1, zero on held-out rows), all folds in one
    compiled program per working-set bucket
    (:func:`jaxreg.solvers.bcd.solve_folds_prepared`). Fold ``f``'s data
    rows weigh ``S[f]`` (repeated per task), its targets are centred with
    its own means when ``st.center``, and the ridge rows weigh ``α(1-ρ)``
    at each ``alpha``. ``coef_init``: ``(T, d)`` for every fold, or None.

    Returns ``(W, b, gaps, n_iter, converged, tol_abs)`` of shapes ``(F, L,
    T, d)``, ``(F, L, T)``, ``(F, L)`` ×3 and ``(F,)``, gaps in the units
    of the objective (the module docstring's)."""
    n, d, T = st.shape
    F = S.shape[0]
    alphas = np.asarray(alphas, np.float64).reshape(-1)
    dtype = st.design.dtype
    Y = np.asarray(Y, np.float64)
    n_ridge = d * T if st.ridge else 0
    y_off = S @ Y if st.center else np.zeros((F, T))  # (F, T)
    x_off = np.asarray(S @ X) if st.center else np.zeros((F, d))  # (F, d)
    A = np.concatenate([np.repeat(S, T, axis=1), np.zeros((F, n_ridge))], axis=1)
    targets = np.concatenate(
        [(Y[None] - y_off[:, None, :]).reshape(F, n * T), np.zeros((F, n_ridge))],
        axis=1,
    )
    extra = None
    if st.ridge:  # the ridge rows weigh α(1-ρ)
        e = np.concatenate([np.zeros(n * T), np.ones(n_ridge)])
        extra = (e, alphas * (1.0 - l1_ratio))
    datafit = Quadratic(jnp.asarray(targets[0], dtype), jnp.asarray(A[0], dtype))
    problem = Problem(st.design, datafit, jnp.zeros((), dtype), False)
    W0 = None
    if coef_init is not None:
        W0 = np.zeros((F, st.layout.pos.shape[0]))
        W0[:, : d * T] = np.asarray(coef_init, float).T.ravel()
    flat, _, gaps, iters, converged, tol_abs = solve_folds_prepared(
        problem,
        st.layout,
        alphas * l1_ratio,
        st.group_weights,
        A,
        targets,
        center=st.center,
        extra=extra,
        tol=tol,
        max_iter=max_iter,
        max_epochs=100_000,
        p0=16,
        coef_init=W0,
    )
    flat = np.asarray(flat, np.float64)[:, :, st.layout.pos]
    W = flat[:, :, : d * T].reshape(F, -1, d, T).transpose(0, 1, 3, 2)
    # the intercepts: free coordinates (sparse X), else from the centring
    # offsets (zero without an intercept)
    if st.free:
        b = flat[:, :, d * T :]
    else:
        b = y_off[:, None, :] - np.einsum("fltd,fd->flt", W, x_off)
    return W, b, np.asarray(gaps), np.asarray(iters), np.asarray(converged), tol_abs


def multitask_enet(
    X,
    Y,
    alpha,
    l1_ratio,
    *,
    sample_weight=None,
    fit_intercept=True,
    tol=1e-4,
    max_iter=100,
    coef_init=None,
    what="MultiTaskElasticNet",
) -> SolverResult:
    """Multi-task elastic net (objective in the module docstring).

    Args:
      X: ``(n, d)`` numpy array or ``scipy.sparse`` matrix.
      Y: ``(n, T)`` targets.
      alpha, l1_ratio: scikit-learn's ``alpha >= 0`` and ``ρ`` in ``[0, 1]``.
      sample_weight: ``(n,)`` weights ``>= 0`` or None (the loss is their
        weighted mean, as scikit-learn ≥ 1.9 rescales them to sum to ``n``).
      fit_intercept, tol, max_iter: as in :func:`~jaxreg.solvers.bcd.
        group_lasso` (``tol`` relative to the stacked objective at 0).
      coef_init: warm start ``W`` ``(T, d)``.
      what: the name a ``ConvergenceWarning`` gives.

    Returns:
      A :class:`~jaxreg.solvers.base.SolverResult` with ``coef`` ``(T, d)``,
      ``intercept`` ``(T,)`` and ``gap`` in the units of the objective above.
    """
    n = X.shape[0]
    stacked = _stack(X, Y.shape[1], l1_ratio < 1, fit_intercept)
    S = normalized_weights(sample_weight, n, np.float64)[None]
    W, b, gaps, iters, converged, tol_abs = _solve_folds(
        stacked,
        X,
        Y,
        S,
        [alpha],
        l1_ratio,
        tol=tol,
        max_iter=max_iter,
        coef_init=coef_init,
    )
    if not bool(converged[0, 0]):
        warn_not_converged(gaps[0, 0], tol_abs[0], what)
    return SolverResult(
        W[0, 0], b[0, 0], float(gaps[0, 0]), iters[0, 0], converged[0, 0]
    )


class MultiTaskElasticNet(_SparseCoef, _LinearRegressor):
    """Multi-task elastic net (scikit-learn 1.9's ``MultiTaskElasticNet``).

    Minimizes ``1/(2n)||Y - XWᵀ - 1bᵀ||_F² + αρ Σⱼ ||W[:, j]||₂ +
    α(1-ρ)/2 ||W||_F²`` (``ρ = l1_ratio``; the ``sample_weight``-weighted mean
    loss when given) by working-set block CD on the stacked group-lasso
    problem (see :mod:`jaxreg._multitask`). Takes every constructor parameter
    of scikit-learn's class.

    Args:
      alpha, l1_ratio: as above.
      fit_intercept: unpenalized intercepts ``b``, one per task.
      copy_X: accepted; the caller's ``X`` is never modified.
      max_iter: outer working-set iterations (scikit-learn: epochs).
      tol: duality-gap target relative to the (stacked) objective at 0.
      warm_start: start from the previous ``coef_``.
      random_state, selection: ``"random"`` permutes the features (hence the
        groups) with ``random_state`` before the fit, as in
        :class:`jaxreg.linear_model.Lasso`; the optimum is unchanged.

    Fitted attributes:
      ``coef_`` ``(n_tasks, n_features)``, ``intercept_`` ``(n_tasks,)``, ``dual_gap_``
      (in the objective's units, as scikit-learn's), ``n_iter_``.

    A 1-D ``y`` raises ``ValueError`` ("For mono-task outputs, use
    ElasticNet"), as in scikit-learn.
    """

    _mono = "ElasticNet"

    def __init__(
        self,
        alpha=1.0,
        *,
        l1_ratio=0.5,
        fit_intercept=True,
        copy_X=True,
        max_iter=100,
        tol=1e-4,
        warm_start=False,
        random_state=None,
        selection="cyclic",
    ):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.copy_X = copy_X
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.random_state = random_state
        self.selection = selection

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        return tags

    def _rho(self):
        rho = self.l1_ratio
        if not (isinstance(rho, Real) and 0 <= rho <= 1):
            raise ValueError(f"l1_ratio must lie in [0, 1], got {rho!r}")
        return float(rho)

    def _check_data(self, X, y):
        X, y = _validate_X_and_y(self, X, y)
        if y.ndim == 1:
            raise ValueError(f"For mono-task outputs, use {self._mono}")
        _check_params(self)
        return X, y

    def fit(self, X, y, sample_weight=None):
        """Fits the model; returns ``self``."""
        X, y = self._check_data(X, y)
        rho = self._rho()
        sample_weight = _weights_array(sample_weight, X)
        d = X.shape[1]
        perm = _feature_order(self.selection, self.random_state, d)
        w0 = getattr(self, "coef_", None) if self.warm_start else None
        if w0 is not None and np.shape(w0) != (y.shape[1], d):
            w0 = None
        if perm is not None:
            X = X[:, perm]
            w0 = None if w0 is None else w0[:, perm]
        res = multitask_enet(
            X,
            y,
            float(self.alpha),
            rho,
            sample_weight=sample_weight,
            fit_intercept=self.fit_intercept,
            tol=self.tol,
            max_iter=self.max_iter,
            coef_init=w0,
            what=type(self).__name__,
        )
        coef = res.coef if perm is None else res.coef[:, np.argsort(perm)]
        self.coef_ = np.asarray(coef, X.dtype)
        self.intercept_ = (
            np.asarray(res.intercept, X.dtype) if self.fit_intercept else 0.0
        )
        self.dual_gap_ = float(res.gap)
        self.n_iter_ = int(res.n_iter)
        return self


class MultiTaskLasso(MultiTaskElasticNet):
    """Multi-task Lasso: ``1/(2n)||Y - XWᵀ - 1bᵀ||_F² + α Σⱼ ||W[:, j]||₂``
    (:class:`MultiTaskElasticNet` with ``l1_ratio=1``; scikit-learn 1.9's
    ``MultiTaskLasso`` parameters)."""

    _mono = "Lasso"

    def __init__(
        self,
        alpha=1.0,
        *,
        fit_intercept=True,
        copy_X=True,
        max_iter=100,
        tol=1e-4,
        warm_start=False,
        random_state=None,
        selection="cyclic",
    ):
        super().__init__(
            alpha,
            l1_ratio=1.0,
            fit_intercept=fit_intercept,
            copy_X=copy_X,
            max_iter=max_iter,
            tol=tol,
            warm_start=warm_start,
            random_state=random_state,
            selection=selection,
        )
        del self.l1_ratio

    def _rho(self):
        return 1.0
