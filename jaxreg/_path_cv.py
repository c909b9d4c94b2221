"""Cross-validated Lasso / elastic net / multi-task estimators.

``LassoCV``, ``ElasticNetCV``, ``MultiTaskLassoCV`` and
``MultiTaskElasticNetCV`` follow scikit-learn 1.9's ``LinearModelCV.fit``
step by step, so that the same folds give the same grid and the same choice:

1. the grid, per ``l1_ratio``: ``alphas`` geometric values from ``α_max``
   to ``eps·α_max`` with ``α_max = maxⱼ ||(X̃ᵀ S Ỹ)ⱼ||₂ / (Σs · ρ)`` (``X̃``,
   ``Ỹ`` centred with the weighted means when ``fit_intercept``, ``S =
   diag(s)``; for ``positive``, ``max(0, maxⱼ (X̃ᵀSỹ)ⱼ) / (Σs·ρ)``), computed
   on the full data in float64; or the given ``alphas`` sorted decreasing;
2. the folds: ``check_cv(cv)`` (``None``: 5-fold ``KFold``; an int: ``KFold``
   without shuffling; any scikit-learn splitter or iterable of ``(train,
   test)``), ``split(X, y)``;
3. per ``l1_ratio`` and fold, a warm-started path on the training part and
   its held-out (``sample_weight``-weighted) mean squared error (averaged
   over tasks), ``mse_path_`` of shape ``(n_l1_ratio, n_alphas, n_folds)``
   with length-1 axes squeezed;
4. the smallest fold-averaged MSE wins (first ``alpha`` on ties, then the
   first ``l1_ratio`` strictly better), and the model is refit on all data.

Single-output folds run :func:`jaxreg.solvers.path.cross_validate` (one
compiled warm-started path per fold); multi-task folds share one stacked problem
(:mod:`jaxreg._multitask`), each fold its sample weights, and all their
warm-started block-CD paths run in one compiled program per working-set
bucket. ``n_jobs`` and
``verbose`` are accepted and have no effect (the folds run one after the
other on the device).
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import check_cv
from sklearn.utils.validation import column_or_1d

from jaxreg._estimator_base import (
    _check_params,
    _check_precompute,
    _check_selection,
    _LinearRegressor,
    _split_params,
    _validate_X_and_y,
    _weights_array,
    alpha_grid,
)
from jaxreg._multitask import (
    MultiTaskElasticNet,
    MultiTaskLasso,
    _solve_folds,
    enet_path,
    lasso_path,
)
from jaxreg.solvers.cd import path_bucket
from jaxreg.solvers.path import (
    cross_validate,
    fold_weights,
    listed_folds,
    warn_folds_not_converged,
)

__all__ = ["ElasticNetCV", "LassoCV", "MultiTaskElasticNetCV", "MultiTaskLassoCV"]


class _PathCV(_LinearRegressor):
    """``LinearModelCV.fit`` (module docstring); subclasses give the model."""

    _multitask = False

    def _l1_ratios(self):
        """``l1_ratio`` as a 1-D array; ``ValueError`` naming it unless it is
        a number in ``[0, 1]`` or a non-empty list of them (None and NaN
        reached the solvers; a string raised numpy's conversion error)."""
        value = getattr(self, "l1_ratio", 1.0)
        try:
            rhos = np.atleast_1d(np.asarray(value, float))
        except (TypeError, ValueError):
            rhos = np.full(1, np.nan)
        if rhos.ndim != 1 or not rhos.size or not np.all((rhos >= 0) & (rhos <= 1)):
            raise ValueError(
                "l1_ratio must be a number in [0, 1] or a non-empty list of them, "
                f"got {value!r}"
            )
        return rhos

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.single_output = not self._multitask
        tags.target_tags.multi_output = self._multitask
        return tags

    def _check_data(self, X, y):
        X, y = _validate_X_and_y(self, X, y)
        _check_params(self)
        name = type(self).__name__
        if not self._multitask:
            if y.ndim > 1 and y.shape[1] > 1:
                raise ValueError(f"For multi-task outputs, use MultiTask{name}")
            y = column_or_1d(y, warn=True)
        elif y.ndim == 1:
            raise ValueError(f"For mono-task outputs, use {name[9:]}")
        return X, y

    def _grids(self, X, Y, l1_ratios, sample_weight):
        if isinstance(self.alphas, numbers.Integral) and not isinstance(
            self.alphas, bool
        ):
            if self.alphas < 1:
                raise ValueError(f"alphas must be >= 1 or an array, got {self.alphas}")
            if not self.eps > 0:
                raise ValueError(f"eps must be > 0, got {self.eps!r}")
            return np.stack(
                [
                    alpha_grid(
                        X,
                        Y,
                        rho,
                        fit_intercept=self.fit_intercept,
                        eps=self.eps,
                        n_alphas=int(self.alphas),
                        sample_weight=sample_weight,
                        positive=getattr(self, "positive", False),
                    )
                    for rho in l1_ratios
                ]
            )
        if np.ndim(self.alphas) != 1 or np.size(self.alphas) == 0:
            error = TypeError if np.ndim(self.alphas) > 1 else ValueError
            raise error(
                "alphas must be an int >= 1 or a non-empty 1-D array-like of "
                f"floats, got {self.alphas!r}"
            )
        alphas = np.asarray(self.alphas, np.float64)
        if not np.all(np.isfinite(alphas)) or np.any(alphas < 0):
            raise ValueError(f"alphas must be finite and >= 0, got {self.alphas!r}")
        return np.tile(np.sort(alphas)[::-1], (len(l1_ratios), 1))

    def _check_params(self, n_features):
        _check_selection(self.selection)
        if hasattr(self, "precompute"):
            _check_precompute(self.precompute, n_features, allow_auto=True)

    def fit(self, X, y, sample_weight=None, **params):
        """Cross-validates ``alpha`` (and ``l1_ratio``), refits on all data;
        returns ``self``. ``params`` go to the splitter's ``split`` (with
        metadata routing on, as in scikit-learn; a ``ValueError`` without)."""
        X, y = self._check_data(X, y)
        self._check_params(X.shape[1])
        if isinstance(sample_weight, numbers.Number):
            sample_weight = None
        sample_weight = _weights_array(sample_weight, X)
        l1_ratios = self._l1_ratios()
        Y = y if y.ndim == 2 else y[:, None]
        grids = self._grids(X, Y, l1_ratios, sample_weight)
        splitter = check_cv(self.cv)
        params = _split_params(self, params, splitter)
        folds = listed_folds(splitter.split(X, y, **params))
        mse = np.stack(
            [
                self._fold_mse(X, y, sample_weight, folds, grid, rho)
                for rho, grid in zip(l1_ratios, grids, strict=True)
            ]
        )  # (n_l1_ratio, n_alphas, n_folds)
        # the dtype of the residuals y - Xw, as scikit-learn's
        self.mse_path_ = np.squeeze(mse).astype(np.result_type(X.dtype, y.dtype))
        best_mse = np.inf
        for rho, grid, mean in zip(l1_ratios, grids, mse.mean(axis=2), strict=True):
            i = int(np.argmin(mean))
            if mean[i] < best_mse:
                best_alpha, best_rho, best_mse = grid[i], rho, mean[i]
        self.alpha_ = np.float64(best_alpha)
        if hasattr(self, "l1_ratio"):
            self.l1_ratio_ = np.float64(best_rho)  # scikit-learn's type
        if isinstance(self.alphas, numbers.Integral):
            self.alphas_ = grids[0] if len(l1_ratios) == 1 else grids
        else:
            self.alphas_ = grids[0]
        model = self._model(self.alpha_, float(best_rho))
        self._refit(model, X, y, sample_weight)
        self.coef_ = model.coef_
        self.intercept_ = model.intercept_
        self.dual_gap_ = model.dual_gap_
        self.n_iter_ = model.n_iter_
        return self


class _SingleOutputCV(_PathCV):
    def _fold_mse(self, X, y, sample_weight, folds, grid, rho):
        res = cross_validate(
            X,
            y,
            lambdas=grid,
            l1_ratio=rho,
            sample_weight=sample_weight,
            positive=self.positive,
            cv=folds,
            fit_intercept=self.fit_intercept,
            tol=self.tol,
            max_iter=self.max_iter,
        )
        return np.asarray(res.scores, np.float64)

    def _refit(self, model, X, y, sample_weight):
        """The fit on all data, from the working-set size of the folds' paths
        (:func:`~jaxreg.solvers.cd.path_bucket`) rather than 64: ``alpha_``
        is often small, and each doubling on the way would compile another
        program (a first ``LassoCV`` fit of 200 x 1000: three, half its time)."""
        model._fit(
            X,
            y,
            sample_weight,
            getattr(model, "l1_ratio", 1.0),
            p0=path_bucket(*X.shape),
        )

    def _model(self, alpha, rho):
        from jaxreg.linear_model import ElasticNet, Lasso  # imports this module

        common = dict(
            fit_intercept=self.fit_intercept,
            max_iter=self.max_iter,
            tol=self.tol,
            positive=self.positive,
            random_state=self.random_state,
            selection=self.selection,
        )
        if hasattr(self, "l1_ratio"):
            return ElasticNet(alpha, l1_ratio=rho, **common)
        return Lasso(alpha, **common)


class _MultiTaskCV(_PathCV):
    _multitask = True

    def _fold_mse(self, X, Y, sample_weight, folds, grid, rho):
        if sp.issparse(X):
            X = X.tocsr()
        train, test = fold_weights(folds, sample_weight, X.shape[0], np.float64)
        W, b, gaps, _, converged, tol_abs = _solve_folds(
            X,
            Y,
            train,
            grid,
            rho,
            fit_intercept=self.fit_intercept,
            tol=self.tol,
            max_iter=self.max_iter,
        )
        warn_folds_not_converged(gaps, converged, tol_abs, type(self).__name__)
        F, L, T, d = W.shape
        out = np.empty((L, F))
        for f in range(F):
            # each held-out row once, weighted by its count: a row listed
            # twice (a bootstrap split) weighs twice, not four times
            te = np.flatnonzero(test[f])
            pred = np.asarray(X[te] @ W[f].transpose(2, 0, 1).reshape(d, L * T))
            resid = pred.reshape(-1, L, T).transpose(1, 0, 2) + b[f, :, None] - Y[te]
            out[:, f] = np.average(resid**2, axis=1, weights=test[f, te]).mean(axis=1)
        return out

    def _refit(self, model, X, y, sample_weight):
        model.fit(X, y, sample_weight=sample_weight)

    def _model(self, alpha, rho):
        common = dict(
            fit_intercept=self.fit_intercept,
            max_iter=self.max_iter,
            tol=self.tol,
            random_state=self.random_state,
            selection=self.selection,
        )
        if hasattr(self, "l1_ratio"):
            return MultiTaskElasticNet(alpha, l1_ratio=rho, **common)
        return MultiTaskLasso(alpha, **common)


_CV_ARGS = """
    Args:
      l1_ratio: ``ρ`` or a list of them (ElasticNet variants only; each gets
        its own grid).
      eps, alphas: grid ratio and size (int), or an explicit array.
      fit_intercept, max_iter, tol, positive, random_state, selection: as in
        the refit model (``max_iter``: outer working-set iterations; ``tol``:
        gap relative to ``P(0)``).
      precompute: accepted values of scikit-learn (``'auto'``, bool, Gram
        array); no effect on the result.
      copy_X: accepted; ``X`` is never modified.
      cv: ``None`` (5 folds), an int, a splitter or an iterable of splits.
      verbose, n_jobs: accepted, no effect.

    Fitted attributes:
      ``alpha_``, ``l1_ratio_`` (ElasticNet variants), ``alphas_``
      (``(n_alphas,)``, or ``(n_l1_ratio, n_alphas)``), ``mse_path_``
      (``(n_l1_ratio, n_alphas, n_folds)`` squeezed), ``coef_``,
      ``intercept_``, ``dual_gap_``, ``n_iter_`` (of the refit).
"""


class LassoCV(_SingleOutputCV):
    __doc__ = (
        "Lasso with ``alpha`` chosen by cross-validation (scikit-learn 1.9's\n"
        "    ``LassoCV``; see :mod:`jaxreg._path_cv` for the procedure).\n" + _CV_ARGS
    )

    path = staticmethod(lasso_path)

    def __init__(
        self,
        *,
        eps=1e-3,
        alphas=100,
        fit_intercept=True,
        precompute="auto",
        max_iter=100,
        tol=1e-4,
        copy_X=True,
        cv=None,
        verbose=False,
        n_jobs=None,
        positive=False,
        random_state=None,
        selection="cyclic",
    ):
        self.eps = eps
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.precompute = precompute
        self.max_iter = max_iter
        self.tol = tol
        self.copy_X = copy_X
        self.cv = cv
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.positive = positive
        self.random_state = random_state
        self.selection = selection


class ElasticNetCV(_SingleOutputCV):
    __doc__ = (
        "Elastic net with ``alpha`` and ``l1_ratio`` chosen by cross-validation\n"
        "    (scikit-learn 1.9's ``ElasticNetCV``; :mod:`jaxreg._path_cv`).\n"
        + _CV_ARGS
    )

    path = staticmethod(enet_path)

    def __init__(
        self,
        *,
        l1_ratio=0.5,
        eps=1e-3,
        alphas=100,
        fit_intercept=True,
        precompute="auto",
        max_iter=100,
        tol=1e-4,
        cv=None,
        copy_X=True,
        verbose=0,
        n_jobs=None,
        positive=False,
        random_state=None,
        selection="cyclic",
    ):
        self.l1_ratio = l1_ratio
        self.eps = eps
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.precompute = precompute
        self.max_iter = max_iter
        self.tol = tol
        self.cv = cv
        self.copy_X = copy_X
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.positive = positive
        self.random_state = random_state
        self.selection = selection


class MultiTaskLassoCV(_MultiTaskCV):
    __doc__ = (
        "Multi-task Lasso with ``alpha`` chosen by cross-validation\n"
        "    (scikit-learn 1.9's ``MultiTaskLassoCV``; :mod:`jaxreg._path_cv`).\n"
        + _CV_ARGS
    )

    path = staticmethod(lasso_path)

    def __init__(
        self,
        *,
        eps=1e-3,
        alphas=100,
        fit_intercept=True,
        max_iter=100,
        tol=1e-4,
        copy_X=True,
        cv=None,
        verbose=False,
        n_jobs=None,
        random_state=None,
        selection="cyclic",
    ):
        self.eps = eps
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.copy_X = copy_X
        self.cv = cv
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.selection = selection


class MultiTaskElasticNetCV(_MultiTaskCV):
    __doc__ = (
        "Multi-task elastic net with ``alpha`` and ``l1_ratio`` chosen by\n"
        "    cross-validation (scikit-learn 1.9's ``MultiTaskElasticNetCV``;\n"
        "    :mod:`jaxreg._path_cv`).\n" + _CV_ARGS
    )

    path = staticmethod(enet_path)

    def __init__(
        self,
        *,
        l1_ratio=0.5,
        eps=1e-3,
        alphas=100,
        fit_intercept=True,
        max_iter=100,
        tol=1e-4,
        cv=None,
        copy_X=True,
        verbose=0,
        n_jobs=None,
        random_state=None,
        selection="cyclic",
    ):
        self.l1_ratio = l1_ratio
        self.eps = eps
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.cv = cv
        self.copy_X = copy_X
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.selection = selection
