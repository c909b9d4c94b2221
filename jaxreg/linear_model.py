"""scikit-learn-compatible estimators around :mod:`jaxreg.solvers`.

Needs the ``sklearn`` extra (``pip install jaxreg[sklearn]``). Objectives and
parameter names follow scikit-learn, so the estimators drop into pipelines and
grid searches:

====================  =========================================  ======================
estimator             objective                                  jaxreg solver
====================  =========================================  ======================
Lasso(alpha)          1/(2n)||y-Xw-b||² + alpha||w||₁            ``lasso(lam=alpha)``
ElasticNet(alpha,ρ)   1/(2n)||y-Xw-b||² + alpha(ρ||w||₁          ``enet``
                      + (1-ρ)/2||w||²)
Ridge(alpha)          ||y-Xw-b||² + alpha||w||²                  ``ridge(lam=alpha/n)``
LogisticRegression    C Σ log(1+exp(-yᵢ(xᵢᵀw+b))) + ρ||w||₁      ``logistic_regression``
(C, penalty, ρ)       + (1-ρ)/2||w||²                            ``(lam=1/(nC))``
LassoCV,              alpha (and ρ) chosen by K-fold CV          ``cross_validate``
ElasticNetCV
LogisticRegressionCV  C (and ρ) chosen by stratified K-fold CV   ``path`` / vmapped
                                                                 ``multinomial``
MultiTaskLasso,       1/(2n)||Y-XWᵀ-b||_F² + αρΣⱼ||W[:,j]||₂     ``group_lasso`` on
MultiTaskElasticNet   + α(1-ρ)/2||W||_F²                         the stacked problem
MultiTask*CV          alpha (and ρ) chosen by K-fold CV          ``multitask_enet``
lasso_path,           the Lasso / elastic net at each alpha,     ``path`` (2-D ``y``:
enet_path             no intercept (scikit-learn's functions)    the multi-task BCD)
RidgeCV               Ridge, alpha by exact leave-one-out        one SVD, vmapped;
                      (or K-fold CV)                             ``ridge_folds``
RidgeClassifier       Ridge on {-1, 1} targets, one-vs-all       ``ridge`` per class
RidgeClassifierCV     RidgeClassifier, alpha as in RidgeCV       as RidgeCV
PoissonRegressor,     1/(2Σs)Σsᵢd(yᵢ, exp(xᵢᵀw+b))               ``fit`` with a
GammaRegressor,       + alpha(ρ||w||₁ + (1-ρ)/2||w||²),          ``Tweedie`` datafit
TweedieRegressor      d the unit deviance
====================  =========================================  ======================

Every estimator takes scikit-learn 1.9's constructor parameters and sets its
fitted attributes with scikit-learn's shapes (see each class for what a
parameter naming one of scikit-learn's internal algorithms runs here).

Differences from scikit-learn: ``tol`` is the duality-gap target relative to
``P(0)`` (``gap <= tol·P(0)``; scikit-learn stops at ``gap <= tol·||y||²/n``,
i.e. ``2·tol·P(0)``, and only after a coefficient-change test; the ridge
estimators' CG stops on the relative residual, as scikit-learn's
``sparse_cg``);
``n_iter_`` counts outer working-set iterations (like celer/skglm, not epochs);
``LogisticRegression`` never penalizes the intercept (as scikit-learn's
lbfgs/saga, unlike liblinear) and is multinomial for more than two classes;
``sample_weight`` must be ``>= 0`` (scikit-learn also fits negative weights,
where the objective can be unbounded below); an invalid constructor
parameter raises a plain ``ValueError`` naming it (scikit-learn's
``InvalidParameterError`` is a subclass of ``ValueError``, so ``except
ValueError`` catches both).
Computations run in float32 unless x64 is enabled in JAX.

``check_estimator`` passes for all of them (tests/test_linear_model.py,
test_multitask.py, test_path_cv.py, test_ridge_cv.py,
test_linear_model_glm.py, test_linear_model_logistic_cv.py). The only check not run
is ``check_array_api_input``, which scikit-learn itself skips unless the
environment sets ``SCIPY_ARRAY_API=1`` (the estimators convert inputs to
numpy, then to JAX, so array-API dispatch does not apply). The
``check_sample_weight_equivalence_*`` checks compare weighted and
repeated-row fits to ``rtol=1e-7``: the tests run them in float64 with
``tol=1e-12`` (in float32 at the default ``tol`` the two fits agree only to
the solver's accuracy).
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import scipy.sparse
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import get_scorer
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_is_fitted,
    validate_data,
)

from jaxreg import _logistic_cv
from jaxreg._estimator_base import (
    _FLOATS,
    _SPARSE,
    _check_flags,
    _check_gram,
    _check_precompute,
    _columns,
    _feature_order,
    _LinearRegressor,
    _SparseCoef,
    _total_weight,
    _warm_coef,
    _weights_array,
)
from jaxreg._multitask import (
    MultiTaskElasticNet,
    MultiTaskLasso,
    enet_path,
    lasso_path,
)
from jaxreg._path_cv import (
    ElasticNetCV,
    LassoCV,
    MultiTaskElasticNetCV,
    MultiTaskLassoCV,
)
from jaxreg._ridge_cv import RidgeClassifier, RidgeClassifierCV, RidgeCV
from jaxreg._validation import warn_caller
from jaxreg.solvers.base import _emitted_warning
from jaxreg.solvers.datafits import Quadratic, Tweedie
from jaxreg.solvers.glm import (
    elastic_net_penalty,
    enet,
    logistic_regression,
)
from jaxreg.solvers.glm import fit as glm_fit
from jaxreg.solvers.multinomial import multinomial_folds_path, multinomial_penalty
from jaxreg.solvers.multinomial import multinomial_regression as multinomial_fit
from jaxreg.solvers.ridge import ridge

__all__ = [
    "ElasticNet",
    "ElasticNetCV",
    "GammaRegressor",
    "Lasso",
    "LassoCV",
    "LogisticRegression",
    "LogisticRegressionCV",
    "MultiTaskElasticNet",
    "MultiTaskElasticNetCV",
    "MultiTaskLasso",
    "MultiTaskLassoCV",
    "PoissonRegressor",
    "Ridge",
    "RidgeCV",
    "RidgeClassifier",
    "RidgeClassifierCV",
    "TweedieRegressor",
    "enet_path",
    "lasso_path",
]


class Lasso(_SparseCoef, _LinearRegressor):
    """Lasso: ``1/(2n)||y - Xw - b||² + alpha ||w||₁``, working-set CD.

    Takes every constructor parameter of scikit-learn 1.9's ``Lasso``. A 2-D
    ``y`` fits each column separately, as scikit-learn does.

    Args:
      alpha: L1 strength (scikit-learn's ``alpha``; jaxreg's ``lam``).
      fit_intercept: unpenalized intercept.
      precompute: ``False``, ``True`` or a Gram array ``(n_features,
        n_features)``, checked as scikit-learn checks it (its shape and one
        entry; a UserWarning with an intercept on uncentred columns, where
        scikit-learn recomputes it). It does not change the result or
        the algorithm: our CD always forms the Gram matrix of its working set
        from ``X`` (the cheap part of "precompute" that pays off).
      copy_X: accepted; the caller's ``X`` is never modified either way (the
        solver works on its own device copy).
      max_iter: outer working-set iterations (scikit-learn: epochs; default
        100 here, 1000 there).
      tol: duality-gap target relative to ``P(0)`` (scikit-learn: ``gap <=
        tol·||y||²/n``, twice as loose as a criterion). scikit-learn checks
        its gap only after an epoch whose largest coefficient change is
        below ``tol·max|w|``, so at the same ``tol`` its coefficients often
        land closer to the optimum than the gap requires: on diabetes at
        ``alpha=0.01`` (ElasticNet) both objectives are within ``tol`` but
        its largest coefficient error is 0.003 and ours 0.5 (of 211: a gap
        of 1.6e-3 on an objective of 2184 in the flat direction of
        correlated features). float32 resolves that objective to about
        2e-4, coefficients there to about 0.2: when they must agree to
        scikit-learn's digits, enable x64 and pass ``tol=1e-8``.
      warm_start: start from the previous ``coef_`` (``ValueError`` when its
        shape does not fit: other features or targets).
      positive: constrain ``w >= 0``.
      random_state, selection: ``selection="random"`` permutes the features
        with ``random_state`` (``check_random_state``) before the fit and
        un-permutes ``coef_`` after it. Our CD visits the coordinates of its
        working set in order of their optimality violation (neither cyclic
        nor random, as celer/skglm), so the permutation changes the order in
        which tied features are ranked and swept, not the optimum.
        ``"cyclic"`` keeps the given order; anything else is a ``ValueError``.

    Fitted attributes:
      ``coef_`` (``(n_features,)``, or ``(n_targets, n_features)`` for a 2-D
      ``y``), ``intercept_`` (scalar or ``(n_targets,)``), ``dual_gap_`` (absolute,
      in objective units; ``(n_targets,)`` for a 2-D ``y``), ``n_iter_`` (int, or
      a list per target).
    """

    path = staticmethod(enet_path)

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

    def fit(self, X, y, sample_weight=None, check_input=True):
        """Fits the model (``sample_weight`` rescaled to sum to 1, as
        scikit-learn rescales it to sum to ``n``); returns ``self``.
        ``check_input`` is accepted; the input is always checked."""
        return self._fit(X, y, sample_weight, 1.0)

    def _fit(self, X, y, sample_weight, l1_ratio, p0=64):
        """The fit; ``p0`` is the first working-set size (the CV estimators'
        refit starts at their folds', :func:`~jaxreg.solvers.cd.path_bucket`)."""
        X, y = self._validate_fit(X, y)
        if self.alpha == 0:  # scikit-learn's warning, which users filter
            warn_caller(
                "With alpha=0, this algorithm does not converge well: the "
                "duality gap of the unpenalized problem is only estimated. You "
                "are advised to use Ridge(alpha=0) or the LinearRegression "
                "estimator",
                UserWarning,
            )
        d = X.shape[1]
        _check_precompute(self.precompute, d, allow_auto=False)
        perm = _feature_order(self.selection, self.random_state, d)
        sample_weight = _weights_array(sample_weight, X)
        _check_gram(self.precompute, X, sample_weight, self.fit_intercept)
        Y, one_d = _columns(y)
        init = _warm_coef(self, (Y.shape[1], d))
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
                p0=p0,
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
      tol: CG stops when the residual of its system is ``<= tol`` times
        its right-hand side's norm, scikit-learn's ``sparse_cg`` rule
        (default ``1e-6``, scikit-learn's ``1e-4``: float32 reaches it);
        ``positive=True`` (CD): the duality-gap target relative to ``P(0)``.
      solver: scikit-learn's names, all reaching the same optimum. What runs:
        ``"auto"``: Cholesky for dense, CG for sparse ``X`` (CD when
        ``positive``); ``"svd"``: the SVD of the centred design (dense only,
        ``TypeError`` for sparse ``X``, as scikit-learn); ``"cholesky"``:
        Cholesky on the primal or dual system (CG for sparse ``X``);
        ``"lsqr"``, ``"sparse_cg"``, ``"sag"``, ``"saga"`` (and our
        ``"cg"``): matrix-free CG stopped on the residual; ``"lbfgs"``
        (only with ``positive=True``, as scikit-learn): working-set
        coordinate descent with the non-negativity constraint. With
        ``alpha=0`` the direct solvers give the minimum-norm solution.
      positive: constrain ``w >= 0`` (solver ``"auto"`` or ``"lbfgs"``; other
        solvers raise ``ValueError`` as in scikit-learn).
      random_state: accepted (scikit-learn uses it to shuffle data in
        ``sag``/``saga``); our solvers are deterministic.

    Fitted attributes:
      ``coef_``, ``intercept_`` (scikit-learn's shapes), ``n_iter_`` (shape
      ``(n_targets,)``: CG iterations or CD outer iterations, 1 for the
      direct solvers where scikit-learn sets ``None``), ``solver_``
      (scikit-learn's name for the solver: ``"auto"`` reads as
      ``"cholesky"``, ``"sparse_cg"`` for sparse ``X`` or ``"lbfgs"`` when
      ``positive``), ``dual_gap_`` (ours).
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
            if self.fit_intercept:  # scikit-learn's order of checks and message
                raise ValueError(
                    "solver='svd' does not support fitting the intercept on sparse "
                    "data. Please set the solver to 'auto' or 'lsqr', 'sparse_cg', "
                    "'sag', 'lbfgs' or set `fit_intercept=False`"
                )
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
        X, y = self._validate_fit(X, y, per_target_alpha=True)
        sample_weight = _weights_array(sample_weight, X)
        Y, one_d = _columns(y)
        results = self._fit_targets(X, Y, sample_weight)
        self._set_results(results, X, one_d)
        # 1 for a direct solve (scikit-learn: None; check_estimator wants >= 1)
        self.n_iter_ = np.array([int(r.n_iter) for r in results])
        self.solver_ = self._solver_name(X)
        return self

    def _solver_name(self, X):
        """scikit-learn's ``solver_``: its name for ``solver="auto"``'s
        choice (``"lbfgs"`` when positive, ``"sparse_cg"`` for sparse ``X``,
        else ``"cholesky"``), otherwise the name given."""
        if self.solver != "auto":
            return self.solver
        if self.positive:
            return "lbfgs"
        return "sparse_cg" if hasattr(X, "tocsc") else "cholesky"


def _warn_penalty_deprecated(penalty, l1_ratio):
    """scikit-learn 1.9's warnings for ``LogisticRegression(penalty=...)``,
    its messages and conditions (``penalty`` is read as before)."""
    warn_caller(
        "'penalty' was deprecated in version 1.8 and will be removed in"
        " 1.10. To avoid this warning, leave 'penalty' set to its default"
        " value and use 'l1_ratio' or 'C' instead."
        " Use l1_ratio=0 instead of penalty='l2',"
        " l1_ratio=1 instead of penalty='l1',"
        " l1_ratio set to a float between 0 and 1 instead of"
        " penalty='elasticnet', and C=np.inf instead of penalty=None.",
        FutureWarning,
    )
    ratio = isinstance(l1_ratio, Real) and not isinstance(l1_ratio, bool)
    if penalty != "elasticnet" and ratio and 0 < l1_ratio < 1:
        warn_caller(
            "l1_ratio parameter is only used when penalty is 'elasticnet'. Got "
            f"(penalty={penalty})",
            UserWarning,
        )
    if (penalty == "l2" and l1_ratio != 0) or (penalty == "l1" and l1_ratio != 1):
        warn_caller(
            f"Inconsistent values: penalty={penalty} with l1_ratio={l1_ratio}. "
            "penalty is deprecated. Please use l1_ratio only.",
            UserWarning,
        )


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
    (:func:`jaxreg.solvers.logistic_regression`); multinomial ones run
    L-BFGS with the L2 penalty (smooth: it copes with unscaled features far
    better) and otherwise FISTA with backtracking and restarts
    (:func:`jaxreg.solvers.proximal_gradient`) on the ``(n_features + 1, K)``
    coefficient matrix, whose gradient is two
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
      l1_ratio: ``ρ`` in ``[0, 1]`` (``None``, the default before
        scikit-learn 1.8: ``0`` with a ``FutureWarning``, as there).
      dual: only ``False`` (or ``True`` with ``solver="liblinear"`` and L2,
        which has the same optimum).
      tol: binary: the duality-gap target relative to ``P(0)`` (a gap ``g``
        leaves a coefficient error of order ``sqrt(g/μ)``, ``μ`` the
        objective's curvature); multinomial: the prox-gradient norm relative
        to its value at 0 (from a warm start too) must reach ``tol/100``.
        Both are relative to the start, not to the optimum: at a large ``C``
        on (nearly) separable classes, where the optimal loss is a small
        fraction of ``P(0)`` and the objective is flat, the default ``tol``
        can stop well above the optimum (iris setosa vs rest, raw features,
        L1 at ``C = 1e4``: 67 % above it, four features where the optimum
        has one; wine, multinomial L1: 2×). Lower ``tol`` with x64 enabled
        for such fits (wine at ``tol=1e-6`` in float64: within 3e-4 of the
        optimum; float32 stalls 35 % above it).
      fit_intercept: unpenalized intercept.
      intercept_scaling, random_state, verbose, n_jobs: accepted, unused
        (our solvers are deterministic and never penalize the intercept).
      class_weight: ``None``, a dict ``{class: weight}`` or ``"balanced"``
        (``n / (K · count)``, weighted by ``sample_weight`` as in
        scikit-learn), multiplied into ``sample_weight``.
      solver: see above.
      max_iter: binary: outer working-set iterations; multinomial: at most
        100 × ``max_iter`` L-BFGS or FISTA steps (each one or two passes
        over ``X``).
      warm_start: start from the previous ``coef_`` and ``intercept_``
        (``ValueError`` when their shape does not fit: other features or
        classes).

    Fitted attributes:
      ``classes_``, ``coef_`` (``(1, n_features)`` binary, ``(K, n_features)``
      multinomial; ``X``'s float dtype), ``intercept_`` (``(1,)`` or ``(K,)``;
      with ``solver="liblinear"`` the float ``0.0``, as scikit-learn's),
      ``n_iter_`` (shape ``(1,)``), ``dual_gap_`` (binary), ``n_features_in_``,
      ``feature_names_in_``.
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
        if self.penalty == "deprecated" and self.l1_ratio is None:
            warn_caller(  # scikit-learn 1.9 reads it so, and warns so
                "'l1_ratio=None' was deprecated in version 1.8 and will trigger "
                "an error in 1.10 (scikit-learn's deprecation; it reads as "
                "l1_ratio=0, the L2 penalty). Use 0<=l1_ratio<=1 instead.",
                FutureWarning,
            )
            return 0.0, penalized
        if self.penalty in ("l1", "l2", "elasticnet", None):
            _warn_penalty_deprecated(self.penalty, self.l1_ratio)
        if self.penalty == "deprecated" or self.penalty == "elasticnet":
            rho = self.l1_ratio
            if not (isinstance(rho, Real) and 0 <= rho <= 1):
                raise ValueError(f"l1_ratio must lie in [0, 1], got {rho!r}")
            if not penalized and 0 < rho < 1 and self.penalty == "deprecated":
                warn_caller(  # scikit-learn 1.9 reads C=inf as penalty=None
                    "l1_ratio parameter is only used when penalty is "
                    "'elasticnet'. Got (penalty=None)",
                    UserWarning,
                )
            return float(rho), penalized
        if self.penalty == "l1":
            return 1.0, penalized
        if self.penalty == "l2":
            return 0.0, penalized
        if self.penalty is None:
            if self.C != 1.0:  # scikit-learn's test and message
                warn_caller(
                    "Setting penalty=None will ignore the C and l1_ratio parameters",
                    UserWarning,
                )
            return 0.0, False
        if self.penalty == "group":
            return "group", penalized
        raise ValueError(
            "penalty must be 'deprecated' (use l1_ratio), 'l1', 'l2', 'elasticnet', "
            f"'group' or None, got {self.penalty!r}"
        )

    def _check_solver(self, rho, n_classes):
        scaling = self.intercept_scaling  # unused, but checked as scikit-learn's
        if isinstance(scaling, bool) or not (isinstance(scaling, Real) and scaling > 0):
            raise ValueError(
                f"intercept_scaling must be a real number > 0, got {scaling!r}"
            )
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
        _check_flags(self)
        if not (isinstance(self.C, Real) and self.C > 0):
            raise ValueError(f"C must be a real number > 0, got {self.C!r}")
        rho, penalized = self._rho()
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
        warm = _warm_coef(self, (1 if K == 2 else K, X.shape[1]))
        if K == 2 and rho != "group":
            self._fit_binary(X, y_idx, sample_weight, lam, rho, warm)
        elif K == 2:  # a group of one coefficient is L1
            self._fit_binary(X, y_idx, sample_weight, lam, 1.0, warm)
        else:
            self._fit_multinomial(X, y_idx, sample_weight, lam, rho, warm)
        return self

    def _fit_binary(self, X, y_idx, sample_weight, lam, rho, warm):
        coef_init = None if warm is None else warm[0]
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
        if self.solver == "liblinear":  # scikit-learn's liblinear sets a float
            self.intercept_ = 0.0
        else:
            self.intercept_ = np.array([res.intercept], dtype=X.dtype)
        self.dual_gap_ = float(res.gap)
        self.n_iter_ = np.array([int(res.n_iter)], np.int32)  # scikit-learn's dtype

    def _fit_multinomial(self, X, y_idx, sample_weight, lam, rho, warm):
        K = len(self.classes_)
        init = None if warm is None else (warm, self.intercept_)
        if rho == 0:  # smooth: L-BFGS, as in LogisticRegressionCV
            self._fit_multinomial_l2(X, y_idx, sample_weight, lam, init)
            return
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
        self._set_multinomial(theta, n_iter, X.dtype)

    def _fit_multinomial_l2(self, X, y_idx, sample_weight, lam, init):
        """The L2 (smooth) multinomial fit by L-BFGS: on unscaled data
        (digits' pixels, ``C=100``) FISTA's stopping measure fell below
        ``tol`` 17 % above the optimum; L-BFGS reaches 0.3 % there."""
        K, n = len(self.classes_), X.shape[0]
        weights = np.ones(n) if sample_weight is None else sample_weight
        theta, iters, converged = multinomial_folds_path(
            X,
            y_idx,
            K,
            [[lam]],
            0.0,
            np.asarray(weights, np.float64)[None],
            fit_intercept=self.fit_intercept,
            tol=self.tol / 100,
            max_iter=100 * self.max_iter,
            init=init,
        )
        if not converged[0, 0]:
            budget = 100 * self.max_iter
            advice = (
                "raise max_iter, loosen tol or scale the features"
                if iters[0, 0] >= budget
                else "it stopped earlier, where the line search found no step "
                "that lowers the objective at float precision (standardize X, "
                "loosen tol or solve in float64: "
                "jax.config.update('jax_enable_x64', True))"
            )
            warn_caller(
                f"LogisticRegression (multinomial, L-BFGS) did not reach tol/100 = "
                f"{self.tol / 100:.1e} in {iters[0, 0]} of its {budget} steps "
                f"(100·max_iter); " + advice,
                _emitted_warning(),
            )
        self._set_multinomial(theta[0, 0], iters[0, 0], X.dtype)

    def _set_multinomial(self, theta, n_iter, dtype):
        K, d = len(self.classes_), theta.shape[0] - self.fit_intercept
        self.coef_ = np.array(theta[:d].T, dtype=dtype)
        intercept = theta[d] if self.fit_intercept else np.zeros(K)
        self.intercept_ = np.array(intercept, dtype=dtype)
        self.n_iter_ = np.array([n_iter], np.int32)

    def decision_function(self, X):
        """Returns ``X @ coef_ᵀ + intercept_``: shape ``(n_samples,)`` for two
        classes, ``(n_samples, K)`` for more."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_FLOATS, accept_sparse=_SPARSE)
        scores = safe_sparse_dot(X, self.coef_.T, dense_output=True) + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def sparsify(self):
        """Stores ``coef_`` as a ``scipy.sparse.csr_matrix`` (scikit-learn's
        ``SparseCoefMixin``): less memory and faster predictions when most
        coefficients are 0 (an L1 fit); ``intercept_`` stays dense. Returns
        ``self``."""
        check_is_fitted(self)
        self.coef_ = scipy.sparse.csr_matrix(self.coef_)
        return self

    def densify(self):
        """Converts a sparse ``coef_`` (after :meth:`sparsify`) back to a
        numpy array, as ``fit`` sets it. Returns ``self``."""
        check_is_fitted(self)
        if scipy.sparse.issparse(self.coef_):
            self.coef_ = self.coef_.toarray()
        return self

    def predict_proba(self, X):
        """Returns ``[1 - σ(s), σ(s)]`` (binary) or ``softmax(s)``."""
        s = self.decision_function(X)
        if s.ndim == 1:
            p = expit(s)  # no overflow warning for large |s|
            return np.stack([1.0 - p, p], axis=1)
        return softmax(s, axis=1)

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """Returns the class with the largest probability."""
        s = self.decision_function(X)
        idx = (s > 0).astype(int) if s.ndim == 1 else s.argmax(axis=1)
        return self.classes_[idx]


class LogisticRegressionCV(LogisticRegression):
    __doc__ = _logistic_cv.DOC

    def __init__(
        self,
        *,
        Cs=10,
        l1_ratios="warn",
        fit_intercept=True,
        cv=None,
        dual=False,
        penalty="deprecated",
        scoring="warn",
        solver="lbfgs",
        tol=1e-4,
        max_iter=100,
        class_weight=None,
        n_jobs=None,
        verbose=0,
        refit=True,
        intercept_scaling=1.0,
        random_state=None,
        use_legacy_attributes="warn",
    ):
        self.Cs = Cs
        self.l1_ratios = l1_ratios
        self.fit_intercept = fit_intercept
        self.cv = cv
        self.dual = dual
        self.penalty = penalty
        self.scoring = scoring
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.refit = refit
        self.intercept_scaling = intercept_scaling
        self.random_state = random_state
        self.use_legacy_attributes = use_legacy_attributes

    def fit(self, X, y, sample_weight=None, **params):
        """Cross-validates ``C`` (and ``l1_ratio``), then refits or averages
        (``refit``); ``params`` go to the splitter's ``split``. Returns
        ``self``."""
        return _logistic_cv.fit(self, X, y, sample_weight, params)

    def score(self, X, y, sample_weight=None):
        """``scoring`` on ``(X, y)`` (accuracy when it is None or
        ``"warn"``)."""
        scoring = self.scoring
        if scoring is None or (isinstance(scoring, str) and scoring == "warn"):
            scoring = "accuracy"
        scorer = get_scorer(scoring)
        if sample_weight is None:
            return scorer(self, X, y)
        return scorer(self, X, y, sample_weight=sample_weight)


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
        _check_flags(self)  # fit_intercept="no" read as True
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
        coef_init = _warm_coef(self, (X.shape[1],))
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
        held = y if sample_weight is None else y[np.asarray(sample_weight) != 0]
        if held.size and np.ptp(held) == 0:
            # the null deviance is 0: D² is 0/0 (scikit-learn computes it in
            # floats: nan, or 0.0 where roundoff leaves a tiny denominator)
            return float("nan")
        try:
            return float(
                d2_tweedie_score(
                    y, pred, sample_weight=sample_weight, power=self._power_link()[0]
                )
            )
        except ZeroDivisionError:  # a spread of y that rounds the null deviance to 0
            return float("nan")

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
      warm_start: start from the previous ``coef_`` (``ValueError`` when its
        shape does not fit: other features).
      verbose: accepted, unused.
      l1_ratio: our extension, ``ρ`` in ``[0, 1]`` (scikit-learn has only
        L2); ``ρ = 1`` is the L1-penalized Poisson model of skglm / glum.

    Fitted attributes:
      ``coef_``, ``intercept_``, ``n_iter_`` (outer iterations), ``n_features_in_``,
      ``feature_names_in_`` (pandas input).
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
        if (link == "identity" and power != 0) or (link == "log" and power < 1):
            # one message naming both supported cases: advising the other
            # link sent power=-1 from one refusal to the next
            raise ValueError(
                "TweedieRegressor supports power=0 with link='identity' (least "
                "squares) and power >= 1 with link='log' (link='auto' picks "
                f"them), got power={power!r} with link={self.link!r}"
                + (
                    ": power in (0, 1) is no Tweedie distribution"
                    if 0 < power < 1
                    else ""
                )
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
