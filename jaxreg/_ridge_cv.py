"""``RidgeCV`` (efficient leave-one-out over a grid of alphas, vmapped) and
``RidgeClassifier``.

Leave-one-out for ridge with an unpenalized intercept. With weights ``s``,
``Z = S^½(X - 1x̄ᵀ)`` and ``z = S^½(y - ȳ)`` (weighted means ``x̄``, ``ȳ``),
``Zᵀ S^½1 = 0``, so the hat matrix of the fit ``min ||S^½(y - Xw - b)||² +
α||w||²`` splits as ``H = S^½11ᵀS^½/Σs + Z(ZᵀZ + αI)⁻¹Zᵀ``. From one thin SVD
``Z = U diag(σ) Vᵀ``, for every ``α`` at once (a ``vmap``),

    hᵢᵢ = sᵢ/Σs + Σₖ Uᵢₖ² σₖ²/(σₖ² + α),   eᵢ = (z - Hz)ᵢ / (1 - hᵢᵢ),
    w = V diag(σ/(σ² + α)) Uᵀz,

``e`` the leave-one-out residuals in the ``S^½`` metric (the exact LOO of
the weighted fit; scikit-learn's ``_RidgeGCV`` computes the same values from
an eigendecomposition of ``XXᵀ`` or ``XᵀX`` or from the SVD). The score is
``-mean(e²)`` (or the ``scoring`` of the LOO predictions ``y - e/√s``).
"""

from __future__ import annotations

import functools
import numbers

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.metrics import check_scoring
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import compute_sample_weight
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from jaxreg._estimator_base import (
    _FLOATS,
    _SPARSE,
    _LinearRegressor,
    _split_params,
    _weights_array,
)
from jaxreg.solvers.base import default_dtype

__all__ = ["RidgeCV", "RidgeClassifier", "ridge_loo"]


@functools.partial(jax.jit, static_argnames="fit_intercept")
def _loo(Z, z, s, alphas, fit_intercept):
    U, sv, Vt = jnp.linalg.svd(Z, full_matrices=False)
    Uz = U.T @ z  # (k, T)
    U2 = U * U
    base = s / jnp.sum(s) if fit_intercept else jnp.zeros_like(s)
    # 1 - hᵢᵢ and z - Hz written with g = α/(σ² + α) = 1 - σ²/(σ² + α), not
    # as differences from 1: at small α (hᵢᵢ → 1 when n <= d) the
    # subtraction would cancel every float32 digit
    outside = 1.0 - jnp.sum(U2, axis=1)  # ‖(I - UUᵀ)eᵢ‖², 0 when n <= d
    z_out = z - U @ Uz

    def one(alpha):
        g = alpha / (sv * sv + alpha)
        one_minus_h = U2 @ g + outside - base
        resid = U @ (g[:, None] * Uz) + z_out
        coef = Vt.T @ ((sv / (sv * sv + alpha))[:, None] * Uz)
        return resid / one_minus_h[:, None], coef

    return jax.vmap(one)(alphas)


def ridge_loo(X, Y, alphas, *, sample_weight=None, fit_intercept=True):
    """Leave-one-out residuals and coefficients of ridge for every ``alpha``.

    Minimizes ``Σᵢ sᵢ(yᵢ - xᵢᵀw - b)² + alpha ||w||²`` (scikit-learn's
    ``Ridge``) for each ``alpha`` (all ``> 0``) from one SVD (module
    docstring).

    Args:
      X: ``(n, d)`` dense (a sparse ``X`` is densified).
      Y: ``(n, T)``.
      alphas: ``(L,)``.

    Returns:
      ``(looe, coef, intercept)``: ``looe`` ``(L, n, T)`` the LOO residuals
      scaled by ``√sᵢ``; ``coef`` ``(L, T, d)``; ``intercept`` ``(L, T)``.
    """
    X = X.toarray() if sp.issparse(X) else np.asarray(X)
    Y = np.asarray(Y, np.float64)
    n = X.shape[0]
    s = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    x_off = (s @ X) / s.sum() if fit_intercept else np.zeros(X.shape[1])
    y_off = (s @ Y) / s.sum() if fit_intercept else np.zeros(Y.shape[1])
    root = np.sqrt(s)
    dtype = default_dtype(X, Y)
    looe, coef = _loo(
        jnp.asarray(root[:, None] * (X - x_off), dtype),
        jnp.asarray(root[:, None] * (Y - y_off), dtype),
        jnp.asarray(s, dtype),
        jnp.asarray(alphas, dtype),
        fit_intercept,
    )
    coef = np.swapaxes(np.asarray(coef, np.float64), 1, 2)  # (L, T, d)
    return np.asarray(looe, np.float64), coef, y_off - coef @ x_off


class _Identity(RegressorMixin, BaseEstimator):
    """Returns its input: scores precomputed predictions with a scorer."""

    def predict(self, y_predict):
        return y_predict

    def decision_function(self, y_predict):
        return y_predict


class RidgeCV(_LinearRegressor):
    """Ridge with ``alpha`` chosen by (efficient) cross-validation.

    scikit-learn 1.9's ``RidgeCV``: with ``cv=None`` the exact leave-one-out
    error of every ``alpha`` comes from one SVD (:func:`ridge_loo`, all
    alphas in one vmapped call); otherwise a ``GridSearchCV`` over
    :class:`jaxreg.linear_model.Ridge`, as scikit-learn does.

    Args:
      alphas: values ``> 0`` (``>= 0`` with ``cv``).
      fit_intercept: unpenalized intercept.
      scoring: ``None`` (``-mean squared LOO error``), or a scorer name /
        callable applied to the LOO predictions (with ``sample_weight``).
      cv: ``None`` (leave-one-out), an int, a splitter or an iterable.
      gcv_mode: ``None``, ``"auto"``, ``"svd"``, ``"eigen"``: accepted;
        all give the same values here, by the SVD of the centred weighted
        design (a sparse ``X`` is densified for it; scikit-learn keeps it
        sparse in ``"eigen"`` mode).
      store_cv_results: keep ``cv_results_`` (squared LOO errors, or LOO
        predictions with ``scoring``), shape ``(n_samples, n_alphas)`` or
        ``(n_samples, n_targets, n_alphas)``.
      alpha_per_target: choose ``alpha`` per column of ``y``.

    Fitted attributes:
      ``alpha_``, ``best_score_``, ``coef_``, ``intercept_``, ``cv_results_``
      (if stored).

    Computed in float32 unless x64 is enabled (scikit-learn always uses
    float64 here): the selected ``alpha_``, ``best_score_`` and ``coef_``
    agree with scikit-learn's on diabetes (raw, cubic features, and 100 x 285
    wide), but single ``cv_results_`` entries at tiny ``alpha`` (``< 0.1``
    on the rank-deficient wide design, where ``hᵢᵢ → 1``) can be off by
    tens of percent in float32; enable x64 when those matter.
    """

    def __init__(
        self,
        alphas=(0.1, 1.0, 10.0),
        *,
        fit_intercept=True,
        scoring=None,
        cv=None,
        gcv_mode=None,
        store_cv_results=False,
        alpha_per_target=False,
    ):
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.scoring = scoring
        self.cv = cv
        self.gcv_mode = gcv_mode
        self.store_cv_results = store_cv_results
        self.alpha_per_target = alpha_per_target

    def _checked_alphas(self):
        alphas = np.atleast_1d(np.asarray(self.alphas, dtype=np.float64))
        low_ok = (alphas >= 0) if self.cv is not None else (alphas > 0)
        bound = ">= 0" if self.cv is not None else "> 0"
        for i, a in enumerate(alphas):
            if not (np.isfinite(a) and low_ok[i]):
                raise ValueError(f"alphas[{i}] == {a}, must be {bound}.")
        return alphas

    def fit(self, X, y, sample_weight=None, **params):
        """Selects ``alpha`` and fits; returns ``self``. ``params`` (with
        metadata routing on, as in scikit-learn; a ``ValueError`` without) go
        to the grid search over the splitter ``cv``; the leave-one-out of
        ``cv=None`` takes none."""
        routing = sklearn.get_config()["enable_metadata_routing"]
        if params and routing and self.cv is None:
            raise ValueError(
                "RidgeCV(cv=None) computes leave-one-out errors in closed form "
                f"and takes no fit parameters; got {set(params)}"
            )
        params = _split_params(self, params)  # GridSearchCV routes them
        if self.gcv_mode not in (None, "auto", "svd", "eigen"):
            raise ValueError(
                "gcv_mode must be None, 'auto', 'svd' or 'eigen', got "
                f"{self.gcv_mode!r}"
            )
        alphas = self._checked_alphas()
        if self.cv is not None:
            return self._fit_grid_search(X, y, sample_weight, alphas, params)
        X, y = validate_data(
            self,
            X,
            y,
            dtype=_FLOATS,
            y_numeric=True,
            accept_sparse=_SPARSE,
            multi_output=True,
        )
        if isinstance(sample_weight, numbers.Number):
            sample_weight = None
        sample_weight = _weights_array(sample_weight, X)
        Y = y if y.ndim == 2 else y[:, None]
        n, n_y = Y.shape
        looe, coef, intercept = ridge_loo(
            X,
            Y,
            alphas,
            sample_weight=sample_weight,
            fit_intercept=self.fit_intercept,
        )
        per_target = self.alpha_per_target and n_y > 1
        if self.scoring is None:
            values = looe**2  # (L, n, T)
            scores = -values.mean(axis=1) if per_target else -values.mean((1, 2))
        else:
            root = np.ones(n) if sample_weight is None else np.sqrt(sample_weight)
            # LOO predictions y - e/√s (scikit-learn's, back in y's scale)
            values = Y[None] - looe / root[None, :, None]
            scores = self._scores(values, Y, per_target, sample_weight)
        best = np.argmax(scores, axis=0)  # first maximum, as scikit-learn
        if per_target:
            cols = np.arange(n_y)
            self.alpha_ = alphas[best]
            self.best_score_ = scores[best, cols]
            W, b = coef[best, cols], intercept[best, cols]
        else:
            self.alpha_ = float(alphas[best])
            self.best_score_ = float(scores[best])
            W, b = coef[best], intercept[best]
        if y.ndim == 1:
            W, b = W[0], b[0]
        elif n_y == 1:
            W = W[0]
        self.coef_ = np.asarray(W, X.dtype)
        self.intercept_ = np.asarray(b, X.dtype)[()]
        if self.store_cv_results:
            res = np.moveaxis(values, 0, -1)  # (n, T, L)
            self.cv_results_ = np.asarray(res[:, 0] if y.ndim == 1 else res, X.dtype)
        return self

    def _scores(self, predictions, Y, per_target, sample_weight):
        scorer = check_scoring(self, scoring=self.scoring)
        kw = {} if sample_weight is None else {"sample_weight": sample_weight}
        ident = _Identity()
        out = []
        for P in predictions:  # (n, T) per alpha
            if per_target:
                out.append(
                    [scorer(ident, P[:, j], Y[:, j], **kw) for j in range(Y.shape[1])]
                )
            else:
                out.append(scorer(ident, P if Y.shape[1] > 1 else P[:, 0], _y(Y), **kw))
        return np.asarray(out, np.float64)

    def _fit_grid_search(self, X, y, sample_weight, alphas, params):
        if self.store_cv_results:
            raise ValueError("cv!=None and store_cv_results=True are incompatible")
        if self.alpha_per_target:
            raise ValueError("cv!=None and alpha_per_target=True are incompatible")
        from jaxreg.linear_model import Ridge  # imports this module

        search = GridSearchCV(
            Ridge(fit_intercept=self.fit_intercept),
            {"alpha": alphas},
            cv=self.cv,
            scoring=self.scoring,
        )
        kw = {} if sample_weight is None else {"sample_weight": sample_weight}
        search.fit(X, y, **kw, **params)
        best = search.best_estimator_
        self.alpha_ = best.alpha
        self.best_score_ = search.best_score_
        self.coef_ = best.coef_
        self.intercept_ = best.intercept_
        self.n_features_in_ = best.n_features_in_
        if hasattr(best, "feature_names_in_"):
            self.feature_names_in_ = best.feature_names_in_
        return self


def _y(Y):
    return Y if Y.shape[1] > 1 else Y[:, 0]


class RidgeClassifier(LinearClassifierMixin, BaseEstimator):
    """Ridge regression on ``{-1, 1}`` targets (scikit-learn 1.9's
    ``RidgeClassifier``).

    The labels are binarized with ``LabelBinarizer(pos_label=1,
    neg_label=-1)`` (one column per class, one-vs-all; a single column for two
    classes; multilabel indicator ``y`` accepted) and :class:`jaxreg.
    linear_model.Ridge` fits each column; ``predict`` is the sign (binary,
    multilabel) or the arg-max of the decision values. ``class_weight``
    (dict or ``"balanced"``) multiplies ``sample_weight`` by
    ``compute_sample_weight``. Parameters, solvers and their meaning as in
    :class:`jaxreg.linear_model.Ridge`.

    Fitted attributes:
      ``classes_``, ``coef_`` (``(n_features,)`` for two classes, as scikit-learn
      1.9's, else ``(n_classes, n_features)``), ``intercept_``, ``n_iter_``.
    """

    def __init__(
        self,
        alpha=1.0,
        *,
        fit_intercept=True,
        copy_X=True,
        max_iter=None,
        tol=1e-6,
        class_weight=None,
        solver="auto",
        positive=False,
        random_state=None,
    ):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.copy_X = copy_X
        self.max_iter = max_iter
        self.tol = tol
        self.class_weight = class_weight
        self.solver = solver
        self.positive = positive
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.input_tags.sparse = True
        return tags

    def fit(self, X, y, sample_weight=None):
        """Fits one ridge per binarized label column; returns ``self``."""
        from jaxreg.linear_model import Ridge  # imports this module

        X, y = validate_data(
            self, X, y, accept_sparse=_SPARSE, dtype=_FLOATS, multi_output=True
        )
        self._label_binarizer = LabelBinarizer(pos_label=1, neg_label=-1)
        Y = self._label_binarizer.fit_transform(y).astype(X.dtype)
        self.classes_ = self._label_binarizer.classes_
        if not self._label_binarizer.y_type_.startswith("multilabel"):
            y = column_or_1d(y, warn=True)
        sw = _weights_array(sample_weight, X)
        if self.class_weight:
            sw = (np.ones(X.shape[0]) if sw is None else sw) * compute_sample_weight(
                self.class_weight, y
            )
        params = {k: v for k, v in self.get_params().items() if k != "class_weight"}
        model = Ridge(**params)
        model.fit(X, Y, sample_weight=sw)
        self.coef_ = model.coef_
        self.intercept_ = model.intercept_
        self.n_iter_ = model.n_iter_
        return self

    def predict(self, X):
        """Class labels (label indicator matrix for multilabel ``y``)."""
        check_is_fitted(self, attributes=["_label_binarizer"])
        if self._label_binarizer.y_type_.startswith("multilabel"):
            decision = self.decision_function(X)
            return self._label_binarizer.inverse_transform(
                2.0 * (decision > 0).astype(decision.dtype) - 1.0
            )
        return super().predict(X)
