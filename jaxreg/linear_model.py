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
``LogisticRegression`` is binary only and never penalizes the intercept (as
scikit-learn's lbfgs/saga, unlike liblinear). Computations run in float32
unless x64 is enabled in JAX.

``check_estimator`` passes for all five. The only check not run is
``check_array_api_input``, which scikit-learn itself skips unless the
environment sets ``SCIPY_ARRAY_API=1`` (the estimators convert inputs to
numpy, then to JAX, so array-API dispatch does not apply). The
``LogisticRegression`` tags declare it binary-only (``multi_class=False``),
so scikit-learn runs its classifier checks on two-class data.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from jaxreg.solvers.glm import enet, lasso, logistic_regression
from jaxreg.solvers.path import cross_validate, kfold
from jaxreg.solvers.ridge import ridge


class _LinearRegressor(RegressorMixin, BaseEstimator):
    def _set_result(self, res):
        self.coef_ = np.asarray(res.coef, dtype=np.float64)
        self.intercept_ = float(res.intercept)
        self.dual_gap_ = float(res.gap)
        self.n_iter_ = int(res.n_iter)

    def _validate_fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], y_numeric=True)
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha!r}")
        return X, y

    def predict(self, X):
        """Returns ``X @ coef_ + intercept_``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
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
        self, alpha=1.0, *, fit_intercept=True, tol=1e-4, max_iter=100, warm_start=False
    ):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start

    def _coef_init(self, n_features):
        if self.warm_start and getattr(self, "coef_", None) is not None:
            if self.coef_.shape == (n_features,):
                return self.coef_
        return None

    def fit(self, X, y):
        """Fits the model; returns ``self``."""
        X, y = self._validate_fit(X, y)
        self._set_result(
            lasso(
                X,
                y,
                self.alpha,
                fit_intercept=self.fit_intercept,
                tol=self.tol,
                max_iter=self.max_iter,
                coef_init=self._coef_init(X.shape[1]),
            )
        )
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
    ):
        super().__init__(
            alpha,
            fit_intercept=fit_intercept,
            tol=tol,
            max_iter=max_iter,
            warm_start=warm_start,
        )
        self.l1_ratio = l1_ratio

    def fit(self, X, y):
        """Fits the model; returns ``self``."""
        X, y = self._validate_fit(X, y)
        self._set_result(
            enet(
                X,
                y,
                self.alpha,
                self.l1_ratio,
                fit_intercept=self.fit_intercept,
                tol=self.tol,
                max_iter=self.max_iter,
                coef_init=self._coef_init(X.shape[1]),
            )
        )
        return self


class Ridge(_LinearRegressor):
    """Ridge: ``||y - Xw - b||² + alpha ||w||²`` (scikit-learn's scaling).

    Internally ``1/(2n)||y - Xw - b||² + lam/2 ||w||²`` with ``lam =
    alpha/n``, which has the same minimizer.

    Args:
      alpha: L2 strength ``>= 0``.
      fit_intercept: unpenalized intercept.
      solver: ``"cholesky"`` or ``"cg"``.
      tol: gap target relative to ``P(0)`` for ``"cg"``.
      max_iter: CG iterations.
    """

    def __init__(
        self,
        alpha=1.0,
        *,
        fit_intercept=True,
        solver="cholesky",
        tol=1e-6,
        max_iter=1000,
    ):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, X, y):
        """Fits the model; returns ``self``."""
        X, y = self._validate_fit(X, y)
        self._set_result(
            ridge(
                X,
                y,
                self.alpha / X.shape[0],
                fit_intercept=self.fit_intercept,
                method=self.solver,
                tol=self.tol,
                max_iter=self.max_iter,
            )
        )
        return self


class LogisticRegression(ClassifierMixin, BaseEstimator):
    """Binary logistic regression with an L1, L2 or elastic-net penalty.

    Minimizes scikit-learn's ``C Σᵢ log(1 + exp(-yᵢ(xᵢᵀw + b))) + ρ||w||₁ +
    (1-ρ)/2 ||w||²`` (``ρ = 1`` for ``penalty="l1"``, ``0`` for ``"l2"``,
    ``l1_ratio`` for ``"elasticnet"``) by prox-Newton working-set CD on the
    equivalent mean-loss form with ``lam = 1/(nC)``. The intercept is not
    penalized.

    Args:
      penalty: ``"l1"``, ``"l2"`` or ``"elasticnet"``.
      C: inverse strength ``> 0``.
      l1_ratio: ``ρ`` for ``"elasticnet"``.
      fit_intercept, tol, max_iter: as in :class:`Lasso` (``P(0) = log 2``).

    Attributes:
      classes_, coef_ (shape ``(1, n_features)``), intercept_ (shape ``(1,)``),
      n_iter_, dual_gap_.
    """

    def __init__(
        self,
        penalty="l2",
        *,
        C=1.0,
        l1_ratio=None,
        fit_intercept=True,
        tol=1e-4,
        max_iter=100,
    ):
        self.penalty = penalty
        self.C = C
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _rho(self):
        if self.penalty == "l1":
            return 1.0
        if self.penalty == "l2":
            return 0.0
        if self.penalty == "elasticnet":
            if self.l1_ratio is None:
                raise ValueError("l1_ratio must be set for penalty='elasticnet'")
            return self.l1_ratio
        raise ValueError(
            f"penalty must be 'l1', 'l2' or 'elasticnet', got {self.penalty!r}"
        )

    def fit(self, X, y):
        """Fits the model; returns ``self``."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        rho = self._rho()
        if not self.C > 0:
            raise ValueError(f"C must be > 0, got {self.C!r}")
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) == 1:
            raise ValueError(f"y has only 1 class ({self.classes_[0]!r}); need 2")
        if len(self.classes_) > 2:
            raise ValueError(
                f"Only binary classification is supported; y has "
                f"{len(self.classes_)} classes: {self.classes_[:10]}"
            )
        res = logistic_regression(
            X,
            y_idx.astype(np.float64),
            1.0 / (X.shape[0] * self.C),
            rho,
            fit_intercept=self.fit_intercept,
            tol=self.tol,
            max_iter=self.max_iter,
        )
        self.coef_ = np.asarray(res.coef, dtype=np.float64)[None, :]
        self.intercept_ = np.array([float(res.intercept)])
        self.dual_gap_ = float(res.gap)
        self.n_iter_ = np.array([int(res.n_iter)])
        return self

    def decision_function(self, X):
        """Returns ``X @ coef_ᵀ + intercept_``, shape ``(n_samples,)``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return X @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X):
        """Returns ``[1 - σ(s), σ(s)]`` for the decision values ``s``."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.stack([1.0 - p, p], axis=1)

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """Returns the class with the larger probability."""
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


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

    def fit(self, X, y):
        """Cross-validates ``alpha``, refits; returns ``self``."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], y_numeric=True)
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
        self._set_result(
            lasso(
                X,
                y,
                self.alpha_,
                fit_intercept=self.fit_intercept,
                tol=self.tol,
                max_iter=self.max_iter,
            )
        )
        return self
