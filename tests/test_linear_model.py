"""scikit-learn-compatible estimators (jaxreg.linear_model).

``check_estimator`` runs on every estimator (all checks but the array-API one,
which scikit-learn skips without ``SCIPY_ARRAY_API=1``; LogisticRegression's
run in tests/test_linear_model_logistic.py). Coefficients are compared with
scikit-learn's estimators.
"""

import warnings

import jax
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import linear_model as sk
from sklearn.base import clone
from sklearn.datasets import load_diabetes
from sklearn.model_selection import KFold
from sklearn.utils.estimator_checks import parametrize_with_checks

from jaxreg.linear_model import ElasticNet, Lasso, LassoCV, LogisticRegression, Ridge


def _silence_sklearn_notes():
    warnings.filterwarnings("ignore", category=UserWarning, module="sklearn")


def sklearn_checks(estimators):
    """scikit-learn's estimator checks, less ``check_array_api_input``.

    scikit-learn skips that one itself unless ``SCIPY_ARRAY_API=1`` was set
    before scipy was imported (see jaxreg.linear_model's docstring); it is left
    out here so that the run reports no skipped test.
    """
    mark = parametrize_with_checks(estimators)
    kept = [
        (est, check)
        for est, check in mark.args[1]
        if check.func.__name__ != "check_array_api_input"
    ]
    return pytest.mark.parametrize(mark.args[0], kept, **mark.kwargs)


@sklearn_checks(
    [
        Lasso(alpha=0.1),
        ElasticNet(alpha=0.1),
        Ridge(),
        Ridge(solver="svd"),
        LassoCV(alphas=5, cv=3),
    ]
)
def test_check_estimator(estimator, check):
    run_sklearn_check(estimator, check)


def run_sklearn_check(estimator, check, **tight):
    """Runs one check; the sample-weight equivalence checks compare weighted
    and repeated-row fits to rtol 1e-7, so they run in float64 with the
    parameters ``tight`` (default ``tol=1e-12`` where the estimator has a
    ``tol``; RidgeCV is exact): the equivalence itself is exact."""
    if not tight and "tol" in estimator.get_params():
        tight = {"tol": 1e-12}
    with warnings.catch_warnings():
        _silence_sklearn_notes()
        if check.func.__name__.startswith("check_sample_weight_equivalence"):
            estimator = clone(estimator).set_params(**tight)
            with jax.enable_x64(True):
                check(estimator)
        else:
            check(estimator)


@pytest.fixture(scope="module")
def diabetes():
    return load_diabetes(return_X_y=True)


def test_lasso_enet_ridge_match_sklearn_x64(diabetes):
    X, y = diabetes
    pairs = [
        (
            Lasso(alpha=0.05, tol=1e-13),
            sk.Lasso(alpha=0.05, tol=1e-14, max_iter=100_000),
        ),
        (
            ElasticNet(alpha=0.01, l1_ratio=0.3, tol=1e-13),
            sk.ElasticNet(alpha=0.01, l1_ratio=0.3, tol=1e-14, max_iter=100_000),
        ),
        (Ridge(alpha=2.0), sk.Ridge(alpha=2.0)),
    ]
    with jax.enable_x64(True):
        for ours, ref in pairs:
            ours.fit(X, y)
            ref.fit(X, y)
            np.testing.assert_allclose(
                ours.coef_, ref.coef_, rtol=1e-5, atol=1e-7 * np.abs(ref.coef_).max()
            )
            assert ours.intercept_ == pytest.approx(ref.intercept_, rel=1e-6)
            np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-6)


@pytest.mark.parametrize("penalty", ["l1", "l2", "elasticnet"])
def test_logistic_matches_sklearn_x64(diabetes, penalty):
    X, y = diabetes
    X = (X - X.mean(0)) / X.std(0)
    yb = np.where(y > np.median(y), "high", "low")
    rho = {"l1": 1.0, "l2": 0.0, "elasticnet": 0.5}[penalty]
    ref = sk.LogisticRegression(
        C=0.1,
        l1_ratio=rho,
        solver="lbfgs" if rho == 0 else "saga",
        tol=1e-12,
        max_iter=1_000_000,
        random_state=0,
    ).fit(X, yb)
    # the deprecated penalty is read (with scikit-learn's FutureWarning), and
    # an l1_ratio it contradicts is not (scikit-learn's UserWarnings)
    with jax.enable_x64(True), pytest.warns(FutureWarning, match="'penalty' was"):
        ours = LogisticRegression(penalty, C=0.1, l1_ratio=0.5, tol=1e-13)
        if penalty != "elasticnet":
            with pytest.warns(UserWarning, match="l1_ratio"):
                ours.fit(X, yb)
        else:
            ours.fit(X, yb)
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    np.testing.assert_allclose(
        ours.coef_, ref.coef_, rtol=1e-5, atol=1e-6 * np.abs(ref.coef_).max()
    )
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-5)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))


def test_lassocv_matches_sklearn_float32(diabetes):
    """float32: same alpha chosen, MSE path within 1e-4 relative."""
    X, y = diabetes
    folds = list(KFold(5).split(X))
    ref = sk.LassoCV(alphas=20, cv=folds, tol=1e-12, max_iter=100_000).fit(X, y)
    ours = LassoCV(alphas=20, cv=folds, tol=1e-6).fit(X, y)
    assert ours.alpha_ == pytest.approx(ref.alpha_, rel=1e-5)
    np.testing.assert_allclose(ours.mse_path_, ref.mse_path_, rtol=1e-4)
    np.testing.assert_allclose(
        ours.coef_, ref.coef_, atol=1e-3 * np.abs(ref.coef_).max()
    )


def test_bad_parameters(diabetes):
    X, y = diabetes
    with pytest.raises(ValueError, match="alpha"):
        Lasso(alpha=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="l1_ratio"):
        ElasticNet(l1_ratio=1.5).fit(X, y)
    with pytest.raises(ValueError, match="penalty"):
        LogisticRegression(penalty="l0").fit(X, y > 100)
    # a value of the wrong type is a ValueError too, as scikit-learn's
    # InvalidParameterError is (a numpy or comparison TypeError escaped)
    from jaxreg.linear_model import (
        ElasticNetCV,
        LogisticRegressionCV,
        MultiTaskElasticNet,
        MultiTaskElasticNetCV,
        MultiTaskLasso,
        RidgeCV,
    )

    for make, fit_y, name in (
        (lambda: Lasso(alpha="1"), y, "alpha"),
        (lambda: Ridge(alpha=None), y, "alpha"),
        (lambda: LogisticRegression(C="1"), y > 100, "C"),
        # checked before penalty's deprecation warnings, as scikit-learn does
        (lambda: LogisticRegression(penalty="l1", C=-1.0), y > 100, "C"),
        (lambda: LogisticRegression(l1_ratio="0.5"), y > 100, "l1_ratio"),
        (lambda: MultiTaskElasticNet(l1_ratio=None), np.c_[y, y], "l1_ratio"),
        (lambda: Lasso(fit_intercept="no"), y, "fit_intercept"),
        (lambda: Lasso(max_iter=0), y, "max_iter"),
        (lambda: MultiTaskElasticNet(alpha="1"), np.c_[y, y], "alpha"),
        (lambda: MultiTaskElasticNet(fit_intercept="no"), np.c_[y, y], "fit_in"),
        (lambda: MultiTaskElasticNet(max_iter=0), np.c_[y, y], "max_iter"),
        (lambda: LassoCV(fit_intercept="no"), y, "fit_intercept"),
        (lambda: RidgeCV(fit_intercept="no"), y, "fit_intercept"),
        (lambda: Ridge(max_iter=2.5), y, "max_iter"),
        (lambda: Ridge(positive="yes"), y, "positive"),
        (lambda: LogisticRegression(warm_start=1), y > 100, "warm_start"),
        # tol: the multi-task models fitted with a negative one, and a
        # string failed inside JAX
        (lambda: MultiTaskElasticNet(tol=-1), np.c_[y, y], "tol"),
        (lambda: MultiTaskElasticNet(tol="x"), np.c_[y, y], "tol"),
        (lambda: Lasso(tol=np.nan), y, "tol"),
        # a list alpha reached the solver (TracerArrayConversionError), a
        # max_iter=None the compiled loop (TypeError); Ridge takes both
        (lambda: Lasso(alpha=[0.1, 0.2]), y, "alpha"),
        (lambda: MultiTaskLasso(alpha=[0.1, 0.2]), np.c_[y, y], "alpha"),
        (lambda: MultiTaskLasso(max_iter=None), np.c_[y, y], "max_iter"),
        (lambda: LassoCV(max_iter=None), y, "max_iter"),
        # l1_ratio None / NaN / a string / none: fitted NaN, or numpy's error
        (lambda: ElasticNetCV(l1_ratio="a"), y, "l1_ratio"),
        (lambda: ElasticNetCV(l1_ratio=[]), y, "l1_ratio"),
        (lambda: MultiTaskElasticNetCV(l1_ratio=None), np.c_[y, y], "l1_ratio"),
        (lambda: MultiTaskElasticNetCV(l1_ratio=np.nan), np.c_[y, y], "l1_ratio"),
        # accepted and read as true
        (lambda: LogisticRegressionCV(Cs=2, fit_intercept="yes"), y > 100, "fit_i"),
        # checked even where unused, as scikit-learn checks them
        (lambda: Lasso(random_state="x"), y, "random_state"),
        (lambda: Ridge(random_state=-1), y, "random_state"),
        (lambda: LassoCV(n_jobs="x"), y, "n_jobs"),
        (lambda: LogisticRegressionCV(verbose="x"), y > 100, "verbose"),
        (lambda: LogisticRegression(n_jobs=1.5), y > 100, "n_jobs"),
    ):
        with pytest.raises(ValueError, match=name):
            make().fit(X, fit_y)
    # numpy's scalars are what scikit-learn's checks also accept
    ref = Lasso(0.1, positive=True, max_iter=50).fit(X, y)
    est = Lasso(0.1, positive=np.True_, max_iter=np.int64(50)).fit(X, y)
    np.testing.assert_array_equal(est.coef_, ref.coef_)
    # l1_ratio=None, the default before scikit-learn 1.8: L2, with its warning
    with pytest.warns(FutureWarning, match="l1_ratio=None"):
        old = LogisticRegression(l1_ratio=None).fit(X, y > 100)
    new = LogisticRegression(l1_ratio=0.0).fit(X, y > 100)
    np.testing.assert_array_equal(old.coef_, new.coef_)


# ------------------------------------------------ scikit-learn 1.9 parameters
def test_signatures_match_sklearn():
    """Every constructor parameter of scikit-learn's class, same names."""
    import inspect

    from jaxreg import linear_model as jl

    extensions = {"l1_ratio"}  # L1 / elastic net for the GLMs (sklearn: L2)
    for name in jl.__all__:
        ours = set(inspect.signature(getattr(jl, name)).parameters)
        theirs = set(inspect.signature(getattr(sk, name)).parameters)
        assert theirs <= ours, (name, theirs - ours)
        assert ours - theirs <= extensions, (name, ours - theirs)


@pytest.fixture(scope="module")
def diabetes_2d(diabetes):
    X, y = diabetes
    return X, np.stack([y, 0.5 * y[::-1] + 3.0, np.sqrt(y)], axis=1)


@pytest.mark.parametrize("sparse", [False, True])
def test_2d_y_fits_each_column_like_sklearn_x64(diabetes_2d, sparse):
    import scipy.sparse as sps

    X, Y = diabetes_2d
    Xin = sps.csr_matrix(X) if sparse else X
    sw = np.random.default_rng(0).uniform(0.5, 2.0, X.shape[0])
    pairs = [
        (Lasso(0.05, tol=1e-13), sk.Lasso(0.05, tol=1e-14, max_iter=100_000)),
        (
            ElasticNet(0.01, l1_ratio=0.3, tol=1e-13),
            sk.ElasticNet(0.01, l1_ratio=0.3, tol=1e-14, max_iter=100_000),
        ),
        (Ridge([1.0, 2.0, 3.0], tol=1e-13), sk.Ridge([1.0, 2.0, 3.0], tol=1e-12)),
    ]
    with jax.enable_x64(True):
        for ours, ref in pairs:
            for y in (Y, Y[:, :1]):
                if y.shape[1] == 1 and isinstance(ours, Ridge):
                    ours, ref = ours.set_params(alpha=2.0), ref.set_params(alpha=2.0)
                ours.fit(Xin, y, sample_weight=sw)
                ref.fit(Xin, y, sample_weight=sw)
                assert ours.coef_.shape == ref.coef_.shape
                assert np.shape(ours.intercept_) == np.shape(ref.intercept_)
                if hasattr(ref, "dual_gap_"):
                    assert np.shape(ours.dual_gap_) == np.shape(ref.dual_gap_)
                    assert type(ours.n_iter_) is type(ref.n_iter_)
                scale = np.abs(ref.coef_).max()
                np.testing.assert_allclose(
                    ours.coef_, ref.coef_, rtol=1e-5, atol=1e-7 * scale
                )
                np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-6)


def test_selection_random_permutes_the_features(diabetes, monkeypatch):
    """selection="random" hands the solver X[:, perm] with perm drawn from
    random_state, and un-permutes coef_ (same optimum as sklearn's)."""
    from sklearn.utils import check_random_state

    import jaxreg.linear_model as jl

    X, y = diabetes
    seen = []
    real = jl.enet

    def spy(Xs, *args, **kwargs):
        seen.append(np.asarray(Xs))
        return real(Xs, *args, **kwargs)

    monkeypatch.setattr(jl, "enet", spy)
    ours = Lasso(0.05, selection="random", random_state=3, tol=1e-6).fit(X, y)
    perm = check_random_state(3).permutation(X.shape[1])
    np.testing.assert_array_equal(seen[-1], X[:, perm])
    ref = sk.Lasso(0.05, selection="random", random_state=3, tol=1e-12).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=2e-3 * abs(ref.coef_).max())
    Lasso(0.05, tol=1e-6).fit(X, y)
    np.testing.assert_array_equal(seen[-1], X)  # cyclic: the given order
    with pytest.raises(ValueError, match="selection"):
        Lasso(selection="greedy").fit(X, y)


def test_warm_start_passes_previous_coef(diabetes, monkeypatch):
    import jaxreg.linear_model as jl

    X, y = diabetes
    inits = []
    real = jl.enet

    def spy(*args, coef_init=None, **kwargs):
        inits.append(coef_init)
        return real(*args, coef_init=coef_init, **kwargs)

    monkeypatch.setattr(jl, "enet", spy)
    est = ElasticNet(0.01, warm_start=True).fit(X, y)
    first = est.coef_.copy()
    est.set_params(alpha=0.02).fit(X, y)
    assert inits[0] is None
    np.testing.assert_array_equal(inits[1], first)
    ElasticNet(0.01).fit(X, y)
    assert inits[2] is None


@pytest.mark.parametrize(
    "name, first, second",
    [
        ("Lasso", "y", "fewer features"),
        ("Lasso", "y", "two targets"),
        ("MultiTaskLasso", "two targets", "fewer features"),
        ("MultiTaskLasso", "two targets", "three targets"),
        ("LogisticRegression", "two classes", "fewer features"),
        ("LogisticRegression", "two classes", "three classes"),
        ("PoissonRegressor", "counts", "fewer features"),
    ],
)
def test_warm_start_with_a_coef_of_another_shape_raises(name, first, second):
    """A refit whose coef_ no longer fits the previous one raises ValueError,
    as scikit-learn's does (this silently started from zero); the same refit
    without warm_start fits."""
    import jaxreg.linear_model as jl

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5))
    y = X[:, 0] + 0.1 * rng.normal(size=40)
    targets = {
        "y": y,
        "two targets": np.c_[y, -y],
        "three targets": np.c_[y, -y, 2 * y],
        "two classes": (y > 0).astype(int),
        "three classes": np.digitize(y, [-0.5, 0.5]),
        "counts": rng.poisson(np.exp(X[:, 0] / 2)),
    }
    y1 = targets[first]
    X2, y2 = (X[:, :3], y1) if second == "fewer features" else (X, targets[second])
    for module in (sk, jl):
        est = getattr(module, name)(warm_start=True).fit(X, y1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scikit-learn's own
            with pytest.raises((ValueError, IndexError)):
                est.fit(X2, y2)
    with pytest.raises(ValueError, match="warm_start=False"):
        getattr(jl, name)(warm_start=True).fit(X, y1).fit(X2, y2)
    assert getattr(jl, name)().fit(X, y1).fit(X2, y2).n_features_in_ == X2.shape[1]


@pytest.mark.parametrize(
    "est",
    [
        Lasso(0.1),
        ElasticNet(0.1, selection="random"),
        Ridge(solver="svd"),
        Ridge(solver="lsqr"),
        Ridge(positive=True),
    ],
    ids=repr,
)
@pytest.mark.parametrize("copy_X", [True, False])
def test_copy_X_never_modifies_callers_X(diabetes_2d, est, copy_X):
    X, Y = diabetes_2d
    for dtype in (np.float64, np.float32):
        Xc = np.asfortranarray(X, dtype=dtype)
        before = Xc.copy()
        clone(est).set_params(copy_X=copy_X).fit(Xc, Y[:, 0])
        np.testing.assert_array_equal(Xc, before)


def test_precompute_values_are_accepted_and_checked(diabetes):
    X, y = diabetes
    ref = Lasso(0.05).fit(X, y).coef_
    for pre in (True, False, X.T @ X):
        np.testing.assert_allclose(Lasso(0.05, precompute=pre).fit(X, y).coef_, ref)
    with pytest.raises(ValueError, match="precompute"):
        Lasso(0.05, precompute=np.eye(3)).fit(X, y)
    with pytest.raises(ValueError, match="precompute"):
        Lasso(0.05, precompute="always").fit(X, y)


@pytest.fixture(scope="module")
def diabetes_poly(diabetes):
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    X, y = diabetes
    Xp = PolynomialFeatures(2, include_bias=False).fit_transform(X)
    return StandardScaler().fit_transform(Xp), y


@pytest.mark.parametrize(
    "solver", ["auto", "svd", "cholesky", "lsqr", "sparse_cg", "sag", "saga"]
)
def test_ridge_solver_names_reach_the_same_optimum(diabetes_poly, solver):
    """All against scikit-learn's closed form (cholesky), x64, polynomial
    features (65 correlated columns)."""
    X, y = diabetes_poly
    ref = sk.Ridge(3.0, solver="cholesky").fit(X, y)
    with jax.enable_x64(True):
        ours = Ridge(3.0, solver=solver, tol=1e-14, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-6, atol=1e-8)
    assert ours.intercept_ == pytest.approx(ref.intercept_, rel=1e-9)
    direct = solver in ("auto", "svd", "cholesky")
    assert (ours.n_iter_[0] == 1) if direct else (ours.n_iter_[0] > 1)


def test_ridge_positive_and_solver_errors(diabetes_poly):
    import scipy.sparse as sps

    X, y = diabetes_poly
    ref = sk.Ridge(3.0, positive=True, solver="lbfgs", tol=1e-12).fit(X, y)
    with jax.enable_x64(True):
        for solver in ("auto", "lbfgs"):
            ours = Ridge(3.0, positive=True, solver=solver, tol=1e-13).fit(X, y)
            assert ours.coef_.min() >= 0
            # scikit-learn's lbfgs stops ~1e-5 short: compare objectives too
            np.testing.assert_allclose(ours.coef_, ref.coef_, atol=2e-4)

            def objective(m):
                r = y - X @ m.coef_ - m.intercept_
                return r @ r + 3.0 * m.coef_ @ m.coef_

            assert objective(ours) <= objective(ref) * (1 + 1e-12)
    for bad, err in [
        (dict(solver="lbfgs"), ValueError),
        (dict(solver="svd", positive=True), ValueError),
        (dict(solver="newton"), ValueError),
    ]:
        with pytest.raises(err) as ours_err:
            Ridge(**bad).fit(X, y)
        with pytest.raises(err):
            sk.Ridge(**bad).fit(X, y)
        assert ours_err.type is err
    # sparse X: with an intercept scikit-learn's ValueError, else its TypeError
    for intercept, err in ((True, ValueError), (False, TypeError)):
        for make in (Ridge, sk.Ridge):
            with pytest.raises(err) as caught:
                make(solver="svd", fit_intercept=intercept).fit(sps.csr_matrix(X), y)
            assert caught.type is err
    with pytest.raises(ValueError, match="penalties"):
        Ridge([1.0, 2.0]).fit(X, np.stack([y, y, y], 1))


def test_float32_in_float32_out(diabetes_2d):
    X, Y = diabetes_2d
    X32 = X.astype(np.float32)
    for est in (Lasso(0.1), ElasticNet(0.1), Ridge(), Ridge(solver="lsqr")):
        est.fit(X32, Y)
        assert est.coef_.dtype == np.float32
        assert est.intercept_.dtype == np.float32
    # scalar attributes and the CV paths: the types scikit-learn's have
    for name, target in (
        ("Lasso", Y[:, 0]),
        ("LassoCV", Y[:, 0]),
        ("ElasticNetCV", Y[:, 0]),
        ("MultiTaskLassoCV", Y),
    ):
        import jaxreg.linear_model as jl

        ours = getattr(jl, name)().fit(X32, target)
        ref = getattr(sk, name)().fit(X32, target)
        for attr in ("dual_gap_", "alpha_", "mse_path_", "alphas_"):
            if hasattr(ref, attr):
                a, b = getattr(ours, attr), getattr(ref, attr)
                assert type(a) is type(b) and np.result_type(a) == np.result_type(b)


def test_constant_column_gets_zero_weight_when_unpenalized():
    # a column constant on every row is collinear with the intercept: with
    # alpha=0, E[x²] - x̄² roundoff made it a tiny column that the fit scaled
    # to -2.6e5 (a worse fit); scikit-learn, centring X itself, gives 0
    from sklearn.linear_model import LinearRegression

    from jaxreg.linear_model import TweedieRegressor

    rng = np.random.RandomState(8)
    X = rng.randn(50, 4)
    X[:, 2] = 3.0
    y = X @ [1.0, 2.0, 0.0, -1.0] + rng.randn(50)
    ref = LinearRegression().fit(X, y)
    assert ref.coef_[2] == 0
    for est, data in (
        (Lasso(alpha=0, tol=1e-8), X),
        (Lasso(alpha=0, tol=1e-8), sp.csr_matrix(X)),  # stores the column
        (ElasticNet(alpha=0, tol=1e-8), X),
        (TweedieRegressor(power=0, alpha=0), X),
    ):
        if isinstance(est, Lasso):  # ElasticNet too: scikit-learn's warning
            with pytest.warns(UserWarning, match="alpha=0"):
                est.fit(data, y)
        else:
            est.fit(data, y)
        assert est.coef_[2] == 0, est
        np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-3, atol=1e-4)
        assert float(est.intercept_) == pytest.approx(ref.intercept_, abs=1e-3)


@pytest.mark.parametrize(
    "name", ["Lasso", "ElasticNet", "Ridge", "LassoCV", "MultiTaskLasso"]
)
def test_no_intercept_is_the_float_zero_like_sklearn(name):
    # scikit-learn sets intercept_ = 0.0 without an intercept, whatever the
    # shapes; we set a float32 0-d array, a (1,) or a (n_targets,) array
    import jaxreg.linear_model as jl

    X = np.random.RandomState(0).randn(30, 4).astype(np.float32)
    y = X[:, 0] + 1
    targets = {"MultiTaskLasso": [np.c_[y, -y]], "LassoCV": [y]}.get(
        name, [y, y[:, None]]
    )
    for target in targets:
        ref = getattr(sk, name)(fit_intercept=False).fit(X, target)
        est = getattr(jl, name)(fit_intercept=False).fit(X, target)
        assert type(est.intercept_) is type(ref.intercept_) is float
        assert est.intercept_ == ref.intercept_ == 0.0


def test_constant_target_fits_the_intercept_alone_without_warning():
    # float32's weighted mean of a constant y missed it by an ulp: centring
    # left a residual that the solvers fitted, with a gap above tol·P(0) ≈ 0
    # (a ConvergenceWarning) and weight on a constant column
    rng = np.random.RandomState(8)
    X = rng.randn(50, 4)
    X[:, 2] = 3.0
    y = np.full(50, 2.0)
    for est in (LassoCV(cv=3), Lasso(alpha=0.1), ElasticNet(alpha=0.1)):
        est.fit(X, y, sample_weight=rng.uniform(0.5, 2.0, 50))  # warnings: errors
        np.testing.assert_array_equal(est.coef_, 0.0)
        assert est.intercept_ == 2.0


@pytest.mark.parametrize("sparse", [False, True])
def test_moments_of_offset_and_constant_columns_in_float32(sparse):
    # Σax² - x̄² cancelled to garbage on a column at 1e5 ± 1 in float32; the
    # moments about the first row keep its variance, and centre a constant
    # column (dense, or stored in every row of a sparse X) exactly
    from jaxreg.solvers.base import to_device
    from jaxreg.solvers.design import as_design

    rng = np.random.RandomState(0)
    X = np.c_[1e5 + rng.randn(200), np.full(200, 3.0), rng.randn(200)]
    X[::2, 2] = 0.0
    X32 = X.astype(np.float32)
    a = rng.uniform(0.5, 2.0, 200)
    a /= a.sum()
    design = as_design(
        sp.csc_matrix(X32) if sparse else X32,
        a,
        center=True,
        dtype=np.float32,
        to_device=to_device,
    )
    Xd = X32.astype(np.float64)
    mean = a @ Xd
    var = a @ (Xd - mean) ** 2
    # the offset column to ~1 % (its float32 mean is off by ulps of 1e5)
    colsq = np.asarray(design.colsq)
    assert colsq[0] == pytest.approx(var[0], rel=2e-2)
    assert colsq[2] == pytest.approx(var[2], rel=1e-4)
    assert float(design.colsq[1]) == 0.0 and float(design.xbar[1]) == 3.0


@pytest.mark.parametrize(
    "name", ["Lasso", "ElasticNet", "MultiTaskLasso", "MultiTaskElasticNet"]
)
def test_sparse_coef_is_scikit_learns(name):
    import jaxreg.linear_model as jl

    X, y = load_diabetes(return_X_y=True)
    Y = np.c_[y, -y] if name.startswith("MultiTask") else y
    ours = getattr(jl, name)(alpha=1.0).fit(X, Y).sparse_coef_
    ref = getattr(sk, name)(alpha=1.0).fit(X, Y).sparse_coef_
    assert type(ours) is type(ref) and ours.shape == ref.shape
    np.testing.assert_allclose(ours.toarray(), ref.toarray(), rtol=1e-2, atol=0.1)
    np.testing.assert_array_equal(ours.indices, ref.indices)


def test_grid_arguments_and_attributes_as_sklearn(diabetes):
    """The alphas grids scikit-learn refuses (a float for LassoCV, 2-D for
    both) raise the same exception type; RidgeCV's per-target best_score_
    for one target and the multi-task models' eps_ equal scikit-learn's."""
    from jaxreg.linear_model import MultiTaskLasso, RidgeCV

    X, y = diabetes
    for alphas, err in ((2.5, ValueError), ([[1.0, 2.0]], TypeError)):
        for make in (LassoCV, sk.LassoCV):
            with pytest.raises(err) as caught:
                make(alphas=alphas, cv=3).fit(X, y)
            assert issubclass(caught.type, err)
    for make in (RidgeCV, sk.RidgeCV):
        with pytest.raises(TypeError):
            make(alphas=[[1.0, 2.0]]).fit(X, y)
    ours = RidgeCV(alpha_per_target=True).fit(X, y[:, None])
    ref = sk.RidgeCV(alpha_per_target=True).fit(X, y[:, None])
    assert np.shape(ours.best_score_) == np.shape(ref.best_score_) == (1,)
    np.testing.assert_allclose(ours.best_score_, ref.best_score_, rtol=1e-6)
    Y = np.c_[y, 2 * y + 10]
    sw = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    for kw in (dict(), dict(fit_intercept=False)):
        for weights in (None, sw, np.full(len(y), 2.0)):
            ours = MultiTaskLasso(alpha=1.0, tol=1e-3, **kw)
            ref = sk.MultiTaskLasso(alpha=1.0, tol=1e-3, **kw)
            ours.fit(X, Y, sample_weight=weights)
            ref.fit(X, Y, sample_weight=weights)
            np.testing.assert_allclose(ours.eps_, ref.eps_, rtol=1e-10)


@pytest.mark.parametrize("request_weights", [False, True, None])
def test_routed_scorer_gets_the_weights_only_where_it_asks(request_weights):
    """With metadata routing on, a scorer gets the sample weights as it
    requests them (scikit-learn's UnsetMetadataPassedError where it has not
    said): RidgeCV's leave-one-out and LogisticRegressionCV weighted the
    held-out scores always, and chose another alpha / C than scikit-learn."""
    import sklearn
    from sklearn.datasets import make_classification, make_regression
    from sklearn.exceptions import UnsetMetadataPassedError
    from sklearn.metrics import get_scorer

    from jaxreg.linear_model import LogisticRegressionCV, RidgeCV

    def scorer(name):
        s = get_scorer(name)
        if request_weights is not None:
            s = s.set_score_request(sample_weight=request_weights)
        return s

    X, y = make_regression(60, 20, noise=40, random_state=1)
    sw = np.random.default_rng(1).exponential(1, 60) ** 2
    Xc, yc = make_classification(120, 8, n_informative=3, flip_y=0.2, random_state=1)
    swc = np.random.default_rng(1).exponential(1, 120) ** 2
    cases = [
        (
            lambda m: m(
                alphas=np.logspace(-2, 3, 6), scoring=scorer("neg_mean_squared_error")
            ),
            (RidgeCV, sk.RidgeCV),
            (X, y, sw),
            "alpha_",
        ),
        (
            lambda m: m(
                Cs=6,
                cv=3,
                l1_ratios=(0,),
                scoring=scorer("neg_log_loss"),
                use_legacy_attributes=False,
            ),
            (LogisticRegressionCV, sk.LogisticRegressionCV),
            (Xc, yc, swc),
            "C_",
        ),
    ]
    with sklearn.config_context(enable_metadata_routing=True):
        for make, (ours, theirs), (A, b, w), attr in cases:
            if request_weights is None:
                for m in (ours, theirs):
                    with pytest.raises(UnsetMetadataPassedError):
                        make(m).fit(A, b, sample_weight=w)
                continue
            got = make(ours).fit(A, b, sample_weight=w)
            ref = make(theirs).fit(A, b, sample_weight=w)
            np.testing.assert_allclose(getattr(got, attr), getattr(ref, attr))


@pytest.mark.parametrize("solver", ["sparse_cg", "lsqr"])
def test_ridge_iterative_solvers_honour_a_small_max_iter(diabetes, solver):
    # the CG ran in blocks of 10: max_iter=3 ran 10 steps, n_iter_ said 10
    X, y = diabetes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unconverged on purpose
        ours = Ridge(1e-3, solver=solver, max_iter=3, tol=1e-12).fit(X, y)
        longer = Ridge(1e-3, solver=solver, max_iter=13, tol=1e-12).fit(X, y)
    assert int(ours.n_iter_[0]) == 3
    assert int(longer.n_iter_[0]) == 13
    # 3 CG steps from 0 are not the solution yet; scikit-learn's neither
    exact = Ridge(1e-3, solver="cholesky").fit(X, y)
    assert not np.allclose(ours.coef_, exact.coef_, rtol=1e-3)


@pytest.mark.parametrize(
    ("solver", "positive", "sparse"),
    [
        ("auto", False, False),
        ("auto", False, True),
        ("auto", True, False),
        ("svd", False, False),
        ("lsqr", False, True),
        ("sparse_cg", False, False),
    ],
)
def test_ridge_solver_attribute_is_sklearns(diabetes, solver, positive, sparse):
    # solver_ (scikit-learn >= 1.5) was missing: AttributeError
    from jaxreg.linear_model import RidgeClassifier

    X, y = diabetes
    X = sp.csr_matrix(X) if sparse else X
    ours = Ridge(1.0, solver=solver, positive=positive).fit(X, y)
    ref = sk.Ridge(1.0, solver=solver, positive=positive).fit(X, y)
    assert ours.solver_ == ref.solver_
    if not positive:
        labels = y > np.median(y)
        ours = RidgeClassifier(solver=solver).fit(X, labels)
        assert ours.solver_ == sk.RidgeClassifier(solver=solver).fit(X, labels).solver_


@pytest.mark.parametrize(
    "name", ["Lasso", "ElasticNet", "MultiTaskLasso", "MultiTaskElasticNet"]
)
def test_high_signal_to_noise_reaches_the_optimum(name):
    """Coefficients ~1000, noise 1: tol·P(0) = tol·Var(y)/2 exceeds the loss
    left at the optimum by 10⁴, and one outer step met it with a training
    RMSE of 26.7 where the optimum's is 0.962, silently (MultiTaskLasso:
    14.7 for 0.958). At the default tol the training RMSE of scikit-learn's
    tightly converged fit within 1e-3, and coefficients within 1e-4 of
    their scale. The multi-task block CD keeps its inner target at
    tol·P(0)/2, and float32 certifies a gap down to about eps·Var(y): its
    RMSE is 1.8 % above here (5 % allowed)."""
    import jaxreg.linear_model as jr

    rng = np.random.RandomState(0)
    X = rng.randn(500, 50)
    multi = name.startswith("MultiTask")
    W = 1000 * rng.randn(50, 2 if multi else 1)
    Y = X @ W + rng.randn(500, W.shape[1])
    y = Y if multi else Y[:, 0]
    kw = dict(alpha=0.01) if "Lasso" in name else dict(alpha=0.01, l1_ratio=0.9)
    ref = getattr(sk, name)(**kw, tol=1e-12, max_iter=100_000).fit(X, y)
    ours = getattr(jr, name)(**kw).fit(X, y)

    def rmse(model):
        return np.sqrt(np.mean((y - model.predict(X)) ** 2))

    assert rmse(ours) == pytest.approx(rmse(ref), rel=0.05 if multi else 1e-3)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-4 * np.abs(W).max())


@pytest.mark.parametrize("case", ["wrong", "right", "intercept", "centred", "weighted"])
def test_a_gram_array_is_checked_as_sklearn(case):
    """A Gram array as ``precompute``: scikit-learn checks one entry (a
    ValueError for a wrong matrix, which ours ignored silently) and warns
    that it recomputes one for an intercept on uncentred columns; the same
    outcome and messages."""
    rng = np.random.RandomState(0)
    X, y = rng.randn(50, 6), rng.randn(50)
    sw = rng.randint(1, 4, 50).astype(float)
    kw, fit, gram = dict(fit_intercept=False), {}, X.T @ X
    if case == "wrong":
        gram = 2 * gram
    elif case == "intercept":
        kw = {}
    elif case == "centred":
        X = X - X.mean(0)
        kw, gram = {}, X.T @ X
    elif case == "weighted":  # scikit-learn's weights sum to n
        fit, gram = dict(sample_weight=sw), (X * (sw * 50 / sw.sum())[:, None]).T @ X
    outcomes = []
    for cls in (Lasso, sk.Lasso):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            try:
                cls(alpha=0.01, precompute=gram, **kw).fit(X, y, **fit)
                error = None
            except ValueError as e:
                error = str(e)
        messages = [str(w.message) for w in record if w.category is UserWarning]
        outcomes.append((error, messages))
    assert outcomes[0] == outcomes[1]
    assert (outcomes[0][0] is not None) == (case == "wrong")
    assert bool(outcomes[0][1]) == (case == "intercept")
