"""``RidgeCV`` (efficient leave-one-out over a grid of alphas, vmapped),
``RidgeClassifier`` and ``RidgeClassifierCV``.

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

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.metrics import check_scoring, get_scorer
from sklearn.model_selection import GridSearchCV, check_cv
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import compute_sample_weight
from sklearn.utils.validation import (
    check_array,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from jaxreg._estimator_base import (
    _FLOATS,
    _SPARSE,
    _check_flags,
    _LinearRegressor,
    _scorer_weights,
    _split_params,
    _weights_array,
)
from jaxreg.solvers.base import default_dtype
from jaxreg.solvers.path import listed_folds
from jaxreg.solvers.ridge import _Spectral, ridge_folds

__all__ = ["RidgeCV", "RidgeClassifier", "RidgeClassifierCV", "ridge_loo"]


@functools.partial(jax.jit, static_argnames="fit_intercept")
def _loo(Z, z, s, alphas, fit_intercept):
    spectral = _Spectral.of(Z.T)
    sv = spectral.sv
    base = s / jnp.sum(s) if fit_intercept else jnp.zeros_like(s)
    # 1 - hᵢᵢ and z - Hz written with g = α/(σ² + α) = 1 - σ²/(σ² + α), not
    # as differences from 1: at small α (hᵢᵢ → 1 when n <= d) the
    # subtraction would cancel every float32 digit. The rest is the
    # projection on what neither Z nor the intercept spans, ‖(I - UUᵀ)eᵢ‖² -
    # sᵢ/Σs and (I - UUᵀ)z. When they span every row (n <= d, with the
    # intercept n <= d + 1) it is exactly 0, and the directions below the
    # SVD's roundoff (the intercept's √s, which centring removed: σ ≈
    # 1e-7·σ₁ in float32) are dropped: float32 left 1e-7 of noise there that
    # swamped 1 - hᵢᵢ ≈ α/σ² (the LOO error came out 0 for 84)
    # (rows of weight 0 are zero rows of Z: only the others count, and
    # theirs is 1 - hᵢᵢ = 1). Duplicated rows lower the rank below n: that
    # case keeps the float32 noise (x64 resolves it)
    resolved = sv > spectral.cut
    rows = jnp.sum(s > 0)
    spanned = jnp.sum(resolved) + (1 if fit_intercept else 0) >= rows
    U = spectral.U * (resolved | ~spanned)[None, :]
    Uz = U.T @ z  # (k, T)
    U2 = U * U
    outside = jnp.where(
        spanned, jnp.where(s > 0, 0.0, 1.0), 1.0 - jnp.sum(U2, axis=1) - base
    )
    z_out = jnp.where(spanned, 0.0, z - U @ Uz)

    def one(alpha):
        g = alpha / (sv * sv + alpha)
        one_minus_h = U2 @ g + outside
        resid = U @ (g[:, None] * Uz) + z_out
        return resid / one_minus_h[:, None], spectral.coef(z, alpha)

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
    alphas in one vmapped call). With a ``cv``, every fold × alpha fit and
    the refit on all rows come from one compiled program
    (:func:`jaxreg.solvers.ridge.ridge_folds`: a fold is ``X`` weighted with
    zeros on its held-out rows, one SVD per fold serves every
    alpha), where scikit-learn runs a ``GridSearchCV`` of ``Ridge`` fits.
    The result is that search's: the score of an alpha is the mean over
    folds of the held-out score (``scoring=None``: R²; ``sample_weight``
    reaches the scorer as that search sends it), ``alpha_`` the first best,
    ``coef_`` the refit at ``alpha_``.

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
        if np.ndim(self.alphas) > 1:
            raise TypeError(
                "alphas must be a float or a 1-D array-like of floats, got "
                f"{self.alphas!r}"
            )
        alphas = np.atleast_1d(np.asarray(self.alphas, dtype=np.float64))
        if alphas.size == 0:  # scikit-learn fits NaN coefficients, alpha_ None
            raise ValueError("alphas must hold at least one value, got none")
        low_ok = (alphas >= 0) if self.cv is not None else (alphas > 0)
        bound = ">= 0" if self.cv is not None else "> 0"
        for i, a in enumerate(alphas):
            if not (np.isfinite(a) and low_ok[i]):
                raise ValueError(f"alphas[{i}] == {a}, must be {bound}.")
        return alphas

    def fit(self, X, y, sample_weight=None, **params):
        """Selects ``alpha`` and fits; returns ``self``. ``params`` (with
        metadata routing on, as in scikit-learn; a ``ValueError`` without)
        are routed to the splitter ``cv``, the fits and the scorer as
        scikit-learn's grid search routes them; the leave-one-out of
        ``cv=None`` takes none."""
        params, alphas = self._checked(params)
        if self.gcv_mode not in (None, "auto", "svd", "eigen"):
            raise ValueError(
                "gcv_mode must be None, 'auto', 'svd' or 'eigen', got "
                f"{self.gcv_mode!r}"
            )
        if self.cv is not None and self.alpha_per_target:
            raise ValueError("cv!=None and alpha_per_target=True are incompatible")
        X, y = validate_data(
            self,
            X,
            y,
            dtype=_FLOATS,
            y_numeric=True,
            accept_sparse=_SPARSE,
            multi_output=True,
        )
        sample_weight = _weights_array(sample_weight, X)  # a number: uniform
        if self.cv is not None:
            return self._fit_folds(X, y, sample_weight, alphas, params)
        return self._fit_loo(X, y, sample_weight, alphas)

    def _checked(self, params):
        """The checks ``fit`` makes before the data: ``(params, alphas)``."""
        routing = sklearn.get_config()["enable_metadata_routing"]
        if params and routing and self.cv is None:  # leave-one-out routes none
            raise TypeError(
                f"{type(self).__name__}.fit got unexpected argument(s) "
                f"{set(params)}, which are not routed to any object."
            )
        params = _split_params(self, params)  # routed in _routed
        alphas = self._checked_alphas()
        _check_flags(self)
        if self.cv is not None and self.store_cv_results:
            raise ValueError("cv!=None and store_cv_results=True are incompatible")
        return params, alphas

    def _fit_loo(self, X, y, sample_weight, alphas):
        """``cv=None``: the leave-one-out search (one SVD, every alpha)."""
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
            self.best_score_ = np.float64(scores[best])  # scikit-learn's type
            if self.alpha_per_target and y.ndim == 2:
                self.best_score_ = np.array([self.best_score_])  # scikit-learn's
            W, b = coef[best], intercept[best]
        if y.ndim == 1:
            W, b = W[0], b[0]
        elif n_y == 1:
            W = W[0]
        self.coef_ = np.asarray(W, X.dtype)
        # without an intercept scikit-learn's is the float 0.0 for any y
        self.intercept_ = np.asarray(b, X.dtype)[()] if self.fit_intercept else 0.0
        if self.store_cv_results:
            res = np.moveaxis(values, 0, -1)  # (n, T, L)
            self.cv_results_ = np.asarray(res[:, 0] if y.ndim == 1 else res, X.dtype)
        return self

    def _scores(self, predictions, Y, per_target, sample_weight):
        scorer = check_scoring(self, scoring=self.scoring)
        sample_weight = _scorer_weights(self, scorer, sample_weight)
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

    def _fit_folds(self, X, y, sample_weight, alphas, params):
        """``cv`` given: every fold × alpha and the refit from one
        :func:`ridge_folds` call; each fold × alpha is then scored as
        scikit-learn's ``GridSearchCV`` scores its ``Ridge``: the scorer gets
        a fitted :class:`jaxreg.linear_model.Ridge` (``_inner``) and the
        held-out rows."""
        fit_kw, split_kw, score_kw, scorer = self._routed(sample_weight, alphas, params)
        n = X.shape[0]
        sw = _weights_array(fit_kw.get("sample_weight"), X)
        sw = np.ones(n) if sw is None else sw
        splits = listed_folds(
            (np.arange(n)[np.asarray(tr)], np.arange(n)[np.asarray(te)])
            for tr, te in check_cv(self.cv, y, classifier=self._classifier).split(
                X, y, **split_kw
            )
        )
        # the folds' training weights (a row listed twice counts twice) and,
        # as the last weighting, the refit on every row
        S = np.stack([np.bincount(tr, sw[tr], n) for tr, _ in splits] + [sw])
        coef, intercept = ridge_folds(
            X,
            self._targets(y).astype(X.dtype),
            S,
            np.asarray(alphas, np.float64),
            fit_intercept=self.fit_intercept,
        )
        X = X.tocsr() if sp.issparse(X) else X  # rows by index

        def fitted(f, i):
            W, b = coef[f, i], intercept[f, i]  # (T, d), (T,)
            if y.ndim == 1 and not self._classifier:
                W, b = W[0], b[0]
            elif W.shape[0] == 1:  # scikit-learn's Ridge: (n_features,), (1,)
                W = W[0]
            est = self._inner()
            est.set_params(alpha=alphas[i])
            est.coef_ = np.asarray(W, X.dtype)
            est.intercept_ = np.asarray(b, X.dtype)[()] if self.fit_intercept else 0.0
            est.n_features_in_ = X.shape[1]
            return self._fitted(est)

        scores = np.empty((len(splits), len(alphas)))
        for f, (_, test) in enumerate(splits):
            kw = {
                k: np.asarray(v)[test] if np.ndim(v) and len(v) == n else v
                for k, v in score_kw.items()
            }
            for i in range(len(alphas)):
                scores[f, i] = scorer(fitted(f, i), X[test], y[test], **kw)
        mean = scores.mean(axis=0)
        # the first maximum, a NaN score ranked last: GridSearchCV's rank
        best = int(np.argmax(np.where(np.isnan(mean), -np.inf, mean)))
        refit = fitted(-1, best)
        self.alpha_ = np.atleast_1d(np.asarray(self.alphas))[best]  # its dtype
        self.best_score_ = mean[best]
        self.coef_, self.intercept_ = refit.coef_, refit.intercept_
        return self

    def _routed(self, sample_weight, alphas, params):
        """``(fit, split, score)`` keyword arguments and the scorer of the
        ``GridSearchCV`` over ``Ridge`` that scikit-learn's ``RidgeCV`` runs
        for a ``cv``, routed by that search itself (its private
        ``_get_routed_params_for_fit``, so the installed scikit-learn's rule
        holds): in 1.9, without metadata routing the sample weights reach
        the fits, and the scorer when it accepts them (``scoring=None``:
        ``Ridge.score``, R²); with it, as requested."""
        routing = sklearn.get_config()["enable_metadata_routing"]
        inner = self._inner()
        if self.scoring is not None:
            scorer = check_scoring(self, scoring=self.scoring)
        elif routing:  # scikit-learn's RidgeCV asks for a weighted score then
            scorer = get_scorer(self._default_scoring)
            scorer = scorer.set_score_request(sample_weight=True)
        else:
            scorer = None  # the search scores with the estimator's score
        if routing:
            inner.set_fit_request(sample_weight=True)
        if sample_weight is not None:
            params = {**params, "sample_weight": sample_weight}
        search = GridSearchCV(inner, {"alpha": alphas}, cv=self.cv, scoring=scorer)
        routed = search._get_routed_params_for_fit(params)
        return (
            routed.estimator.fit,
            routed.splitter.split,
            routed.scorer.score,
            scorer or get_scorer(self._default_scoring),
        )

    # the searched model: RidgeCV's hooks, which RidgeClassifierCV's search
    # overrides (_ClassifierSearch)
    _classifier = False
    _default_scoring = "r2"

    def _inner(self):
        from jaxreg.linear_model import Ridge  # imports this module

        return Ridge(fit_intercept=self.fit_intercept)

    def _targets(self, y):
        """The regression targets ``(n, T)`` of ``y``."""
        return y if y.ndim == 2 else y[:, None]

    def _fitted(self, est):
        """``_inner()`` with ``coef_``, ``intercept_`` set, made predictive."""
        return est


def _y(Y):
    return Y if Y.shape[1] > 1 else Y[:, 0]


def _binarized(est, X, y, sample_weight):
    """``(X, y, Y, sample_weight)`` of a ridge classifier's fit: ``Y`` the
    labels binarized to ``{-1, 1}`` (``est._label_binarizer``, ``classes_``
    set), the sample weights times ``est.class_weight``'s."""
    # dtype 'numeric' first: string X raises, as in scikit-learn's
    # RidgeClassifier (its Ridge and our other estimators convert it)
    X, y = validate_data(est, X, y, accept_sparse=_SPARSE, multi_output=True)
    X = check_array(X, accept_sparse=_SPARSE, dtype=_FLOATS)
    est._label_binarizer = LabelBinarizer(pos_label=1, neg_label=-1)
    Y = est._label_binarizer.fit_transform(y).astype(X.dtype)
    est.classes_ = est._label_binarizer.classes_
    if not est._label_binarizer.y_type_.startswith("multilabel"):
        y = column_or_1d(y, warn=True)
    sw = _weights_array(sample_weight, X)
    if est.class_weight:
        sw = (np.ones(X.shape[0]) if sw is None else sw) * compute_sample_weight(
            est.class_weight, y
        )
    return X, y, Y, sw


class _RidgeClassifierMixin(LinearClassifierMixin):
    """What :class:`RidgeClassifier` and :class:`RidgeClassifierCV` share:
    the tags and ``predict``."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.input_tags.sparse = True
        return tags

    def predict(self, X):
        """Class labels (label indicator matrix for multilabel ``y``)."""
        check_is_fitted(self, attributes=["_label_binarizer"])
        if self._label_binarizer.y_type_.startswith("multilabel"):
            decision = self.decision_function(X)
            return self._label_binarizer.inverse_transform(
                2.0 * (decision > 0).astype(decision.dtype) - 1.0
            )
        return super().predict(X)


class RidgeClassifier(_RidgeClassifierMixin, BaseEstimator):
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
      1.9's, else ``(n_classes, n_features)``), ``intercept_``, ``n_iter_``,
      ``solver_`` (as :class:`~jaxreg.linear_model.Ridge`'s).
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

    def fit(self, X, y, sample_weight=None):
        """Fits one ridge per binarized label column; returns ``self``."""
        from jaxreg.linear_model import Ridge  # imports this module

        X, y, Y, sw = _binarized(self, X, y, sample_weight)
        params = {k: v for k, v in self.get_params().items() if k != "class_weight"}
        model = Ridge(**params)
        model.fit(X, Y, sample_weight=sw)
        self.coef_ = model.coef_
        self.intercept_ = model.intercept_
        self.n_iter_ = model.n_iter_
        self.solver_ = model.solver_
        return self


class _ClassifierSearch(RidgeCV):
    """:class:`RidgeCV`'s search for :class:`RidgeClassifierCV`: the fits
    are on the binarized labels, the searched model is a
    :class:`RidgeClassifier` (scored on the labels, by accuracy unless
    ``scoring``), and leave-one-out predictions are decision values."""

    _classifier = True
    _default_scoring = "accuracy"

    def _inner(self):
        return RidgeClassifier(fit_intercept=self.fit_intercept)

    def _targets(self, y):
        return self._label_binarizer.transform(y)

    def _fitted(self, est):
        est._label_binarizer = self._label_binarizer
        est.classes_ = self._label_binarizer.classes_
        return est

    def _scores(self, predictions, Y, per_target, sample_weight):
        """The scorer on leave-one-out decision values ``(L, n, T)``, as
        scikit-learn scores them (an identity classifier over the class
        indices), except that two classes are read from the one column's
        sign (scikit-learn takes its arg-max, always 0, so every alpha
        scores 1.0 by accuracy and the first is chosen)."""
        scorer = check_scoring(self, scoring=self.scoring)
        sample_weight = _scorer_weights(self, scorer, sample_weight)
        kw = {} if sample_weight is None else {"sample_weight": sample_weight}
        binary = Y.shape[1] == 1
        ident = _IdentityClassifier(np.arange(2 if binary else Y.shape[1]))
        truth = (Y[:, 0] > 0).astype(int) if binary else np.argmax(Y, axis=1)
        return np.asarray(
            [scorer(ident, P[:, 0] if binary else P, truth, **kw) for P in predictions],
            np.float64,
        )


class _IdentityClassifier(LinearClassifierMixin, BaseEstimator):
    """Returns its input as decision values: scores precomputed decisions."""

    def __init__(self, classes):
        self.classes_ = classes

    def decision_function(self, X):
        return X


class RidgeClassifierCV(_RidgeClassifierMixin, BaseEstimator):
    """:class:`RidgeClassifier` with ``alpha`` chosen by cross-validation
    (scikit-learn 1.9's ``RidgeClassifierCV``).

    The labels are binarized to ``{-1, 1}`` as in :class:`RidgeClassifier`
    (``class_weight`` multiplies ``sample_weight``), and the search is
    :class:`RidgeCV`'s on those targets: ``cv=None`` scores every alpha by
    exact leave-one-out from one SVD (``scoring=None``: minus the mean
    squared error over the binarized columns, as scikit-learn; a scorer gets
    the leave-one-out decision values); a ``cv`` solves every fold × alpha
    in one program and scores a fitted :class:`RidgeClassifier` on each
    held-out part (``scoring=None``: accuracy), as scikit-learn's
    ``GridSearchCV`` does. One difference: with two classes and a
    ``scoring`` at ``cv=None``, scikit-learn reads the single decision
    column by its arg-max, which is always the first class, so every alpha
    scores the same; here it is read by its sign.

    Args:
      alphas: values ``> 0`` (``>= 0`` with ``cv``).
      fit_intercept: unpenalized intercept.
      scoring: ``None`` or a scorer name / callable.
      cv: ``None`` (leave-one-out), an int, a splitter or an iterable.
      class_weight: dict, ``"balanced"`` or None.
      store_cv_results: keep ``cv_results_`` (``cv=None`` only), shape
        ``(n_samples, n_targets, n_alphas)``.

    Fitted attributes:
      ``alpha_``, ``best_score_``, ``classes_``, ``coef_`` (``(n_features,)``
      for two classes, else ``(n_classes, n_features)``), ``intercept_``,
      ``cv_results_`` (if stored).
    """

    def __init__(
        self,
        alphas=(0.1, 1.0, 10.0),
        *,
        fit_intercept=True,
        scoring=None,
        cv=None,
        class_weight=None,
        store_cv_results=False,
    ):
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.scoring = scoring
        self.cv = cv
        self.class_weight = class_weight
        self.store_cv_results = store_cv_results

    def fit(self, X, y, sample_weight=None, **params):
        """Selects ``alpha`` and fits; returns ``self``. ``params`` are routed
        as in :meth:`RidgeCV.fit`."""
        search = _ClassifierSearch(
            self.alphas,
            fit_intercept=self.fit_intercept,
            scoring=self.scoring,
            cv=self.cv,
            store_cv_results=self.store_cv_results,
        )
        params, alphas = search._checked(params)
        X, y, Y, sw = _binarized(self, X, y, sample_weight)
        search._label_binarizer = self._label_binarizer
        if self.cv is None:
            search._fit_loo(X, Y, sw, alphas)
        else:
            search._fit_folds(X, y, sw, alphas, params)
        for name in ("alpha_", "best_score_", "coef_", "intercept_", "cv_results_"):
            if hasattr(search, name):
                setattr(self, name, getattr(search, name))
        return self
