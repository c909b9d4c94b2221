"""MultiTaskLasso / MultiTaskElasticNet (jaxreg._multitask) against
scikit-learn's, on diabetes (raw and with polynomial features) and
synthetic row-sparse data."""

import warnings

import jax
import numpy as np
import pytest
import scipy.sparse as sps
from sklearn import linear_model as sk
from sklearn.datasets import load_diabetes
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from jaxreg.linear_model import (
    MultiTaskElasticNet,
    MultiTaskLasso,
    MultiTaskLassoCV,
    enet_path,
)
from jaxreg.solvers import ConvergenceWarning
from tests.test_linear_model import run_sklearn_check, sklearn_checks


@sklearn_checks([MultiTaskLasso(0.1), MultiTaskElasticNet(0.1)])
def test_check_estimator(estimator, check):
    run_sklearn_check(estimator, check)


@pytest.fixture(scope="module")
def data():
    X, y = load_diabetes(return_X_y=True)
    Y = np.stack([y, 0.5 * y[::-1] + 3.0, np.sqrt(y)], axis=1)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, X.shape[0])
    return X, Y, sw


def _pairs():
    return [
        (
            MultiTaskLasso(1.0, tol=1e-12, max_iter=1000),
            sk.MultiTaskLasso(1.0, tol=1e-14, max_iter=100_000),
        ),
        (
            MultiTaskElasticNet(0.1, l1_ratio=0.4, tol=1e-12, max_iter=1000),
            sk.MultiTaskElasticNet(0.1, l1_ratio=0.4, tol=1e-14, max_iter=100_000),
        ),
    ]


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_sklearn_x64(data, sparse, weighted):
    X, Y, sw = data
    Xin = sps.csc_matrix(X) if sparse else X
    w = sw if weighted else None
    with jax.enable_x64(True):
        for ours, ref in _pairs():
            ours.fit(Xin, Y, sample_weight=w)
            ref.fit(Xin, Y, sample_weight=w)
            assert ours.coef_.shape == ref.coef_.shape == (3, 10)
            assert ours.intercept_.shape == ref.intercept_.shape == (3,)
            scale = np.abs(ref.coef_).max()
            np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-8 * scale)
            np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-9)
            # sklearn's dual_gap_ is in the same (1/(2n)) units
            assert 0 <= ours.dual_gap_ < 1e-6
            assert isinstance(ours.n_iter_, int)


def _objective(X, Y, W, b, alpha):
    R = Y - X @ W.T - b
    return (R * R).sum() / (2 * len(X)) + alpha * np.sqrt((W * W).sum(0)).sum()


def _ridge_reference(X, Y, alpha, s, fit_intercept):
    """numpy's float64 solve of Σᵢ aᵢ‖yᵢ - Wxᵢ - b‖²/2 + α‖W‖²/2, a = s/Σs."""
    a = s / s.sum()
    x_mean = a @ X if fit_intercept else np.zeros(X.shape[1])
    y_mean = a @ Y if fit_intercept else np.zeros(Y.shape[1])
    Xc, Yc = X - x_mean, Y - y_mean
    gram = Xc.T @ (a[:, None] * Xc) + alpha * np.eye(X.shape[1])
    W = np.linalg.solve(gram, Xc.T @ (a[:, None] * Yc)).T
    return W, y_mean - W @ x_mean


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_l1_ratio_zero_is_each_tasks_ridge(sparse, fit_intercept):
    """l1_ratio=0 (no group penalty) solves each task's ridge: the block
    solver stopped 1.6 % from it (coefficients), reporting converged with
    a gap of 7e-4 under a suboptimality of 1e-3. With weights holding zeros
    and integers, for the estimator and enet_path with a 2-D y."""
    rng = np.random.default_rng(0)
    n, d, T = 50, 12, 3
    X = rng.normal(size=(n, d))
    Y = X @ rng.normal(size=(T, d)).T + 3 + 0.1 * rng.normal(size=(n, T))
    sw = rng.integers(0, 3, n).astype(float)
    Xin = sps.csr_matrix(X) if sparse else X
    for alpha in (1.0, 0.1, 0.01):
        W, b = _ridge_reference(X, Y, alpha, sw, fit_intercept)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            est = MultiTaskElasticNet(alpha, l1_ratio=0.0, fit_intercept=fit_intercept)
            est.fit(Xin, Y, sample_weight=sw)
        np.testing.assert_allclose(est.coef_, W, atol=1e-5 * np.abs(W).max())
        np.testing.assert_allclose(est.intercept_, b, atol=1e-5 * np.abs(Y).max())
        assert 0 <= est.dual_gap_ <= 1e-4 * np.mean(Y**2)
    alphas, coefs, gaps = enet_path(Xin, Y, l1_ratio=0.0, alphas=[1.0, 0.1])
    for k, alpha in enumerate(alphas):
        W = _ridge_reference(X, Y, alpha, np.ones(n), False)[0]
        np.testing.assert_allclose(coefs[..., k], W, atol=1e-5 * np.abs(W).max())


def test_polynomial_features_x64_and_float32(data):
    """285 correlated columns: in x64 the coefficients and the dropped rows
    match scikit-learn's; in float32 (default) the objective does to 1e-5
    (nearly collinear columns share weight differently within the gap)."""
    X, Y, _ = data
    Xp = PolynomialFeatures(3, include_bias=False).fit_transform(X)
    Xp = StandardScaler().fit_transform(Xp)
    # powers of the binary "sex" column duplicate it (the optimum is then not
    # unique): keep the first of each exactly collinear set
    corr = np.abs(np.corrcoef(Xp.T))
    Xp = Xp[:, [j for j in range(Xp.shape[1]) if not np.any(corr[j, :j] > 1 - 1e-9)]]
    ref = sk.MultiTaskLasso(2.0, tol=1e-12, max_iter=100_000).fit(Xp, Y)
    with jax.enable_x64(True):
        ours = MultiTaskLasso(2.0, tol=1e-12, max_iter=1000).fit(Xp, Y)
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6 * scale)
    dropped = np.all(ref.coef_ == 0, axis=0)
    assert dropped.sum() > 50
    np.testing.assert_array_equal(np.all(ours.coef_ == 0, axis=0), dropped)
    ours = MultiTaskLasso(2.0, tol=1e-7).fit(Xp.astype(np.float32), Y)
    assert ours.coef_.dtype == np.float32
    p_ref = _objective(Xp, Y, ref.coef_, ref.intercept_, 2.0)
    p_ours = _objective(Xp, Y, ours.coef_, ours.intercept_, 2.0)
    assert p_ours == pytest.approx(p_ref, rel=1e-5)


def test_synthetic_row_support_recovered():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 40))
    W = np.zeros((4, 40))
    W[:, :5] = rng.normal(size=(4, 5)) * 3
    Y = X @ W.T + 0.1 * rng.normal(size=(200, 4))
    ours = MultiTaskElasticNet(0.05, l1_ratio=0.9).fit(X, Y)
    ref = sk.MultiTaskElasticNet(0.05, l1_ratio=0.9, tol=1e-10).fit(X, Y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-3)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), atol=1e-2)


def test_no_intercept_warm_start_random_selection(data):
    X, Y, _ = data
    with jax.enable_x64(True):
        ref = sk.MultiTaskLasso(0.5, fit_intercept=False, tol=1e-14, max_iter=10**5)
        ref.fit(X, Y)
        ours = MultiTaskLasso(
            0.5,
            fit_intercept=False,
            tol=1e-12,
            warm_start=True,
            selection="random",
            random_state=0,
        ).fit(X, Y)
        np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-7)
        np.testing.assert_array_equal(ours.intercept_, 0.0)
        first_iter = ours.n_iter_
        ours.fit(X, Y)  # warm: starts at the optimum
        assert ours.n_iter_ <= first_iter
        np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-7)


def test_errors_like_sklearn(data):
    X, Y, _ = data
    for ours, ref in _pairs():
        for bad in (Y[:, 0], np.where(Y > 100, np.nan, Y)):
            with pytest.raises(ValueError) as got:
                ours.fit(X, bad)
            with pytest.raises(ValueError) as want:
                ref.fit(X, bad)
            assert str(got.value).split()[:2] == str(want.value).split()[:2]
    with pytest.raises(ValueError, match="l1_ratio"):
        MultiTaskElasticNet(l1_ratio=2.0).fit(X, Y)
    with pytest.raises(ValueError, match="alpha"):
        MultiTaskLasso(-1.0).fit(X, Y)


@pytest.mark.parametrize("center", [False, True])
@pytest.mark.parametrize("ridge", [False, True])
def test_multitask_design_is_the_stacked_kronecker_matrix(ridge, center):
    """``MultiTaskDesign`` against ``X̃ ⊗ I_T`` (over ``I_{dT}`` with
    ``ridge``) formed explicitly in numpy, ``X̃`` centred per task with the
    weights of that task's rows when ``center``: products, columns, column
    norms, Gram matrices."""
    import jax.numpy as jnp

    from jaxreg.solvers.design import MultiTaskDesign

    rng = np.random.default_rng(0)
    n, d, T = 7, 5, 3
    X = rng.normal(size=(n, d))
    n_rows = n * T + (d * T if ridge else 0)
    a = rng.uniform(0.1, 1.0, size=n_rows)
    A = a[: n * T].reshape(n, T)
    xbar = (A.T @ X) / A.sum(axis=0)[:, None] if center else np.zeros((T, d))
    S = np.zeros((n * T, d * T))
    for t in range(T):
        S[t::T, t::T] = X - xbar[t]
    if ridge:
        S = np.vstack([S, np.eye(d * T)])
    with jax.enable_x64(True):
        design = MultiTaskDesign.of(jnp.asarray(X.T), T, ridge, jnp.asarray(a), center)
        w = rng.normal(size=d * T)
        r = rng.normal(size=S.shape[0])
        idx = np.array([4, 0, 13, 7])
        assert (design.n_samples, design.n_features) == S.shape
        np.testing.assert_allclose(design.matvec(jnp.asarray(w)), S @ w, rtol=1e-12)
        np.testing.assert_allclose(design.rmatvec(jnp.asarray(r)), S.T @ r, rtol=1e-12)
        np.testing.assert_allclose(
            design.columns(jnp.asarray(idx)), S[:, idx].T, atol=1e-14
        )
        np.testing.assert_allclose(design.colsq, a @ S**2, rtol=1e-12)
        np.testing.assert_allclose(design.xbar, xbar.T.ravel(), atol=1e-14)
        # the Gram matrix of whole features (rows of T columns, the blocks)
        # and of loose columns, at other weights h
        h = rng.uniform(0.1, 1.0, size=S.shape[0])
        groups = np.array([3, 0, 4])[:, None] * T + np.arange(T)
        for cols in (groups, idx):
            flat = cols.ravel()
            np.testing.assert_allclose(
                design.gram(jnp.asarray(cols), jnp.asarray(h)),
                S[:, flat].T @ (h[:, None] * S[:, flat]),
                rtol=1e-10,
                atol=1e-12,
            )


def test_tight_tol_does_not_accept_a_roundoff_decrease():
    # float32, tol=1e-8 (below what float32 certifies): a Newton step along a
    # near-null direction of the working set's Hessian "lowered" the model
    # within the roundoff of its cancelling terms, and the path kept it:
    # coefficients off by 8.7 and one CV error 39 % above scikit-learn's
    from sklearn.datasets import make_regression
    from sklearn.model_selection import KFold

    X, y = make_regression(80, 10, n_informative=4, noise=20, random_state=0)
    Y = np.c_[y, y * 0.5 + np.random.RandomState(1).randn(80) * 10]
    cv = list(KFold(4, shuffle=True, random_state=0).split(X))
    ref = sk.MultiTaskLassoCV(cv=cv, alphas=5, tol=1e-10, max_iter=100_000)
    ref.fit(X, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # float32's floor
        est = MultiTaskLassoCV(cv=cv, alphas=5, tol=1e-8).fit(X, Y)
    np.testing.assert_allclose(est.mse_path_, ref.mse_path_, rtol=1e-3)


@pytest.fixture(scope="module")
def correlated():
    """Diabetes with degree-3 features (200 columns, correlated), three
    targets, ``alpha = λ_max/1000`` and scikit-learn's float64 objective."""
    X, y = load_diabetes(return_X_y=True)
    Xp = PolynomialFeatures(3, include_bias=False).fit_transform(X)
    Xp = StandardScaler().fit_transform(Xp)[:, :200]
    noise = 30 * np.random.default_rng(0).standard_normal(len(y))
    Y = np.stack([y, 0.5 * y + noise, -y], 1)
    alpha = 1e-3 * np.max(np.linalg.norm(Xp.T @ (Y - Y.mean(0)), axis=1)) / len(y)

    def objective(coef, intercept):
        R = Y - Xp @ coef.T - intercept
        return (R**2).sum() / (2 * len(y)) + alpha * np.linalg.norm(coef, axis=0).sum()

    ref = sk.MultiTaskLasso(alpha=alpha, tol=1e-8, max_iter=100_000).fit(Xp, Y)
    return Xp, Y, alpha, objective, objective(ref.coef_, ref.intercept_)


@pytest.mark.parametrize("shift", [50.0, 500.0])
def test_float32_features_far_from_zero(correlated, shift):
    """Correlated features shifted by ``shift``, in float32. The block-CD
    Gram matrix of a multi-task design applied the centring as a rank-two
    correction of ``Σᵢ xᵢⱼ xᵢₖ``, which cancelled catastrophically (entries
    ~shift² for a variance of 1): the model turned indefinite, the gap came
    out NaN at +50 and the coefficients NaN at +500. Reference:
    scikit-learn in float64 on the unshifted features (the fit centres
    them). Float32 leaves the centred columns ~shift·eps of relative
    precision, and the gap's roundoff is near tol at +50 and above it at
    +500: a ConvergenceWarning is allowed; the objective must reach the
    optimum."""
    Xp, Y, alpha, objective, p_ref = correlated
    est = MultiTaskLasso(alpha=alpha)
    with warnings.catch_warnings():  # the gap's float32 floor is near tol
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit((Xp + shift).astype(np.float32), Y.astype(np.float32))
    coef = est.coef_.astype(np.float64)
    assert np.all(np.isfinite(coef)) and np.isfinite(est.dual_gap_)
    intercept = est.intercept_ + shift * coef.sum(axis=1)  # on unshifted X
    assert objective(coef, intercept) - p_ref <= 1e-5 * p_ref
