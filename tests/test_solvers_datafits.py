"""Datafits (jaxreg.solvers.datafits): values, gradients, Lipschitz, gap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxreg.solvers.datafits import LOGISTIC, QUADRATIC, duality_gap, lipschitz
from tests.reference import l1_argmin


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 8))
    return X, rng.standard_normal(40), np.sign(rng.standard_normal(40))


def test_values_and_gradients_x64(data):
    X, yq, yl = data
    u = X @ np.linspace(-1, 1, 8)
    with jax.enable_x64(True):
        assert float(QUADRATIC.value(yq, u)) == pytest.approx(
            np.mean((yq - u) ** 2) / 2
        )
        assert float(LOGISTIC.value(yl, u)) == pytest.approx(
            np.mean(np.log1p(np.exp(-yl * u)))
        )
        for f, y in ((QUADRATIC, yq), (LOGISTIC, yl)):
            g = jax.grad(lambda v, f=f, y=y: f.value(jnp.asarray(y), v))(jnp.asarray(u))
            np.testing.assert_allclose(-np.asarray(f.neg_grad(y, u)), g, rtol=1e-12)
            h = jax.vmap(
                jax.grad(
                    lambda t, i, f=f, y=y: jax.grad(
                        lambda v: f.value(jnp.asarray(y), v)
                    )(jnp.asarray(u).at[i].set(t))[i]
                )
            )(jnp.asarray(u), jnp.arange(40))
            np.testing.assert_allclose(np.asarray(f.hessian_diag(y, u)), h, rtol=1e-10)


def test_lipschitz_power_iteration(data):
    X = data[0]
    top = np.linalg.norm(X, 2) ** 2 / 40
    with jax.enable_x64(True):
        XT = jnp.asarray(X.T)
        for f, c in ((QUADRATIC, 1.0), (LOGISTIC, 0.25)):
            L = float(lipschitz(f, XT, n_iter=100))
            assert c * top <= L <= 1.02 * c * top


@pytest.mark.parametrize("l1, l2", [(0.05, 0.0), (0.03, 0.02), (0.0, 0.1)])
@pytest.mark.parametrize("fit", ["quadratic", "logistic"])
def test_gap_bounds_suboptimality_x64(data, l1, l2, fit):
    """gap(w) >= P(w) - P* >= 0 with P* from scipy, and gap(w*) ~ 0."""
    X, yq, yl = data
    f, y = (QUADRATIC, yq) if fit == "quadratic" else (LOGISTIC, yl)

    def primal(w):
        return (
            float(f.value(jnp.asarray(y), jnp.asarray(X @ w)))
            + l1 * np.abs(w).sum()
            + l2 / 2 * w @ w
        )

    with jax.enable_x64(True):

        def smooth(w):
            u = X @ w
            r = np.asarray(f.neg_grad(y, u))
            value = float(f.value(jnp.asarray(y), jnp.asarray(u))) + l2 / 2 * w @ w
            return value, -X.T @ r + l2 * w

        w_star, p_star = l1_argmin(smooth, 8, l1, ftol=1e-15, gtol=1e-12)
        ones = jnp.ones(8)
        r_star = np.asarray(f.neg_grad(y, X @ w_star))
        for w in (np.zeros(8), np.linspace(-0.5, 0.5, 8), w_star):
            u = X @ w
            v = X.T @ np.asarray(f.neg_grad(y, u))
            args = (jnp.asarray(y), jnp.asarray(u), jnp.asarray(w))
            gap, p = duality_gap(f, *args, jnp.asarray(v), l1 * ones, l2 * ones)
            assert float(p) == pytest.approx(primal(w), rel=1e-12)
            assert float(gap) >= primal(w) - p_star - 1e-10
            # a dual point from another residual certifies w too; the optimal
            # one (r at w*) makes the gap exactly the suboptimality
            gap_star, _ = duality_gap(
                f, *args, X.T @ r_star, l1 * ones, l2 * ones, r=jnp.asarray(r_star)
            )
            assert float(gap_star) == pytest.approx(primal(w) - p_star, abs=1e-7)
        assert float(gap) <= 1e-6
