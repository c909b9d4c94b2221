"""Datafits (jaxreg.solvers.datafits): values, gradients, Lipschitz, gap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxreg import elastic_net
from jaxreg.solvers.datafits import Logistic, Quadratic, duality_gap, lipschitz
from jaxreg.solvers.design import DenseDesign
from tests.reference import l1_argmin


def _fit(cls, y, n):
    return cls(jnp.asarray(y), jnp.full((n,), 1.0 / n))


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 8))
    return X, rng.standard_normal(40), np.sign(rng.standard_normal(40))


def test_values_and_gradients_x64(data):
    X, yq, yl = data
    u = X @ np.linspace(-1, 1, 8)
    with jax.enable_x64(True):
        quad, logi = _fit(Quadratic, yq, 40), _fit(Logistic, yl, 40)
        assert float(quad.value(u)) == pytest.approx(np.mean((yq - u) ** 2) / 2)
        assert float(logi.value(u)) == pytest.approx(np.mean(np.log1p(np.exp(-yl * u))))
        for f in (quad, logi):
            g = jax.grad(f.value)(jnp.asarray(u))
            np.testing.assert_allclose(-np.asarray(f.neg_grad(u)), g, rtol=1e-12)
            h = jax.vmap(
                jax.grad(
                    lambda t, i, f=f: jax.grad(f.value)(jnp.asarray(u).at[i].set(t))[i]
                )
            )(jnp.asarray(u), jnp.arange(40))
            np.testing.assert_allclose(np.asarray(f.hessian_diag(u)), h, rtol=1e-10)


def test_lipschitz_power_iteration(data):
    X = data[0]
    top = np.linalg.norm(X, 2) ** 2 / 40
    with jax.enable_x64(True):
        design = DenseDesign(jnp.asarray(X.T), jnp.zeros(8), jnp.zeros(8))
        for cls, c in ((Quadratic, 1.0), (Logistic, 0.25)):
            L = float(lipschitz(_fit(cls, data[2], 40), design, n_iter=100))
            assert c * top <= L <= 1.02 * c * top


@pytest.mark.parametrize("l1, l2", [(0.05, 0.0), (0.03, 0.02), (0.0, 0.1)])
@pytest.mark.parametrize("fit", ["quadratic", "logistic"])
def test_gap_bounds_suboptimality_x64(data, l1, l2, fit):
    """gap(w) >= P(w) - P* >= 0 with P* from scipy, and gap(w*) ~ 0."""
    X, yq, yl = data
    f = _fit(Quadratic, yq, 40) if fit == "quadratic" else _fit(Logistic, yl, 40)
    s = l1 + l2
    pen = elastic_net(s, l1 / s)

    def primal(w):
        return (
            float(f.value(jnp.asarray(X @ w))) + l1 * np.abs(w).sum() + l2 / 2 * w @ w
        )

    with jax.enable_x64(True):

        def smooth(w):
            u = X @ w
            r = np.asarray(f.neg_grad(jnp.asarray(u)))
            value = float(f.value(jnp.asarray(u))) + l2 / 2 * w @ w
            return value, -X.T @ r + l2 * w

        w_star, p_star = l1_argmin(smooth, 8, l1, ftol=1e-15, gtol=1e-12)
        r_star = np.asarray(f.neg_grad(jnp.asarray(X @ w_star)))
        for w in (np.zeros(8), np.linspace(-0.5, 0.5, 8), w_star):
            u = X @ w
            v = X.T @ np.asarray(f.neg_grad(jnp.asarray(u)))
            args = (jnp.asarray(u), jnp.asarray(w))
            gap, p = duality_gap(f, pen, *args, jnp.asarray(v))
            assert float(p) == pytest.approx(primal(w), rel=1e-12)
            assert float(gap) >= primal(w) - p_star - 1e-10
            # a dual point from another residual certifies w too; the optimal
            # one (r at w*) makes the gap exactly the suboptimality
            gap_star, _ = duality_gap(
                f, pen, *args, jnp.asarray(X.T @ r_star), r=jnp.asarray(r_star)
            )
            assert float(gap_star) == pytest.approx(primal(w) - p_star, abs=1e-7)
        assert float(gap) <= 1e-6


# --- the Tweedie family -------------------------------------------------------


@pytest.mark.parametrize("power", [1.0, 1.5, 2.0, 3.0])
def test_tweedie_derivatives_match_autodiff_x64(power):
    """``neg_grad`` and ``hessian_diag`` against jax's derivatives of
    ``value``; ``value`` against scikit-learn's half deviance (the constant
    included); the intercept at zero zeroes the intercept's gradient."""
    from sklearn._loss.loss import HalfTweedieLoss

    from jaxreg.solvers.datafits import Tweedie

    rng = np.random.default_rng(0)
    y = rng.gamma(2.0, 1.0, 40) + (power < 2) * (rng.random(40) < 0.2) * -10
    y = np.maximum(y, 0.0 if power < 2 else 1e-3)
    a = np.full(40, 1 / 40)
    u = rng.standard_normal(40)
    with jax.enable_x64(True):
        df = Tweedie.with_power(power).from_targets(y, jnp.asarray(a))
        assert df.power == power
        grad = jax.grad(df.value)(jnp.asarray(u))
        hess = jnp.diagonal(jax.hessian(df.value)(jnp.asarray(u)))
        np.testing.assert_allclose(df.neg_grad(u), -grad, rtol=1e-10, atol=1e-14)
        expected_h = np.asarray(hess)
        if power > 2:  # the model uses max(Hessian, Fisher information)
            expected_h = np.maximum(expected_h, a * np.exp((2 - power) * u))
        np.testing.assert_allclose(df.hessian_diag(u), expected_h, rtol=1e-10)
        loss = HalfTweedieLoss(power=power)
        ref = loss.loss(y, u) + loss.constant_to_optimal_zero(y)
        np.testing.assert_allclose(Tweedie.with_power(power).loss(y, u), ref)
        assert float(df.value(u)) == pytest.approx(np.mean(ref), rel=1e-12)
        b0 = df.intercept_at_zero()
        assert float(jnp.sum(df.neg_grad(jnp.full(40, b0)))) == pytest.approx(
            0, abs=1e-12
        )


def test_tweedie_rejects_out_of_range_targets_and_group_lasso():
    from jaxreg.solvers import group_lasso
    from jaxreg.solvers.datafits import Gamma, Poisson, Tweedie

    a = np.full(3, 1 / 3)
    with pytest.raises(ValueError, match="out of the valid range"):
        Poisson.from_targets(np.array([1.0, -1.0, 0.0]), a)
    with pytest.raises(ValueError, match="out of the valid range"):
        Gamma.from_targets(np.array([1.0, 0.0, 2.0]), a)
    with pytest.raises(ValueError, match="power"):
        Tweedie.with_power(0.5)
    X = np.random.default_rng(0).standard_normal((10, 4))
    with pytest.raises(ValueError, match="has_dual"):
        group_lasso(X, np.ones(10), 0.1, groups=2, datafit=Poisson)


def test_logistic_fenchel_young_is_finite_far_from_p_in_float32():
    """``Σ aᵢ KL(zᵢ ‖ pᵢ)`` in float32 against float64 numpy, with ``z`` near
    ``p`` (the log1p form), far below it (``z = 1e-8·p``: a dual point scaled
    down by a small λ, where ``δ/p`` rounds to -1 and the gap was ``-inf``,
    read as converged at ``w = 0``), near 1 and at 0 and 1."""
    rng = np.random.default_rng(0)
    n = 60
    y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    u = rng.normal(size=n)
    p = 1.0 / (1.0 + np.exp(y * u))  # σ(-y u)
    scale = np.concatenate(
        [np.full(10, 1e-8), np.full(10, 0.3), 1 + rng.uniform(-1e-3, 1e-3, 10)]
    )
    q = 1 - p[40:50]
    z = np.concatenate([scale * p[:30], np.zeros(10), 1 - 1e-7 * q, np.ones(10)])
    a = np.full(n, 1.0 / n)

    def xlogy_ratio(x, q):
        return np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0) / q), 0.0)

    ref = np.sum(a * (xlogy_ratio(z, p) + xlogy_ratio(1 - z, 1 - p)))
    f32 = jnp.float32
    datafit = Logistic(jnp.asarray(y, f32), jnp.asarray(a, f32))
    ours = datafit.fenchel_young(jnp.asarray(u, f32), jnp.asarray(a * y * z, f32))
    assert np.isfinite(float(ours)) and float(ours) >= 0
    np.testing.assert_allclose(float(ours), ref, rtol=1e-4)


@pytest.mark.parametrize("margin", [-90.0, 90.0])
@pytest.mark.parametrize("z", [1e-8, 0.5, 0.999])
def test_logistic_fenchel_young_where_sigmoid_underflows_in_float32(margin, z):
    """At ``y·u = ∓90`` float32's ``σ`` underflows to 0; the KL term must use
    ``log σ`` (it came out ``-0.144`` for ``z = 0.5`` where it is 44.3)."""
    ref = z * (np.log(z) + np.logaddexp(0.0, margin))
    ref += (1 - z) * (np.log(1 - z) + np.logaddexp(0.0, -margin))
    f32 = jnp.float32
    datafit = Logistic(jnp.ones(1, f32), jnp.ones(1, f32))
    ours = datafit.fenchel_young(jnp.full(1, margin, f32), jnp.full(1, z, f32))
    np.testing.assert_allclose(float(ours), ref, rtol=1e-4)  # z rounded to float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logistic_curvature_of_well_classified_rows_is_not_zero(dtype):
    """``∇²F`` of a row with margin ``u`` is ``σ(u)σ(-u)`` (mpmath-free
    reference: ``e^{-|u|}/(1 + e^{-|u|})²`` in float64). As ``σ(u)(1 -
    σ(u))`` it was exactly 0 from ``|u| ≈ 17`` in float32 (37 in float64)
    while the gradient ``σ(-yu)`` was not, so CD froze features seen only
    in such rows."""
    u = np.array([-60.0, -20.0, -1.0, 0.0, 3.0, 20.0, 40.0, 60.0])
    if dtype == np.float64:
        u = np.concatenate([u, [100.0, 300.0]])
    with jax.enable_x64(dtype == np.float64):
        df = Logistic(jnp.ones(u.shape, dtype), jnp.full(u.shape, 0.5, dtype))
        h = np.asarray(df.hessian_diag(jnp.asarray(u, dtype)), np.float64)
    e = np.exp(-np.abs(u))
    np.testing.assert_allclose(h, 0.5 * e / (1 + e) ** 2, rtol=1e-5)
