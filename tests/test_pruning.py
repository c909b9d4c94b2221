"""Unit groups across leaves: the prox against a numpy group soft-threshold
written out per unit, group-lasso training that zeroes whole units, and pruning
that gives the same outputs, in Flax linen, Flax NNX and Equinox."""

import warnings

import equinox as eqx
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jaxreg as jr


def _np_unit_prox(w1, b1, w2, tau, outgoing):
    """Group soft-threshold of unit j = (w1[:, j], b1[j], [w2[j, :]]) in float64."""
    w1, b1, w2 = (np.asarray(a, np.float64).copy() for a in (w1, b1, w2))
    for j in range(w1.shape[1]):
        parts = [w1[:, j], b1[j : j + 1]] + ([w2[j, :]] if outgoing else [])
        norm = np.sqrt(sum(np.sum(p**2) for p in parts))
        scale = max(0.0, 1.0 - tau / norm) if norm > 0 else 0.0
        w1[:, j] *= scale
        b1[j] *= scale
        if outgoing:
            w2[j, :] *= scale
    return w1, b1, w2


@pytest.mark.parametrize("outgoing", [False, True])
def test_prox_units_matches_numpy_group_soft_threshold(outgoing):
    rng = np.random.default_rng(0)
    params = {
        "params": {
            "Dense_0": {
                "kernel": jnp.asarray(rng.normal(size=(3, 6)), jnp.float32),
                "bias": jnp.asarray(rng.normal(size=6) * 0.1, jnp.float32),
            },
            "Dense_1": {
                "kernel": jnp.asarray(rng.normal(size=(6, 2)), jnp.float32),
                "bias": jnp.zeros(2),
            },
        }
    }
    units = jr.mlp_units(
        params, [("params", "Dense_0"), ("params", "Dense_1")], outgoing=outgoing
    )
    tau = 1.5
    got = jr.prox_units(params, units, tau)["params"]
    p = params["params"]
    w1, b1, w2 = _np_unit_prox(
        p["Dense_0"]["kernel"],
        p["Dense_0"]["bias"],
        p["Dense_1"]["kernel"],
        tau,
        outgoing,
    )
    np.testing.assert_allclose(got["Dense_0"]["kernel"], w1, atol=1e-6)
    np.testing.assert_allclose(got["Dense_0"]["bias"], b1, atol=1e-6)
    np.testing.assert_allclose(got["Dense_1"]["kernel"], w2, atol=1e-6)
    np.testing.assert_array_equal(got["Dense_1"]["bias"], p["Dense_1"]["bias"])
    # the value is s·Σ_j ‖unit_j‖ with the same groups
    norms = np.sqrt(
        np.sum(np.asarray(p["Dense_0"]["kernel"]) ** 2, 0)
        + np.asarray(p["Dense_0"]["bias"]) ** 2
        + (np.sum(np.asarray(p["Dense_1"]["kernel"]) ** 2, 1) if outgoing else 0.0)
    )
    assert float(jr.unit_group_lasso_value(params, units, 2.0)) == pytest.approx(
        2.0 * norms.sum(), rel=1e-6
    )


def _data():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(128, 4)).astype(np.float32)
    y = (np.tanh(X @ np.array([1.0, -2.0, 0.0, 0.5])) * 2.0)[:, None]
    return jnp.asarray(X), jnp.asarray(y.astype(np.float32))


def _train(loss, params, tx, steps=300):
    @jax.jit
    def step(p, state):
        g = jax.grad(loss)(p)
        u, state = tx.update(g, state, p)
        return optax.apply_updates(p, u), state

    state = tx.init(params)
    for _ in range(steps):
        params, state = step(params, state)
    return params


def test_group_lasso_prunes_a_flax_linen_mlp_to_the_same_outputs():
    class MLP(nn.Module):
        hidden: int = 16

        @nn.compact
        def __call__(self, x):
            h = nn.relu(nn.Dense(self.hidden, name="hidden")(x))
            return nn.Dense(1, name="out")(h)

    X, y = _data()
    model = MLP()
    params = model.init(jax.random.key(0), X)
    layers = [("params", "hidden"), ("params", "out")]
    units = jr.mlp_units(params, layers)
    tx = optax.chain(optax.adamw(1e-2), jr.proximal_units(1.0, 1e-2, units))
    params = _train(lambda p: jnp.mean((model.apply(p, X) - y) ** 2), params, tx)
    pruned, report = jr.prune_units(params, units)
    n, kept = report.sizes[0]
    assert n == 16 and 0 < kept < 16
    assert pruned["params"]["hidden"]["kernel"].shape == (4, kept)
    assert pruned["params"]["out"]["kernel"].shape == (kept, 1)
    # linen checks shapes against the module: the smaller network is MLP(kept)
    small = MLP(hidden=kept)
    np.testing.assert_allclose(
        small.apply(pruned, X), model.apply(params, X), atol=1e-5
    )
    # the removed units' whole groups were exactly zero
    k = np.asarray(params["params"]["hidden"]["kernel"])
    assert np.all(k[:, report.removed[0]] == 0)


def test_group_lasso_prunes_an_equinox_mlp_with_outgoing_groups():
    X, y = _data()
    model = eqx.nn.MLP(4, 1, 12, 2, activation=jax.nn.relu, key=jax.random.key(2))
    params, static = eqx.partition(model, eqx.is_array)
    layers = [("layers", 0), ("layers", 1), ("layers", 2)]
    units = jr.mlp_units(params, layers, outgoing=True)
    # Equinox weights are (out, in): units are rows of layer ℓ, columns of ℓ+1
    assert units[0].members[0] == (("layers", 0, "weight"), 0)
    assert units[0].members[2] == (("layers", 1, "weight"), 1)

    def loss(p):
        out = jax.vmap(eqx.combine(p, static))(X)
        return jnp.mean((out - y) ** 2)

    tx = optax.chain(optax.adamw(1e-2), jr.proximal_units(1.0, 1e-2, units))
    params = _train(loss, params, tx)
    pruned, report = jr.prune_units(params, units)
    assert all(0 < kept < n for n, kept in report.sizes)
    small = eqx.combine(pruned, static)
    big = eqx.combine(params, static)
    np.testing.assert_allclose(jax.vmap(small)(X), jax.vmap(big)(X), atol=1e-5)
    (_, kept0), (_, kept1) = report.sizes
    assert small.layers[1].weight.shape == (kept1, kept0)


def test_prune_nnx_state_and_merge():
    class MLP(nnx.Module):
        def __init__(self, rngs):
            self.l1 = nnx.Linear(4, 10, rngs=rngs)
            self.l2 = nnx.Linear(10, 1, rngs=rngs)

        def __call__(self, x):
            return self.l2(jnp.tanh(self.l1(x)))

    X, _ = _data()
    model = MLP(nnx.Rngs(0))
    graphdef, state = nnx.split(model)
    units = jr.mlp_units(state, [("l1",), ("l2",)])
    # zero three units by hand (a trained group lasso does this)
    zeroed = jax.tree.map(lambda x: x, state)
    dead = jnp.array([1, 4, 7])
    zeroed["l1"]["kernel"].value = zeroed["l1"]["kernel"].value.at[:, dead].set(0.0)
    zeroed["l1"]["bias"].value = zeroed["l1"]["bias"].value.at[dead].set(0.0)
    pruned, report = jr.prune_units(zeroed, units)
    np.testing.assert_array_equal(report.removed[0], [1, 4, 7])
    small = nnx.merge(graphdef, pruned)
    big = nnx.merge(graphdef, zeroed)
    assert small.l1.kernel.value.shape == (4, 7)
    np.testing.assert_allclose(small(X), big(X), atol=1e-6)


def test_mlp_units_rejects_an_ambiguous_layer():
    params = {"a": {"w": jnp.zeros((3, 4)), "v": jnp.zeros((4, 4))}, "b": {}}
    with pytest.raises(ValueError, match="one 2-D weight"):
        jr.mlp_units(params, [("a",), ("b",)])


def test_mlp_units_rejects_weights_read_the_wrong_way():
    """PyTorch-style (out, in) weights read as Flax's (in, out): the sizes do
    not chain (3 outputs, 8 bias entries, 2 inputs next), a ValueError that
    points to layouts=; with TORCH_DENSE the units are fc1's 8 rows."""
    params = {
        "fc1": {"weight": jnp.zeros((8, 3)), "bias": jnp.zeros(8)},
        "fc2": {"weight": jnp.zeros((2, 8)), "bias": jnp.zeros(2)},
    }
    layers = [("fc1",), ("fc2",)]
    with pytest.raises(ValueError, match="3 outputs.*2 inputs.*8 entries.*layouts="):
        jr.mlp_units(params, layers)
    (units,) = jr.mlp_units(params, layers, layouts=jr.TORCH_DENSE)
    norms = jr.unit_norms(params, [units])[0]
    assert norms.shape == (8,)
    assert units.downstream == ((("fc2", "weight"), 1),)
    # a next layer that reads the concatenation [h, x] takes more inputs
    dense = {"fc1": params["fc1"], "fc2": {"weight": jnp.zeros((2, 11))}}
    (units,) = jr.mlp_units(dense, layers, layouts=jr.TORCH_DENSE, concat=True)
    assert units.downstream == ((("fc2", "weight"), 1),)


def test_mlp_units_warns_on_layers_in_the_wrong_order():
    # linen's @nn.compact numbers layers as built: in nn.Dense(3)(relu(
    # nn.Dense(16)(x))) Dense_0 is the output layer. [Dense_0, Dense_1] read
    # the 3 outputs as the units and 3 of the hidden layer's 8 inputs as
    # their downstream (it chains as a concatenation), and the prox zeroed
    # the network's outputs, silently
    flax = pytest.importorskip("flax.linen")

    class M(flax.Module):
        @flax.compact
        def __call__(self, x):
            return flax.Dense(3)(jax.nn.relu(flax.Dense(16)(x)))

    x = jnp.ones((2, 8))
    params = M().init(jax.random.key(0), x)
    assert params["params"]["Dense_0"]["kernel"].shape == (16, 3)  # the output
    wrong = [("params", "Dense_0"), ("params", "Dense_1")]
    with pytest.warns(UserWarning, match=r"takes 8 inputs.*concat=True.*Dense_0"):
        jr.mlp_units(params, wrong)
    with warnings.catch_warnings(action="error"):  # the right order: quiet
        (units,) = jr.mlp_units(params, wrong[::-1])
    kernel = np.asarray(params["params"]["Dense_1"]["kernel"])  # (8, 16)
    bias = np.asarray(params["params"]["Dense_1"]["bias"])
    np.testing.assert_allclose(
        jr.unit_norms(params, [units])[0],
        np.sqrt((kernel**2).sum(0) + bias**2),
        rtol=1e-6,
    )


def test_mlp_units_warns_when_out_in_weights_fit_both_readings():
    # PyTorch-style (out, in) weights without biases, 4 -> 8 -> 4: read as
    # (in, out) the sizes chain as well, and the "units" were fc1's input
    # columns: the prox zeroed network inputs, pruning cut them, silently
    rng = np.random.default_rng(0)
    params = {
        "fc1": {"weight": jnp.asarray(rng.normal(size=(8, 4)))},
        "fc2": {"weight": jnp.asarray(rng.normal(size=(4, 8)))},
    }
    layers = [("fc1",), ("fc2",)]
    with pytest.warns(UserWarning, match=r"TORCH_DENSE for \(out, in\)"):
        jr.mlp_units(params, layers)
    with warnings.catch_warnings(action="error"):  # explicit: quiet
        (units,) = jr.mlp_units(params, layers, layouts=jr.TORCH_DENSE)
        jr.mlp_units(params, layers, layouts=jr.FLAX_DENSE)
        # Flax's name for an (in, out) kernel: no guess to warn about
        jr.mlp_units({k: {"kernel": v["weight"]} for k, v in params.items()}, layers)
    norms = jr.unit_norms(params, [units])[0]
    expected = np.linalg.norm(np.asarray(params["fc1"]["weight"]), axis=1)
    np.testing.assert_allclose(norms, expected, rtol=1e-6)


def test_pruning_keeps_the_inputs_a_concatenation_adds():
    # the next layer reads [h, x] (8 hidden units, 4 inputs): pruning unit 2
    # cut the kernel (12, 3) to (7, 3), dropping x's rows, and the outgoing
    # norms raised a broadcasting TypeError
    rng = np.random.default_rng(1)
    params = {
        "d0": {"kernel": jnp.asarray(rng.normal(size=(4, 8))), "bias": jnp.ones(8)},
        "d1": {"kernel": jnp.asarray(rng.normal(size=(12, 3))), "bias": jnp.ones(3)},
    }
    params["d0"]["kernel"] = params["d0"]["kernel"].at[:, 2].set(0.0)
    params["d0"]["bias"] = params["d0"]["bias"].at[2].set(0.0)

    def net(p, x):
        h = jax.nn.relu(x @ p["d0"]["kernel"] + p["d0"]["bias"][None])
        hx = jnp.concatenate([h, x], axis=1)
        return hx @ p["d1"]["kernel"] + p["d1"]["bias"][None]

    layers = [("d0",), ("d1",)]
    units = jr.mlp_units(params, layers, concat=True)
    pruned, report = jr.prune_units(params, units)
    np.testing.assert_array_equal(report.removed[0], [2])
    np.testing.assert_array_equal(
        pruned["d1"]["kernel"], np.delete(np.asarray(params["d1"]["kernel"]), 2, axis=0)
    )
    x = jnp.asarray(rng.normal(size=(5, 4)))
    np.testing.assert_allclose(net(pruned, x), net(params, x), rtol=1e-5, atol=1e-5)
    (both,) = jr.mlp_units(params, layers, outgoing=True, concat=True)
    k0, b0 = np.asarray(params["d0"]["kernel"]), np.asarray(params["d0"]["bias"])
    k1 = np.asarray(params["d1"]["kernel"])
    expected = np.sqrt((k0**2).sum(0) + b0**2 + (k1[:8] ** 2).sum(1))
    np.testing.assert_allclose(jr.unit_norms(params, [both])[0], expected, rtol=1e-6)
    moved = jr.prox_units(params, [both], 0.5)
    np.testing.assert_array_equal(moved["d1"]["kernel"][8:], k1[8:])  # x's rows


def test_hand_made_units_are_checked():
    params = {"d0": {"kernel": jnp.ones((4, 8)), "bias": jnp.ones(1)}}
    kernel = (("d0", "kernel"), 1)
    bad = {
        "out of range": jr.Units(members=((("d0", "kernel"), 2),)),
        "fewer than the 8 units": jr.Units(members=(kernel, (("d0", "bias"), 0))),
        "no leaf of params": jr.Units(members=(kernel, (("d0", "kern"), 0))),
    }
    for message, units in bad.items():
        for call in (jr.unit_norms, jr.prune_units):
            with pytest.raises(ValueError, match=message):
                call(params, [units])
    short = jr.Units(members=(kernel,), downstream=((("d0", "kernel"), 0),))
    with pytest.raises(ValueError, match="downstream.*4 entries.*fewer than the 8"):
        jr.prune_units(params, [short])
    with pytest.raises(ValueError, match="threshold"):
        jr.prox_units(params, [jr.Units(members=(kernel,))], -1.0)


def test_mlp_units_refuses_a_norm_under_a_layer_path():
    # a block of Linear(use_bias=False) and RMSNorm: the norm's scale was
    # read as the layer's bias, silently, and pruning a unit changed the
    # norm's statistics (the RMS over 7 units, not 8)
    nnx = pytest.importorskip("flax.nnx")

    class Block(nnx.Module):
        def __init__(self, rngs):
            self.lin = nnx.Linear(4, 8, use_bias=False, rngs=rngs)
            self.norm = nnx.RMSNorm(8, rngs=rngs)

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.b1 = Block(rngs)
            self.out = nnx.Linear(8, 2, rngs=rngs)

    state = nnx.state(Net(nnx.Rngs(0)), nnx.Param)
    with pytest.raises(ValueError, match=r"\('b1', 'norm', 'scale'\).*not next to"):
        jr.mlp_units(state, [("b1",), ("out",)])
    (units,) = jr.mlp_units(state, [("b1", "lin"), ("out",)])  # the layer's own
    assert units.members == ((("b1", "lin", "kernel"), 1),)
