"""Group lasso by block coordinate descent (jaxreg/solvers/bcd.py).

References: FISTA (:func:`group_lasso_regression`), skglm's ``GroupLasso``,
KKT conditions written out in numpy, scipy's BFGS on the active groups.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
from skglm import GroupLasso as SkglmGroupLasso

import jaxreg as jr
from jaxreg.solvers import group_lasso
from jaxreg.solvers.fista import group_lasso_regression


def _problem(n=80, d=24, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[:, 1] += 0.8 * X[:, 0]  # correlated within a group
    w = np.zeros(d)
    w[:8] = rng.normal(size=8)
    y = X @ w + 0.5 * rng.normal(size=n) + 1.0
    return X, y


def _lam_max(X, y, labels, a, c=None, logistic=False):
    """max_g ||X̃_gᵀ r(0)|| / c_g, from numpy."""
    if logistic:
        p = np.sum(a * (y > 0))
        r = a * ((y > 0) - p)  # a (y01 - σ(b0)) with b0 the log-odds
        Xt = X
    else:
        r = a * (y - a @ y)
        Xt = X - a @ X
    v = Xt.T @ r
    groups = np.unique(labels)
    c = np.ones(len(groups)) if c is None else c
    norms = [np.linalg.norm(v[labels == g]) / c[i] for i, g in enumerate(groups)]
    return max(norms)


def _kkt_violation(X, y, coef, b, lam, labels, a, c):
    """Largest violation of the group-lasso KKT conditions (least squares)."""
    r = a * (y - X @ coef - b)
    v = X.T @ r
    worst = abs(r.sum())
    for i, g in enumerate(np.unique(labels)):
        wg, vg = coef[labels == g], v[labels == g]
        nw = np.linalg.norm(wg)
        if nw > 0:
            worst = max(worst, np.linalg.norm(vg - lam * c[i] * wg / nw))
        else:
            worst = max(worst, np.linalg.norm(vg) - lam * c[i])
    return worst


def test_equals_fista_and_skglm_x64():
    X, y = _problem()
    n, d = X.shape
    labels = np.repeat(np.arange(d // 4), 4)
    with jax.enable_x64(True):
        lam = _lam_max(X, y, labels, np.full(n, 1 / n)) / 10
        res = group_lasso(X, y, lam, 4, tol=1e-12)
        ref = group_lasso_regression(
            X,
            y,
            jr.group_lasso(lam, axis=1),
            coef_shape=(d // 4, 4),
            tol=1e-12,
            max_iter=200_000,
        )
        coef = np.asarray(res.coef)
        assert bool(res.converged) and res.coef.dtype == np.float64
    np.testing.assert_allclose(coef, np.asarray(ref.coef), atol=1e-7)
    np.testing.assert_allclose(float(res.intercept), float(ref.intercept), atol=1e-7)
    # skglm: 1/(2n)||y - Xw - b||² + alpha Σ_g ||w_g|| (its GroupLasso)
    sk = SkglmGroupLasso(groups=4, alpha=lam, tol=1e-12, fit_intercept=True).fit(X, y)
    np.testing.assert_allclose(coef, sk.coef_, atol=1e-7)
    np.testing.assert_allclose(float(res.intercept), sk.intercept_, atol=1e-7)
    assert 0 < np.sum(coef != 0) < d


def test_kkt_unequal_groups_weights_sample_weights_x64():
    X, y = _problem(n=70, d=20, seed=1)
    rng = np.random.default_rng(1)
    labels = rng.permutation(np.repeat(np.arange(6), [1, 2, 3, 4, 5, 5]))
    c = np.array([1.0, 0.5, 2.0, 0.0, 1.5, 1.0])  # group 3 unpenalized
    s = rng.uniform(0.2, 3.0, size=X.shape[0])
    a = s / s.sum()
    with jax.enable_x64(True):
        lam = _lam_max(X, y, labels, a, c=np.where(c > 0, c, np.inf)) / 5
        res = group_lasso(
            X, y, lam, labels, group_weights=c, sample_weight=s, tol=1e-12
        )
        coef, b = np.asarray(res.coef), float(res.intercept)
    assert _kkt_violation(X, y, coef, b, lam, labels, a, c) < 1e-8
    assert np.any(coef[labels == 3] != 0)  # unpenalized group is fitted
    zero = [g for g in range(6) if np.all(coef[labels == g] == 0)]
    assert zero, "some group should be zero at lam_max/5"


def test_kkt_large_working_set_gram_and_residual_x64():
    # working sets beyond 256 columns: the least-squares model uses the Gram
    # matrix up to min(1024, n) = 500 columns (128 groups of 3: 384), the
    # residuals beyond (256 groups: 768); both must reach the KKT point
    X, y = _problem(n=500, d=900, seed=2)
    n, d = X.shape
    labels = np.repeat(np.arange(d // 3), 3)
    a, c = np.full(n, 1 / n), np.ones(d // 3)
    for factor in (100, 1000):
        with jax.enable_x64(True):
            lam = _lam_max(X, y, labels, a) / factor
            res = group_lasso(X, y, lam, 3, tol=1e-12)
            coef, b = np.asarray(res.coef), float(res.intercept)
        assert bool(res.converged)
        assert np.sum(coef != 0) > 3 * 128  # past the 128-group working set
        assert _kkt_violation(X, y, coef, b, lam, labels, a, c) < 1e-7


def _logistic_objective(X, y01, coef, b, lam, labels):
    u = X @ coef + b
    loss = np.mean(np.logaddexp(0.0, -(2 * y01 - 1) * u))
    pen = sum(np.linalg.norm(coef[labels == g]) for g in np.unique(labels))
    return loss + lam * pen


def test_logistic_matches_scipy_on_active_groups_x64():
    X, y = _problem(n=120, d=15, seed=2)
    y01 = (y > np.median(y)).astype(float)
    labels = np.repeat(np.arange(5), 3)
    n = X.shape[0]
    with jax.enable_x64(True):
        lam = _lam_max(X, y01, labels, np.full(n, 1 / n), logistic=True) / 4
        res = group_lasso(X, y01, lam, 3, datafit="logistic", tol=1e-12)
        coef, b = np.asarray(res.coef), float(res.intercept)
    active = [g for g in range(5) if np.any(coef[labels == g] != 0)]
    assert 0 < len(active) < 5
    mask = np.isin(labels, active)

    def objective(z):  # smooth where every active group is nonzero
        full = np.zeros(X.shape[1])
        full[mask] = z[:-1]
        return _logistic_objective(X, y01, full, z[-1], lam, labels)

    start = np.concatenate([np.full(mask.sum(), 0.1), [0.0]])
    opt = scipy.optimize.minimize(objective, start, method="BFGS", tol=1e-12)
    np.testing.assert_allclose(coef[mask], opt.x[:-1], atol=2e-5)
    np.testing.assert_allclose(b, opt.x[-1], atol=2e-5)
    # the inactive groups satisfy ||X_gᵀ r|| <= lam at the solution
    u = X @ coef + b
    r = (y01 - 1 / (1 + np.exp(-u))) / n
    for g in set(range(5)) - set(active):
        assert np.linalg.norm(X[:, labels == g].T @ r) <= lam * (1 + 1e-6)


@pytest.mark.parametrize("datafit", ["quadratic", "logistic"])
def test_sparse_equals_dense(datafit):
    X, y = _problem(n=90, d=30, seed=3)
    X[np.abs(X) < 0.8] = 0.0
    if datafit == "logistic":
        y = (y > np.median(y)).astype(np.float32)
    dense = group_lasso(X, y, 0.05, 5, datafit=datafit, tol=1e-6)
    sparse = group_lasso(sp.csr_matrix(X), y, 0.05, 5, datafit=datafit, tol=1e-6)
    assert np.sum(np.asarray(dense.coef) != 0) > 0
    np.testing.assert_allclose(
        np.asarray(sparse.coef), np.asarray(dense.coef), atol=2e-4
    )
    np.testing.assert_allclose(
        float(sparse.intercept), float(dense.intercept), atol=2e-4
    )


def test_zero_sample_weight_drops_row_x64():
    X, y = _problem(n=60, d=12, seed=4)
    s = np.ones(60)
    s[::4] = 0.0
    keep = s > 0
    with jax.enable_x64(True):
        w = group_lasso(X, y, 0.1, 3, sample_weight=s, tol=1e-12)
        d = group_lasso(X[keep], y[keep], 0.1, 3, tol=1e-12)
        np.testing.assert_allclose(np.asarray(w.coef), np.asarray(d.coef), atol=1e-8)
        np.testing.assert_allclose(float(w.intercept), float(d.intercept), atol=1e-8)


def test_lambda_max_gives_zeros():
    X, y = _problem(n=60, d=12, seed=5)
    labels = np.repeat(np.arange(4), 3)
    lam_max = _lam_max(X, y, labels, np.full(60, 1 / 60))
    above = group_lasso(X, y, 1.01 * lam_max, 3)
    below = group_lasso(X, y, 0.9 * lam_max, 3)
    assert np.all(np.asarray(above.coef) == 0)
    np.testing.assert_allclose(float(above.intercept), y.mean(), rtol=1e-5)
    assert np.any(np.asarray(below.coef) != 0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(groups=5), "groups=5"),
        (dict(groups=0), "groups=0"),
        (dict(groups=np.zeros(11, int)), r"shape \(12,\)"),
        (dict(groups=np.linspace(0, 1, 12)), "integer"),
        (dict(groups=3, group_weights=np.ones(3)), "group_weights"),
        (dict(groups=3, group_weights=-np.ones(4)), "group_weights"),
        (dict(groups=3, lam=-1.0), "lam"),
        (dict(groups=3, datafit="poisson"), "datafit"),
    ],
)
def test_bad_input_raises(kwargs, match):
    X, y = _problem(n=20, d=12, seed=6)
    kwargs = dict(lam=0.1) | kwargs
    with pytest.raises(ValueError, match=match):
        group_lasso(X, y, kwargs.pop("lam"), kwargs.pop("groups"), **kwargs)


@pytest.mark.parametrize("lam", [1e-2, 1e-3])
def test_newton_on_nonzero_groups_cuts_epochs_on_correlated_features(lam, monkeypatch):
    """Block CD on the Gram model of an AR(1) chain of features (correlation
    0.995, groups of 2) reaches the group-lasso KKT point, in fewer epochs
    with the Newton step on the nonzero groups than without it."""
    from jaxreg import penalties
    from jaxreg.solvers import bcd, cd
    from jaxreg.solvers.design import DenseDesign

    rng = np.random.default_rng(0)
    n, K, m, rho = 200, 20, 2, 0.995
    A = np.empty((K * m, n))
    A[0] = rng.standard_normal(n)
    for j in range(1, K * m):
        A[j] = rho * A[j - 1] + np.sqrt(1 - rho**2) * rng.standard_normal(n)
    w = np.zeros(K * m)
    w[::4] = rng.standard_normal(10)
    g = A @ (w @ A + 0.1 * rng.standard_normal(n)) / n
    H = A @ A.T / n

    def kkt(x):
        r = (g - H @ x).reshape(K, m)
        x = x.reshape(K, m)
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        on = np.linalg.norm(r - lam * x / np.where(norms > 0, norms, 1), axis=1)
        return np.max(np.where(norms[:, 0] > 0, on, np.linalg.norm(r, axis=1) - lam))

    epochs = []
    for after in (cd.NEWTON_AFTER, 10**9):  # 10**9: never
        monkeypatch.setattr(cd, "NEWTON_AFTER", after)
        with jax.enable_x64(True):
            cols = jnp.asarray(A)
            design = DenseDesign(cols, jnp.zeros(K * m), jnp.zeros(K * m))
            idx = jnp.arange(K * m).reshape(K, m)
            model = bcd._model(design, idx, cols, jnp.full(n, 1 / n), K, m, True)
            pen = penalties.BlockGroupLasso(jnp.asarray(lam), None)
            args = (model, jnp.asarray(g), jnp.zeros(K * m), pen, K, m)
            x, ep, _ = bcd._model_bcd(*args, 1e-13, 100_000)
        assert kkt(np.asarray(x)) < 1e-9
        epochs.append(int(ep))
    # measured: 127 vs 721 epochs (lam = 1e-2), 163 vs 3362 (lam = 1e-3)
    assert 4 * epochs[0] <= 3 * epochs[1]


def test_block_cd_finds_a_group_that_enters_after_its_sweep():
    """Between full sweeps block CD sweeps the active groups only; group 0,
    uncorrelated with the target but correlated (-0.5) with group 3, swept
    after it, becomes violating only once group 3 has moved, and must enter
    before the loop stops. (A block step is damped, L = 1.01·H_kk, so each
    epoch moves a little: eps = 1e-4 lets a partial epoch meet it.)"""
    from jaxreg import penalties
    from jaxreg.solvers import bcd
    from jaxreg.solvers.design import DenseDesign

    K, m, lam = 4, 2, 0.1
    H = np.eye(K * m)
    H[0, 6] = H[6, 0] = -0.5
    g = np.array([0.0, 0, 0, 0, 1, 1, 1, 1])
    n = K * m
    A = np.sqrt(n) * np.linalg.cholesky(H)  # H = A diag(1/n) Aᵀ
    with jax.enable_x64(True):
        cols = jnp.asarray(A)
        design = DenseDesign(cols, jnp.zeros(n), jnp.zeros(n))
        idx = jnp.arange(n).reshape(K, m)
        model = bcd._model(design, idx, cols, jnp.full(n, 1 / n), K, m, True)
        pen = penalties.BlockGroupLasso(jnp.asarray(lam), None)
        x, _, _ = bcd._model_bcd(
            model, jnp.asarray(g), jnp.zeros(n), pen, K, m, 1e-4, 1000
        )
    x = np.asarray(x)
    r, xb = (g - H @ x).reshape(K, m), x.reshape(K, m)
    norms = np.linalg.norm(xb, axis=1)
    assert norms[0] > 0.05
    on = np.linalg.norm(r - lam * xb / np.where(norms > 0, norms, 1)[:, None], axis=1)
    kkt = np.where(norms > 0, on, np.maximum(np.linalg.norm(r, axis=1) - lam, 0))
    assert kkt.max() < 1e-3


def test_float32_inner_solves_stop_on_their_duality_gap():
    """Diabetes with degree-3 features (ill-conditioned), groups of 2,
    λ_max/1000, in float32: an inner block-CD solve stops once its working
    set's duality gap (dual point extrapolated, celer's) meets the target,
    not only on a coordinate-change threshold that float32 cannot resolve
    there (each inner solve ran to its 1000-epoch cap, and a 3000-epoch
    budget ended unconverged with a gap of 6.0). The result is checked by a
    float64 numpy duality gap."""
    from sklearn.datasets import load_diabetes
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    X, y = load_diabetes(return_X_y=True)
    X = PolynomialFeatures(3, include_bias=False).fit_transform(X)
    X = StandardScaler().fit_transform(X)[:, :284]
    y = y - y.mean()
    n, labels = X.shape[0], np.repeat(np.arange(142), 2)
    lam = 1e-3 * np.max(np.linalg.norm((X.T @ y / n).reshape(-1, 2), axis=1))
    res = group_lasso(
        X.astype(np.float32),
        y.astype(np.float32),
        lam,
        labels,
        tol=1e-4,
        max_epochs=3000,
    )
    assert bool(res.converged)
    w = np.asarray(res.coef, np.float64)
    r = y - X @ w
    primal = 0.5 * r @ r / n + lam * np.linalg.norm(w.reshape(-1, 2), axis=1).sum()
    theta = r / max(
        1.0, np.max(np.linalg.norm((X.T @ r).reshape(-1, 2), axis=1)) / (n * lam)
    )
    dual = 0.5 * (y @ y - (y - theta) @ (y - theta)) / n
    assert primal - dual <= 1e-4 * 0.5 * y @ y / n


@pytest.mark.parametrize("p0", [1, 64])
def test_compiled_path_of_folds_equals_skglm_at_each_strength_x64(p0):
    """Two folds' paths (sample weights with zeros on held-out rows, the
    design centred with each fold's means) in one compiled loop per bucket,
    warm-started, the working set's Gram matrix cached across strengths
    when the bucket holds every group (p0=64), give skglm's solution on
    each fold's rows alone at each strength."""
    from jaxreg.solvers import bcd
    from jaxreg.solvers.base import prepare
    from jaxreg.solvers.datafits import Quadratic

    X, y = _problem()
    n, d = X.shape
    labels = np.repeat(np.arange(d // 4), 4)
    layout = bcd.group_layout(4, d)
    rows = [np.arange(n) < 2 * n // 3, np.arange(n) >= n // 3]
    A = np.stack([r / r.sum() for r in rows])
    Y = np.stack([y - a @ y for a in A])  # targets centred per fold
    with jax.enable_x64(True):
        lam_max = min(
            _lam_max(X[r], y[r], labels, np.full(r.sum(), 1 / r.sum())) for r in rows
        )
        lams = lam_max * np.geomspace(0.9, 0.01, 6)
        problem = prepare(bcd.padded(X, layout), y, Quadratic, fit_intercept=True)
        W, _, gaps, iters, converged, tol_abs = bcd.solve_folds_prepared(
            problem,
            layout,
            lams,
            None,
            A,
            Y,
            center=True,
            tol=1e-13,
            max_iter=100,
            max_epochs=100_000,
            p0=p0,
        )
        W = np.asarray(W)[:, :, layout.pos]
        assert bool(np.all(converged)) and np.all(np.asarray(iters) >= 1)
    for r, coefs in zip(rows, W, strict=True):
        for lam, coef in zip(lams, coefs, strict=True):
            sk = SkglmGroupLasso(groups=4, alpha=lam, tol=1e-12, fit_intercept=True)
            np.testing.assert_allclose(coef, sk.fit(X[r], y[r]).coef_, atol=1e-7)
        assert np.sum(coefs[0] != 0) < np.sum(coefs[-1] != 0)
