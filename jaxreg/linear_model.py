"""scikit-learn-compatible estimators around :mod:`jaxreg.solvers`.

Needs the ``sklearn`` extra (``pip install jaxreg[sklearn]``). Objectives and
parameter names follow scikit-learn, so the estimators drop into pipelines and
grid searches:

===================  ==========================================  ======================
estimator            objective                                   jaxreg solver
===================  ==========================================  ======================
Lasso(alpha)         1/(2n)||y-Xw-b||² + alpha||w||₁             ``lasso(lam=alpha)``
ElasticNet(alpha,ρ)  1/(2n)||y-Xw-b||² + alpha(ρ||w||₁           ``enet``
                     + (1-ρ)/2||w||²)
Ridge(alpha)         ||y-Xw-b||² + alpha||w||²                   ``ridge(lam=alpha/n)``
LogisticRegression   C Σ log(1+exp(-yᵢ(xᵢᵀw+b))) + ρ||w||₁       ``logistic_regression``
(C, penalty, ρ)      + (1-ρ)/2||w||²                             ``(lam=1/(nC))``
LassoCV              Lasso with alpha chosen by K-fold CV        ``cross_validate``
===================  ==========================================  ======================

Differences from scikit-learn: ``tol`` is the duality-gap target relative to
``P(0)`` (``gap <= tol·P(0)``; scikit-learn stops at ``gap <= tol·||y||²/n``,
i.e. ``2·tol·P(0)``, and only after a coefficient-change test);
``n_iter_`` counts outer working-set iterations (like celer/skglm, not epochs);
``LogisticRegression`` never penalizes the intercept (as scikit-learn's
lbfgs/saga, unlike liblinear) and is multinomial for more than two classes.
Computations run in float32 unless x64 is enabled in JAX.

``check_estimator`` passes for all five. The only check not run is
``check_array_api_input``, which scikit-learn itself skips unless the
environment sets ``SCIPY_ARRAY_API=1`` (the estimators convert inputs to
numpy, then to JAX, so array-API dispatch does not apply).
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from jaxreg.solvers.datafits import Quadratic, Tweedie
from jaxreg.solvers.glm import (
    elastic_net_penalty,
    enet,
    lasso,
    logistic_regression,
)
from jaxreg.solvers.glm import fit as glm_fit
from jaxreg.solvers.multinomial import multinomial_penalty
from jaxreg.solvers.multinomial import multinomial_regression as multinomial_fit
from jaxreg.solvers.path import cross_validate, kfold
from jaxreg.solvers.ridge import ridge

_SPARSE = ["csr", "csc", "coo"]
_FLOATS = [np.float64, np.float32]


def _weights_array(sample_weight, X):
    """``sample_weight`` as a float64 array checked by scikit-learn (None
    stays None)."""
    if sample_weight is None:
        return None
    return _check_sample_weight(sample_weight, X, dtype=np.float64)


def _total_weight(sample_weight, X):
    """``Σ sample_weight`` (``n`` when None); ``ValueError`` when not > 0."""
    if sample_weight is None:
        return X.shape[0]
    total = float(np.sum(sample_weight))
    if not total > 0:
        raise ValueError("sample_weight must have a positive sum")
    return total


class _LinearRegressor(RegressorMixin, BaseEstimator):
    def _set_result(self, res, X):
        """Fitted attributes in ``X``'s float dtype, writable, as scikit-learn
        sets them."""
        dtype = X.dtype
        self.coef_ = np.array(res.coef, dtype=dtype)
        self.intercept_ = np.asarray(res.intercept, dtype=dtype)[()]
        self.dual_gap_ = float(res.gap)
        self.n_iter_ = int(res.n_iter)

    def _validate_fit(self, X, y):
        X, y = validate_data(
            self, X, y, dtype=_FLOATS, y_numeric=True, accept_sparse=_SPARSE
        )
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha!r}")
        return X, y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def predict(self, X):
        """Returns ``X @ coef_ + intercept_``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_FLOATS, accept_sparse=_SPARSE)
        return X @ self.coef_ + self.intercept_


class Lasso(_LinearRegressor):
    """Lasso: ``1/(2n)||y - Xw - b||² + alpha ||w||₁``, working-set CD.

    Args:
      alpha: L1 strength (scikit-learn's ``alpha``; jaxreg's ``lam``).
      fit_intercept: unpenalized intercept.
      tol: duality-gap target relative to ``P(0)``.
      max_iter: outer working-set iterations.
      warm_start: start from the previous ``coef_``.

    Attributes:
      coef_, intercept_, dual_gap_ (absolute, in objective units), n_iter_.
    """

    def __init__(
        self,
        alpha=1.0,
        *,
        fit_intercept=True,
        tol=1e-4,
        max_iter=100,
        warm_start=False,
        positive=False,
    ):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.positive = positive

    def _coef_init(self, n_features):
        if self.warm_start and getattr(self, "coef_", None) is not None:
            if self.coef_.shape == (n_features,):
                return self.coef_
        return None

    def fit(self, X, y, sample_weight=None):
        """Fits the model (``sample_weight`` rescaled to sum to 1, as
        scikit-learn rescales it to sum to ``n``); returns ``self``."""
        return self._fit(X, y, sample_weight, 1.0)

    def _fit(self, X, y, sample_weight, l1_ratio):
        X, y = self._validate_fit(X, y)
        sample_weight = _weights_array(sample_weight, X)
        res = enet(
            X,
            y,
            self.alpha,
            l1_ratio,
            sample_weight=sample_weight,
            positive=self.positive,
            fit_intercept=self.fit_intercept,
            tol=self.tol,
            max_iter=self.max_iter,
            coef_init=self._coef_init(X.shape[1]),
            what=type(self).__name__,
        )
        self._set_result(res, X)
        return self


class ElasticNet(Lasso):
    """Elastic net: ``1/(2n)||y-Xw-b||² + alpha(ρ||w||₁ + (1-ρ)/2||w||²)``.

    Args:
      alpha: overall strength; l1_ratio: ``ρ`` in ``[0, 1]``; the rest as in
        :class:`Lasso`.
    """

    def __init__(
        self,
        alpha=1.0,
        *,
        l1_ratio=0.5,
        fit_intercept=True,
        tol=1e-4,
        max_iter=100,
        warm_start=False,
        positive=False,
    ):
        super().__init__(
            alpha,
            fit_intercept=fit_intercept,
            tol=tol,
            max_iter=max_iter,
            warm_start=warm_start,
            positive=positive,
        )
        self.l1_ratio = l1_ratio

    def fit(self, X, y, sample_weight=None):
        """Fits the model; returns ``self``."""
        return self._fit(X, y, sample_weight, self.l1_ratio)


class Ridge(_LinearRegressor):
    """Ridge: ``||y - Xw - b||² + alpha ||w||²`` (scikit-learn's scaling).

    Internally ``½ Σᵢ aᵢ(yᵢ - xᵢᵀw - b)² + lam/2 ||w||²`` with ``a =
    s/Σs`` and ``lam = alpha/Σs`` (``alpha/n`` without ``sample_weight``),
    which has the same minimizer.

    Args:
      alpha: L2 strength ``>= 0``.
      fit_intercept: unpenalized intercept.
      solver: ``"auto"`` (Cholesky for dense, CG for sparse ``X``),
        ``"cholesky"`` or ``"cg"``; with ``alpha=0`` the minimum-norm solution.
      tol: gap target relative to ``P(0)`` for ``"cg"``.
      max_iter: CG iterations.
    """

    def __init__(
        self,
        alpha=1.0,
        *,
        fit_intercept=True,
        solver="auto",
        tol=1e-6,
        max_iter=1000,
    ):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, X, y, sample_weight=None):
        """Fits the model; returns ``self``."""
        X, y = self._validate_fit(X, y)
        sample_weight = _weights_array(sample_weight, X)
        total = _total_weight(sample_weight, X)
        res = ridge(
            X,
            y,
            self.alpha / total,
            sample_weight=sample_weight,
            fit_intercept=self.fit_intercept,
            method=self.solver,
            tol=self.tol,
            max_iter=self.max_iter,
        )
        self._set_result(res, X)
        return self


class LogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression, binary or multinomial, with an L1, L2, elastic-net
    or (our extension) group penalty.

    Minimizes scikit-learn's ``C Σᵢ sᵢ ℓᵢ + ρ||W||₁ + (1-ρ)/2 ||W||²_F`` with
    ``ℓᵢ`` the log-loss (binary) or the softmax cross-entropy ``log Σₖ
    exp(uᵢₖ) - uᵢ,yᵢ`` (``K > 2`` classes, ``W`` of shape ``(K,
    n_features)``), on the equivalent weighted-mean form with ``lam = 1/(C
    Σᵢ sᵢ)`` (``1/(nC)`` without ``sample_weight``; ``sᵢ`` already multiplied
    by ``class_weight``). As in scikit-learn ≥ 1.8, ``l1_ratio`` alone selects
    the penalty (0: L2, the default; 1: L1; between: elastic net) and
    ``C=np.inf`` means no penalty; the older ``penalty="l1" | "l2" |
    "elasticnet" | None`` is still read. ``penalty="group"`` (ours) is
    ``Σⱼ ||W_{:,j}||₂``: a feature is dropped for all classes at once. The
    intercept is never penalized.

    Solvers: binary problems run prox-Newton working-set coordinate descent
    (:func:`jaxreg.solvers.logistic_regression`); multinomial ones run FISTA
    with backtracking and restarts (:func:`jaxreg.solvers.proximal_gradient`)
    on the ``(n_features + 1, K)`` coefficient matrix, whose gradient is two
    dense matrix products (the CD's contracts are per-coordinate and scalar
    per sample; FISTA's cost per step is what an accelerator does best).
    ``solver`` names scikit-learn's algorithms: ``"lbfgs"``,
    ``"newton-cg"``, ``"newton-cholesky"``, ``"sag"``, ``"saga"`` are all
    accepted and reach the same optimum with the solver above;
    ``"liblinear"`` is accepted only with ``fit_intercept=False`` (it
    penalizes the intercept, a different objective) and binary labels.
    With L2 the multinomial optimum is unique and symmetric (``Σₖ W_kj = 0``),
    scikit-learn's convention; without a penalty it is unique only up to a
    shift across classes.

    Args:
      penalty: ``"deprecated"`` (use ``l1_ratio``), ``"l1"``, ``"l2"``,
        ``"elasticnet"`` (with ``l1_ratio``), ``None``, or ``"group"``.
      C: inverse strength ``> 0`` (``np.inf``: unpenalized).
      l1_ratio: ``ρ`` in ``[0, 1]``.
      dual: only ``False`` (or ``True`` with ``solver="liblinear"`` and L2,
        which has the same optimum).
      tol: binary: the duality-gap target relative to ``P(0)`` (a gap ``g``
        leaves a coefficient error of order ``sqrt(g)``); multinomial: the
        prox-gradient norm relative to its first value must reach
        ``tol/100``.
      fit_intercept: unpenalized intercept.
      intercept_scaling, random_state, verbose, n_jobs: accepted, unused
        (our solvers are deterministic and never penalize the intercept).
      class_weight: ``None``, a dict ``{class: weight}`` or ``"balanced"``
        (``n / (K · count)``, weighted by ``sample_weight`` as in
        scikit-learn), multiplied into ``sample_weight``.
      solver: see above.
      max_iter: binary: outer working-set iterations; multinomial: at least
        100 × ``max_iter`` FISTA steps (each far cheaper than an lbfgs
        iteration).
      warm_start: start from the previous ``coef_`` and ``intercept_``.

    Attributes:
      classes_, coef_ (``(1, n_features)`` binary, ``(K, n_features)``
      multinomial; ``X``'s float dtype), intercept_ (``(1,)`` or ``(K,)``),
      n_iter_ (shape ``(1,)``), dual_gap_ (binary), n_features_in_,
      feature_names_in_.
    """

    _SOLVERS = ("lbfgs", "newton-cg", "newton-cholesky", "sag", "saga", "liblinear")

    def __init__(
        self,
        penalty="deprecated",
        *,
        C=1.0,
        l1_ratio=0.0,
        dual=False,
        tol=1e-4,
        fit_intercept=True,
        intercept_scaling=1,
        class_weight=None,
        random_state=None,
        solver="lbfgs",
        max_iter=100,
        verbose=0,
        warm_start=False,
        n_jobs=None,
    ):
        self.penalty = penalty
        self.C = C
        self.l1_ratio = l1_ratio
        self.dual = dual
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.class_weight = class_weight
        self.random_state = random_state
        self.solver = solver
        self.max_iter = max_iter
        self.verbose = verbose
        self.warm_start = warm_start
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _rho(self):
        """``(ρ, penalized)`` from ``penalty``/``l1_ratio``/``C``; ``ρ`` is
        ``"group"`` for the group penalty."""
        penalized = self.C != np.inf
        if self.penalty == "deprecated" or self.penalty == "elasticnet":
            rho = self.l1_ratio
            if rho is None or not 0 <= rho <= 1:
                raise ValueError(f"l1_ratio must lie in [0, 1], got {rho!r}")
            return float(rho), penalized
        if self.penalty == "l1":
            return 1.0, penalized
        if self.penalty == "l2":
            return 0.0, penalized
        if self.penalty is None:
            return 0.0, False
        if self.penalty == "group":
            return "group", penalized
        raise ValueError(
            "penalty must be 'deprecated' (use l1_ratio), 'l1', 'l2', 'elasticnet', "
            f"'group' or None, got {self.penalty!r}"
        )

    def _check_solver(self, rho, n_classes):
        if self.solver not in self._SOLVERS:
            raise ValueError(
                f"solver must be one of {self._SOLVERS}, got {self.solver!r}"
            )
        if self.solver == "liblinear":
            if self.fit_intercept:
                raise ValueError(
                    "solver='liblinear' penalizes the intercept (a different "
                    "objective); use fit_intercept=False with it, or any other "
                    "solver name (all reach the same unpenalized-intercept optimum)"
                )
            if n_classes > 2:
                raise ValueError(
                    "The 'liblinear' solver does not support multiclass "
                    "classification (one-vs-rest); use another solver name"
                )
        if self.dual and not (self.solver == "liblinear" and rho == 0.0):
            raise ValueError(
                "dual=True is only accepted with solver='liblinear' and the L2 "
                f"penalty (same optimum as the primal), got solver={self.solver!r}"
            )

    def fit(self, X, y, sample_weight=None):
        """Fits the model; returns ``self``."""
        X, y = validate_data(self, X, y, dtype=_FLOATS, accept_sparse=_SPARSE)
        rho, penalized = self._rho()
        if not self.C > 0:
            raise ValueError(f"C must be > 0, got {self.C!r}")
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        K = len(self.classes_)
        if K == 1:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data, but "
                f"the data contains only one class: {self.classes_[0]!r}"
            )
        self._check_solver(rho, K)
        sample_weight = _class_weighted(
            self.class_weight, self.classes_, y, y_idx, _weights_array(sample_weight, X)
        )
        total = _total_weight(sample_weight, X)
        lam = 1.0 / (self.C * total) if penalized else 0.0
        warm = self.warm_start and getattr(self, "coef_", None) is not None
        if K == 2 and rho != "group":
            self._fit_binary(X, y_idx, sample_weight, lam, rho, warm)
        elif K == 2:  # a group of one coefficient is L1
            self._fit_binary(X, y_idx, sample_weight, lam, 1.0, warm)
        else:
            self._fit_multinomial(X, y_idx, sample_weight, lam, rho, warm)
        return self

    def _fit_binary(self, X, y_idx, sample_weight, lam, rho, warm):
        coef_init = None
        if warm and self.coef_.shape == (1, X.shape[1]):
            coef_init = self.coef_[0]
        res = logistic_regression(
            X,
            y_idx.astype(X.dtype),
            lam,
            rho,
            sample_weight=sample_weight,
            fit_intercept=self.fit_intercept,
            tol=self.tol,
            max_iter=self.max_iter,
            coef_init=coef_init,
        )
        self.coef_ = np.array(res.coef, dtype=X.dtype)[None, :]
        self.intercept_ = np.array([res.intercept], dtype=X.dtype)
        self.dual_gap_ = float(res.gap)
        self.n_iter_ = np.array([int(res.n_iter)])

    def _fit_multinomial(self, X, y_idx, sample_weight, lam, rho, warm):
        K, d = len(self.classes_), X.shape[1]
        init = None
        if warm and self.coef_.shape == (K, d):
            init = (self.coef_, self.intercept_)
        theta, n_iter = multinomial_fit(
            X,
            y_idx,
            K,
            multinomial_penalty(lam, rho),
            sample_weight=sample_weight,
            fit_intercept=self.fit_intercept,
            tol=self.tol / 100,
            max_iter=100 * self.max_iter,
            init=init,
        )
        self.coef_ = np.array(theta[:d].T, dtype=X.dtype)
        intercept = theta[d] if self.fit_intercept else np.zeros(K)
        self.intercept_ = np.array(intercept, dtype=X.dtype)
        self.n_iter_ = np.array([n_iter])

    def decision_function(self, X):
        """Returns ``X @ coef_ᵀ + intercept_``: shape ``(n_samples,)`` for two
        classes, ``(n_samples, K)`` for more."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_FLOATS, accept_sparse=_SPARSE)
        scores = X @ self.coef_.T + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict_proba(self, X):
        """Returns ``[1 - σ(s), σ(s)]`` (binary) or ``softmax(s)``."""
        s = self.decision_function(X)
        if s.ndim == 1:
            p = 1.0 / (1.0 + np.exp(-s))
            return np.stack([1.0 - p, p], axis=1)
        e = np.exp(s - s.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """Returns the class with the largest probability."""
        s = self.decision_function(X)
        idx = (s > 0).astype(int) if s.ndim == 1 else s.argmax(axis=1)
        return self.classes_[idx]


class LassoCV(_LinearRegressor):
    """Lasso with ``alpha`` chosen by K-fold cross-validation, refit on all data.

    The grid (``alphas`` values from ``alpha_max`` to ``eps·alpha_max``, or an
    explicit array) is built on the full data; each fold fits a warm-started
    path on its training part and the ``alpha`` with the smallest mean
    held-out MSE wins (first on ties), as in scikit-learn's ``LassoCV``.

    Args:
      alphas: number of grid values, or an explicit array.
      eps: grid ratio.
      cv: number of contiguous folds (``KFold`` without shuffling), or an
        iterable of ``(train, test)`` index pairs.
      fit_intercept, tol, max_iter: as in :class:`Lasso`.

    Attributes:
      alpha_, alphas_, mse_path_ (shape ``(n_alphas, n_folds)``), coef_,
      intercept_, dual_gap_, n_iter_.
    """

    def __init__(
        self, *, alphas=100, eps=1e-3, cv=5, fit_intercept=True, tol=1e-4, max_iter=100
    ):
        self.alphas = alphas
        self.eps = eps
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, X, y, sample_weight=None):
        """Cross-validates ``alpha``, refits; returns ``self``."""
        X, y = validate_data(
            self, X, y, dtype=_FLOATS, y_numeric=True, accept_sparse=_SPARSE
        )
        if isinstance(self.alphas, int | np.integer):
            grid = dict(n_lambdas=int(self.alphas), lambdas=None)
        else:
            grid = dict(lambdas=np.asarray(self.alphas, dtype=np.float64))
        cv = self.cv
        if isinstance(cv, int | np.integer):
            cv = kfold(X.shape[0], int(cv))
        elif hasattr(cv, "split"):
            cv = list(cv.split(X, y))
        res = cross_validate(
            X,
            y,
            sample_weight=sample_weight,
            eps=self.eps,
            cv=list(cv),
            fit_intercept=self.fit_intercept,
            tol=self.tol,
            max_iter=self.max_iter,
            **grid,
        )
        self.alphas_ = np.asarray(res.lambdas, dtype=np.float64)
        self.mse_path_ = res.scores
        self.alpha_ = res.best_lambda
        res = lasso(
            X,
            y,
            self.alpha_,
            sample_weight=sample_weight,
            fit_intercept=self.fit_intercept,
            tol=self.tol,
            max_iter=self.max_iter,
        )
        self._set_result(res, X)
        return self


# --- generalized linear models (Poisson, Gamma, Tweedie) ----------------------


class _GLMRegressor(RegressorMixin, BaseEstimator):
    """Tweedie-family GLM with a log link (or, for ``power=0``, identity):
    scikit-learn's ``_GeneralizedLinearRegressor`` objective plus an optional
    L1 part.

    Minimizes ``1/(2Σsᵢ) Σᵢ sᵢ dₚ(yᵢ, μᵢ) + alpha (ρ||w||₁ + (1-ρ)/2
    ||w||²)``, ``μ = exp(Xw + b)``, ``ρ = l1_ratio`` (``ρ = 0``, the default:
    scikit-learn's objective exactly; ``ρ > 0`` is our extension, where
    skglm's ``Poisson``/``Gamma`` datafits with ``L1`` give the same
    coefficients), by prox-Newton working-set coordinate descent on the
    :class:`~jaxreg.solvers.datafits.Tweedie` datafit.
    """

    _power = 1.0

    def __init__(
        self,
        *,
        alpha=1.0,
        fit_intercept=True,
        solver="lbfgs",
        max_iter=100,
        tol=1e-4,
        warm_start=False,
        verbose=0,
        l1_ratio=0.0,
    ):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.verbose = verbose
        self.l1_ratio = l1_ratio

    def _power_link(self):
        """``(power, link)`` with ``link`` in ``{"log", "identity"}``."""
        return self._power, "log"

    def _datafit(self):
        power, link = self._power_link()
        if link == "identity":
            return Quadratic
        return Tweedie.with_power(power)

    def _check_params(self):
        if self.solver not in ("lbfgs", "newton-cholesky"):
            raise ValueError(
                "solver must be 'lbfgs' or 'newton-cholesky' (both run jaxreg's "
                f"prox-Newton coordinate descent), got {self.solver!r}"
            )
        for name in ("alpha",):
            value = getattr(self, name)
            if not (isinstance(value, Real) and np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not (isinstance(self.tol, Real) and self.tol > 0):
            raise ValueError(f"tol must be > 0, got {self.tol!r}")
        if isinstance(self.max_iter, bool) or not (
            isinstance(self.max_iter, Integral) and self.max_iter >= 1
        ):
            raise ValueError(f"max_iter must be an integer >= 1, got {self.max_iter!r}")
        if not (isinstance(self.l1_ratio, Real) and 0 <= self.l1_ratio <= 1):
            raise ValueError(f"l1_ratio must lie in [0, 1], got {self.l1_ratio!r}")

    def fit(self, X, y, sample_weight=None):
        """Fits the model; returns ``self``.

        ``tol`` is scikit-learn's gradient tolerance: the solver stops when
        its stationarity measure (about ``½||∇P||²`` in objective units, see
        :func:`jaxreg.solvers.cd.optimality_gap`) is ``<= tol² · P(0)``,
        ``P(0)`` the deviance of the intercept-only model, and one more
        prox-Newton step has been taken.
        """
        self._check_params()
        X, y = validate_data(
            self,
            X,
            y,
            dtype=_FLOATS,
            y_numeric=True,
            accept_sparse=["csr", "csc"],
            multi_output=False,
        )
        datafit = self._datafit()
        sample_weight = _weights_array(sample_weight, X)
        coef_init = None
        if self.warm_start and getattr(self, "coef_", None) is not None:
            if self.coef_.shape == (X.shape[1],):
                coef_init = self.coef_
        res = glm_fit(
            X,
            y,
            elastic_net_penalty(float(self.alpha), float(self.l1_ratio)),
            datafit=datafit,
            sample_weight=sample_weight,
            fit_intercept=self.fit_intercept,
            tol=float(self.tol) ** 2,
            max_iter=int(self.max_iter),
            coef_init=coef_init,
            what=type(self).__name__,
        )
        self.coef_ = np.array(res.coef, dtype=X.dtype)
        self.intercept_ = (
            np.asarray(res.intercept, dtype=X.dtype)[()] if self.fit_intercept else 0.0
        )
        self.n_iter_ = int(res.n_iter)
        return self

    def _linear_predictor(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_FLOATS, accept_sparse=_SPARSE)
        return X @ self.coef_ + self.intercept_

    def predict(self, X):
        """Returns the mean ``μ = exp(X @ coef_ + intercept_)`` (identity link:
        ``X @ coef_ + intercept_``)."""
        eta = self._linear_predictor(X)
        return np.exp(eta) if self._power_link()[1] == "log" else eta

    def score(self, X, y, sample_weight=None):
        """D², the fraction of deviance explained (scikit-learn's
        ``d2_tweedie_score`` with this model's power, as its GLMs score)."""
        from sklearn.metrics import d2_tweedie_score

        pred = self.predict(X)
        y = np.asarray(y, dtype=pred.dtype)
        self._datafit().from_targets(y, None)  # range check, as scikit-learn
        return float(
            d2_tweedie_score(
                y, pred, sample_weight=sample_weight, power=self._power_link()[0]
            )
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        try:
            power, link = self._power_link()
            tags.target_tags.positive_only = link == "log"
        except ValueError:
            pass
        return tags


class PoissonRegressor(_GLMRegressor):
    """Poisson regression (log link): scikit-learn 1.9's ``PoissonRegressor``.

    Minimizes ``1/(2Σsᵢ) Σᵢ sᵢ d(yᵢ, μᵢ) + alpha (ρ||w||₁ + (1-ρ)/2 ||w||²)``
    with ``d(y, μ) = 2(y log(y/μ) - y + μ)``, ``μ = exp(Xw + b)``, ``ρ =
    l1_ratio``; ``y >= 0`` (else ``ValueError``).

    Args:
      alpha: strength ``>= 0``; with ``l1_ratio=0`` exactly scikit-learn's
        ``alpha/2 ||w||²``.
      fit_intercept: unpenalized intercept.
      solver: ``"lbfgs"`` or ``"newton-cholesky"``: accepted for
        compatibility, both run jaxreg's prox-Newton working-set coordinate
        descent and reach the same optimum.
      max_iter: outer working-set iterations (scikit-learn: lbfgs iterations).
      tol: gradient tolerance; the solver's stationarity measure must reach
        ``tol² · P(0)`` (see ``fit``).
      warm_start: start from the previous ``coef_``.
      verbose: accepted, unused.
      l1_ratio: our extension, ``ρ`` in ``[0, 1]`` (scikit-learn has only
        L2); ``ρ = 1`` is the L1-penalized Poisson model of skglm / glum.

    Attributes:
      coef_, intercept_, n_iter_ (outer iterations), n_features_in_,
      feature_names_in_ (pandas input).
    """

    _power = 1.0


class GammaRegressor(_GLMRegressor):
    """Gamma regression (log link): scikit-learn 1.9's ``GammaRegressor``.

    The objective of :class:`PoissonRegressor` with the Gamma deviance
    ``d(y, μ) = 2(log(μ/y) + y/μ - 1)``; ``y > 0`` (else ``ValueError``).
    Arguments and attributes as in :class:`PoissonRegressor`.
    """

    _power = 2.0


class TweedieRegressor(_GLMRegressor):
    """Tweedie regression: scikit-learn 1.9's ``TweedieRegressor``.

    The objective of :class:`PoissonRegressor` with the Tweedie deviance of
    ``power = p``. Supported: ``p = 0`` with the identity link (least squares:
    ``1/(2Σsᵢ) Σᵢ sᵢ (yᵢ - xᵢᵀw - b)² + alpha(...)``, the elastic net) and
    ``p >= 1`` with the log link (``p = 1`` Poisson, ``1 < p < 2`` compound
    Poisson-Gamma, ``p = 2`` Gamma, ``p = 3`` inverse Gaussian). Anything else
    (``0 < p < 1``, ``p < 0``, the identity link with ``p != 0``, the log link
    with ``p < 1``: non-convex or outside the family's domain) raises a
    ``ValueError`` at ``fit``; scikit-learn fits some of those by lbfgs.
    ``link="auto"`` means identity for ``p <= 0`` and log otherwise, as in
    scikit-learn. Other arguments and attributes as in
    :class:`PoissonRegressor`.
    """

    def __init__(
        self,
        *,
        power=0.0,
        alpha=1.0,
        fit_intercept=True,
        link="auto",
        solver="lbfgs",
        max_iter=100,
        tol=1e-4,
        warm_start=False,
        verbose=0,
        l1_ratio=0.0,
    ):
        super().__init__(
            alpha=alpha,
            fit_intercept=fit_intercept,
            solver=solver,
            max_iter=max_iter,
            tol=tol,
            warm_start=warm_start,
            verbose=verbose,
            l1_ratio=l1_ratio,
        )
        self.power = power
        self.link = link

    def _power_link(self):
        power, link = self.power, self.link
        if link not in ("auto", "identity", "log"):
            raise ValueError(f"link must be 'auto', 'identity' or 'log', got {link!r}")
        if not (isinstance(power, Real) and np.isfinite(power)):
            raise ValueError(f"power must be a finite number, got {power!r}")
        if link == "auto":
            link = "identity" if power <= 0 else "log"
        if link == "identity" and power != 0:
            raise ValueError(
                f"link='identity' is supported only with power=0 (least squares), "
                f"got power={power!r}; use link='log'"
            )
        if link == "log" and power < 1:
            raise ValueError(
                f"link='log' is supported for power >= 1 (convex for 1 <= power "
                f"<= 2), got power={power!r}: the objective is not convex there"
            )
        return float(power), link


def _class_weighted(class_weight, classes, y, y_idx, sample_weight):
    """``sample_weight`` times ``class_weight`` of each sample's class
    (scikit-learn's ``compute_class_weight``, with ``sample_weight`` in
    ``"balanced"``); unchanged when ``class_weight`` is None."""
    if class_weight is None:
        return sample_weight
    from sklearn.utils.class_weight import compute_class_weight

    cw = compute_class_weight(
        class_weight, classes=classes, y=y, sample_weight=sample_weight
    )
    base = np.ones(len(y)) if sample_weight is None else sample_weight
    return base * cw[y_idx]
