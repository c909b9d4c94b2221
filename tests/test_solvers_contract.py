"""The solver contracts (Datafit x Penalty x Design) and what users bring
through them: sample weights, sparse X, positivity, penalty factors, a zero
penalty, and a new datafit (Huber) and penalty (MCP) defined here as one class
each, with no edit anywhere else."""

import dataclasses
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
from jax.experimental import sparse as jsparse
from sklearn import exceptions as skex
from sklearn import linear_model as sk
from sklearn.datasets import load_diabetes

import jaxreg as jr
from jaxreg.penalties import SeparablePenalty
from jaxreg.solvers import Datafit, fit, register_dataclass
from tests.reference import l1_argmin


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return X, y


def _weights(n, seed=0):
    return np.random.default_rng(seed).integers(0, 4, n).astype(float)


# --- sample weights ----------------------------------------------------------


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_sample_weight_matches_sklearn_x64(diabetes, l1_ratio):
    X, y = diabetes
    sw = _weights(len(y))
    ref = sk.ElasticNet(alpha=0.05, l1_ratio=l1_ratio, tol=1e-12, max_iter=100_000)
    ref.fit(X, y, sample_weight=sw)
    with jax.enable_x64(True):
        # a gap of tol·P(0) bounds the coefficients' error only by
        # sqrt(2·gap/μ) (2e-4 here at tol=1e-12): solve well below the
        # tolerance of the comparison
        res = jr.enet(X, y, 0.05, l1_ratio, sample_weight=sw, tol=1e-14)
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(np.asarray(res.coef), ref.coef_, atol=1e-6 * scale)
    assert float(res.intercept) == pytest.approx(ref.intercept_, rel=1e-7)


def test_zero_weight_drops_rows_and_integer_weights_repeat_them_x64(diabetes):
    X, y = diabetes
    sw = _weights(len(y), 1)
    rows = np.repeat(np.arange(len(y)), sw.astype(int))
    with jax.enable_x64(True):
        for call in (
            lambda X, y, **kw: jr.lasso(X, y, 0.1, tol=1e-12, **kw),
            lambda X, y, **kw: jr.ridge(X, y, 0.01, **kw),
            lambda X, y, **kw: jr.logistic_regression(
                X, y > 140, 0.005, tol=1e-12, **kw
            ),
        ):
            weighted = call(X, y, sample_weight=sw)
            repeated = call(X[rows], y[rows])
            np.testing.assert_allclose(weighted.coef, repeated.coef, atol=1e-7)
            assert float(weighted.intercept) == pytest.approx(
                float(repeated.intercept), abs=1e-7
            )


def test_logistic_and_ridge_sample_weight_match_sklearn_x64(diabetes):
    X, y = diabetes
    X = (X - X.mean(0)) / X.std(0)
    labels = y > 140
    sw = _weights(len(y), 2) + 0.5
    C = 0.3
    ref = sk.LogisticRegression(C=C, tol=1e-12, max_iter=10_000)
    ref.fit(X, labels, sample_weight=sw)
    ridge_ref = sk.Ridge(alpha=3.0).fit(X, y, sample_weight=sw)
    with jax.enable_x64(True):
        res = jr.logistic_regression(
            X, labels, 1.0 / (C * sw.sum()), 0.0, sample_weight=sw, tol=1e-12
        )
        ridge = jr.ridge(X, y, 3.0 / sw.sum(), sample_weight=sw)
    np.testing.assert_allclose(res.coef, ref.coef_[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ridge.coef, ridge_ref.coef_, rtol=1e-9)
    assert float(ridge.intercept) == pytest.approx(ridge_ref.intercept_, rel=1e-9)


def test_bad_sample_weight_raises(diabetes):
    X, y = diabetes
    for sw, match in (
        (np.ones(3), "shape"),
        (-np.ones(len(y)), ">= 0"),
        (np.zeros(len(y)), "positive sum"),
        (np.full(len(y), np.nan), ">= 0"),
    ):
        with pytest.raises(ValueError, match=match):
            jr.lasso(X, y, 0.1, sample_weight=sw)


def test_logistic_default_tol_is_as_accurate_as_lbfgs():
    """float32 at the default tol: within 3e-3 of the optimum (relative to the
    largest coefficient), closer than scikit-learn's lbfgs at its defaults
    (1.2e-2 and 2.3e-2 here). float64 at the default tol stops 1.9e-3 from
    it at C = 10; float32 lands within its roundoff of that point (1.6e-3 on
    the uncentred design, 2.1e-3 on the centred one)."""
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    for C in (1.0, 10.0):
        ref = sk.LogisticRegression(C=C, tol=1e-12, max_iter=100_000).fit(X, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", skex.ConvergenceWarning)
            lbfgs = sk.LogisticRegression(C=C).fit(X, y)
        res = jr.logistic_regression(X, y, 1.0 / (C * len(y)), 0.0)
        scale = np.abs(ref.coef_).max()
        ours = np.abs(np.asarray(res.coef) - ref.coef_[0]).max() / scale
        theirs = np.abs(lbfgs.coef_ - ref.coef_).max() / scale
        assert ours < 3e-3
        assert ours < theirs


# --- sparse designs ----------------------------------------------------------


def _sparse_problem(seed=0, n=300, d=500, density=0.02):
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=density, random_state=seed, format="csr")
    X.data = rng.standard_normal(X.nnz)
    w = np.zeros(d)
    w[:10] = rng.standard_normal(10) * 3
    y = X @ w + 0.1 * rng.standard_normal(n) + 2.0
    return X, y


@pytest.mark.parametrize(
    "to_sparse",
    [sp.csr_matrix, sp.csc_matrix, jsparse.BCOO.from_scipy_sparse],
    ids=["csr", "csc", "bcoo"],
)
def test_sparse_equals_dense_x64(to_sparse):
    X, y = _sparse_problem()
    Xd = X.toarray()
    sw = _weights(len(y), 3) + 1
    with jax.enable_x64(True):
        Xs = to_sparse(X)
        for call in (
            lambda X: jr.lasso(X, y, 0.01, tol=1e-12, sample_weight=sw),
            lambda X: jr.logistic_regression(X, y > 2, 0.002, tol=1e-12),
            lambda X: jr.ridge(X, y, 0.1, method="cg", tol=1e-14, max_iter=10_000),
        ):
            dense, sparse = call(Xd), call(Xs)
            np.testing.assert_allclose(sparse.coef, dense.coef, atol=1e-7)
            assert float(sparse.intercept) == pytest.approx(
                float(dense.intercept), abs=1e-7
            )
        path_d = jr.lasso_path(Xd, y, n_lambdas=5, tol=1e-10)
        path_s = jr.lasso_path(Xs, y, n_lambdas=5, tol=1e-10)
        np.testing.assert_allclose(path_s.coef, path_d.coef, atol=1e-6)


def test_sparse_lasso_matches_sklearn_on_sparse_input():
    X, y = _sparse_problem(1)
    ref = sk.Lasso(alpha=0.02, tol=1e-10, max_iter=100_000).fit(X, y)
    with jax.enable_x64(True):
        res = jr.lasso(X, y, 0.02, tol=1e-12)
    np.testing.assert_allclose(res.coef, ref.coef_, atol=1e-6)
    assert float(res.intercept) == pytest.approx(ref.intercept_, abs=1e-6)


def test_sparse_design_memory_is_nnz():
    """A 1e6 x 1e5 design with 1e6 nonzeros is held as its nonzeros (12 bytes
    each in float32), never densified (that would be 400 GB)."""
    from jaxreg.solvers.datafits import Quadratic

    rng = np.random.default_rng(0)
    n, d, nnz = 1_000_000, 100_000, 1_000_000
    X = sp.csr_matrix(
        (rng.standard_normal(nnz), (rng.integers(0, n, nnz), rng.integers(0, d, nnz))),
        shape=(n, d),
    )
    problem = jr.solvers.base.prepare(
        X, rng.standard_normal(n), Quadratic, fit_intercept=True
    )
    leaves = jax.tree.leaves(problem.design)
    assert sum(x.nbytes for x in leaves) < 20 * nnz + 16 * d


# --- positivity, penalty factors, zero penalty --------------------------------


def test_positive_matches_sklearn_x64(diabetes):
    X, y = diabetes
    for l1_ratio in (1.0, 0.3):
        ref = sk.ElasticNet(
            alpha=0.01, l1_ratio=l1_ratio, positive=True, tol=1e-12, max_iter=100_000
        ).fit(X, y)
        with jax.enable_x64(True):
            res = jr.enet(X, y, 0.01, l1_ratio, positive=True, tol=1e-12)
        assert np.all(np.asarray(res.coef) >= 0)
        scale = np.abs(ref.coef_).max()
        np.testing.assert_allclose(res.coef, ref.coef_, atol=1e-6 * scale)
        path = jr.enet_path(X, y, l1_ratio=l1_ratio, positive=True, n_lambdas=5)
        assert np.all(np.asarray(path.coef) >= 0)


def test_positive_zero_penalty_is_nnls_and_converged_x64():
    # the gap counted vⱼ² of a coordinate held at 0 by the constraint: the
    # exact NNLS solution read as a gap of 14% of P(0), unconverged
    from scipy.optimize import nnls

    rng = np.random.default_rng(10)
    X = rng.normal(size=(50, 8))
    y = X @ np.array([2.0, -1, 0.5, 0, 0, 0, 0, 1]) + 0.3 * rng.normal(size=50)
    ref, _ = nnls(X - X.mean(0), y - y.mean())
    with jax.enable_x64(True), warnings.catch_warnings():
        warnings.simplefilter("error")
        res = jr.lasso(X, y, 0.0, positive=True, tol=1e-12)
    assert bool(res.converged)
    np.testing.assert_allclose(res.coef, ref, atol=1e-6)


def test_penalty_factor_equals_lasso_on_rescaled_columns_x64(diabetes):
    """Σ cⱼ|wⱼ| with wⱼ = vⱼ/cⱼ is a plain Lasso in v on the columns X_j/c_j."""
    X, y = diabetes
    c = np.linspace(0.5, 2.0, X.shape[1])
    ref = sk.Lasso(alpha=0.05, tol=1e-12, max_iter=100_000).fit(X / c, y)
    with jax.enable_x64(True):
        res = jr.lasso(X, y, 0.05, penalty_factor=c, tol=1e-12)
        path = jr.lasso_path(X, y, penalty_factor=c, n_lambdas=3, eps=0.1)
    np.testing.assert_allclose(res.coef, ref.coef_ / c, atol=1e-6)
    # the grid starts where every coefficient is 0: max |xⱼᵀ(y - ȳ)|/(n cⱼ)
    Xc, yc = X - X.mean(0), y - y.mean()
    lam_max = np.max(np.abs(Xc.T @ yc) / len(y) / c)
    assert float(path.lambdas[0]) == pytest.approx(lam_max, rel=1e-6)
    np.testing.assert_array_equal(path.coef[0], 0.0)


def test_unpenalized_feature_is_fit_exactly_x64(diabetes):
    """A penalty factor 0 leaves a feature free: even at a huge λ it takes its
    least-squares value with the others at 0."""
    X, y = diabetes
    c = np.ones(X.shape[1])
    c[2] = 0.0
    with jax.enable_x64(True):
        res = jr.lasso(X, y, 1e6, penalty_factor=c, tol=1e-12)
    x2 = X[:, 2] - X[:, 2].mean()
    expected = x2 @ (y - y.mean()) / (x2 @ x2)
    assert float(res.coef[2]) == pytest.approx(expected, rel=1e-8)
    assert np.count_nonzero(np.asarray(res.coef)) == 1


def test_zero_penalty_gives_least_squares_not_zeros(diabetes):
    """lam = 0 must not stop at w = 0 (its gap used to read 0 there)."""
    X, y = diabetes
    ref = np.linalg.lstsq(X - X.mean(0), y - y.mean(), rcond=None)[0]
    with jax.enable_x64(True):
        for res in (
            jr.lasso(X, y, 0.0, tol=1e-12),
            jr.enet(X, y, 0.0, 0.5, tol=1e-12),
            jr.ridge(X, y, 0.0),
        ):
            assert bool(res.converged)
            # unpenalized coordinates are certified by their coordinate
            # decrease (an estimate, not a bound): ridge(lam=0) is exact
            np.testing.assert_allclose(res.coef, ref, rtol=2e-4)


def test_convergence_warning_is_caught_by_sklearn_filters(diabetes):
    X, y = diabetes
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=skex.ConvergenceWarning)
        res = jr.lasso(X, y, 1e-4, max_iter=1, tol=1e-12)
    assert not bool(res.converged)
    with pytest.warns(jr.ConvergenceWarning):
        jr.lasso(X, y, 1e-4, max_iter=1, tol=1e-12)


def test_penalty_object_with_conflicting_keywords_raises(diabetes):
    """A penalty object and l1_ratio/penalty_factor/positive would conflict:
    refused, never one silently ignored."""
    X, y = diabetes
    for kw in ({"l1_ratio": 0.5}, {"positive": True}, {"penalty_factor": np.ones(10)}):
        with pytest.raises(ValueError, match="on the penalty object"):
            jr.solvers.path.path(X, y, penalty=jr.l1(1.0), n_lambdas=3, **kw)
        with pytest.raises(ValueError, match="on the penalty object"):
            jr.logistic_regression(X, y > 140, jr.l1(0.01), **kw)
    # set on the penalty itself, positivity is honoured along the path
    res = jr.solvers.path.path(X, y, penalty=jr.l1(1.0, positive=True), n_lambdas=4)
    assert np.all(np.asarray(res.coef) >= 0)


def test_max_iter_zero_returns_the_start(diabetes):
    X, y = diabetes
    with pytest.warns(jr.ConvergenceWarning):
        res = jr.lasso(X, y, 0.1, max_iter=0)
    np.testing.assert_array_equal(res.coef, 0.0)
    assert float(res.intercept) == pytest.approx(y.mean(), rel=1e-6)


# --- a new datafit and a new penalty, one class each --------------------------


@dataclasses.dataclass(frozen=True)
class Huber(Datafit):
    """``F(u) = Σᵢ aᵢ H_δ(yᵢ - uᵢ)``, ``H_δ(r) = r²/2`` for ``|r| <= δ``,
    ``δ|r| - δ²/2`` beyond; its conjugate is ``t²/2`` on ``|t| <= δ``."""

    y: jax.Array
    weights: jax.Array
    delta = 1.0
    curvature = 1.0

    def _psi(self, r):
        return jnp.clip(r, -self.delta, self.delta)

    def value(self, u):
        r = self.y - u
        small = jnp.abs(r) <= self.delta
        h = jnp.where(small, 0.5 * r * r, self.delta * jnp.abs(r) - 0.5 * self.delta**2)
        return jnp.sum(self.weights * h)

    def neg_grad(self, u):
        return self.weights * self._psi(self.y - u)

    def hessian_diag(self, u):
        return self.weights * (jnp.abs(self.y - u) <= self.delta)

    def fenchel_young(self, u, theta):
        a = self.weights
        safe = jnp.where(a > 0, a, 1.0)
        t = jnp.clip(theta / safe, -self.delta, self.delta)
        r = self.y - u
        return self.value(u) + jnp.sum(a * (0.5 * t * t - t * r))

    def intercept_at_zero(self):
        return jnp.sum(self.weights * self.y)

    @staticmethod
    def loss(y, pred):
        return np.minimum(0.5 * (y - pred) ** 2, np.abs(y - pred) - 0.5)


Huber = register_dataclass(Huber, data_fields=["y", "weights"], meta_fields=[])


@dataclasses.dataclass(frozen=True)
class MCP(SeparablePenalty):
    """Minimax concave penalty ``λ|w| - w²/(2γ)`` for ``|w| <= γλ``, ``γλ²/2``
    beyond (non-convex: no gap; the solver stops on stationarity)."""

    strength: Any
    gamma: float = 3.0
    weights: Any = None
    positive = False
    convex = False

    def _lam(self, like):
        return self._weighted(jnp.asarray(self.strength, like.dtype), like)

    def _value(self, w):
        return jnp.sum(self.coord_value(w))

    def _grad(self, w):
        lam = self._lam(w)
        return jnp.where(
            jnp.abs(w) <= self.gamma * lam, lam * jnp.sign(w) - w / self.gamma, 0.0
        )

    def _prox(self, w, step):
        return self.coord_prox(w, step)

    def coord_value(self, w):
        lam, g = self._lam(w), self.gamma
        inner = lam * jnp.abs(w) - w * w / (2 * g)
        return jnp.where(jnp.abs(w) <= g * lam, inner, 0.5 * g * lam * lam)

    def coord_prox(self, x, step):
        lam, g = self._lam(x), self.gamma
        mid = jnp.sign(x) * jnp.maximum(jnp.abs(x) - step * lam, 0) / (1 - step / g)
        return jnp.where(jnp.abs(x) <= g * lam, mid, x)

    def subdiff_distance(self, w, v):
        lam = self._lam(w)
        at_zero = jnp.maximum(jnp.abs(v) - lam, 0.0)
        inner = jnp.abs(v - (lam * jnp.sign(w) - w / self.gamma))
        off = jnp.where(jnp.abs(w) <= self.gamma * lam, inner, jnp.abs(v))
        return jnp.where(w == 0, at_zero, off)

    def zero_margin(self, v):
        return self._lam(v) - jnp.abs(v)

    def unpenalized(self, like):
        return jnp.broadcast_to(self._lam(like) == 0, jnp.shape(like))

    def alpha_max(self, grad):
        return jnp.max(jnp.abs(grad))


MCP = register_dataclass(
    MCP, data_fields=["strength", "weights"], meta_fields=["gamma"]
)


def _robust_problem():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 15))
    w = np.zeros(15)
    w[:4] = [2.0, -1.5, 1.0, 0.5]
    y = X @ w + 0.3 * rng.standard_normal(120)
    y[:6] += 15.0  # outliers
    return X, y


def test_huber_datafit_one_class_matches_scipy_argmin_x64():
    X, y = _robust_problem()
    n, lam = len(y), 0.02
    with jax.enable_x64(True):
        datafit = Huber(jnp.asarray(y), jnp.full((n,), 1.0 / n))
        res = fit(X, y, jr.l1(lam), datafit=Huber, fit_intercept=False, tol=1e-12)

        def smooth(w):
            u = jnp.asarray(X @ w)
            return float(datafit.value(u)), -X.T @ np.asarray(datafit.neg_grad(u))

        w_star, _ = l1_argmin(smooth, 15, lam, ftol=1e-15, gtol=1e-12)
        ls = jr.lasso(X, y, lam, fit_intercept=False)
    assert bool(res.converged)
    np.testing.assert_allclose(res.coef, w_star, atol=1e-5)
    # and the outliers are what Huber resists: least squares is pulled further
    truth = np.r_[2.0, -1.5, 1.0, 0.5, np.zeros(11)]
    assert (
        np.abs(np.asarray(res.coef) - truth).max()
        < np.abs(np.asarray(ls.coef) - truth).max()
    )


def test_mcp_penalty_one_class_decreases_and_is_stationary_x64():
    X, y = _robust_problem()
    X = (X - X.mean(0)) / X.std(0)
    y = y[:] - 15.0 * (np.arange(len(y)) < 6)
    lam = 0.1
    with jax.enable_x64(True):
        res = fit(X, y, MCP(lam), tol=1e-12)
        w = np.asarray(res.coef)
        Xc, yc = X - X.mean(0), y - y.mean()
        r = yc - Xc @ w
        v = Xc.T @ r / len(y)
        pen = MCP(lam)
        dist = np.asarray(pen.subdiff_distance(jnp.asarray(w), jnp.asarray(v)))
        obj = 0.5 * np.mean(r**2) + float(jnp.sum(pen.coord_value(jnp.asarray(w))))
        obj0 = 0.5 * np.mean(yc**2)
        lasso = np.asarray(jr.lasso(X, y, lam, tol=1e-12).coef)
    assert bool(res.converged)
    assert np.max(dist) < 1e-6  # stationary
    assert obj < obj0
    # MCP's point: large coefficients are not shrunk (the Lasso's are)
    big = np.abs(w) > 3 * lam
    assert np.all(np.abs(w[big]) >= np.abs(lasso[big]))


def test_treedefs_tell_datafit_and_penalty_classes_apart():
    # jax.tree_util.register_dataclass gives equal treedefs to classes with
    # the same fields, and jit's treedef-keyed cache can then run the program
    # traced for one class on another (seen in CI: a Logistic hypergradient
    # with a Quadratic cotangent structure); jaxreg's registration includes
    # the class
    from jaxreg.solvers import Gamma, Logistic, Poisson, Quadratic, Tweedie

    y = w = jnp.ones(3)
    datafits = [Quadratic, Logistic, Poisson, Gamma, Tweedie.with_power(1.5), Huber]
    penalties = [
        jr.penalties.L1(0.1),
        jr.penalties.L2(0.1),
        jr.penalties.ElasticNet(0.1, 0.5),
        MCP(0.1, 3.0),
    ]
    for group in ([cls(y, w) for cls in datafits], penalties):
        defs = [jax.tree.structure(obj) for obj in group]
        for i, a in enumerate(defs):
            for b in defs[i + 1 :]:
                assert a != b, (a, b)
        # and flattening round-trips
        for obj in group:
            leaves, tree = jax.tree.flatten(obj)
            assert type(jax.tree.unflatten(tree, leaves)) is type(obj)


def test_warnings_name_the_callers_line(diabetes):
    # they named a line inside jaxreg (or optax's chain), whatever the call
    import optax

    from jaxreg.linear_model import Lasso

    X, y = diabetes
    p = {"blocks": {"kernel": jnp.ones((3, 4, 4)), "bias": jnp.ones((3, 4))}}
    f = lambda w, X, y: 0.5 * jnp.mean((X @ w - y) ** 2)  # noqa: E731
    calls = [
        lambda: optax.chain(jr.muon(0.1)).init(p),
        lambda: jr.lasso(X, y, 1e-4, max_iter=1, tol=1e-12),
        lambda: Lasso(1e-4, max_iter=1, tol=1e-12).fit(X, y),
        lambda: jr.solvers.proximal_gradient(
            f, jnp.zeros(X.shape[1]), jr.l1(1e-4), X, y, max_iter=1
        ),
    ]
    for call in calls:
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            call()
        assert rec, call
        assert {w.filename for w in rec} == {__file__}, [
            (w.filename, str(w.message)[:60]) for w in rec
        ]
