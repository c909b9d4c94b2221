"""Tests for jaxreg.layouts: every preset against explicit numpy transposes and
reshapes written out per matrix, exact round trips, and resolve_layouts on dicts,
Equinox modules and Flax NNX state."""

import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxreg import layouts as L


def _rand(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _flax_dense(w):  # (in, out): already (fan_in, fan_out)
    return w


def _torch_dense(w):  # (out, in) -> (in, out)
    return w.T


def _flax_conv(w):  # (*k, in, out) -> (prod(k)·in, out)
    return w.reshape(-1, w.shape[-1])


def _torch_conv(w):  # torch Muon: w.view(out, -1) is (out, in·prod(k)); transpose
    return w.reshape(w.shape[0], -1).T


def _per_layer(ref):
    return lambda w: np.stack([ref(w[i]) for i in range(w.shape[0])])


CASES = [
    (L.FLAX_DENSE, (5, 3), _flax_dense),
    (L.TORCH_DENSE, (3, 5), _torch_dense),
    (L.EQUINOX_DENSE, (3, 5), _torch_dense),
    (L.FLAX_CONV, (7, 4, 3), _flax_conv),  # 1-D conv
    (L.FLAX_CONV, (3, 2, 4, 5), _flax_conv),  # 2-D conv
    (L.FLAX_CONV, (2, 3, 2, 4, 5), _flax_conv),  # 3-D conv
    (L.TORCH_CONV, (5, 4, 7), _torch_conv),
    (L.TORCH_CONV, (5, 4, 3, 2), _torch_conv),
    (L.EQUINOX_CONV, (5, 4, 2, 3, 2), _torch_conv),
    (L.stacked(L.FLAX_DENSE), (4, 5, 3), _per_layer(_flax_dense)),
    (L.stacked(L.TORCH_DENSE), (4, 3, 5), _per_layer(_torch_dense)),
    (L.stacked(L.FLAX_CONV), (2, 3, 3, 4, 5), _per_layer(_flax_conv)),
    (L.stacked(L.TORCH_CONV), (2, 5, 4, 3, 3), _per_layer(_torch_conv)),
    (
        L.stacked(L.FLAX_DENSE, 2),
        (2, 3, 5, 4),
        lambda w: np.stack([[w[i, j] for j in range(3)] for i in range(2)]),
    ),
]


@pytest.mark.parametrize("layout, shape, ref", CASES)
def test_presets_match_explicit_numpy_per_matrix(layout, shape, ref):
    w = _rand(shape)
    m = np.asarray(layout.to_matrices(jnp.asarray(w)))
    expected = ref(w)
    np.testing.assert_array_equal(m, expected)
    assert layout.fan_in(shape) == expected.shape[-2]
    assert layout.fan_out(shape) == expected.shape[-1]
    assert layout.batch_shape(shape) == expected.shape[:-2]
    back = layout.from_matrices(jnp.asarray(m), shape)
    np.testing.assert_array_equal(np.asarray(back), w)


def test_heads_layout_batch_axis_in_the_middle():
    # attention projection (in, heads, head_dim): one (in, head_dim) matrix a head
    layout = L.Layout(input_axes=(0,), output_axes=(2,))
    w = _rand((6, 3, 4))
    m = np.asarray(layout.to_matrices(w))
    np.testing.assert_array_equal(m, np.stack([w[:, h, :] for h in range(3)]))
    np.testing.assert_array_equal(np.asarray(layout.from_matrices(m, w.shape)), w)
    # the same projection as one (in, heads·head_dim) matrix
    merged = L.Layout(input_axes=(0,), output_axes=(1, 2))
    np.testing.assert_array_equal(np.asarray(merged.to_matrices(w)), w.reshape(6, 12))


def test_layout_rejects_bad_axes_and_mismatched_matrices():
    with pytest.raises(ValueError, match="input_axes"):
        L.Layout(input_axes=("a",), output_axes=(1,))
    with pytest.raises(ValueError, match="rest"):
        L.Layout(input_axes=(0,), output_axes=(1,), rest="columns")
    with pytest.raises(ValueError, match="twice"):
        L.Layout(input_axes=(0,), output_axes=(-2,)).to_matrices(jnp.zeros((3, 4)))
    with pytest.raises(ValueError, match="at least 3 axes"):
        L.stacked(L.TORCH_DENSE).to_matrices(jnp.zeros((3, 4)))
    with pytest.raises(ValueError, match="at least 6 axes"):
        L.Layout(input_axes=(0,), output_axes=(5,)).axes(3)
    with pytest.raises(ValueError, match="m has shape"):
        L.TORCH_DENSE.from_matrices(jnp.zeros((3, 5)), (3, 5))
    with pytest.raises(ValueError, match="n_batch_axes"):
        L.stacked(L.FLAX_DENSE, 0)


def _no_warnings():
    return warnings.catch_warnings(action="error")


def test_resolve_defaults_on_a_dict_warn_once_for_3d():
    params = {
        "b": jnp.zeros(3),
        "dense": jnp.zeros((4, 3)),
        "conv": jnp.zeros((3, 3, 2, 4)),
        "scan": jnp.zeros((2, 4, 4)),
    }
    with pytest.warns(UserWarning, match="layouts=") as record:
        tree = L.resolve_layouts(params)
    assert len(record) == 1
    assert "['conv']" in str(record[0].message)
    assert "['scan']" in str(record[0].message)
    assert tree["b"] is None
    assert tree["dense"] is L.FLAX_DENSE
    assert tree["conv"] is L.FLAX_CONV
    with _no_warnings():
        L.resolve_layouts(params, warn=False)
        L.resolve_layouts({"w": jnp.zeros((4, 3)), "b": jnp.zeros(3)})


def test_resolve_single_prefix_and_callable():
    params = {"blocks": {"w": jnp.zeros((2, 4, 3)), "b": jnp.zeros((2, 3))}}
    with _no_warnings():
        one = L.resolve_layouts({"w": params["blocks"]["w"]}, L.stacked(L.FLAX_DENSE))
        prefix = L.resolve_layouts(
            params, {"blocks": {"w": L.stacked(L.FLAX_DENSE), "b": None}}
        )
        fn = L.resolve_layouts(
            params,
            lambda path, x: L.stacked(L.FLAX_DENSE) if x.ndim == 3 else None,
        )
    assert one["w"] == L.stacked(L.FLAX_DENSE)
    for tree in (prefix, fn):
        assert tree["blocks"]["w"] == L.stacked(L.FLAX_DENSE)
        assert tree["blocks"]["b"] is None
    # a stacked (L, out) bias is 2-D but has no room for (L, in, out)
    with pytest.raises(ValueError, match=r"layouts\['blocks'\]\['b'\].*callable"):
        L.resolve_layouts(params, {"blocks": L.stacked(L.FLAX_DENSE)})
    with pytest.raises(ValueError, match="does not match"):
        L.resolve_layouts(params, {"other": L.FLAX_DENSE})
    with pytest.raises(ValueError, match="must be a jaxreg Layout"):
        L.resolve_layouts(params, {"blocks": "flax"})


def test_resolve_equinox_module_reads_torch_layouts_without_calling_leaves():
    key = jax.random.key(0)
    model = [
        eqx.nn.Conv2d(2, 4, 3, key=key),
        eqx.nn.Linear(5, 3, key=key),
        eqx.nn.MLP(3, 2, 4, 1, key=key),  # holds activation functions
    ]
    with _no_warnings():
        tree = L.resolve_layouts(model)
        filtered = L.resolve_layouts(eqx.filter(model, eqx.is_array))
    for t in (tree, filtered):
        assert t[0].weight is L.TORCH_CONV
        assert t[0].bias is None
        assert t[1].weight is L.TORCH_DENSE
        assert t[2].layers[0].weight is L.TORCH_DENSE
    assert tree[2].activation is None  # a callable leaf is never a matrix
    fan = L.TORCH_DENSE.fan_in(model[1].weight.shape)
    assert fan == 5


def test_resolve_equinox_ensembles_and_recurrent_cells():
    keys = jax.random.split(jax.random.key(0), 3)
    # eqx.filter_vmap stacks a conv's (out, in, kh, kw) behind an ensemble
    # axis: read as the conv's own layout, never as E outputs
    convs = eqx.filter_vmap(lambda k: eqx.nn.Conv2d(4, 8, 3, key=k))(keys)
    lins = eqx.filter_vmap(lambda k: eqx.nn.Linear(4, 8, key=k))(keys)
    gru = eqx.nn.GRUCell(4, 16, key=keys[0])  # weight_ih (48, 4): (out, in)
    with _no_warnings():
        tree = L.resolve_layouts(eqx.filter([convs, lins, gru], eqx.is_array))
    w = np.asarray(convs.weight)
    np.testing.assert_array_equal(
        np.asarray(tree[0].weight.to_matrices(w)),
        np.stack([_torch_conv(m) for m in w]),
    )
    w = np.asarray(lins.weight)
    np.testing.assert_array_equal(
        np.asarray(tree[1].weight.to_matrices(w)),
        np.stack([m.T for m in w]),
    )
    assert tree[2].weight_ih is L.TORCH_DENSE and tree[2].weight_hh is L.TORCH_DENSE
    assert tree[2].bias is None


def test_resolve_nnx_state():
    class Net(nnx.Module):
        def __init__(self, rngs):
            self.conv = nnx.Conv(2, 4, (3, 3), rngs=rngs)
            self.lin = nnx.Linear(5, 3, rngs=rngs)

    state = nnx.state(Net(nnx.Rngs(0)), nnx.Param)
    with _no_warnings():
        tree = L.resolve_layouts(
            state,
            lambda path, x: L.FLAX_CONV if x.ndim == 4 else L.FLAX_DENSE,
        )
    leaves = jax.tree.leaves(tree)
    assert sorted(map(repr, leaves)) == sorted([repr(L.FLAX_CONV), repr(L.FLAX_DENSE)])
    with pytest.warns(UserWarning, match="conv"):
        L.resolve_layouts(state)


def test_stacked_biases_are_not_read_as_matrices():
    # a scanned Flax layer stacks its bias (L, out): Muon orthogonalized it
    # as one matrix (mixing the layers) and lipschitz_bound multiplied its
    # sigma into the bound, with no warning naming it
    import jaxreg as jr

    p = {
        "blocks": {
            "kernel": jax.random.normal(jax.random.key(0), (3, 8, 8)),
            "bias": jnp.full((3, 8), 0.5),
        }
    }
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        found = L.resolve_layouts(p)
    said = [str(w.message) for w in rec if "named 'bias'" in str(w.message)]
    assert len(said) == 1 and "['blocks']['bias'] (3, 8)" in said[0]
    assert found["blocks"]["bias"] is None
    g = jax.tree.map(jnp.ones_like, p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the kernel's guess, on purpose
        tx = jr.muon(0.1, adam_learning_rate=1e-3)
        u = tx.update(g, tx.init(p), p)[0]
        sigmas = jr.lipschitz_bound(p).sigmas
    # AdamW's first step moves each entry by the learning rate at most
    assert float(jnp.max(jnp.abs(u["blocks"]["bias"]))) <= 1e-3 * (1 + 1e-6)
    assert sigmas["blocks"]["bias"] is None


def test_stacked_norm_scales_are_not_read_as_matrices():
    # a scanned block's LayerNorm scale (L, d) (Flax linen and NNX name it
    # scale) and a filter_vmap-stacked Equinox LayerNorm's weight went to
    # Muon's branch by default: orthogonalized across the layers and stepped
    # at Muon's rate, where the docstring sends norm scales to AdamW
    import jaxreg as jr

    key = jax.random.key(0)
    p = {
        "blocks": {
            "kernel": jax.random.normal(key, (3, 8, 8)),
            "ln": {"scale": jnp.ones((3, 8)), "bias": jnp.zeros((3, 8))},
        },
        "eqx_ln": eqx.filter_vmap(lambda _: eqx.nn.LayerNorm(8))(jnp.arange(3)),
    }
    assert p["eqx_ln"].weight.shape == (3, 8)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        found = L.resolve_layouts(p)
    said = [str(w.message) for w in rec if "'scale'" in str(w.message)]
    assert len(said) == 1 and "['blocks']['ln']['scale'] (3, 8)" in said[0]
    assert found["blocks"]["ln"]["scale"] is None
    assert found["eqx_ln"].weight is None and found["eqx_ln"].bias is None
    g = jax.tree.map(lambda x: jax.random.normal(key, x.shape), p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the kernel's guess, on purpose
        tx = jr.muon(0.02, adam_learning_rate=1e-3)
        u = tx.update(g, tx.init(p), p)[0]
    # AdamW's first step moves each entry by its learning rate at most
    for leaf in (u["blocks"]["ln"]["scale"], u["eqx_ln"].weight, u["eqx_ln"].bias):
        assert float(jnp.max(jnp.abs(leaf))) <= 1e-3 * (1 + 1e-6)
    with _no_warnings():  # a layout spread over the block skips them too
        spread = L.resolve_layouts(p["blocks"], L.stacked(L.FLAX_DENSE))
    assert spread["ln"]["scale"] is None


def test_a_layout_spread_over_a_scanned_block_skips_its_biases():
    # the warning's own advice, layouts=stacked(FLAX_DENSE) for the scanned
    # block, raised on the block's (L, out) bias; an Equinox conv bias
    # (out, 1, 1) under one TORCH_CONV was orthogonalized as a matrix
    import jaxreg as jr

    key = jax.random.key(0)
    p = {
        "blocks": {
            "kernel": jax.random.normal(key, (3, 8, 8)),
            "bias": jnp.full((3, 8), 0.5),
        },
        "out": {"kernel": jnp.ones((8, 2)), "bias": jnp.ones(2)},
    }
    spec = {"blocks": L.stacked(L.FLAX_DENSE), "out": L.FLAX_DENSE}
    with _no_warnings():
        found = L.resolve_layouts(p, spec)
        tx = jr.muon(0.1, adam_learning_rate=1e-3, layouts=spec)
        g = jax.tree.map(jnp.ones_like, p)
        u = tx.update(g, tx.init(p), p)[0]
    assert found["blocks"]["kernel"] == L.stacked(L.FLAX_DENSE)
    assert found["blocks"]["bias"] is None and found["out"]["bias"] is None
    assert float(jnp.max(jnp.abs(u["blocks"]["bias"]))) <= 1e-3 * (1 + 1e-6)
    # a layout placed at the bias leaf itself is honoured
    exact = {"blocks": {"kernel": L.stacked(L.FLAX_DENSE), "bias": L.FLAX_DENSE}}
    assert L.resolve_layouts({"blocks": p["blocks"]}, exact)["blocks"]["bias"] == (
        L.FLAX_DENSE
    )
    conv = eqx.nn.Conv2d(2, 4, 3, key=key)
    with _no_warnings():
        found = L.resolve_layouts(conv, L.TORCH_CONV)
    assert conv.bias.shape == (4, 1, 1) and found.bias is None
    assert found.weight == L.TORCH_CONV


def _thresholded_by_weight_mask(params):
    """One proximal-L1 step with a zero gradient and a threshold above every
    entry, masked by ``weight_mask``: which leaves it moved (to 0)."""
    import jaxreg as jr

    params = jax.tree.map(lambda p: p + 0.5, params)  # no leaf starts at 0
    tx = jr.proximal(jr.l1(1e3), 1.0, mask=jr.weight_mask)
    zeros = jax.tree.map(jnp.zeros_like, params)
    new = optax.apply_updates(params, tx.update(zeros, tx.init(params), params)[0])
    return jax.tree.map(
        lambda p, q: bool(jnp.all(q == 0) and jnp.all(p != 0)), params, new
    )


def test_weight_mask_leaves_stacked_biases_and_scales_alone():
    # the README's mask `w.ndim > 1` selected a scanned linen layer's (L, d)
    # bias and LayerNorm scale, and an Equinox conv's (out, 1, 1) bias: an L1
    # prox or a decay then moved them with no warning
    import flax.linen as nn

    class Block(nn.Module):
        @nn.compact
        def __call__(self, x, _):
            return nn.LayerNorm()(nn.Dense(4)(x)), None

    scan = nn.scan(
        Block, variable_axes={"params": 0}, split_rngs={"params": True}, length=3
    )
    linen = scan().init(jax.random.key(0), jnp.ones((2, 4)), None)["params"]
    assert linen["Dense_0"]["bias"].shape == (3, 4)
    expected = {
        "Dense_0": {"kernel": True, "bias": False},
        "LayerNorm_0": {"scale": False, "bias": False},
    }
    with _no_warnings():
        assert L.weight_mask(linen) == expected
        assert _thresholded_by_weight_mask(linen) == expected

    key = jax.random.key(1)
    model = eqx.filter(
        [
            eqx.nn.Conv2d(2, 4, 3, key=key),
            eqx.nn.LayerNorm(4),
            eqx.nn.Linear(4, 2, key=key),
        ],
        eqx.is_array,
    )
    assert model[0].bias.shape == (4, 1, 1)
    with _no_warnings():
        mask = L.weight_mask(model)
        zeroed = _thresholded_by_weight_mask(model)
    for tree in (mask, zeroed):
        assert [tree[0].weight, tree[0].bias] == [True, False]
        assert [tree[1].weight, tree[1].bias] == [False, False]
        assert [tree[2].weight, tree[2].bias] == [True, False]


def test_weight_mask_in_an_nnx_optimizer():
    import jaxreg as jr

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.conv = nnx.Conv(2, 4, (3, 3), rngs=rngs)
            self.norm = nnx.LayerNorm(4, rngs=rngs)
            self.lin = nnx.Linear(4, 3, rngs=rngs)

    model = Net(nnx.Rngs(0))
    # no parameter starts at 0 (biases do): a threshold must show
    nnx.update(model, jax.tree.map(lambda p: p + 0.5, nnx.state(model, nnx.Param)))
    before = jax.tree.map(jnp.copy, nnx.state(model, nnx.Param))
    tx = optax.chain(optax.sgd(1.0), jr.proximal(jr.l1(1e3), 1.0, mask=jr.weight_mask))
    opt = nnx.Optimizer(model, tx, wrt=nnx.Param)
    with _no_warnings():  # the conv kernel is read without a layout guess
        opt.update(model, jax.tree.map(jnp.zeros_like, before))
    assert float(jnp.abs(model.conv.kernel.value).max()) == 0.0
    assert float(jnp.abs(model.lin.kernel.value).max()) == 0.0
    for new, old in (
        (model.conv.bias, before["conv"]["bias"]),
        (model.lin.bias, before["lin"]["bias"]),
        (model.norm.scale, before["norm"]["scale"]),
    ):
        np.testing.assert_array_equal(new.value, old.value)
