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
LassoCV,             alpha (and ρ) chosen by K-fold CV           ``cross_validate``
ElasticNetCV
MultiTaskLasso,      1/(2n)||Y-XWᵀ-b||_F² + αρΣⱼ||W[:,j]||₂      ``group_lasso`` on
MultiTaskElasticNet  + α(1-ρ)/2||W||_F²                          the stacked problem
MultiTask*CV         alpha (and ρ) chosen by K-fold CV           ``multitask_enet``
RidgeCV              Ridge, alpha by exact leave-one-out         one SVD, vmapped
RidgeClassifier      Ridge on {-1, 1} targets, one-vs-all        ``ridge`` per class
===================  ==========================================  ======================

Every estimator takes scikit-learn 1.9's constructor parameters and sets its
fitted attributes with scikit-learn's shapes (see each class for what a
parameter naming one of scikit-learn's internal algorithms runs here).

Differences from scikit-learn: ``tol`` is the duality-gap target relative to
``P(0)`` (``gap <= tol·P(0)``; scikit-learn stops at ``gap <= tol·||y||²/n``,
i.e. ``2·tol·P(0)``, and only after a coefficient-change test);
``n_iter_`` counts outer working-set iterations (like celer/skglm, not epochs);
``LogisticRegression`` is binary only and never penalizes the intercept (as
scikit-learn's lbfgs/saga, unlike liblinear). Computations run in float32
unless x64 is enabled in JAX.

``check_estimator`` passes for all of them (tests/test_linear_model.py,
test_multitask.py, test_path_cv.py, test_ridge_cv.py). The only check not run
is ``check_array_api_input``, which scikit-learn itself skips unless the
environment sets ``SCIPY_ARRAY_API=1`` (the estimators convert inputs to
numpy, then to JAX, so array-API dispatch does not apply). The
``check_sample_weight_equivalence_*`` checks compare weighted and
repeated-row fits to ``rtol=1e-7``: the tests run them in float64 with
``tol=1e-12`` (in float32 at the default ``tol`` the two fits agree only to
the solver's accuracy). The ``LogisticRegression`` tags declare it
binary-only (``multi_class=False``), so scikit-learn runs its classifier
checks on two-class data.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from jaxreg._estimator_base import (
    _FLOATS,
    _SPARSE,
    _check_precompute,
    _columns,
    _feature_order,
    _LinearRegressor,
    _total_weight,
    _weights_array,
)
from jaxreg._multitask import MultiTaskElasticNet, MultiTaskLasso
from jaxreg._path_cv import (
    ElasticNetCV,
    LassoCV,
    MultiTaskElasticNetCV,
    MultiTaskLassoCV,
)
from jaxreg._ridge_cv import RidgeClassifier, RidgeCV
from jaxreg.solvers.glm import enet, logistic_regression
from jaxreg.solvers.ridge import ridge

__all__ = [
    "ElasticNet",
    "ElasticNetCV",
    "Lasso",
    "LassoCV",
    "LogisticRegression",
    "MultiTaskElasticNet",
    "MultiTaskElasticNetCV",
    "MultiTaskLasso",
    "MultiTaskLassoCV",
    "Ridge",
    "RidgeCV",
    "RidgeClassifier",
]


class Lasso(_LinearRegressor):
    """Lasso: ``1/(2n)||y - Xw - b||² + alpha ||w||₁``, working-set CD.

    Takes every constructor parameter of scikit-learn 1.9's ``Lasso``. A 2-D
    ``y`` fits each column separately, as scikit-learn does.

    Args:
      alpha: L1 strength (scikit-learn's ``alpha``; jaxreg's ``lam``).
      fit_intercept: unpenalized intercept.
      precompute: ``False``, ``True`` or a Gram array ``(n_features,
        n_features)`` (checked for shape). It does not change the result or
        the algorithm: our CD always forms the Gram matrix of its working set
        from ``X`` (the cheap part of "precompute" that pays off).
      copy_X: accepted; the caller's ``X`` is never modified either way (the
        solver works on its own device copy).
      max_iter: outer working-set iterations (scikit-learn: epochs; default
        100 here, 1000 there).
      tol: duality-gap target relative to ``P(0)`` (scikit-learn: ``gap <=
        tol·||y||²/n``, twice as loose).
      warm_start: start from the previous ``coef_`` (when its shape fits).
      positive: constrain ``w >= 0``.
      random_state, selection: ``selection="random"`` permutes the features
        with ``random_state`` (``check_random_state``) before the fit and
        un-permutes ``coef_`` after it. Our CD visits the coordinates of its
        working set in order of their optimality violation (neither cyclic
        nor random, as celer/skglm), so the permutation changes the order in
        which tied features are ranked and swept, not the optimum.
        ``"cyclic"`` keeps the given order; anything else is a ``ValueError``.

    Attributes:
      coef_ (``(n_features,)``, or ``(n_targets, n_features)`` for a 2-D
      ``y``), intercept_ (scalar or ``(n_targets,)``), dual_gap_ (absolute,
      in objective units; ``(n_targets,)`` for a 2-D ``y``), n_iter_ (int, or
      a list per target).
    """

    def __init__(
        self,
        alpha=1.0,
        *,
        fit_intercept=True,
        precompute=False,
        copy_X=True,
        max_iter=100,
        tol=1e-4,
        warm_start=False,
        positive=False,
        random_state=None,
        selection="cyclic",
    ):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.precompute = precompute
        self.copy_X = copy_X
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.positive = positive
        self.random_state = random_state
        self.selection = selection

    def _coef_init(self, n_features, n_targets):
        """Previous ``coef_`` as ``(n_targets, n_features)``, or None."""
        coef = getattr(self, "coef_", None) if self.warm_start else None
        if coef is None:
            return None
        coef = np.atleast_2d(coef)
        return coef if coef.shape == (n_targets, n_features) else None

    def fit(self, X, y, sample_weight=None, check_input=True):
        """Fits the model (``sample_weight`` rescaled to sum to 1, as
        scikit-learn rescales it to sum to ``n``); returns ``self``.
        ``check_input`` is accepted; the input is always checked."""
        return self._fit(X, y, sample_weight, 1.0)

    def _fit(self, X, y, sample_weight, l1_ratio):
        X, y = self._validate_fit(X, y)
        d = X.shape[1]
        _check_precompute(self.precompute, d, allow_auto=False)
        perm = _feature_order(self.selection, self.random_state, d)
        sample_weight = _weights_array(sample_weight, X)
        Y, one_d = _columns(y)
        init = self._coef_init(d, Y.shape[1])
        Xp = X
        if perm is not None:
            Xp = X.tocsc()[:, perm] if hasattr(X, "tocsc") else X[:, perm]
        results = []
        for k in range(Y.shape[1]):
            w0 = None if init is None else init[k]
            if w0 is not None and perm is not None:
                w0 = w0[perm]
            res = enet(
                Xp,
                Y[:, k],
                self.alpha,
                l1_ratio,
                sample_weight=sample_weight,
                positive=self.positive,
                fit_intercept=self.fit_intercept,
                tol=self.tol,
                max_iter=self.max_iter,
                coef_init=w0,
                what=type(self).__name__,
            )
            if perm is not None:
                res = res._replace(coef=np.asarray(res.coef)[np.argsort(perm)])
            results.append(res)
        self._set_results(results, X, one_d)
        return self


class ElasticNet(Lasso):
    """Elastic net: ``1/(2n)||y-Xw-b||² + alpha(ρ||w||₁ + (1-ρ)/2||w||²)``.

    Args:
      alpha: overall strength; l1_ratio: ``ρ`` in ``[0, 1]``; the rest as in
        :class:`Lasso` (every constructor parameter of scikit-learn's
        ``ElasticNet``).
    """

    def __init__(
        self,
        alpha=1.0,
        *,
        l1_ratio=0.5,
        fit_intercept=True,
        precompute=False,
        max_iter=100,
        copy_X=True,
        tol=1e-4,
        warm_start=False,
        positive=False,
        random_state=None,
        selection="cyclic",
    ):
        super().__init__(
            alpha,
            fit_intercept=fit_intercept,
            precompute=precompute,
            copy_X=copy_X,
            max_iter=max_iter,
            tol=tol,
            warm_start=warm_start,
            positive=positive,
            random_state=random_state,
            selection=selection,
        )
        self.l1_ratio = l1_ratio

    def fit(self, X, y, sample_weight=None, check_input=True):
        """Fits the model; returns ``self``."""
        return self._fit(X, y, sample_weight, self.l1_ratio)


_RIDGE_SOLVERS = {
    "auto": "auto",
    "svd": "svd",
    "cholesky": "cholesky",
    "cg": "cg",
    "lsqr": "cg",
    "sparse_cg": "cg",
    "sag": "cg",
    "saga": "cg",
    "lbfgs": "cd",
}


class Ridge(_LinearRegressor):
    """Ridge: ``||y - Xw - b||² + alpha ||w||²`` (scikit-learn's scaling).

    Internally ``½ Σᵢ aᵢ(yᵢ - xᵢᵀw - b)² + lam/2 ||w||²`` with ``a =
    s/Σs`` and ``lam = alpha/Σs`` (``alpha/n`` without ``sample_weight``),
    which has the same minimizer. A 2-D ``y`` fits each column (``alpha``
    may then be an array ``(n_targets,)``, as in scikit-learn).

    Args:
      alpha: L2 strength ``>= 0`` (a float, or one per target).
      fit_intercept: unpenalized intercept.
      copy_X: accepted; the caller's ``X`` is never modified.
      max_iter: CG iterations (``None``: 1000).
      tol: gap target relative to ``P(0)`` for the iterative solvers
        (default ``1e-6``; scikit-learn's ``1e-4`` is a residual-norm target).
      solver: scikit-learn's names, all reaching the same optimum. What runs:
        ``"auto"``: Cholesky for dense, CG for sparse ``X`` (CD when
        ``positive``); ``"svd"``: the SVD of the centred design (dense only,
        ``TypeError`` for sparse ``X``, as scikit-learn); ``"cholesky"``:
        Cholesky on the primal or dual system (CG for sparse ``X``);
        ``"lsqr"``, ``"sparse_cg"``, ``"sag"``, ``"saga"`` (and our
        ``"cg"``): matrix-free CG stopped on the duality gap; ``"lbfgs"``
        (only with ``positive=True``, as scikit-learn): working-set
        coordinate descent with the non-negativity constraint. With
        ``alpha=0`` the direct solvers give the minimum-norm solution.
      positive: constrain ``w >= 0`` (solver ``"auto"`` or ``"lbfgs"``; other
        solvers raise ``ValueError`` as in scikit-learn).
      random_state: accepted (scikit-learn uses it to shuffle data in
        ``sag``/``saga``); our solvers are deterministic.

    Attributes:
      coef_, intercept_ (scikit-learn's shapes), n_iter_ (shape
      ``(n_targets,)``: CG iterations or CD outer iterations, 1 for the
      direct solvers where scikit-learn sets ``None``), dual_gap_ (ours).
    """

    def __init__(
        self,
        alpha=1.0,
        *,
        fit_intercept=True,
        copy_X=True,
        max_iter=None,
        tol=1e-6,
        solver="auto",
        positive=False,
        random_state=None,
    ):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.copy_X = copy_X
        self.max_iter = max_iter
        self.tol = tol
        self.solver = solver
        self.positive = positive
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = self.solver != "svd"
        return tags

    def _method(self, X):
        if self.solver not in _RIDGE_SOLVERS:
            raise ValueError(
                f"solver must be one of {sorted(_RIDGE_SOLVERS)}, got {self.solver!r}"
            )
        if self.positive and self.solver not in ("auto", "lbfgs"):
            raise ValueError(
                f"solver='{self.solver}' does not support positive fitting. Please "
                "set the solver to 'auto' or 'lbfgs', or set `positive=False`"
            )
        if self.solver == "lbfgs" and not self.positive:
            raise ValueError(
                "'lbfgs' solver can be used only when positive=True. "
                "Please use another solver."
            )
        if self.solver == "svd" and hasattr(X, "tocsc"):
            raise TypeError("SVD solver does not support sparse inputs currently")
        if self.positive:
            return "cd"
        method = _RIDGE_SOLVERS[self.solver]
        if method == "cholesky" and hasattr(X, "tocsc"):
            return "cg"
        return method

    def _fit_targets(self, X, Y, sample_weight):
        """One ridge fit per column of ``Y``; returns the results."""
        method = self._method(X)
        total = _total_weight(sample_weight, X)
        n_targets = Y.shape[1]
        alphas = np.asarray(self.alpha, dtype=np.float64)
        if alphas.ndim == 1 and alphas.shape[0] not in (1, n_targets):
            raise ValueError(
                "Number of targets and number of penalties do not correspond: "
                f"{alphas.shape[0]} != {n_targets}"
            )
        alphas = np.broadcast_to(alphas.reshape(-1), (n_targets,))
        max_iter = 1000 if self.max_iter is None else self.max_iter
        results = []
        for k in range(n_targets):
            lam = float(alphas[k]) / total
            if method == "cd":
                res = enet(
                    X,
                    Y[:, k],
                    lam,
                    0.0,
                    sample_weight=sample_weight,
                    positive=True,
                    fit_intercept=self.fit_intercept,
                    tol=self.tol,
                    max_iter=max_iter,
                    what="Ridge(positive=True)",
                )
            else:
                res = ridge(
                    X,
                    Y[:, k],
                    lam,
                    sample_weight=sample_weight,
                    fit_intercept=self.fit_intercept,
                    method=method,
                    tol=self.tol,
                    max_iter=max_iter,
                )
            results.append(res)
        return results

    def fit(self, X, y, sample_weight=None):
        """Fits the model; returns ``self``."""
        X, y = self._validate_fit(X, y)
        sample_weight = _weights_array(sample_weight, X)
        Y, one_d = _columns(y)
        results = self._fit_targets(X, Y, sample_weight)
        self._set_results(results, X, one_d)
        # 1 for a direct solve (scikit-learn: None; check_estimator wants >= 1)
        self.n_iter_ = np.array([int(r.n_iter) for r in results])
        return self


class LogisticRegression(ClassifierMixin, BaseEstimator):
    """Binary logistic regression with an L1, L2 or elastic-net penalty.

    Minimizes scikit-learn's ``C Σᵢ sᵢ log(1 + exp(-yᵢ(xᵢᵀw + b))) + ρ||w||₁
    + (1-ρ)/2 ||w||²`` by prox-Newton working-set CD on the equivalent
    weighted-mean form with ``lam = 1/(C Σᵢ sᵢ)`` (``1/(nC)`` without
    ``sample_weight``). As in scikit-learn ≥ 1.8, ``l1_ratio`` alone selects
    the penalty (0: L2, the default; 1: L1; between: elastic net) and
    ``C=np.inf`` means no penalty; the older ``penalty="l1" | "l2" |
    "elasticnet" | None`` is still read. The intercept is not penalized.

    Args:
      penalty: ``"deprecated"`` (use ``l1_ratio``), or ``"l1"``, ``"l2"``,
        ``"elasticnet"`` (with ``l1_ratio``), ``None``.
      C: inverse strength ``> 0`` (``np.inf``: unpenalized).
      l1_ratio: ``ρ`` in ``[0, 1]``.
      fit_intercept: unpenalized intercept.
      tol: the duality gap target relative to ``P(0)`` (a gap ``g`` leaves a
        coefficient error of order ``sqrt(g)``: lower ``tol`` for
        lbfgs-like accuracy).
      max_iter: outer working-set iterations.

    Attributes:
      classes_, coef_ (shape ``(1, n_features)``, ``X``'s float dtype),
      intercept_ (shape ``(1,)``), n_iter_, dual_gap_.
    """

    def __init__(
        self,
        penalty="deprecated",
        *,
        C=1.0,
        l1_ratio=0.0,
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
        tags.input_tags.sparse = True
        return tags

    def _rho(self):
        """``(ρ, penalized)`` from ``penalty``/``l1_ratio``/``C``."""
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
        raise ValueError(
            "penalty must be 'deprecated' (use l1_ratio), 'l1', 'l2', 'elasticnet' "
            f"or None, got {self.penalty!r}"
        )

    def fit(self, X, y, sample_weight=None):
        """Fits the model; returns ``self``."""
        X, y = validate_data(self, X, y, dtype=_FLOATS, accept_sparse=_SPARSE)
        rho, penalized = self._rho()
        if not self.C > 0:
            raise ValueError(f"C must be > 0, got {self.C!r}")
        check_classification_targets(y)
        sample_weight = _weights_array(sample_weight, X)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) == 1:
            raise ValueError(f"y has only 1 class ({self.classes_[0]!r}); need 2")
        if len(self.classes_) > 2:
            raise ValueError(
                f"Only binary classification is supported; y has "
                f"{len(self.classes_)} classes: {self.classes_[:10]}"
            )
        total = _total_weight(sample_weight, X)
        lam = 1.0 / (self.C * total) if penalized else 0.0
        res = logistic_regression(
            X,
            y_idx.astype(X.dtype),
            lam,
            rho,
            sample_weight=sample_weight,
            fit_intercept=self.fit_intercept,
            tol=self.tol,
            max_iter=self.max_iter,
        )
        self.coef_ = np.array(res.coef, dtype=X.dtype)[None, :]
        self.intercept_ = np.array([res.intercept], dtype=X.dtype)
        self.dual_gap_ = float(res.gap)
        self.n_iter_ = np.array([int(res.n_iter)])
        return self

    def decision_function(self, X):
        """Returns ``X @ coef_ᵀ + intercept_``, shape ``(n_samples,)``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_FLOATS, accept_sparse=_SPARSE)
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
