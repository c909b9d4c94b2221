"""Working-set CD internals (jaxreg.solvers.cd) and the host transfer."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxreg as jr
from jaxreg import elastic_net
from jaxreg.solvers import base, cd
from jaxreg.solvers.design import GramModel
from tests.reference import l1_argmin


def test_top_k_overflowing_priorities_keep_forced_features_first():
    """float64 priorities beyond float32 range must not tie with +-inf."""
    with jax.enable_x64(True):
        p = np.full(50, 1e300)
        p[[3, 40]] = np.inf  # forced (nonzero coefficients)
        p[[7, 8]] = -np.inf  # screened
        p[9] = -1e300
        _, idx = cd._top_k(jnp.asarray(p), 2)
        assert sorted(np.asarray(idx).tolist()) == [3, 40]
        _, idx = cd._top_k(jnp.asarray(-p), 3)
        assert sorted(np.asarray(idx).tolist()) == [7, 8, 9]


def test_anderson_weights_equal_normalized_solve():
    rng = np.random.default_rng(0)
    U = rng.standard_normal((5, 30))
    C = U @ U.T
    z = np.linalg.solve(C, np.ones(5))
    with jax.enable_x64(True):
        c = np.asarray(cd._anderson_weights(jnp.asarray(C)))
    np.testing.assert_allclose(c, z / z.sum(), rtol=1e-8)
    assert c.sum() == pytest.approx(1.0)


def test_inner_target_is_tight_for_a_pass_worth_of_epochs_then_loose():
    """A least-squares inner solve aims at the final tolerance for as many
    epochs as cost one pass over X, then at celer's target; a 1000 x 5000
    design with a 64-wide working set gets polishing epochs, diabetes with
    degree-3 features (442 x 285, an epoch dearer than a pass) and any
    datafit whose model is not exact (logistic) get none."""
    target = cd.InnerTarget(jnp.float32(1e-6), jnp.float32(1e-2), 12)
    got = [float(target.at(e)) for e in (0, 11, 12, 40)]
    np.testing.assert_allclose(got, [1e-6, 1e-6, 1e-2, 1e-2])
    Q, L = jr.solvers.Quadratic, jr.solvers.Logistic
    assert cd.tight_epochs(Q, 1000 * 5000, 64**2, 64) >= 16
    assert cd.tight_epochs(Q, 442 * 285, 64**2, 64) == 0
    assert cd.tight_epochs(L, 1000 * 5000, 64**2, 64) == 0


def _model(K, n, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((K, n))
    w = np.where(rng.random(K) < 0.7, rng.standard_normal(K), 0.0)
    y = w @ A + 0.1 * rng.standard_normal(n)
    return A @ A.T / n, A @ y / n


@pytest.mark.parametrize("l2", [0.0, 0.05])
def test_accelerated_model_cd_reaches_scipy_argmin(l2):
    """Anderson-accelerated CD on an ill-conditioned model (K=60 features,
    n=70 samples) converges to the argmin found by L-BFGS-B on the split
    reformulation, in at most half the epochs of plain cyclic CD."""
    H, g = _model(60, 70, 0)
    l1 = 0.01

    def q(x):
        return -g @ x + 0.5 * x @ H @ x + l1 * np.abs(x).sum() + 0.5 * l2 * x @ x

    x_star, q_star = l1_argmin(
        lambda x: (-g @ x + 0.5 * x @ H @ x + 0.5 * l2 * x @ x, -g + H @ x + l2 * x),
        60,
        l1,
    )
    with jax.enable_x64(True):
        args = (GramModel(None, jnp.asarray(H)), jnp.asarray(g), jnp.zeros(60))
        pen = elastic_net(l1 + l2, l1 / (l1 + l2), weights=jnp.ones(60))
        x, _, ep, gap = cd._model_cd(*args, pen, 1e-12, 20_000)
        assert not np.isfinite(float(gap))  # no certificate asked for
        assert q(np.asarray(x)) <= q_star + 1e-10
        np.testing.assert_allclose(x, x_star, atol=1e-5)
    # measured: 109 vs 349 epochs (l2 = 0), 79 vs 177 (l2 = 0.05)
    assert 2 * int(ep) <= _plain_cd_epochs(H, g, l1, l2, 1e-12, 10 * int(ep))


def test_model_cd_finds_a_feature_that_enters_after_its_sweep():
    """Epochs after the first sweep only the active coordinates (nonzero or
    just moved); a zero feature that becomes violating only once the others
    have moved (feature 0: no correlation with the target, but -0.5 with
    feature 7, swept after it) must still enter, at a full sweep, before the
    loop may stop."""
    H = np.eye(8)
    H[0, 7] = H[7, 0] = -0.5
    g = np.array([0.0, 0, 0, 0, 1, 1, 1, 1])
    l1 = 0.1
    x_star, _ = l1_argmin(lambda x: (-g @ x + 0.5 * x @ H @ x, -g + H @ x), 8, l1)
    assert x_star[0] > 0.1
    with jax.enable_x64(True):
        model = GramModel(None, jnp.asarray(H))
        pen = elastic_net(l1, 1.0, weights=jnp.ones(8))
        x, *_ = cd._model_cd(model, jnp.asarray(g), jnp.zeros(8), pen, 1e-12, 1000)
    np.testing.assert_allclose(x, x_star, atol=1e-8)


class _NoNewton(GramModel):
    """The same model without the Newton step on the support."""

    newton = None


@pytest.mark.parametrize("l1", [1e-2, 1e-3, 0.0])
@pytest.mark.parametrize("unpenalized", [False, True])
def test_newton_on_the_support_cuts_epochs_on_correlated_features(l1, unpenalized):
    """Features of an AR(1) chain with correlation 0.995 (condition number
    ~3e4): model CD with the Newton step on the support reaches scipy's
    argmin in at most half the epochs of the same CD without it; also with
    three unpenalized features (weight 0: no face to stop at), and with no
    penalty at all (least squares: every coordinate free, sign pattern 0)."""
    rng = np.random.default_rng(0)
    n, K, rho = 200, 40, 0.995
    A = np.empty((K, n))
    A[0] = rng.standard_normal(n)
    for j in range(1, K):
        A[j] = rho * A[j - 1] + np.sqrt(1 - rho**2) * rng.standard_normal(n)
    w = np.zeros(K)
    w[::4] = rng.standard_normal(10)
    y = w @ A + 0.1 * rng.standard_normal(n)
    H, g = A @ A.T / n, A @ y / n

    c = np.ones(K)
    if unpenalized:
        c[[1, 5, 30]] = 0.0

    def q(x):
        return -g @ x + 0.5 * x @ H @ x + l1 * c @ np.abs(x)

    x_star, q_star = l1_argmin(
        lambda x: (-g @ x + 0.5 * x @ H @ x, -g + H @ x), K, l1 * c
    )
    epochs = {}
    with jax.enable_x64(True):
        pen = elastic_net(l1, 1.0, weights=jnp.asarray(c))
        for model in (GramModel, _NoNewton):
            args = (model(None, jnp.asarray(H)), jnp.asarray(g), jnp.zeros(K))
            x, _, ep, _ = cd._model_cd(*args, pen, 1e-12, 100_000)
            assert q(np.asarray(x)) <= q_star + 1e-10
            np.testing.assert_allclose(x, x_star, atol=1e-5)
            epochs[model] = int(ep)
    # measured: 115 vs 403 epochs (l1 = 1e-2), 193 vs 535 (l1 = 1e-3), 663 vs
    # 1375 (l1 = 0)
    assert 2 * epochs[GramModel] <= epochs[_NoNewton]


def _plain_cd_epochs(H, g, l1, l2, eps, limit):
    """Epochs numpy cyclic CD needs for the same stopping rule (max over an
    epoch of H_jj |Δx_j| <= eps), or ``limit`` if it needs at least that."""
    x = np.zeros_like(g)
    hd = np.zeros_like(g)
    for ep in range(1, limit + 1):
        change = 0.0
        for j in range(len(g)):
            z = H[j, j] * x[j] + g[j] - hd[j]
            new = np.sign(z) * max(abs(z) - l1, 0.0) / (H[j, j] + l2)
            hd += H[j] * (new - x[j])
            change = max(change, H[j, j] * abs(new - x[j]))
            x[j] = new
        if change <= eps:
            return ep
    return limit


@pytest.mark.parametrize(
    "make",
    [
        lambda X: np.asfortranarray(X),
        lambda X: np.ascontiguousarray(X),
        lambda X: np.asfortranarray(X)[:, 1:],  # offset: not 64-byte aligned
        lambda X: (100 * X).astype(np.int64),
        lambda X: X.astype(np.float32)[::2],
    ],
)
def test_to_device_keeps_values_for_any_layout(make):
    X = make(np.random.default_rng(0).standard_normal((30, 9)))
    for dtype in (np.float32, np.float64):
        with jax.enable_x64(dtype == np.float64):
            XT = base.to_device(X.T, dtype)
            assert XT.dtype == dtype and XT.shape == X.T.shape
            np.testing.assert_array_equal(np.asarray(XT), X.T.astype(dtype))


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("as_jax", [False, True])
def test_one_non_finite_entry_in_X_raises(fit_intercept, bad, as_jax):
    """X's finiteness is checked on the device from the column norms."""
    from jaxreg.solvers import lasso, logistic_regression, ridge
    from jaxreg.solvers.path import lasso_path

    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 6))
    X[7, 4] = bad
    y = rng.standard_normal(20)
    X = jnp.asarray(X) if as_jax else X
    for call in (
        lambda: lasso(X, y, 0.1, fit_intercept=fit_intercept),
        lambda: logistic_regression(X, np.sign(y), 0.1, fit_intercept=fit_intercept),
        lambda: ridge(X, y, 0.1, fit_intercept=fit_intercept),
        lambda: lasso_path(X, y, n_lambdas=3, fit_intercept=fit_intercept),
    ):
        with pytest.raises(ValueError, match="X contains NaN or Inf"):
            call()


def test_a_non_finite_warm_start_or_penalty_factor_raises_naming_it():
    # a NaN in coef_init ran all 100 outer iterations and returned a NaN
    # coefficient with "raise max_iter or loosen tol"; a bad penalty_factor
    # was reported as "weights", and a long array's repr buried the culprit
    from jaxreg.linear_model import enet_path
    from jaxreg.solvers import group_lasso, lasso
    from jaxreg.solvers.path import lasso_path

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 12)), rng.standard_normal(30)
    w0 = np.zeros(12)
    w0[3] = np.nan
    for call in (
        lambda: lasso(X, y, 0.1, coef_init=w0),
        lambda: group_lasso(X, y, 0.1, 3, coef_init=w0),
        lambda: lasso_path(X, y, n_lambdas=3, coef_init=w0),
    ):
        with pytest.raises(ValueError, match="coef_init contains NaN or Inf"):
            call()
    with pytest.raises(ValueError, match="coef_init contains NaN or Inf"):
        enet_path(X, y, coef_init=w0)  # scikit-learn's signature
    factor = np.ones(12)
    factor[9] = -1.0
    message = r"penalty_factor .* \(12,\) with 1 entry that fails .* index 9: -1\.0"
    with pytest.raises(ValueError, match=message):
        lasso(X, y, 0.1, penalty_factor=factor)


def test_targets_far_from_zero_keep_their_precision_in_float32():
    # y + 1e6 was cast to float32 (ulp 0.06) before centring: coefficients
    # 5e-3 off, marked converged; centred on the host in float64 first, the
    # fit equals the one on y, and the intercept moves by the offset
    from jaxreg.linear_model import ElasticNet
    from jaxreg.solvers import lasso

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 25))
    y = X[:, :5] @ np.full(5, 3.0) + rng.standard_normal(60)
    near, far = lasso(X, y, 0.05), lasso(X, y + 1e6, 0.05)
    assert near.coef.dtype == jnp.float32
    np.testing.assert_allclose(far.coef, near.coef, atol=1e-6)
    np.testing.assert_allclose(float(far.intercept) - 1e6, near.intercept, atol=0.07)
    sw = rng.uniform(0.5, 2.0, 60)
    near = ElasticNet(alpha=0.05).fit(X, y, sample_weight=sw)
    far = ElasticNet(alpha=0.05).fit(X, y + 1e6, sample_weight=sw)
    np.testing.assert_allclose(far.coef_, near.coef_, atol=1e-6)


def test_huge_finite_X_reports_overflow_not_nan():
    """Squares overflow to inf: the error says so, not "contains NaN/Inf"."""
    from jaxreg.solvers.datafits import Quadratic

    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 6)).astype(np.float32)
    X[:, 2] *= 1e30  # float32 squares overflow
    for fit_intercept in (True, False):
        with pytest.raises(ValueError, match="overflow float32"):
            base.prepare(
                X, rng.standard_normal(20), Quadratic, fit_intercept=fit_intercept
            )


def test_least_squares_with_free_intercept_equals_centring_x64():
    # cd.solve with the intercept as a free coordinate (the Gram cache is
    # then off: it holds no intercept row) reaches the centred solution
    from jaxreg.solvers import glm
    from jaxreg.solvers.datafits import Quadratic
    from jaxreg.solvers.design import DenseDesign

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 8))
    y = X @ rng.normal(size=8) + 3.0
    with jax.enable_x64(True):
        a = jnp.full(50, 1 / 50)
        XT = jnp.asarray(X.T)
        design = DenseDesign(XT, *DenseDesign.moments(XT, a, False))
        df = Quadratic(jnp.asarray(y), a)
        st, tol_abs = glm.setup(design, df, jnp.zeros(8), 1e-12, True)
        st = cd.solve(
            design,
            df,
            jr.l1(0.05),
            st,
            tol_abs,
            fit_intercept=True,
            max_iter=100,
            max_epochs=100_000,
            p0=16,
        )
        ref = jr.lasso(X, y, 0.05, tol=1e-12)
    np.testing.assert_allclose(np.asarray(st.w), np.asarray(ref.coef), atol=1e-9)
    np.testing.assert_allclose(float(st.b), float(ref.intercept), atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_newton_step_cg_does_not_see_column_scales(dtype):
    """The Newton step's conjugate gradients are Jacobi-preconditioned:
    on ``H = D C D`` (``C`` a well-conditioned correlation matrix, ``D``
    column scales from 1e-3 to 1e4, condition number ~1e14) ``k + 8``
    steps solve it to the dtype's precision, as on ``C`` itself (plain CG
    stalled at a relative error ~1). Reference: numpy's solve in float64."""
    from jaxreg.solvers.design import _conjugate_gradient

    rng = np.random.default_rng(0)
    k = 30
    A = rng.normal(size=(200, k))
    C = np.corrcoef(A.T)
    D = np.logspace(-3, 4, k)
    H = D[:, None] * C * D[None, :]
    b = rng.normal(size=k) * D
    x_ref = np.linalg.solve(H, b)
    with jax.enable_x64(dtype == np.float64):
        Hj = jnp.asarray(H, dtype)
        x = _conjugate_gradient(
            lambda v: Hj @ v, jnp.asarray(b, dtype), k + 8, jnp.diag(Hj)
        )
    # the error in the scale-free coordinates D x
    err = np.linalg.norm(D * (np.asarray(x, np.float64) - x_ref))
    assert err <= 1e3 * np.finfo(dtype).eps * np.linalg.norm(D * x_ref)


def test_float32_logistic_on_raw_features_converges_in_few_steps(monkeypatch):
    # raw breast cancer (features from 1e-3 to 4e3) in float32: on the
    # uncentred design the duality gap could not resolve tol (its dual
    # point's X_jᵀr cancelled ~5e4-fold), and the solver repeated a
    # prox-Newton step that moved nothing 10⁵ times, its whole epochs budget
    # (11 s); later it stopped there with a ConvergenceWarning. Centred
    # beside the free intercept (Problem), it converges in 5 outer steps.
    from sklearn.datasets import load_breast_cancer
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    X, y = load_breast_cancer(return_X_y=True)
    C = 2.78
    with warnings.catch_warnings():  # liblinear may stop at max_iter and warn
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = LogisticRegression(
            l1_ratio=1.0,
            C=C,
            solver="liblinear",
            tol=1e-10,
            max_iter=100_000,
            intercept_scaling=1e5,
            random_state=0,
        ).fit(X, y)

    def objective(coef, intercept):
        u = X @ coef + intercept
        return C * np.sum(np.logaddexp(0, -(2 * y - 1) * u)) + np.abs(coef).sum()

    steps = []
    model_cd = cd._model_cd

    def counted(*args, **kwargs):  # one call per prox-Newton step
        jax.debug.callback(lambda: steps.append(1))
        return model_cd(*args, **kwargs)

    jax.clear_caches()  # retrace with the counter
    monkeypatch.setattr(cd, "_model_cd", counted)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = jr.logistic_regression(X.astype(np.float32), y, 1 / (C * len(y)))
    assert bool(res.converged)
    assert 0 < len(steps) <= 2000, len(steps)
    # an outer step that moved nothing ends the loop (max_iter = 100)
    assert int(res.n_iter) < 50
    best = objective(ref.coef_.ravel(), ref.intercept_[0])
    ours = objective(np.asarray(res.coef, float), float(res.intercept))
    assert ours - best <= 1e-6 * best, (ours, best)
