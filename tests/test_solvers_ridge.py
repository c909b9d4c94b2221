"""Ridge (jaxreg.solvers.ridge) against numpy's closed form and scikit-learn."""

import jax
import numpy as np
import pytest
from sklearn.linear_model import Ridge as SkRidge

from jaxreg.solvers.base import ConvergenceWarning
from jaxreg.solvers.ridge import ridge


def _data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * rng.uniform(0.5, 3.0, d)
    y = X @ rng.standard_normal(d) + rng.standard_normal(n) + 4.0
    return X, y


@pytest.mark.parametrize("shape", [(60, 15), (20, 50)])  # primal and dual systems
@pytest.mark.parametrize("method", ["cholesky", "cg"])
def test_matches_closed_form_and_sklearn_x64(shape, method):
    X, y = _data(*shape)
    n, d = shape
    lam = 0.3
    Xc, yc = X - X.mean(0), y - y.mean()
    w_np = np.linalg.solve(Xc.T @ Xc + n * lam * np.eye(d), Xc.T @ yc)
    ref = SkRidge(alpha=n * lam, solver="cholesky").fit(X, y)
    with jax.enable_x64(True):
        res = ridge(X, y, lam, method=method, tol=1e-14, max_iter=5000)
        coef = np.asarray(res.coef)
    np.testing.assert_allclose(coef, w_np, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(coef, ref.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(float(res.intercept), ref.intercept_, rtol=1e-7)
    assert bool(res.converged)


@pytest.mark.parametrize("method", ["cholesky", "cg"])
def test_float32(method):
    X, y = _data(80, 10)
    n = 80
    Xc, yc = X - X.mean(0), y - y.mean()
    w_np = np.linalg.solve(Xc.T @ Xc + n * 0.1 * np.eye(10), Xc.T @ yc)
    res = ridge(X, y, 0.1, method=method, tol=1e-6)
    assert np.asarray(res.coef).dtype == np.float32
    np.testing.assert_allclose(np.asarray(res.coef), w_np, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("weighted", [False, True])
def test_float32_cg_on_offset_columns_solves_the_centred_system(weighted):
    """Diabetes + 1e3 (column spreads ~0.05): the implicit centring ``Xw -
    xbarᵀw`` cancels all float32 digits, and conjugate gradients on it
    ended at R² = -2e6 (with weights and + 1e4: a NaN and a ValueError),
    where the direct solve is right. On the centred design formed once, CG
    reaches the numpy float64 solution as closely as float32 storage of the
    offset columns allows (the direct solve's 1.2e-3)."""
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    X = X + 1e3
    s = np.random.default_rng(0).integers(1, 4, len(y)) if weighted else None
    a = np.ones(len(y)) if s is None else s.astype(float)
    a = a / a.sum()
    lam = 1e-4
    Xc, yc = X - a @ X, y - a @ y
    w_np = np.linalg.solve(Xc.T @ (a[:, None] * Xc) + lam * np.eye(10), Xc.T @ (a * yc))
    res = ridge(X, y, lam, sample_weight=s, method="cg")
    err = np.abs(np.asarray(res.coef) - w_np).max() / np.abs(w_np).max()
    assert err < 5e-3


@pytest.mark.parametrize(
    "wide, weighted, seed", [(False, False, 0), (True, True, 1)]
)  # the primal and the dual CG systems
def test_float32_cg_default_tol_is_as_accurate_as_the_dtype(wide, weighted, seed):
    """Sparse X with a column 10x the others (a Ridge user's CSR matrix), at
    the default tol. CG stopped on the duality gap, which is quadratic in
    the error and resolved only to about eps·P(0) in float32: coefficients
    up to 4e-4 off scikit-learn's, no warning (here 7e-5 and 2e-4). On the
    residual they are within 1e-6."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    n, d = (40, 90) if wide else (120, 10)
    X = rng.standard_normal((n, d))
    X[:, 3] *= 10
    X[rng.uniform(size=(n, d)) < 0.6] = 0
    y = X @ rng.standard_normal(d) + rng.standard_normal(n)
    s = rng.integers(1, 4, n).astype(float) if weighted else np.ones(n)
    lam = 1.5 / s.sum()
    a = s / s.sum()
    Xc, yc = X - a @ X, y - a @ y
    w_np = np.linalg.solve(Xc.T @ (a[:, None] * Xc) + lam * np.eye(d), Xc.T @ (a * yc))
    res = ridge(sp.csr_matrix(X), y, lam, sample_weight=s if weighted else None)
    err = np.abs(np.asarray(res.coef) - w_np).max() / np.abs(w_np).max()
    assert err < 1e-5
    assert bool(res.converged)


def test_cg_budget_warns():
    X, y = _data(50, 40)
    with pytest.warns(ConvergenceWarning):
        res = ridge(X, y, 1e-6, method="cg", tol=1e-14, max_iter=10)
    assert np.all(np.isfinite(np.asarray(res.coef)))


def test_bad_input():
    X, y = _data(20, 3)
    with pytest.raises(ValueError, match="lam"):
        ridge(X, y, -0.1)
    with pytest.raises(ValueError, match="method"):
        ridge(X, y, 0.1, method="qr")
    with pytest.raises(ValueError, match="inconsistent"):
        ridge(X, y[:5], 0.1)


def test_svd_method_matches_closed_form_on_ill_conditioned_columns():
    """method="svd" keeps every singular direction when lam > 0 (a cutoff is
    only the lam = 0 minimum-norm rule): numpy's closed form on columns of
    scales 1e-3..1e3, in float32, where numpy's lstsq cutoff would drop the
    smallest direction (two-pass centring written out in float64)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 6)) * np.logspace(-3, 3, 6)
    y = rng.normal(size=60)
    lam = 0.05
    Xc, yc = X - X.mean(0), y - y.mean()
    want = np.linalg.solve(Xc.T @ Xc / 60 + lam * np.eye(6), Xc.T @ yc / 60)
    got = ridge(X, y, lam, method="svd").coef
    assert abs(want[0]) > 1e-4  # the direction a cutoff would zero
    np.testing.assert_allclose(got, want, rtol=2e-3, atol=1e-7)


def test_an_ill_conditioned_float32_system_warns():
    # unscaled polynomial features of degree 6 on [0, 10]: float32 Cholesky
    # gave a training R² of -1.24 (scikit-learn, float64: 0.976), silently
    from scipy.linalg import LinAlgWarning
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    rng = np.random.RandomState(0)
    x = rng.uniform(0, 10, (200, 1))
    y = np.sin(x).ravel() + 0.1 * rng.randn(200)
    for degree, method in ((6, "cholesky"), (8, "svd")):  # svd: R² 0.72 (0.98)
        X = PolynomialFeatures(degree).fit_transform(x)
        with pytest.warns(LinAlgWarning, match="ill-conditioned in float32"):
            ridge(X, y, 1e-3 / 200, method=method)
    # degree 3, standardized: well conditioned, no warning, scikit-learn's fit
    Xs = StandardScaler().fit_transform(PolynomialFeatures(3).fit_transform(x))
    res = ridge(Xs, y, 1e-3 / 200)
    ref = SkRidge(alpha=1e-3).fit(Xs, y)
    np.testing.assert_allclose(res.coef, ref.coef_, rtol=1e-3, atol=1e-4)


def test_collinear_features_at_a_tiny_alpha_match_sklearn():
    # every one-hot column beside the intercept (scikit-learn's coefficient
    # interpretation example): float32 left roundoff along the null
    # direction, weighted by 1/lam: coefficients of 4e3 for 2e-2. A feature
    # on a small scale with a large coefficient must keep it.
    from scipy.linalg import LinAlgWarning

    from jaxreg.linear_model import Ridge

    rng = np.random.RandomState(0)
    n = 400
    race, sector = rng.randint(0, 3, n), rng.randint(0, 3, n)
    edu, exp, z = rng.randint(2, 19, n), rng.randint(0, 55, n), 1e-5 * rng.randn(n)
    X = np.c_[
        np.eye(3)[race],
        np.eye(3)[sector],
        edu,
        exp,
        edu + exp + rng.randint(0, 2, n),
        z,
    ].astype(float)
    y = 0.03 * edu + 0.004 * exp + 1e4 * z + 0.17 * rng.randn(n)
    for alpha in (1e-10, 1e-6):
        ref = SkRidge(alpha=alpha).fit(X, y)
        with pytest.warns(LinAlgWarning, match="solved as exact zeros"):
            ours = Ridge(alpha=alpha).fit(X, y)
        np.testing.assert_allclose(ours.coef_[:-1], ref.coef_[:-1], atol=1e-4)
        np.testing.assert_allclose(ours.coef_[-1], ref.coef_[-1], rtol=1e-3)
        np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-3)


def test_nearly_collinear_large_n_keeps_its_coefficients():
    # two features correlated at 0.99997 over 20 000 rows: no null
    # direction, solved by Cholesky as before, with its warning (a global
    # SVD cut growing with n zeroed them)
    from scipy.linalg import LinAlgWarning

    rng = np.random.RandomState(0)
    n = 20_000
    a = rng.randn(n)
    X = np.c_[a, a + 0.007 * rng.randn(n), rng.randn(n)]
    y = X[:, 0] - X[:, 1] + 0.5 * X[:, 2] + 0.01 * rng.randn(n)
    ref = SkRidge(alpha=1e-3).fit(X, y).coef_
    with pytest.warns(LinAlgWarning):
        got = ridge(X, y, 1e-3 / n).coef
    np.testing.assert_allclose(got, ref, rtol=2e-2)
