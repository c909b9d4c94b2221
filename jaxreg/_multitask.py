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
group. ``X ⊗ I_T`` is stored sparse (``T·nnz(X)`` entries), so no new
solver loop is involved. The ridge term is ``d·T`` extra rows ``sqrt(nα(1-ρ))
·I`` with target 0, and the group strength is rescaled so that the stacked
objective is the one above times ``n/N`` (``N`` the stacked rows' total
weight). The intercept is eliminated by (weighted) centring for dense ``X``
and is an unpenalized group of ``T`` indicator columns for sparse ``X`` (which
is never densified).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jaxreg._estimator_base import (
    _feature_order,
    _LinearRegressor,
    _validate_X_and_y,
    _weights_array,
)
from jaxreg.solvers.base import SolverResult
from jaxreg.solvers.bcd import group_lasso

__all__ = ["MultiTaskElasticNet", "MultiTaskLasso", "multitask_enet"]


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

    Returns:
      A :class:`~jaxreg.solvers.base.SolverResult` with ``coef`` ``(T, d)``,
      ``intercept`` ``(T,)`` and ``gap`` in the units of the objective above.
    """
    n, d = X.shape
    T = Y.shape[1]
    s = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    s = s * (n / s.sum())
    sparse = sp.issparse(X)
    Y = np.asarray(Y, np.float64)
    x_off = np.zeros(d)
    y_off = np.zeros(T)
    if fit_intercept and not sparse:
        x_off = s @ X / n
        y_off = s @ Y / n
        X = X - x_off
        Y = Y - y_off
    eye = sp.identity(T, format="csr")
    blocks = [sp.kron(sp.csr_matrix(X), eye, format="csc")]
    labels = [np.repeat(np.arange(d), T)]
    group_weights = [np.ones(d)]
    free = fit_intercept and sparse
    if free:  # one unpenalized group of T intercept columns
        blocks.append(sp.kron(np.ones((n, 1)), eye, format="csc"))
        labels.append(np.full(T, d))
        group_weights.append(np.zeros(1))
    design = sp.hstack(blocks, format="csc")
    target = Y.ravel()
    rows_w = np.repeat(s, T)
    l2 = alpha * (1.0 - l1_ratio)
    if l2 > 0:
        ridge_rows = sp.hstack(
            [np.sqrt(n * l2) * sp.identity(d * T), sp.csc_matrix((d * T, T * free))],
            format="csc",
        )
        design = sp.vstack([design, ridge_rows], format="csc")
        target = np.concatenate([target, np.zeros(d * T)])
        rows_w = np.concatenate([rows_w, np.ones(d * T)])
    total = rows_w.sum()
    w0 = None
    if coef_init is not None:
        w0 = np.zeros(design.shape[1])
        w0[: d * T] = np.asarray(coef_init, float).T.ravel()
    res = group_lasso(
        design.astype(X.dtype),
        target,
        alpha * l1_ratio * n / total,
        np.concatenate(labels),
        group_weights=np.concatenate(group_weights),
        sample_weight=rows_w,
        fit_intercept=False,
        tol=tol,
        max_iter=max_iter,
        coef_init=w0,
    )
    flat = np.asarray(res.coef, np.float64)
    W = flat[: d * T].reshape(d, T).T
    if free:
        b = flat[d * T :]
    elif fit_intercept:
        b = y_off - W @ x_off
    else:
        b = np.zeros(T)
    return SolverResult(W, b, float(res.gap) * total / n, res.n_iter, res.converged)


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
