"""The diagnostics record against norms computed with numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxreg as jr


def test_records_norms_ratio_sparsity_and_penalty():
    params = {"w": jnp.array([[1.0, -0.05], [2.0, 0.01]]), "b": jnp.array([0.5, 0.0])}
    grads = {"w": jnp.array([[0.1, 0.2], [-0.3, 0.0]]), "b": jnp.array([1.0, -1.0])}
    pen = jr.l1(1.0)
    tx = jr.with_diagnostics(jr.prox_sgd(0.1, pen), pen)
    updates, state = jax.jit(tx.update)(grads, tx.init(params), params)
    got = jr.read_diagnostics(state)

    flat = lambda t: np.concatenate([np.ravel(x) for x in jax.tree.leaves(t)])  # noqa: E731
    g, w, u = flat(grads), flat(params), flat(updates)
    new = w + u
    assert got["grad_norm"] == pytest.approx(np.linalg.norm(g), rel=1e-6)
    assert got["update_norm"] == pytest.approx(np.linalg.norm(u), rel=1e-6)
    assert got["param_norm"] == pytest.approx(np.linalg.norm(w), rel=1e-6)
    assert got["update_ratio"] == pytest.approx(
        np.linalg.norm(u) / np.linalg.norm(w), rel=1e-6
    )
    assert got["zero_fraction"] == pytest.approx(np.mean(new == 0))
    assert got["zero_fraction"] > 0
    assert got["penalty"] == pytest.approx(np.abs(new).sum(), rel=1e-6)
    assert got["nonfinite"] == 0


def test_counts_nonfinite_gradients_and_composes_with_apply_if_finite():
    params = jnp.ones(3)
    tx = jr.with_diagnostics(optax.apply_if_finite(optax.sgd(0.1), 3))
    state = tx.init(params)
    bad = jnp.array([jnp.nan, 1.0, jnp.inf])
    updates, state = tx.update(bad, state, params)
    assert jr.read_diagnostics(state)["nonfinite"] == 2
    # apply_if_finite drops the step: params are not corrupted
    np.testing.assert_array_equal(optax.apply_updates(params, updates), params)


def test_found_inside_nested_states_and_reports_missing_record():
    tx = optax.chain(optax.clip(1.0), jr.with_diagnostics(optax.adam(1e-3)))
    params = jnp.ones(2)
    _, state = tx.update(jnp.ones(2), tx.init(params), params)
    assert jr.read_diagnostics(state)["grad_norm"] == pytest.approx(np.sqrt(2))
    with pytest.raises(ValueError, match="DiagnosticsState"):
        jr.read_diagnostics(optax.adam(1e-3).init(params))
    with pytest.raises(ValueError, match="params"):
        jr.with_diagnostics(optax.sgd(0.1)).update(params, state[1])


def test_bfloat16_params_accumulate_norms_in_float32():
    params = jnp.full((4096,), 1.0, jnp.bfloat16)
    tx = jr.with_diagnostics(optax.sgd(1.0))
    _, state = tx.update(params, tx.init(params), params)
    got = jr.read_diagnostics(state)
    assert got["param_norm"] == pytest.approx(64.0, rel=1e-6)
    assert state.metrics.param_norm.dtype == jnp.float32


def test_penalty_is_recorded_on_the_masked_leaves_only():
    params = {"w": jnp.array([[1.0, -2.0]]), "b": jnp.array([5.0])}
    pen = jr.l1(1.0)

    def no_bias(p):
        return jax.tree.map(lambda x: x.ndim > 1, p)

    tx = jr.with_diagnostics(optax.sgd(0.0), pen, mask=no_bias)
    _, state = tx.update(jax.tree.map(jnp.zeros_like, params), tx.init(params), params)
    assert jr.read_diagnostics(state)["penalty"] == pytest.approx(3.0)
    tx = jr.with_diagnostics(optax.sgd(0.0), pen)
    _, state = tx.update(jax.tree.map(jnp.zeros_like, params), tx.init(params), params)
    assert jr.read_diagnostics(state)["penalty"] == pytest.approx(8.0)


BAD = jnp.array([jnp.nan, 1.0, jnp.inf])
GOOD = jnp.array([3.0, 4.0, 0.0])


def _diag(inner):
    return jr.with_diagnostics(inner)


COMPOSITIONS = {
    "outside_apply_if_finite": lambda: _diag(optax.apply_if_finite(optax.sgd(0.1), 5)),
    "inside_apply_if_finite": lambda: optax.apply_if_finite(_diag(optax.sgd(0.1)), 5),
    "outside_multisteps": lambda: _diag(optax.MultiSteps(optax.sgd(0.1), 1)),
    "inside_multisteps": lambda: optax.MultiSteps(_diag(optax.sgd(0.1)), 1),
    "inside_inject": lambda: optax.inject_hyperparams(
        lambda learning_rate: _diag(optax.sgd(learning_rate))
    )(learning_rate=0.1),
    "inside_chain": lambda: optax.chain(optax.identity(), _diag(optax.sgd(0.1))),
    "outside_chain": lambda: _diag(optax.chain(optax.identity(), optax.sgd(0.1))),
}


@pytest.mark.parametrize("name", sorted(COMPOSITIONS))
def test_diagnostics_compose_in_any_order(name):
    tx = COMPOSITIONS[name]()
    params = jnp.ones(3)
    state = tx.init(params)
    _, state = jax.jit(tx.update)(GOOD, state, params)
    got = jr.read_diagnostics(state)
    assert got["grad_norm"] == pytest.approx(5.0)
    assert got["nonfinite"] == 0 and got["nonfinite_steps"] == 0
    if "multisteps" in name:
        return  # MultiSteps itself does not guard against NaN
    _, state = jax.jit(tx.update)(BAD, state, params)
    _, state = jax.jit(tx.update)(BAD, state, params)
    got = jr.read_diagnostics(state)
    assert got["nonfinite_steps"] == 2  # never the silent 0 of a discarded record
    if name == "inside_apply_if_finite":
        assert np.isnan(got["nonfinite"])  # the skipped step's record is gone
    else:
        assert got["nonfinite"] == 2


def test_inside_apply_if_finite_counts_applied_nonfinite_steps_once():
    # past max_consecutive_errors optax applies a non-finite step: the record
    # sees it and the wrapper counts it too (it was read as two steps, and
    # its kept record as lost); reference: the same steps counted by hand
    tx = optax.apply_if_finite(_diag(optax.sgd(0.1)), 1)
    params = jnp.ones(3)
    state = tx.init(params)
    update = jax.jit(tx.update)
    _, state = update(BAD, state, params)  # skipped
    got = jr.read_diagnostics(state)
    assert got["nonfinite_steps"] == 1 and np.isnan(got["nonfinite"])
    _, state = update(BAD, state, params)  # applied: 2 > 1 in a row
    worse = BAD.at[1].set(jnp.nan)  # 3 entries, the last record 2
    _, state = update(worse, state, params)  # applied
    got = jr.read_diagnostics(state)
    assert got["nonfinite_steps"] == 3
    assert got["nonfinite"] == np.sum(~np.isfinite(np.asarray(worse)))
    _, state = update(GOOD, state, params)
    got = jr.read_diagnostics(state)
    assert got["nonfinite_steps"] == 3 and got["nonfinite"] == 0


def test_read_diagnostics_on_flax_nnx_optimizer_state():
    from flax import nnx

    model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    pen = jr.l1(0.5)
    tx = jr.with_diagnostics(optax.apply_if_finite(jr.prox_sgd(0.1, pen), 3), pen)
    opt = nnx.Optimizer(model, tx, wrt=nnx.Param)
    x = jnp.ones((4, 3))
    grads = nnx.grad(lambda m: jnp.mean(m(x) ** 2))(model)
    before = [np.array(v) for v in jax.tree.leaves(nnx.state(model, nnx.Param))]
    opt.update(model, grads)
    got = jr.read_diagnostics(nnx.state(opt))
    g = np.concatenate([np.ravel(v) for v in jax.tree.leaves(grads)])
    w = np.concatenate([np.ravel(v) for v in before])
    new = np.concatenate(
        [np.ravel(v) for v in jax.tree.leaves(nnx.state(model, nnx.Param))]
    )
    assert got["grad_norm"] == pytest.approx(np.linalg.norm(g), rel=1e-6)
    assert got["param_norm"] == pytest.approx(np.linalg.norm(w), rel=1e-6)
    assert got["penalty"] == pytest.approx(0.5 * np.abs(new).sum(), rel=1e-6)
    assert got == jr.read_diagnostics(opt.opt_state)


def test_penalty_schedule_in_diagnostics():
    sched = optax.linear_schedule(1.0, 3.0, 2)
    tx = jr.with_diagnostics(optax.sgd(0.0), jr.l1(sched))
    params = jnp.array([1.0, -2.0])
    state = tx.init(params)
    for k in range(3):
        _, state = tx.update(jnp.zeros(2), state, params)
        assert jr.read_diagnostics(state)["penalty"] == pytest.approx(3.0 * (1 + k))
