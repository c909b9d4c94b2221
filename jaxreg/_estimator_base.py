"""Shared plumbing of the scikit-learn estimators (:mod:`jaxreg.linear_model`).

Input conversion, ``sample_weight`` checks, the fitted-attribute setters and
the regressor base class; the estimators themselves live in
:mod:`jaxreg.linear_model`, :mod:`jaxreg._multitask` and :mod:`jaxreg._ridge_cv`.
"""

from __future__ import annotations

import inspect
import numbers

import numpy as np
import sklearn
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    get_routing_for_object,
)
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
    check_is_fitted,
    check_random_state,
    validate_data,
)

from jaxreg._validation import check_nonnegative, check_positive_int, warn_caller

__all__: list[str] = []

_SPARSE = ["csr", "csc", "coo"]
_FLOATS = [np.float64, np.float32]


def _scorer_weights(estimator, scorer, sample_weight):
    """The sample weights a CV estimator's ``scorer`` gets, by scikit-learn's
    rule: all of them without metadata routing; with it, only where the
    scorer requests them (``set_score_request(sample_weight=True)``), and
    scikit-learn's ``UnsetMetadataPassedError`` where it has not said."""
    if sample_weight is None or not sklearn.get_config()["enable_metadata_routing"]:
        return sample_weight
    router = MetadataRouter(owner=type(estimator).__name__).add(
        scorer=scorer, method_mapping=MethodMapping().add(caller="fit", callee="score")
    )
    routed = router.route_params(params={"sample_weight": sample_weight}, caller="fit")
    return routed.scorer.score.get("sample_weight")


def _split_params(estimator, params, splitter=None):
    """The extra ``fit(**params)`` of a CV estimator, for ``splitter.split``.

    As in scikit-learn, they are accepted only with metadata routing on
    (``sklearn.set_config(enable_metadata_routing=True)``), else a
    ``ValueError``; with it, a parameter the splitter's ``split`` does not
    request (``groups`` for ``KFold``) raises scikit-learn's ``TypeError``
    (``splitter=None``: the caller hands them to a scikit-learn search,
    which routes them itself).
    """
    if not params:
        return params
    name = type(estimator).__name__
    if not sklearn.get_config()["enable_metadata_routing"]:
        raise ValueError(
            f"Passing extra keyword arguments to {name}.fit "
            "is only supported if enable_metadata_routing=True, which you can "
            "set using `sklearn.set_config`. See the User Guide "
            "<https://scikit-learn.org/stable/metadata_routing.html> for more "
            f"details. Extra parameters passed are: {set(params)}"
        )
    if splitter is None:
        return params
    wanted = get_routing_for_object(splitter).consumes("split", set(params))
    unused = set(params) - set(wanted)
    if unused:
        raise TypeError(
            f"{name}.fit got unexpected argument(s) {unused}, which are not "
            "routed to any object."
        )
    return params


def _weights_array(sample_weight, X):
    """``sample_weight`` as a float64 array checked by scikit-learn (None
    stays None), and ``>= 0``: the user's array named in the error, before
    any fold or solver sees it (``RidgeCV``'s leave-one-out returned NaN
    coefficients for a negative weight)."""
    if sample_weight is None:
        return None
    sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
    check_nonnegative("sample_weight", sample_weight)
    return sample_weight


def _total_weight(sample_weight, X):
    """``Σ sample_weight`` (``n`` when None); ``ValueError`` when not > 0."""
    if sample_weight is None:
        return X.shape[0]
    total = float(np.sum(sample_weight))
    if not total > 0:
        raise ValueError("sample_weight must have a positive sum")
    return total


def _check_selection(selection):
    if selection not in ("cyclic", "random"):
        raise ValueError(
            f"selection should be either random or cyclic, got {selection!r}"
        )


def _feature_order(selection, random_state, n_features):
    """The column permutation for ``selection="random"`` (None for cyclic)."""
    _check_selection(selection)
    if selection == "cyclic":
        return None
    return check_random_state(random_state).permutation(n_features)


def alpha_grid(
    X, Y, l1_ratio, *, fit_intercept, eps, n_alphas, sample_weight, positive, Xy=None
):
    """scikit-learn's ``_alpha_grid``, float64: ``n_alphas`` geometric values
    from ``α_max`` to ``eps·α_max``, ``α_max = maxⱼ ||(X̃ᵀ S Ỹ)ⱼ||₂ / (Σs·ρ)``
    (``X̃``, ``Ỹ`` centred with the weighted means when ``fit_intercept``,
    ``S = diag(s)``; for ``positive``, ``max(0, maxⱼ (X̃ᵀSỹ)ⱼ) / (Σs·ρ)``),
    with ``X̃ᵀSỸ`` the given ``Xy`` when not None (``lasso_path``'s)."""
    if l1_ratio == 0:
        raise ValueError(
            "Automatic alpha grid generation is not supported for l1_ratio=0. "
            "Please supply a grid by providing your estimator with the "
            "appropriate `alphas=` argument."
        )
    s = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    if Xy is None:
        Y = np.asarray(Y, np.float64).reshape(X.shape[0], -1)
        if fit_intercept:
            Y = Y - (s @ Y) / s.sum()
        Yw = Y * s[:, None]
        Xy = np.asarray(X.T @ Yw, np.float64)
        if fit_intercept:
            x_mean = np.asarray(s @ X, np.float64).ravel() / s.sum()
            Xy = Xy - x_mean[:, None] * Yw.sum(axis=0)
    Xy = np.asarray(Xy, np.float64).reshape(X.shape[1], -1)
    if positive:
        top = max(0.0, float(np.max(Xy)))
    else:
        top = float(np.sqrt(np.max(np.sum(Xy**2, axis=1))))
    alpha_max = top / (s.sum() * l1_ratio)
    res = np.finfo(np.float64).resolution
    if alpha_max <= res:
        return np.full(n_alphas, res)
    return np.geomspace(alpha_max, alpha_max * eps, num=n_alphas)


def _check_precompute(precompute, n_features, allow_auto):
    """Accepts scikit-learn's ``precompute`` values; a Gram array must be
    ``(n_features, n_features)``. Our working-set CD forms the Gram matrix of
    its working set itself, so the value does not change the result."""
    if isinstance(precompute, bool | np.bool_) or (
        allow_auto and isinstance(precompute, str) and precompute == "auto"
    ):
        return
    if isinstance(precompute, str):
        raise ValueError(
            "precompute should be one of True, False"
            + (", 'auto'" if allow_auto else "")
            + f" or an array-like, got {precompute!r}"
        )
    shape = np.shape(precompute)
    if shape != (n_features, n_features):
        raise ValueError(
            f"precompute (a Gram matrix) must have shape ({n_features}, "
            f"{n_features}), got {shape}"
        )


def _check_gram(precompute, X, sample_weight, fit_intercept):
    """scikit-learn's checks of a Gram array passed as ``precompute`` (dense
    ``X``; a sparse ``X`` ignores it there too): with an intercept and
    columns not centred already, the UserWarning that it is recomputed;
    otherwise one entry ``(d//2, d//2 + 1)`` compared with ``Σᵢ sᵢ xᵢⱼ xᵢₖ``
    (``s`` normalized to sum ``n``, centred columns), a ValueError where it
    differs. Ours is never used either way (:func:`_check_precompute`)."""
    if not hasattr(precompute, "__array__") or hasattr(X, "tocsc"):
        return
    n, d = X.shape
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    sw = sw * (n / sw.sum())
    offset = sw @ X / n if fit_intercept else np.zeros(d)
    if fit_intercept and not np.allclose(offset, 0):
        warn_caller(
            "Gram matrix was provided but X was centered to fit intercept: "
            "recomputing Gram matrix.",
            UserWarning,
        )
        return
    j = d // 2
    k = min(j + 1, d - 1)
    expected = np.dot(sw * (X[:, j] - offset[j]), X[:, k] - offset[k])
    gram = np.asarray(precompute)
    actual = gram[j, k]
    rtol = max(1e-4 if t == np.float32 else 1e-7 for t in (gram.dtype, X.dtype))
    if not np.isclose(expected, actual, rtol=rtol, atol=1e-5):
        raise ValueError(
            "Gram matrix passed in via 'precompute' parameter did not pass "
            "validation when a single element was checked - please check that "
            f"it was computed properly. For element ({j},{k}) we computed "
            f"{expected} but the user-supplied value was {actual}."
        )


def _validate_X_and_y(estimator, X, y):
    """``X`` (dense or CSC) and ``y`` (1-D or 2-D) validated separately, as
    scikit-learn's ``LinearModelCV`` and multi-task estimators do (so that a
    sparse ``y`` is refused)."""
    X, y = validate_data(
        estimator,
        X,
        y,
        validate_separately=(
            dict(accept_sparse="csc", dtype=_FLOATS),
            dict(dtype=_FLOATS, ensure_2d=False),
        ),
    )
    check_consistent_length(X, y)
    return X, y


def _warm_coef(est, shape):
    """The previous fit's ``coef_`` as an array of ``shape`` for
    ``warm_start``, or None (``warm_start`` off, or not fitted yet). A
    ``coef_`` of another shape (``X`` with other features, ``y`` with other
    targets or classes) raises ``ValueError``, as scikit-learn's fits do,
    where this started from zero in silence."""
    coef = getattr(est, "coef_", None) if est.warm_start else None
    if coef is None:
        return None
    coef = coef.toarray() if hasattr(coef, "toarray") else np.asarray(coef)
    if np.atleast_2d(coef).shape != np.atleast_2d(np.empty(shape)).shape:
        raise ValueError(
            f"warm_start=True: the previous fit's coef_ has shape {coef.shape}, "
            f"this fit's has {shape} (features of X, targets or classes of y "
            "changed); set warm_start=False to fit it from zero"
        )
    return coef.reshape(shape)


def _columns(y):
    """``y`` as ``(n_samples, n_targets)`` and whether it was 1-D."""
    return (y[:, None], True) if y.ndim == 1 else (y, False)


def _check_flags(est):
    """The boolean parameters ``est`` has are bools (scikit-learn rejects
    ``fit_intercept="no"``, which would read as true), and, where it has
    them, ``random_state`` seeds a generator (checked even when unused, as
    scikit-learn checks it), ``n_jobs`` is an integer or None and
    ``verbose`` an integer >= 0 or a bool (accepted, unused: a typo passed
    silently)."""
    for name in ("fit_intercept", "warm_start", "positive", "copy_X"):
        value = getattr(est, name, False)
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False, got {value!r}")
    if hasattr(est, "random_state"):
        try:
            check_random_state(est.random_state)
        except ValueError as e:
            raise ValueError(
                "random_state must be None, an integer in [0, 2**32 - 1] or a "
                f"numpy RandomState, got {est.random_state!r}"
            ) from e
    n_jobs = getattr(est, "n_jobs", None)
    if n_jobs is not None and not isinstance(n_jobs, numbers.Integral):
        raise ValueError(f"n_jobs must be an integer or None, got {n_jobs!r}")
    verbose = getattr(est, "verbose", 0)
    if not isinstance(verbose, numbers.Integral) or verbose < 0:
        raise ValueError(f"verbose must be an integer >= 0 or a bool, got {verbose!r}")


def _check_params(est, per_target_alpha=False):
    """The parameters a regressor shares with scikit-learn's, checked as
    scikit-learn checks them, each a ``ValueError`` naming it (a wrong type
    included, as scikit-learn's ``InvalidParameterError`` is): the flags,
    ``tol`` (a real >= 0), ``max_iter`` (an integer >= 1, or ``None`` where
    that is the default: Ridge's) and, where the estimator has one,
    ``alpha`` (a real >= 0; an array of them where ``per_target_alpha``:
    Ridge's, one per target). A list ``alpha`` reached the solver as an
    array (Lasso: a ``TracerArrayConversionError``), a ``max_iter=None``
    the compiled loop (MultiTaskLasso: a ``TypeError``)."""
    _check_flags(est)
    if hasattr(est, "tol"):
        tol = np.asarray(est.tol)
        if tol.ndim or tol.dtype.kind not in "iuf" or not 0 <= tol < np.inf:
            raise ValueError(f"tol must be a real number >= 0, got {est.tol!r}")
    if hasattr(est, "max_iter"):
        param = inspect.signature(type(est)).parameters.get("max_iter")
        if est.max_iter is not None or getattr(param, "default", None) is not None:
            check_positive_int("max_iter", est.max_iter)
    if not hasattr(est, "alpha"):
        return
    alpha = np.asarray(est.alpha)
    if (
        alpha.dtype.kind not in "iuf"  # a string or None
        or (alpha.ndim and not per_target_alpha)
        or not np.all(np.isfinite(alpha))
        or np.any(alpha < 0)
    ):
        raise ValueError(f"alpha must be a real number >= 0, got {est.alpha!r}")


class _SparseCoef:
    """scikit-learn's ``sparse_coef_`` of the coordinate-descent estimators."""

    @property
    def sparse_coef_(self):
        """``coef_`` as a ``scipy.sparse.csr_matrix`` (``(1, n_features)`` for
        a 1-D ``coef_``)."""
        import scipy.sparse

        return scipy.sparse.csr_matrix(self.coef_)


class _LinearRegressor(MultiOutputMixin, RegressorMixin, BaseEstimator):
    def _set_result(self, res, X):
        """Fitted attributes in ``X``'s float dtype, writable, as scikit-learn
        sets them."""
        dtype = X.dtype
        self.coef_ = np.array(res.coef, dtype=dtype)
        self.intercept_ = np.asarray(res.intercept, dtype=dtype)[()]
        self.dual_gap_ = dtype.type(res.gap)
        self.n_iter_ = int(res.n_iter)

    def _set_results(self, results, X, one_d=False):
        """Fitted attributes from one result per target column, with
        scikit-learn's shapes: ``coef_`` ``(n_targets, n_features)``,
        ``intercept_`` and ``dual_gap_`` ``(n_targets,)``, ``n_iter_`` a list
        (one target gives the 1-D / scalar forms, with ``intercept_`` of
        shape ``(1,)`` when ``y`` was a single column, as in scikit-learn;
        ``0.0`` without an intercept, as there)."""
        if len(results) == 1:
            self._set_result(results[0], X)
            if not one_d:
                self.intercept_ = np.reshape(self.intercept_, (1,))
        else:
            dtype = X.dtype
            self.coef_ = np.stack([np.asarray(r.coef, dtype) for r in results])
            self.intercept_ = np.array([r.intercept for r in results], dtype)
            self.dual_gap_ = np.array([float(r.gap) for r in results], dtype)
            self.n_iter_ = [int(r.n_iter) for r in results]
        if not self.fit_intercept:
            self.intercept_ = 0.0  # scikit-learn's, whatever the shapes

    def _validate_fit(self, X, y, multi_output=True, per_target_alpha=False):
        X, y = validate_data(
            self,
            X,
            y,
            dtype=_FLOATS,
            y_numeric=True,
            accept_sparse=_SPARSE,
            multi_output=multi_output,
        )
        _check_params(self, per_target_alpha)
        return X, y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def predict(self, X):
        """Returns ``X @ coef_ᵀ + intercept_``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_FLOATS, accept_sparse=_SPARSE)
        return X @ np.asarray(self.coef_).T + self.intercept_
