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
entries). The ridge term is ``d·T`` extra rows of the identity with target
0 and weight ``nα(1-ρ)`` each, and the group strength is rescaled so that
the stacked objective is the one above times ``n/N`` (``N`` the stacked
rows' total weight): ``alpha`` changes only weights and the strength, so a
path or a fold builds the stacked problem once. The intercept is eliminated
by (weighted) centring for dense ``X`` and is an unpenalized group of ``T``
indicator columns for sparse ``X`` (which is never densified).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

from jaxreg._estimator_base import (
    _feature_order,
    _LinearRegressor,
    _validate_X_and_y,
    _weights_array,
)
from jaxreg.solvers.base import (
    Problem,
    SolverResult,
    _centred,
    default_dtype,
    to_device,
)
from jaxreg.solvers.bcd import Layout, group_layout, solve_prepared
from jaxreg.solvers.datafits import Quadratic
from jaxreg.solvers.design import MultiTaskDesign, as_design

__all__ = ["MultiTaskElasticNet", "MultiTaskLasso", "multitask_enet"]


class _Stacked(NamedTuple):
    """The stacked group-lasso problem of ``(X, Y)``, built once for every
    ``alpha`` (a path, a fold): ``alpha`` only sets the strength and the
    ridge rows' weight."""

    design: Any  # MultiTaskDesign (dense X) or SparseDesign (stacked)
    target: np.ndarray  # vec(Y), then 0 for the ridge rows
    rows: np.ndarray  # the data rows' weights (s repeated T times, sum n·T)
    layout: Layout
    group_weights: np.ndarray
    shape: tuple  # (n, d, T)
    ridge: bool  # d·T identity rows follow (l1_ratio < 1)
    free: bool  # sparse X with an intercept: a group of T indicator columns
    x_off: np.ndarray
    y_off: np.ndarray


def _stack(X, Y, ridge, sample_weight, fit_intercept) -> _Stacked:
    n, d = X.shape
    T = Y.shape[1]
    s = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    s = s * (n / s.sum())
    sparse = sp.issparse(X)
    dtype = default_dtype(X)
    Y = np.asarray(Y, np.float64)
    x_off = np.zeros(d)
    y_off = np.zeros(T)
    if fit_intercept and not sparse:
        x_off = s @ X / n
        y_off = s @ Y / n
        X = X - x_off
        Y = Y - y_off
    labels = [np.repeat(np.arange(d), T)]
    group_weights = [np.ones(d)]
    free = fit_intercept and sparse
    if free:  # one unpenalized group of T intercept columns
        labels.append(np.full(T, d))
        group_weights.append(np.zeros(1))
    rows = np.repeat(s, T)
    n_rows = n * T + (d * T if ridge else 0)
    a = np.full(n_rows, 1.0 / n_rows)  # placeholder weights: _solve sets them
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
    target = Y.ravel()
    if ridge:
        target = np.concatenate([target, np.zeros(d * T)])
    labels = np.concatenate(labels)
    return _Stacked(
        design,
        target,
        rows,
        group_layout(labels, labels.shape[0]),
        np.concatenate(group_weights),
        (n, d, T),
        ridge,
        free,
        x_off,
        y_off,
    )


def _solve(st, alpha, l1_ratio, *, tol, max_iter, coef_init, what) -> SolverResult:
    """The multi-task elastic net at ``alpha`` on a stacked problem."""
    n, d, T = st.shape
    rows = st.rows
    if st.ridge:  # weight n·α(1-ρ) per identity row: + α(1-ρ)/2 ||W||² · n/total
        rows = np.concatenate([rows, np.full(d * T, n * alpha * (1.0 - l1_ratio))])
    total = rows.sum()
    dtype = st.design.dtype
    a = jnp.asarray(rows / total, dtype)
    datafit, y_offset = _centred(
        Quadratic.from_targets(st.target, a), False, np.dtype(dtype)
    )
    problem = Problem(st.design.reweighted(a, False), datafit, y_offset, False)
    w0 = None
    if coef_init is not None:
        w0 = np.zeros(st.layout.pos.shape[0])
        w0[: d * T] = np.asarray(coef_init, float).T.ravel()
    res = solve_prepared(
        problem,
        st.layout,
        alpha * l1_ratio * n / total,
        st.group_weights,
        tol=tol,
        max_iter=max_iter,
        max_epochs=100_000,
        p0=16,
        coef_init=w0,
        what=what,
    )
    flat = np.asarray(res.coef, np.float64)
    W = flat[: d * T].reshape(d, T).T
    # the intercepts: free coordinates (sparse X), else from the centring
    # offsets (zero without an intercept)
    b = flat[d * T :] if st.free else st.y_off - W @ st.x_off
    return SolverResult(W, b, float(res.gap) * total / n, res.n_iter, res.converged)


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
    stacked = _stack(X, Y, l1_ratio < 1, sample_weight, fit_intercept)
    return _solve(
        stacked,
        alpha,
        l1_ratio,
        tol=tol,
        max_iter=max_iter,
        coef_init=coef_init,
        what=what,
    )


class MultiTaskElasticNet(_LinearRegressor):
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
        if not 0 <= rho <= 1:
            raise ValueError(f"l1_ratio must lie in [0, 1], got {rho!r}")
        return float(rho)

    def _check_data(self, X, y):
        X, y = _validate_X_and_y(self, X, y)
        if y.ndim == 1:
            raise ValueError(f"For mono-task outputs, use {self._mono}")
        if not np.isfinite(self.alpha) or self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha!r}")
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
        self.intercept_ = np.asarray(res.intercept, X.dtype)
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
