"""Lasso / elastic net / logistic (jaxreg.solvers.glm, working-set CD of
jaxreg.solvers.cd) against scikit-learn and an independent numpy gap."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import expit, xlogy
from sklearn import linear_model as sk
from sklearn.datasets import load_diabetes, make_regression

from jaxreg import penalties
from jaxreg.solvers.base import ConvergenceWarning
from jaxreg.solvers.glm import enet, fit, lasso, logistic_regression
from jaxreg.solvers.ridge import ridge
from tests.reference import l1_argmin


def numpy_lasso_gap(X, y, w, b, l1, l2):
    """Objective and duality gap of the elastic net, written independently.

    Uses scikit-learn's augmented-Lasso dual point (``_cd_fast.pyx``) in the
    1/(2n) scaling.
    """
    n = X.shape[0]
    Xc, yc = X - X.mean(0), y - y.mean()
    if b is None:
        Xc, yc = X, y
    R = yc - Xc @ w
    primal = R @ R / (2 * n) + l1 * np.abs(w).sum() + l2 / 2 * w @ w
    XtA = Xc.T @ R - n * l2 * w
    dual_norm = np.abs(XtA).max()
    const = min(1.0, n * l1 / dual_norm) if dual_norm > 0 else 1.0
    gap = 0.5 * (R @ R) * (1 + const**2) + n * l1 * np.abs(w).sum()
    gap += -const * R @ yc + 0.5 * n * l2 * (1 + const**2) * (w @ w)
    return primal, gap / n


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return X, y


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_matches_sklearn_diabetes_x64(diabetes, l1_ratio, fit_intercept):
    X, y = diabetes
    alpha = 0.01
    ref = sk.ElasticNet(
        alpha=alpha,
        l1_ratio=l1_ratio,
        fit_intercept=fit_intercept,
        tol=1e-14,
        max_iter=100_000,
    ).fit(X, y)
    with jax.enable_x64(True):
        res = enet(X, y, alpha, l1_ratio, fit_intercept=fit_intercept, tol=1e-13)
        coef = np.asarray(res.coef)
    assert coef.dtype == np.float64
    assert bool(res.converged)
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(coef, ref.coef_, rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(float(res.intercept), ref.intercept_, rtol=1e-6)


def test_lasso_float32_diabetes(diabetes):
    """float32 (x64 off): tol 1e-6 reachable, coefficients within 1e-3 relative."""
    X, y = diabetes
    ref = sk.Lasso(alpha=0.01, tol=1e-14, max_iter=100_000).fit(X, y)
    res = lasso(X, y, 0.01, tol=1e-6)
    assert np.asarray(res.coef).dtype == np.float32
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(np.asarray(res.coef), ref.coef_, atol=1e-3 * scale)
    p, gap = numpy_lasso_gap(X, y, np.asarray(res.coef, np.float64), 0.0, 0.01, 0)
    p0 = np.var(y) / 2
    assert gap <= 1e-5 * p0


def test_lasso_large_x64_independent_gap():
    """The n=1000, d=5000 problem from the issue, checked against sklearn."""
    X, y = make_regression(1000, 5000, n_informative=50, noise=10, random_state=0)
    alpha = np.abs(X.T @ (y - y.mean())).max() / 1000 / 10
    ref = sk.Lasso(alpha=alpha, tol=1e-12, max_iter=100_000).fit(X, y)
    with jax.enable_x64(True):
        res = lasso(X, y, alpha, tol=1e-12)
        coef = np.asarray(res.coef)
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(coef, ref.coef_, atol=1e-6 * scale)
    p, gap = numpy_lasso_gap(X, y, coef, 0.0, alpha, 0.0)
    assert gap <= 1e-11 * np.var(y) / 2
    assert abs(float(res.gap) - gap) <= 1e-9 * p


def numpy_logreg_gap(X, y, w, lam):
    u = y * (X @ w)
    p = np.mean(np.logaddexp(0.0, -u)) + lam * np.abs(w).sum()
    s = expit(-u)
    g = X.T @ (y * s) / X.shape[0]
    z = s * min(1.0, lam / np.abs(g).max())
    d = -np.mean(xlogy(z, z) + xlogy(1 - z, 1 - z))
    return p, p - d


def _classification(n=300, d=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = np.zeros(d)
    w[:5] = [2, -1.5, 1, 0.5, -0.5]
    y = (X @ w + 0.3 + rng.logistic(size=n) > 0).astype(float)
    return X, y


def _liblinear_l1(X, y, C):
    """scikit-learn's L1 logistic regression without intercept, to 1e-12."""
    return sk.LogisticRegression(
        C=C,
        l1_ratio=1.0,
        solver="liblinear",
        fit_intercept=False,
        tol=1e-12,
        max_iter=100_000,
        random_state=0,  # liblinear's coordinate order; None made this flaky
    ).fit(X, y)


def test_logistic_l1_matches_liblinear_x64():
    X, y = _classification()
    n = X.shape[0]
    C = 0.05
    ref = _liblinear_l1(X, y, C)
    with jax.enable_x64(True):
        res = logistic_regression(
            X, y, penalties.l1(1.0 / (n * C)), fit_intercept=False, tol=1e-12
        )
        coef = np.asarray(res.coef)
    np.testing.assert_allclose(coef, ref.coef_[0], atol=1e-5 * np.abs(coef).max())
    _, gap = numpy_logreg_gap(X, 2 * y - 1, coef, 1.0 / (n * C))
    assert gap <= 1e-11


@pytest.mark.parametrize("l1_ratio", [0.0, 0.5])
def test_logistic_l2_enet_with_intercept_matches_sklearn_x64(l1_ratio):
    X, y = _classification(200, 10, seed=1)
    n, C = X.shape[0], 0.5
    solver = "lbfgs" if l1_ratio == 0 else "saga"
    ref = sk.LogisticRegression(
        C=C,
        l1_ratio=l1_ratio,
        solver=solver,
        tol=1e-12,
        max_iter=1_000_000,
        random_state=0,
    ).fit(X, y)
    with jax.enable_x64(True):
        res = logistic_regression(X, y, 1.0 / (n * C), l1_ratio, tol=1e-13)
        coef, b = np.asarray(res.coef), float(res.intercept)
    np.testing.assert_allclose(
        coef, ref.coef_[0], rtol=1e-5, atol=1e-7 * np.abs(coef).max()
    )
    np.testing.assert_allclose(b, ref.intercept_[0], rtol=1e-5)


def test_logistic_float32():
    X, y = _classification()
    n, C = X.shape[0], 0.05
    ref = _liblinear_l1(X, y, C)
    res = logistic_regression(X, y, 1.0 / (n * C), fit_intercept=False, tol=1e-6)
    coef = np.asarray(res.coef)
    assert coef.dtype == np.float32
    np.testing.assert_allclose(coef, ref.coef_[0], atol=2e-3 * np.abs(coef).max())


def test_warm_start_reaches_same_solution(diabetes):
    X, y = diabetes
    with jax.enable_x64(True):
        cold = lasso(X, y, 0.05, tol=1e-12)
        warm = lasso(X, y, 0.05, tol=1e-12, coef_init=np.asarray(cold.coef) * 0.5)
        np.testing.assert_allclose(
            np.asarray(warm.coef),
            np.asarray(cold.coef),
            atol=1e-8 * np.abs(cold.coef).max(),
        )


def test_budget_warns_not_nan(diabetes):
    X, y = diabetes
    with pytest.warns(ConvergenceWarning, match="duality gap.*raise max_iter"):
        res = lasso(X, y, 1e-4, tol=1e-12, max_iter=1)
    assert not bool(res.converged)
    assert np.all(np.isfinite(np.asarray(res.coef)))
    assert np.isfinite(float(res.gap))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda X, y: lasso(X, y[:-1], 0.1), "inconsistent numbers of samples"),
        (lambda X, y: lasso(np.where(X > 0.1, np.nan, X), y, 0.1), "X contains NaN"),
        (lambda X, y: lasso(X, np.full_like(y, np.inf), 0.1), "y contains NaN"),
        (lambda X, y: lasso(X, y, -1.0), "lam"),
        # several strengths failed in a broadcast inside the solver
        (lambda X, y: lasso(X, y, np.array([0.1, 0.2])), "lam must be a single"),
        (lambda X, y: enet(X, y, [0.1, 0.2], 0.5), "lam must be a single"),
        (lambda X, y: ridge(X, y, np.array([0.1, 0.2])), "lam must be a single"),
        (  # traced: the differentiable path checks the shape too
            lambda X, y: jax.jit(lambda lam: ridge(X, y, lam))(np.array([0.1, 0.2])),
            "lam must be a single",
        ),
        (lambda X, y: enet(X, y, 0.1, l1_ratio=1.5), "l1_ratio"),
        (lambda X, y: enet(X, y, 0.1, l1_ratio=-0.1), "l1_ratio"),
        (lambda X, y: logistic_regression(X, y, 0.1), "binary labels"),
        (
            lambda X, y: logistic_regression(X, y > 0, penalties.group_lasso(0.1)),
            "must be separable",
        ),
        (lambda X, y: lasso(X[:, :, None], y, 0.1), "X must be 2-D"),
    ],
)
def test_bad_input_raises_value_error(diabetes, call, match):
    X, y = diabetes
    with pytest.raises(ValueError, match=match):
        call(X, y)


def test_no_recompile_on_second_call(diabetes):
    """Same shapes and bucket: the compiled solver is reused (cache hit)."""
    from jaxreg.solvers import cd

    X, y = diabetes
    lasso(X, y, 0.1)
    before = cd._solve_bucket._cache_size()
    assert before >= 1
    lasso(X, y, 0.2)
    lasso(X * 2.0, y + 1.0, 0.1)
    assert cd._solve_bucket._cache_size() == before


def test_boolean_labels_equal_zero_one_labels(diabetes):
    """Like scikit-learn, boolean targets are read as {0, 1} labels; a boolean
    X is still refused."""
    X, y = diabetes
    labels = y > np.median(y)
    with jax.enable_x64(True):
        a = logistic_regression(X, labels, 1e-3)
        b = logistic_regression(X, labels.astype(np.float64), 1e-3)
    np.testing.assert_array_equal(np.asarray(a.coef), np.asarray(b.coef))
    assert float(a.intercept) == float(b.intercept)
    with pytest.raises(ValueError, match="X must be real-valued"):
        lasso(X > 0, y, 0.1)


def test_exact_mean_of_constant_rows_with_the_means_derivative():
    # the weighted mean of a constant row is the constant exactly (centring
    # leaves 0, not an ulp), other rows are Y @ a, and the derivative is a
    from jaxreg.solvers.design import exact_mean

    rng = np.random.default_rng(0)
    a = rng.uniform(size=50).astype(np.float32)
    a[::7] = 0.0
    a /= a.sum()
    Y = np.stack([np.full(50, 0.1), rng.normal(size=50), np.full(50, 3.0)])
    Y[1:, ::7] = 5.0  # differs only on zero-weight rows: still constant
    Y = jnp.asarray(Y, jnp.float32)
    Y = Y.at[1, 3].set(-1.0)  # row 1 is not constant
    mean, constant = exact_mean(jnp.asarray(a), Y)
    np.testing.assert_array_equal(constant, [True, False, True])
    np.testing.assert_array_equal(np.asarray(mean)[[0, 2]], np.float32([0.1, 3.0]))
    assert float(mean[1]) == pytest.approx(float(Y[1] @ a), rel=1e-6)
    grad = jax.grad(lambda y: exact_mean(jnp.asarray(a), y)[0])(Y[0])
    np.testing.assert_allclose(grad, a, rtol=1e-6)


def test_float32_l1_logistic_on_unscaled_features_reaches_the_optimum():
    """Breast cancer unscaled (column scales from 1e-3 to 4e3), L1 logistic
    at C = 10 in float32. The Newton step on the support solved its system
    by plain conjugate gradients, whose convergence depends on the column
    scales (condition number ~1e13 here); it failed, and the fit spent its
    whole epoch budget (10 s) far from the optimum. With the Jacobi
    preconditioner CG, like CD, does not see the scales. The gap, a
    difference of sums of terms up to ~1e3·λ, is resolved in float32 only
    to ~1e-3 (against a tol of 7e-5), so whether it reads below tol is
    roundoff: a ConvergenceWarning is allowed, an inaccurate fit is not.
    Reference: the same problem on standardized columns (a weighted L1, the
    intercept unpenalized), well conditioned, solved in float64 by scipy."""
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    n, d = X.shape
    lam = 1.0 / (n * 10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = logistic_regression(X, y, lam)

    m, sd = X.mean(0), X.std(0)
    Z = np.c_[(X - m) / sd, np.ones(n)]
    s = 2.0 * y - 1.0

    def smooth(v):
        margin = s * (Z @ v)
        grad = -(Z.T @ (s * expit(-margin))) / n
        return np.mean(np.logaddexp(0.0, -margin)), grad

    v, p_star = l1_argmin(smooth, d + 1, np.r_[lam / sd, 0.0])
    w = np.asarray(res.coef, np.float64)
    b = float(res.intercept)
    p_ours = np.mean(np.logaddexp(0.0, -s * (X @ w + b))) + lam * np.abs(w).sum()
    p_zero = np.mean(np.logaddexp(0.0, -s * np.log(y.mean() / (1 - y.mean()))))
    assert p_ours - p_star <= 1e-4 * p_zero
    np.testing.assert_allclose(w * sd, v[:d], atol=1e-3 * np.abs(v).max())


def test_float32_l1_logistic_on_unscaled_features_is_not_zero_marked_converged():
    """Breast cancer unscaled (features up to ~4e3), L1 logistic at C = 1000
    in float32: the dual point at w = 0 is scaled by ~1e-8, and the gap's
    Bernoulli KL took ``log1p(-1) = -inf`` there, so the solver returned w = 0
    "converged" with a gap of 0. Now it moves (its objective, in float64
    numpy, is below the intercept-only model's), and as float32 cannot
    resolve this problem's gap to tol, it says so."""
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    lam = 1.0 / (len(y) * 1000.0)
    with pytest.warns(ConvergenceWarning, match="duality gap.*solve in float64"):
        res = logistic_regression(X, y, lam, max_epochs=2000)
    w = np.asarray(res.coef, np.float64)
    assert np.count_nonzero(w) > 0 and not bool(res.converged)
    s = 2.0 * y - 1.0

    def objective(w, b):
        return np.mean(np.logaddexp(0.0, -s * (X @ w + b))) + lam * np.abs(w).sum()

    p = y.mean()
    assert objective(w, float(res.intercept)) < objective(0 * w, np.log(p / (1 - p)))


def test_l1_logistic_on_near_separable_sparse_counts():
    """Text-like sparse counts (2000 x 1000, Zipf column frequencies), L1
    logistic at λ_max/1000 (C ≈ 29): near-separable, many large margins.
    Their curvature came out exactly 0 (``σ(u)(1 - σ(u))`` from margins of
    17 in float32, 37 in float64; ``σ(u)σ(-u)`` still underflows past 88 in
    float32), and CD never moved a coordinate without curvature: a feature
    seen only in such rows kept its weight, its KKT violation stayed at λ
    and the fit ran its whole budget (float64: 121 s, float32: 116 s;
    liblinear 0.03 s). Reference: scipy's L-BFGS-B on the split L1 problem
    in float64."""
    import scipy.sparse as sps
    from scipy.special import expit

    rng = np.random.default_rng(0)
    n, d = 2000, 1000
    mask = rng.random((n, d)) < 0.3 / np.arange(1, d + 1) ** 0.8
    X = np.zeros((n, d))
    X[mask] = rng.poisson(1.0, size=mask.sum()) + 1
    w0 = np.zeros(d)
    support = rng.choice(d, 30, replace=False)
    w0[support] = rng.normal(size=30)
    eta = X @ w0
    y = (rng.random(n) < expit(eta - np.median(eta))).astype(float)
    lam = np.max(np.abs(X.T @ (y - y.mean()))) / n / 1000
    res = logistic_regression(sps.csr_matrix(X), y, lam)
    assert bool(res.converged)

    s = 2.0 * y - 1.0
    Z = sps.csr_matrix(np.c_[X, np.ones(n)])

    def smooth(v):
        margin = s * (Z @ v)
        return np.mean(np.logaddexp(0.0, -margin)), -(Z.T @ (s * expit(-margin))) / n

    _, p_star = l1_argmin(smooth, d + 1, np.r_[np.full(d, lam), 0.0])
    w, b = np.asarray(res.coef, np.float64), float(res.intercept)
    p_ours = np.mean(np.logaddexp(0.0, -s * (X @ w + b))) + lam * np.abs(w).sum()
    assert p_ours - p_star <= 1e-4 * np.log(2.0)


def test_an_overflowed_fit_is_not_read_as_converged_at_roundoff():
    # the roundoff rule (gap <= 16 eps |P(w)|) read inf <= inf as converged
    from jaxreg.solvers import glm

    X = np.random.RandomState(0).randn(30, 3).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 3.0], np.float32)
    start = np.full(3, 1e20, np.float32)
    with pytest.warns(ConvergenceWarning):
        res = glm.fit(X, y, penalties.l1(0.1), coef_init=start, max_iter=1)
    assert not bool(res.converged)


def test_a_nan_measure_is_not_converged():
    # μ = e⁶⁰ overflows float32: the stationarity measure is NaN and must
    # stay NaN (a mask for stationary coordinates read it as 0: converged at
    # the warm start, with no warning)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 3)).astype(np.float32)
    y = rng.poisson(np.exp(0.3 * X[:, 0])).astype(np.float32)
    w0 = np.array([60.0, 0.0, 0.0], np.float32)
    with pytest.warns(ConvergenceWarning, match="stationarity measure nan"):
        res = fit(X, y, penalties.l1(0.01), datafit="poisson", coef_init=w0)
    assert not bool(res.converged)
