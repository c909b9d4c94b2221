"""Poisson, Gamma and Tweedie estimators (jaxreg.linear_model) against
scikit-learn (L2, its only penalty) and skglm (L1): coefficients, scores,
errors, dense and sparse, float32 and float64, with and without weights, and
``check_estimator``."""

import warnings

import jax
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import exceptions as sk_exceptions
from sklearn import linear_model as sk
from sklearn.datasets import load_diabetes

from jaxreg.linear_model import GammaRegressor, PoissonRegressor, TweedieRegressor
from tests.test_linear_model import run_sklearn_check, sklearn_checks


@sklearn_checks(
    [
        PoissonRegressor(),
        TweedieRegressor(power=1.5),
        PoissonRegressor(alpha=0.01, l1_ratio=1.0),
    ]
)
def test_check_estimator(estimator, check):
    # sample-weight equivalence: a stationarity target of tol² = 1e-14 · P(0)
    run_sklearn_check(estimator, check, tol=1e-7)


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


def _poisson_counts(seed=0, n=400, d=30):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = np.zeros(d)
    w[:5] = 0.3 * rng.standard_normal(5)
    return X, rng.poisson(np.exp(X @ w + 0.5)).astype(float)


def _pairs(diabetes):
    """(ours, scikit-learn's, X, y): Poisson on counts, Gamma on the diabetes
    target (positive), Tweedie p=1.5 on the diabetes target."""
    X, y = diabetes
    Xc, yc = _poisson_counts()
    return [
        (PoissonRegressor, sk.PoissonRegressor, {}, Xc, yc),
        (GammaRegressor, sk.GammaRegressor, {}, X, y / 100),
        (TweedieRegressor, sk.TweedieRegressor, {"power": 1.5}, X, y / 100),
    ]


def _reference(cls, kw, X, y, sw=None, alpha=0.1):
    """scikit-learn's Newton solver at tol=1e-12 (its lbfgs stops at a
    gradient of ~5e-8 on the collinear diabetes features)."""
    est = cls(alpha=alpha, solver="newton-cholesky", tol=1e-12, max_iter=1000, **kw)
    return est.fit(X, y, sample_weight=sw)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_l2_matches_sklearn_x64_dense_and_sparse(diabetes, weighted):
    """Same objective as scikit-learn: coefficients to 1e-6 in float64, on
    dense and CSR input, with integer-like and fractional weights."""
    for ours, ref_cls, kw, X, y in _pairs(diabetes):
        sw = None
        if weighted:
            sw = np.random.default_rng(1).integers(0, 4, len(y)) + 0.25
        ref = _reference(ref_cls, kw, X, y, sw)
        scale = np.abs(ref.coef_).max()
        for Xin in (X, sp.csr_matrix(X)):
            with jax.enable_x64(True):
                est = ours(alpha=0.1, tol=1e-7, **kw).fit(Xin, y, sample_weight=sw)
            assert est.coef_.dtype == np.float64
            np.testing.assert_allclose(est.coef_, ref.coef_, atol=1e-6 * scale)
            assert est.intercept_ == pytest.approx(ref.intercept_, abs=1e-6)
        assert est.score(X, y, sw) == pytest.approx(ref.score(X, y, sw), abs=1e-8)
        np.testing.assert_allclose(est.predict(X), ref.predict(X), rtol=1e-5)


def test_default_tol_float32_as_accurate_as_lbfgs_defaults(diabetes):
    """float32 at the default tol: within 2e-3 of the optimum (relative to the
    largest coefficient); float32 attributes out."""
    for ours, ref_cls, kw, X, y in _pairs(diabetes):
        ref = _reference(ref_cls, kw, X, y)
        est = ours(alpha=0.1, **kw).fit(X.astype(np.float32), y.astype(np.float32))
        assert est.coef_.dtype == np.float32
        err = np.abs(est.coef_ - ref.coef_).max() / np.abs(ref.coef_).max()
        assert err < 2e-3, (ours.__name__, err)
        assert est.score(X, y) == pytest.approx(ref.score(X, y), abs=1e-4)


def test_l1_matches_skglm_x64(diabetes):
    """Our extension (l1_ratio=1) against skglm's Poisson / Gamma datafits
    with an L1 penalty and an intercept (ProxNewton)."""
    from skglm import GeneralizedLinearEstimator
    from skglm.datafits import Gamma, Poisson
    from skglm.penalties import L1
    from skglm.solvers import ProxNewton

    X, y = diabetes
    y = y / 50
    for datafit, ours in ((Poisson(), PoissonRegressor), (Gamma(), GammaRegressor)):
        solver = ProxNewton(tol=1e-12, max_iter=200)
        ref = GeneralizedLinearEstimator(datafit, L1(0.02), solver).fit(X, y)
        with jax.enable_x64(True):
            est = ours(alpha=0.02, l1_ratio=1.0, tol=1e-7).fit(X, y)
        np.testing.assert_allclose(est.coef_, ref.coef_, atol=1e-7)
        np.testing.assert_array_equal(est.coef_ == 0, ref.coef_ == 0)
        assert est.intercept_ == pytest.approx(ref.intercept_, abs=1e-7)


def test_elastic_net_optimality_x64():
    """l1_ratio in (0, 1): the KKT conditions of the elastic-net objective
    written out here (gradient of the mean half deviance by numpy)."""
    X, y = _poisson_counts(2)
    alpha, rho = 0.05, 0.5
    with jax.enable_x64(True):
        est = PoissonRegressor(alpha=alpha, l1_ratio=rho, tol=1e-7).fit(X, y)
    mu = np.exp(X @ est.coef_ + est.intercept_)
    grad = X.T @ (mu - y) / len(y) + alpha * (1 - rho) * est.coef_
    nz = est.coef_ != 0
    assert np.sum(~nz) > 0
    np.testing.assert_allclose(
        grad[nz], -alpha * rho * np.sign(est.coef_[nz]), atol=1e-8
    )
    assert np.all(np.abs(grad[~nz]) <= alpha * rho + 1e-8)
    assert np.mean(mu - y) == pytest.approx(0, abs=1e-8)


def test_tweedie_power_zero_is_least_squares(diabetes):
    X, y = diabetes
    ref = sk.TweedieRegressor(power=0, alpha=0.5, tol=1e-12, max_iter=10_000)
    ref.fit(X, y)
    with jax.enable_x64(True):
        est = TweedieRegressor(power=0, alpha=0.5, tol=1e-7).fit(X, y)
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-6)
    assert est.score(X, y) == pytest.approx(ref.score(X, y), rel=1e-8)


def test_warm_start_and_solver_names(diabetes):
    X, y = diabetes
    y = y / 100
    cold = GammaRegressor(alpha=0.1, solver="newton-cholesky").fit(X, y)
    warm = GammaRegressor(alpha=0.1, warm_start=True).fit(X, y)
    n_cold = warm.n_iter_
    warm.fit(X, y)
    assert warm.n_iter_ <= n_cold
    np.testing.assert_allclose(warm.coef_, cold.coef_, atol=2e-3)


def test_bad_input_raises_like_sklearn(diabetes):
    X, y = diabetes
    cases = [
        (PoissonRegressor, sk.PoissonRegressor, {}, -y),
        (GammaRegressor, sk.GammaRegressor, {}, y - y.min()),  # one zero
        (TweedieRegressor, sk.TweedieRegressor, {"power": 2.5}, y - y.min()),
        (TweedieRegressor, sk.TweedieRegressor, {"power": 1.5}, -y),
    ]
    for ours, theirs, kw, bad in cases:
        with pytest.raises(ValueError, match="out of the valid range"):
            theirs(**kw).fit(X, bad)
        with pytest.raises(ValueError, match="out of the valid range"):
            ours(**kw).fit(X, bad)
    Xnan = X.copy()
    Xnan[0, 0] = np.nan
    for est in (PoissonRegressor(), sk.PoissonRegressor()):
        with pytest.raises(ValueError, match="NaN"):
            est.fit(Xnan, y)
    # scikit-learn's GLMs accept negative weights (an objective unbounded
    # below); we refuse them, as our other estimators do
    with pytest.raises(ValueError, match=">= 0"):
        PoissonRegressor().fit(X, y, sample_weight=-np.ones(len(y)))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"power": 0.5}, r"power=0\.5 with link='auto': power in \(0, 1\)"),
        ({"power": -1.0}, r"power >= 1 with link='log'.*got power=-1\.0"),
        ({"power": -1.0, "link": "log"}, "power=0 with link='identity'"),
        ({"power": 1.5, "link": "identity"}, "got power=1.5 with link='identity'"),
        ({"link": "logit"}, "link"),
        ({"solver": "sag"}, "solver"),
        ({"l1_ratio": 2.0}, "l1_ratio"),
        ({"alpha": -1.0}, "alpha"),
        ({"fit_intercept": "no"}, "fit_intercept"),  # read as True before
        ({"warm_start": "no"}, "warm_start"),
    ],
)
def test_unsupported_parameters_raise(diabetes, params, match):
    X, y = diabetes
    with pytest.raises(ValueError, match=match):
        TweedieRegressor(**params).fit(X, y)


@pytest.mark.parametrize("cls", [PoissonRegressor, GammaRegressor])
@pytest.mark.parametrize("value", [2.0, 3.0, 1e3])
def test_a_constant_target_fits_its_mean_quietly_and_scores_nan(cls, value):
    # a fold of equal counts: P(0) = 0 made any roundoff gap fail
    # (ConvergenceWarning), and score divided by a null deviance of 0
    # (ZeroDivisionError; D² is 0/0: nan)
    X = np.random.RandomState(0).randn(30, 3)
    y = np.full(30, value)
    model = cls().fit(X, y)  # filterwarnings = error: none
    ref = getattr(sk, cls.__name__)().fit(X, y)
    np.testing.assert_allclose(model.coef_, ref.coef_, atol=1e-6)
    np.testing.assert_allclose(np.exp(model.intercept_), value, rtol=1e-6)
    assert np.isnan(model.score(X, y))
    # constant where the weights are positive: the rows weighted 0 do not count
    weights = np.r_[np.ones(20), np.zeros(10)]
    y_out = np.r_[y[:20], np.full(10, 2 * value)]
    assert np.isnan(model.score(X, y_out, sample_weight=weights))
    # nearly constant: the null deviance rounds to 0 before the spread does
    # (scikit-learn's d2_tweedie_score raised ZeroDivisionError through score)
    assert np.isnan(model.score(X, np.r_[value * (1 + 1e-9), y[1:]]))


def test_identity_link_default_fit_is_quiet_in_float32():
    # tol² = 1e-8 of P(0) lies below float32's roundoff of the objective:
    # the solver stopped unmoved after 3 steps and warned "raise max_iter",
    # which did not help, on 2 of these 10 noise-free problems
    from sklearn.preprocessing import StandardScaler

    for seed in range(10):
        rng = np.random.RandomState(seed)
        X = StandardScaler().fit_transform(rng.randn(60, 4))
        y = X @ rng.randn(4) + 1
        ours = TweedieRegressor().fit(X, y)  # warnings are errors here
        ref = sk.TweedieRegressor().fit(X, y)
        np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-4)


def test_a_stalled_fit_names_its_measure_and_does_not_advise_max_iter():
    # float32 cannot resolve tol² = 1e-16 of P(0): the inner epochs ran out
    # after 6 of 100 outer steps, and the warning called the stationarity
    # measure a duality gap and advised raising max_iter
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 10))
    y = rng.poisson(np.exp(0.3 * X[:, 0] + 0.5)).astype(float)
    with pytest.warns(sk_exceptions.ConvergenceWarning) as record:
        est = PoissonRegressor(alpha=0.01, tol=1e-8).fit(X, y)
    message = str(record[0].message)
    assert "stationarity measure" in message and "duality gap" not in message
    assert "raise max_iter" not in message and "loosen tol" in message
    assert est.n_iter_ < 100
    ref = sk.PoissonRegressor(alpha=0.01, tol=1e-8).fit(X, y)
    np.testing.assert_allclose(est.coef_, ref.coef_, atol=1e-6)


@pytest.mark.parametrize("alpha", [1.0, 0.0])
def test_an_all_zero_count_target_fits_quietly(alpha):
    # the intercept-only optimum is μ = 0 (scikit-learn: intercept -inf); the
    # stationarity measure read 0/0 = nan where μ underflows, with a warning
    X = np.random.default_rng(0).standard_normal((50, 3))
    y = np.zeros(50)
    est = PoissonRegressor(alpha=alpha).fit(X, y)  # warnings are errors here
    with np.errstate(divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # its log(0)
        ref = sk.PoissonRegressor(alpha=alpha).fit(X, y)
    np.testing.assert_array_equal(est.coef_, ref.coef_)
    np.testing.assert_allclose(est.predict(X), ref.predict(X), atol=1e-30)


@pytest.mark.parametrize("power", [1.5, 2.0])
@pytest.mark.parametrize("scale", [1e14, 1e30])
def test_the_fit_does_not_depend_on_the_scale_of_y(power, scale):
    # a log-link deviance of power p scales as y^(2-p): the fit is the same
    # at every scale of y, as scikit-learn's. The floor of P(0) grew as
    # eps·Σ|y|, and tol·P(0) passed w = 0 (Gamma at y·1e14: coefficients
    # 8 % off, at 1e20 all zero; Tweedie 1.5 at 1e30 all zero), silently
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = rng.gamma(2, np.exp(X @ [0.3, -0.2, 0.1, 0.0, 0.5]) / 2)
    ref = sk.TweedieRegressor(power=power, alpha=1e-3, link="log", tol=1e-10)
    ref = ref.fit(X, y)
    ours = TweedieRegressor(power=power, alpha=1e-3).fit(X, y * scale)
    # 6e-4 here, 3e-7 at scale 1: in float32 an intercept of 32-69 resolves
    # the linear predictor to ~4e-6
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-3)


@pytest.mark.parametrize(
    ("power", "near"), [(1.9999, 2.0), (2.0001, 2.0), (1.0000001, 1.0)]
)
def test_powers_next_to_an_integer_fit_as_that_integer(diabetes, power, near):
    # the deviance of power p next to 1 or 2 is within ~|p - near| of the
    # Poisson / Gamma one, and so is the fit. The textbook form cancels
    # terms 1e4 times the deviance there: p = 1.9999 fitted 0.06 off with a
    # ConvergenceWarning (an error here), p = 2.0001 warned
    X, y = diabetes
    ref = sk.TweedieRegressor(power=near, alpha=1e-3, link="log", tol=1e-12)
    ref = ref.fit(X, y / 100)
    ours = TweedieRegressor(power=power, alpha=1e-3).fit(X, y / 100)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-3)
