"""Penalty values, subgradients and prox against numpy formulas and scipy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxreg as jr
from tests.test_prox import assert_is_prox

KEY = jax.random.PRNGKey(0)
TREE = {
    "w": jax.random.normal(KEY, (4, 3)),
    "b": jnp.array([0.0, 0.3, -0.7]),
}


def numpy_value(name, w):
    w = np.asarray(w, np.float64)
    if name == "l1":
        return 0.3 * np.abs(w).sum()
    if name == "l2":
        return 0.5 * 0.3 * np.sum(w**2)
    if name == "elastic_net":
        return 0.3 * (0.25 * np.abs(w).sum() + 0.5 * 0.75 * np.sum(w**2))
    if name == "group_lasso":
        return 0.3 * np.sqrt(np.sum(w**2, axis=0)).sum()
    if name == "block_group_lasso":  # rows are groups, weights BLOCK_WEIGHTS
        return 0.3 * (BLOCK_WEIGHTS * np.sqrt(np.sum(w**2, axis=1))).sum()
    return 0.3 * np.linalg.svd(w, compute_uv=False).sum()


BLOCK_WEIGHTS = np.array([1.0, 0.5, 2.0, 0.0])

PENALTIES = {
    "l1": jr.l1(0.3),
    "l2": jr.l2(0.3),
    "elastic_net": jr.elastic_net(0.3, l1_ratio=0.25),
    "group_lasso": jr.group_lasso(0.3, axis=0),
    "nuclear_norm": jr.nuclear_norm(0.3),
    "block_group_lasso": jr.BlockGroupLasso(
        0.3, jnp.asarray(BLOCK_WEIGHTS, jnp.float32)
    ),
}


@pytest.mark.parametrize("name", list(PENALTIES))
def test_value_matches_numpy(name):
    w = TREE["w"]
    assert float(PENALTIES[name].value(w)) == pytest.approx(
        numpy_value(name, w), rel=1e-5
    )


@pytest.mark.parametrize("name", ["l1", "l2", "elastic_net", "group_lasso"])
def test_value_sums_over_leaves(name):
    tree = {"a": TREE["w"], "c": TREE["w"][:2]}
    expected = numpy_value(name, tree["a"]) + numpy_value(name, tree["c"])
    assert float(PENALTIES[name].value(tree)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", list(PENALTIES))
def test_grad_is_the_gradient_away_from_kinks(name):
    pen = PENALTIES[name]
    w = TREE["w"]  # dense Gaussian: no zero entries, full rank
    auto = jax.grad(lambda z: pen.value(z))(w)
    np.testing.assert_allclose(pen.grad(w), auto, rtol=1e-4, atol=1e-6)


def test_subgradient_of_abs_at_zero_is_zero():
    for pen in (jr.l1(2.0), jr.elastic_net(2.0, 1.0)):
        np.testing.assert_array_equal(pen.grad(jnp.zeros(3)), 0)


@pytest.mark.parametrize("name", list(PENALTIES))
def test_prox_matches_numerical_argmin(name):
    pen = PENALTIES[name]
    w = np.asarray(TREE["w"], np.float64)
    step = 0.8
    ours = np.asarray(pen.prox(jnp.asarray(w, jnp.float32), step), np.float64)

    def objective(y):
        return 0.5 * np.sum((w.ravel() - y) ** 2) + step * numpy_value(
            name, y.reshape(w.shape)
        )

    assert_is_prox(objective, ours, w)


def test_prox_on_pytrees_is_leafwise():
    pen = jr.elastic_net(0.4, 0.6)
    out = pen.prox(TREE, 0.5)
    for key in TREE:
        np.testing.assert_allclose(
            out[key], jr.prox_elastic_net(TREE[key], 0.4, 0.6, 0.5), rtol=1e-6
        )


def test_strength_may_be_traced_on_multi_leaf_trees():
    # jaxopt's prox_elastic_net fails here with a pytree-structure error.
    def fn(s):
        return jr.ElasticNet(s, 0.5).prox(TREE, 1.0)

    batched = jax.jit(jax.vmap(fn))(jnp.array([0.1, 0.2]))
    for i, s in enumerate([0.1, 0.2]):
        single = jr.elastic_net(s, 0.5).prox(TREE, 1.0)
        for key in TREE:
            np.testing.assert_allclose(batched[key][i], single[key], rtol=1e-6)


@pytest.mark.parametrize(
    "make",
    [jr.l1, jr.l2, lambda s: jr.elastic_net(s, 0.0), lambda s: jr.elastic_net(s, 0.5)],
)
def test_negative_traced_strength_or_step_gives_nan_as_prox_ridge_does(make):
    # L2's prox divided by 1 + t·s: a negative traced strength (a vmapped
    # grid, a schedule) amplified w into a finite, wrong point
    x = jnp.array([1.0, -2.0, 0.05])
    np.testing.assert_array_equal(
        jnp.isnan(jax.jit(lambda s: make(s).prox(x, 1.0))(-0.5)), True
    )
    np.testing.assert_array_equal(jnp.isnan(make(0.5).prox(x, jnp.asarray(-1.0))), True)
    np.testing.assert_array_equal(
        jnp.isnan(make(0.5).coord_prox(x, jnp.asarray(-1.0))), True
    )
    assert np.all(np.isfinite(jax.jit(lambda s: make(s).prox(x, 1.0))(0.5)))
    np.testing.assert_array_equal(
        jnp.isnan(jax.jit(lambda s: jr.prox_ridge(x, s))(-0.5)), True
    )


def test_penalties_are_pytrees_with_hyperparameters_as_leaves():
    leaves, treedef = jax.tree.flatten(jr.group_lasso(0.5, axis=1))
    assert leaves == [0.5]
    rebuilt = jax.tree.unflatten(treedef, [0.7])
    assert rebuilt.strength == 0.7 and rebuilt.axis == 1


@pytest.mark.parametrize(
    ("factory", "kwargs", "match"),
    [
        (jr.l1, {"strength": -1.0}, "strength"),
        (jr.l2, {"strength": float("nan")}, "strength"),
        (jr.elastic_net, {"strength": 1.0, "l1_ratio": 1.5}, "l1_ratio"),
        (jr.elastic_net, {"strength": 1.0, "l1_ratio": -0.1}, "l1_ratio"),
        (jr.group_lasso, {"strength": 1.0, "axis": "rows"}, "axis"),
        (jr.nuclear_norm, {"strength": -0.1}, "strength"),
    ],
)
def test_bad_hyperparameters_raise(factory, kwargs, match):
    with pytest.raises(ValueError, match=match):
        factory(**kwargs)


def test_bad_params_raise_clear_errors():
    with pytest.raises(ValueError, match="floating dtype"):
        jr.l1(0.1).prox(jnp.arange(3), 1.0)
    with pytest.raises(ValueError, match="ndim >= 2"):
        jr.nuclear_norm(0.1).prox(jnp.ones(3), 1.0)
    with pytest.raises(ValueError, match="axis=1"):
        jr.group_lasso(0.1, axis=1).prox(jnp.ones(3), 1.0)
    with pytest.raises(ValueError, match="step"):
        jr.l1(0.1).prox(jnp.ones(3), -1.0)


def test_alpha_max_zeroes_the_solution():
    # For the prox problem min ½||x - y||² + s g(y), x = -∇f(0): at s = alpha_max
    # the prox of step 1 is exactly zero, and just below it is not.
    x = TREE["w"]
    for pen_cls, kwargs in ((jr.L1, {}), (jr.ElasticNet, {"l1_ratio": 1.0})):
        s = pen_cls(1.0, **kwargs).alpha_max(x)
        np.testing.assert_array_equal(pen_cls(s, **kwargs).prox(x, 1.0), 0)
        assert jnp.any(pen_cls(0.99 * s, **kwargs).prox(x, 1.0) != 0)
    s = jr.group_lasso(1.0, axis=0).alpha_max(x)
    np.testing.assert_allclose(jr.group_lasso(s, axis=0).prox(x, 1.0), 0, atol=1e-7)


def test_block_group_lasso_contract_against_numpy():
    pen = jr.BlockGroupLasso(0.3, jnp.asarray(BLOCK_WEIGHTS, jnp.float32))
    rng = np.random.default_rng(0)
    V = rng.normal(size=(4, 3)).astype(np.float32)
    W = rng.normal(size=(4, 3)).astype(np.float32)
    W[1] = 0.0
    c = 0.3 * BLOCK_WEIGHTS
    vn = np.linalg.norm(V, axis=1)
    wn = np.linalg.norm(W, axis=1)
    expected = [
        np.linalg.norm(V[g] - c[g] * W[g] / wn[g])
        if wn[g] > 0
        else max(vn[g] - c[g], 0)
        for g in range(4)
    ]
    np.testing.assert_allclose(pen.subdiff_distance(W, V), expected, rtol=1e-5)
    np.testing.assert_allclose(pen.zero_margin(V), c - vn, rtol=1e-5)
    pen_groups = BLOCK_WEIGHTS > 0
    s = 1 / max(1.0, np.max(vn[pen_groups] / c[pen_groups]))
    assert float(pen.dual_scaling(V)) == pytest.approx(s, rel=1e-5)
    np.testing.assert_array_equal(pen.unpenalized(W), ~pen_groups)
    lam_max = np.max(vn[pen_groups] / BLOCK_WEIGHTS[pen_groups])
    assert float(pen.alpha_max(V)) == pytest.approx(lam_max, rel=1e-5)
    # at strength alpha_max, W = 0 is optimal: the prox of V keeps only row 3
    at_max = jr.BlockGroupLasso(lam_max, jnp.asarray(BLOCK_WEIGHTS, jnp.float32))
    out = np.asarray(at_max.block_prox(jnp.asarray(V), 1.0 + 1e-6))
    np.testing.assert_array_equal(out[:3], 0.0)
    np.testing.assert_allclose(out[3], V[3], rtol=1e-6)


def numpy_svt(m, tau):
    u, s, vh = np.linalg.svd(m, full_matrices=False)
    return (u * np.maximum(s - tau, 0.0)) @ vh


@pytest.mark.parametrize(
    "layout, shape, as_matrices",
    [  # numpy's reading of each layout: (batch, fan_in, fan_out)
        (
            jr.layouts.stacked(jr.layouts.FLAX_DENSE),
            (3, 5, 4),
            lambda w: w,
        ),
        (
            jr.layouts.FLAX_CONV,
            (2, 3, 4, 5),
            lambda w: w.reshape(1, 2 * 3 * 4, 5),
        ),
        (
            jr.layouts.TORCH_CONV,
            (5, 4, 2, 3),
            lambda w: w.reshape(1, 5, 4 * 2 * 3).transpose(0, 2, 1),
        ),
    ],
)
def test_nuclear_norm_reads_leaves_by_their_layout(layout, shape, as_matrices):
    w = np.random.default_rng(0).normal(size=shape)
    pen = jr.nuclear_norm(0.3, layout=layout)
    mats = as_matrices(w)
    value = 0.3 * sum(np.linalg.svd(m, compute_uv=False).sum() for m in mats)
    np.testing.assert_allclose(float(pen.value(jnp.asarray(w))), value, rtol=1e-5)
    # the prox thresholds each matrix, and gives the leaf its shape back
    tau = 0.5 * np.median(np.linalg.svd(mats, compute_uv=False))
    expected = np.stack([numpy_svt(m, tau) for m in mats])
    out = np.asarray(pen.prox(jnp.asarray(w, jnp.float32), tau / 0.3))
    assert out.shape == shape
    np.testing.assert_allclose(as_matrices(out), expected, atol=1e-4)
    # the subgradient s·U·Vᵀ (full column rank: the gradient of the value)
    u, _, vh = np.linalg.svd(mats, full_matrices=False)
    grad = np.asarray(pen.grad(jnp.asarray(w, jnp.float32)))
    np.testing.assert_allclose(as_matrices(grad), 0.3 * u @ vh, atol=1e-5)


def test_nuclear_norm_warns_when_it_guesses_a_3d_layout():
    w = jnp.asarray(np.random.default_rng(1).normal(size=(3, 5, 4)), jnp.float32)
    with pytest.warns(UserWarning, match=r"layout=.*stacked"):
        guessed = jr.nuclear_norm(0.3).value(w)
    flax_conv = jr.nuclear_norm(0.3, layout=jr.layouts.FLAX_CONV).value(w)
    np.testing.assert_allclose(float(guessed), float(flax_conv), rtol=1e-6)
    # a 2-D leaf is the matrix: nothing to guess
    m = jnp.asarray(np.random.default_rng(2).normal(size=(5, 4)), jnp.float32)
    expected = 0.3 * np.linalg.svd(np.asarray(m), compute_uv=False).sum()
    np.testing.assert_allclose(float(jr.nuclear_norm(0.3).value(m)), expected, 1e-5)


def test_nuclear_norm_layout_errors_name_the_argument():
    with pytest.raises(ValueError, match="layout must be a jaxreg.layouts.Layout"):
        jr.nuclear_norm(0.1, layout="flax")
    with pytest.raises(ValueError, match="at least 3 axes"):
        jr.nuclear_norm(0.1, layout=jr.layouts.stacked(jr.layouts.FLAX_DENSE)).prox(
            jnp.ones((4, 3)), 1.0
        )


def test_group_lasso_axis_0_on_stacked_layers_warns():
    # (L, in, out) with axis=0: each group one (in, out) entry across the L
    # layers, zeroed in all layers at once; axis=-2 gives each layer's units
    w = jnp.asarray(np.random.default_rng(0).normal(size=(3, 6, 5)), jnp.float32)
    with pytest.warns(UserWarning, match=r"axis=-2"):
        jr.group_lasso(10.0, axis=0).prox(w, 0.1)
    units = jr.group_lasso(10.0, axis=-2).prox(w, 0.1)
    norms = np.linalg.norm(np.asarray(w), axis=1)  # (L, out): one per unit
    np.testing.assert_array_equal(np.all(units == 0, axis=1), norms <= 1.0)
    jr.group_lasso(10.0, axis=(0,)).prox(w, 0.1)  # explicit: quiet
    jr.group_lasso(10.0, axis=0).prox(w[0], 0.1)  # a 2-D kernel: quiet
    # stacked (L, out, in) torch/Equinox weights: the units are axis=-1 (the
    # warning named only axis=-2, which groups their input features)
    torch = jnp.swapaxes(w, 1, 2)
    with pytest.warns(UserWarning, match=r"axis=-1 for stacked torch/Equinox"):
        jr.group_lasso(10.0, axis=0).prox(torch, 0.1)
    units_t = jr.group_lasso(10.0, axis=-1).prox(torch, 0.1)
    np.testing.assert_array_equal(jnp.swapaxes(units_t, 1, 2), units)


def test_group_lasso_axis_0_on_an_equinox_linear_warns():
    """An Equinox Linear weight is (out, in): axis=0 groups each input
    feature, not each unit, and the README says axis=0 removes units; the
    transform did so silently (found by a user-style audit)."""
    eqx = pytest.importorskip("equinox")
    model = eqx.nn.Linear(4, 3, key=jax.random.key(0))
    params = eqx.filter(model, eqx.is_inexact_array)
    grads = jax.tree.map(jnp.zeros_like, params)

    def step(axis):
        tx = jr.proximal(jr.group_lasso(2.0, axis=axis), 1.0, jr.weight_mask(params))
        return tx.update(grads, tx.init(params), params)[0].weight + params.weight

    with pytest.warns(UserWarning, match=r"\.weight \(3, 4\).*axis=1"):
        step(0)
    units = np.asarray(step(1))  # quiet: each row one unit's incoming weights
    w = np.asarray(params.weight)
    norms = np.linalg.norm(w, axis=1, keepdims=True)
    np.testing.assert_allclose(units, np.maximum(1 - 2.0 / norms, 0) * w, rtol=1e-6)
    step((0,))  # explicit feature groups: quiet
    jr.group_lasso(2.0).value({"w": w})  # a plain (in, out) array: quiet


def test_nuclear_norm_warns_about_a_stacked_bias_it_reads_as_a_matrix():
    # a linen nn.scan model masked by w.ndim >= 2: the (L, out) bias was
    # thresholded as a matrix (rank 3 -> 2) silently; Muon and spectral
    # normalization treat such a leaf as biases
    params = {"bias": jnp.asarray(np.random.default_rng(0).normal(size=(3, 16)))}
    tx = jr.prox_sgd(1.0, jr.nuclear_norm(3.0), mask=lambda p: {"bias": True})
    with pytest.warns(UserWarning, match=r"\['bias'\] \(3, 16\)"):
        tx.update(params, tx.init(params), params)
    with pytest.warns(UserWarning, match="mask them out"):
        jr.nuclear_norm(3.0).value(params)
    quiet = jr.prox_sgd(1.0, jr.nuclear_norm(3.0), mask={"bias": np.False_})
    quiet.update(params, quiet.init(params), params)
    explicit = jr.nuclear_norm(3.0, layout=jr.layouts.FLAX_DENSE)
    explicit.prox(params, 1.0)
