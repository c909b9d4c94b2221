"""LION against optax.lion, and its reference defaults."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxreg as jr
from tests.test_transforms import max_diff, run


@pytest.mark.parametrize("weight_decay", [0.0, 1e-3, 0.1])
def test_lion_matches_optax_with_equal_weight_decay(weight_decay):
    ours = jr.lion(1e-2, weight_decay=weight_decay)
    ref = optax.lion(1e-2, weight_decay=weight_decay)
    assert max_diff(run(ours), run(ref)) < 1e-6


def test_lion_with_schedule_and_mask_matches_optax():
    lr = optax.warmup_cosine_decay_schedule(0.0, 1e-2, 10, 100)

    def mask(p):
        return jax.tree.map(lambda x: x.ndim > 1, p)

    ours = jr.lion(lr, b1=0.95, b2=0.98, weight_decay=0.5, mask=mask)
    ref = optax.lion(lr, b1=0.95, b2=0.98, weight_decay=0.5, mask=mask)
    assert max_diff(run(ours), run(ref)) < 1e-6


def test_default_weight_decay_is_the_references_zero_not_optax():
    # optax.lion decays by default (1e-3); the reference and jaxreg do not.
    ours = jr.lion(1e-2)
    assert max_diff(run(ours), run(optax.lion(1e-2, weight_decay=0.0))) < 1e-6
    assert max_diff(run(ours), run(optax.lion(1e-2))) > 1e-6


def test_scale_by_lion_update_is_a_sign_of_the_old_momentum_mix():
    g1, g2 = jnp.array([1.0, -2.0, 0.0]), jnp.array([-3.0, 0.5, 0.0])
    tx = jr.scale_by_lion(b1=0.9, b2=0.99)
    state = tx.init(g1)
    u1, state = tx.update(g1, state)
    np.testing.assert_array_equal(u1, np.sign(g1))  # m0 = 0; sign(0) = 0
    u2, state = tx.update(g2, state)
    m1 = 0.01 * np.asarray(g1)
    np.testing.assert_array_equal(u2, np.sign(0.9 * m1 + 0.1 * np.asarray(g2)))
    np.testing.assert_allclose(state.mu, 0.99 * m1 + 0.01 * np.asarray(g2), rtol=1e-6)


def test_mu_dtype_controls_the_state_dtype():
    tx = jr.lion(1e-3, mu_dtype=jnp.bfloat16)
    state = tx.init({"w": jnp.ones((2, 2))})
    assert state[0].mu["w"].dtype == jnp.bfloat16
