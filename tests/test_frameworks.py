"""One small MLP trained in each framework where users are (Flax linen dicts,
Flax NNX through ``nnx.Optimizer(wrt=nnx.Param)``, Equinox modules) with every
jaxreg optimizer, wrapped in ``with_diagnostics``."""

import equinox as eqx
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jaxreg as jr

LR = 1e-2
STEPS = 40


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 5)).astype(np.float32)
    y = np.sin(X @ np.array([1.0, -1.0, 0.5, 0.0, 0.0]))[:, None]
    return jnp.asarray(X), jnp.asarray(y.astype(np.float32))


def _is_weight(params):
    return jax.tree.map(lambda x: x.ndim == 2, params)


def _optimizers(unit_axis):
    """unit_axis: the axis a group-lasso group reduces over (the input axis)."""
    return {
        "muon": lambda: jr.muon(0.02, adam_learning_rate=LR),
        "prox_adamw_l1": lambda: jr.prox_adamw(
            LR, jr.l1(0.3), mask=_is_weight, decay_mask=None
        ),
        "prox_adamw_group": lambda: jr.prox_adamw(
            LR, jr.group_lasso(3.0, axis=unit_axis), mask=_is_weight
        ),
        "decoupled": lambda: optax.chain(
            optax.adam(LR), jr.decoupled(jr.l2(1e-2), LR, mask=_is_weight)
        ),
        "lion": lambda: jr.lion(1e-3, weight_decay=0.1, mask=_is_weight),
    }


NAMES = sorted(_optimizers(0))


def _check(name, losses, state, weights, unit_axis):
    assert losses[-1] < 0.8 * losses[0], losses
    got = jr.read_diagnostics(state)
    assert got["grad_norm"] > 0 and got["update_ratio"] > 0
    assert got["nonfinite"] == 0
    if name == "prox_adamw_l1":
        assert got["zero_fraction"] > 0
        assert any(np.any(np.asarray(w) == 0) for w in weights)
    if name == "prox_adamw_group":
        # whole units (all incoming weights of one output unit) are zero
        zero_units = [np.all(np.asarray(w) == 0, axis=unit_axis).sum() for w in weights]
        assert sum(zero_units) > 0


@pytest.mark.parametrize("name", NAMES)
def test_flax_linen_dict(name):
    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(1, name="out")(jnp.tanh(nn.Dense(16, name="hidden")(x)))

    X, y = _data()
    model = MLP()
    params = model.init(jax.random.key(0), X)
    tx = jr.with_diagnostics(_optimizers(0)[name]())
    state = tx.init(params)

    def loss(p):
        return jnp.mean((model.apply(p, X) - y) ** 2)

    @jax.jit
    def step(p, s):
        value, g = jax.value_and_grad(loss)(p)
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s, value

    losses = []
    for _ in range(STEPS):
        params, state, value = step(params, state)
        losses.append(float(value))
    weights = [params["params"][k]["kernel"] for k in ("hidden", "out")]
    _check(name, losses, state, weights, unit_axis=0)


@pytest.mark.parametrize("name", NAMES)
def test_flax_nnx_optimizer(name):
    class MLP(nnx.Module):
        def __init__(self, rngs):
            self.hidden = nnx.Linear(5, 16, rngs=rngs)
            self.out = nnx.Linear(16, 1, rngs=rngs)

        def __call__(self, x):
            return self.out(jnp.tanh(self.hidden(x)))

    X, y = _data()
    model = MLP(nnx.Rngs(0))
    opt = nnx.Optimizer(
        model, jr.with_diagnostics(_optimizers(0)[name]()), wrt=nnx.Param
    )

    @nnx.jit
    def step(model, opt):
        value, g = nnx.value_and_grad(lambda m: jnp.mean((m(X) - y) ** 2))(model)
        opt.update(model, g)
        return value

    losses = [float(step(model, opt)) for _ in range(STEPS)]
    weights = [model.hidden.kernel.value, model.out.kernel.value]
    _check(name, losses, nnx.state(opt), weights, unit_axis=0)


def test_an_unfiltered_equinox_module_points_to_eqx_filter():
    # the module's activation is a leaf that is not an array: "got object"
    # did not say what to do
    model = eqx.nn.MLP(2, 1, 3, 1, key=jax.random.key(0))
    tx = jr.proximal(jr.l1(0.1), 0.1)
    with pytest.raises(ValueError, match=r"not an array.*eqx\.filter"):
        tx.update(model, tx.init(model), model)
    # the usual slip: filtered gradients, the model itself as params
    grads = eqx.filter(model, eqx.is_array)
    for t in (tx, jr.decoupled(jr.l2(0.1), 0.1), jr.lion(0.1, weight_decay=0.1)):
        with pytest.raises(ValueError, match=r"not an array.*eqx\.filter"):
            t.update(grads, t.init(grads), model)


@pytest.mark.parametrize("name", NAMES)
def test_equinox_module(name):
    X, y = _data()
    model = eqx.nn.MLP(5, 1, 16, 1, activation=jnp.tanh, key=jax.random.key(0))
    # Equinox weights are (out, in): a unit's incoming weights are a row
    tx = jr.with_diagnostics(_optimizers(1)[name]())
    state = tx.init(eqx.filter(model, eqx.is_array))

    @eqx.filter_jit
    def step(model, state):
        def loss(m):
            return jnp.mean((jax.vmap(m)(X) - y) ** 2)

        value, g = eqx.filter_value_and_grad(loss)(model)
        params = eqx.filter(model, eqx.is_array)
        u, state = tx.update(g, state, params)
        return eqx.apply_updates(model, u), state, value

    losses = []
    for _ in range(STEPS):
        model, state, value = step(model, state)
        losses.append(float(value))
    weights = [layer.weight for layer in model.layers]
    _check(name, losses, state, weights, unit_axis=1)
