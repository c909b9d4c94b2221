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
