"""SAM, ASAM and GSAM against a two-pass reference written out here in numpy.

The reference takes the clean gradient from ``jax.grad``, forms the perturbation
(Foret et al.'s ``ρ g/‖g‖``, Kwon et al.'s ``ρ T²g/‖Tg‖`` with ``T = |w| + η``)
and GSAM's projection in float64 numpy, then takes the gradient at the
perturbed point; nothing of ``jaxreg.sam`` is used.
"""

import chex
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxreg as jr

KEYS = jax.random.split(jax.random.key(0), 4)
PARAMS = {
    "W": jax.random.normal(KEYS[0], (5, 4)),
    "b": jnp.full((4,), 0.1, jnp.float32),
    "V": jax.random.normal(KEYS[1], (4, 2)),
}
X = jax.random.normal(KEYS[2], (16, 5))
Y = jax.random.normal(KEYS[3], (16, 2))


def loss(params, x, y):
    hidden = jnp.tanh(x @ params["W"] + params["b"][None, :])
    return 0.5 * jnp.mean(jnp.square(hidden @ params["V"] - y))


def reference(loss_fn, params, rho, adaptive=False, eta=0.01, alpha=0.0, skip=()):
    """Two passes, the perturbation and GSAM's projection in float64 numpy."""
    g = jax.grad(loss_fn)(params)
    leaves, treedef = jax.tree.flatten(params)
    names = [jax.tree_util.keystr(k) for k, _ in jax.tree.leaves_with_path(params)]
    g64 = [np.asarray(x, np.float64) for x in jax.tree.leaves(g)]
    w64 = [np.asarray(x, np.float64) for x in leaves]
    keep = [0.0 if any(s in n for s in skip) else 1.0 for n in names]
    t = [np.abs(w) + eta if adaptive else np.ones_like(w) for w in w64]
    norm = np.sqrt(
        sum(k * np.sum((ti * gi) ** 2) for k, ti, gi in zip(keep, t, g64, strict=True))
    )
    eps = [k * rho * ti**2 * gi / norm for k, ti, gi in zip(keep, t, g64, strict=True)]
    perturbed = jax.tree.unflatten(
        treedef,
        [jnp.asarray(w + e, jnp.float32) for w, e in zip(w64, eps, strict=True)],
    )
    gp = [
        np.asarray(x, np.float64) for x in jax.tree.leaves(jax.grad(loss_fn)(perturbed))
    ]
    dot = sum(np.sum(a * b) for a, b in zip(g64, gp, strict=True))
    sq = sum(np.sum(b * b) for b in gp)
    direction = [b - alpha * (a - dot / sq * b) for a, b in zip(g64, gp, strict=True)]
    direction = [jnp.asarray(d, jnp.float32) for d in direction]
    return jax.tree.unflatten(treedef, direction), loss_fn(perturbed)


def max_diff(a, b):
    return max(
        float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


@pytest.mark.parametrize(
    "adaptive, alpha, rho", [(False, 0.0, 0.05), (True, 0.0, 0.5), (False, 0.3, 0.1)]
)
def test_sam_gradient_matches_the_two_pass_reference(adaptive, alpha, rho):
    out = jr.sam_gradient(
        loss, PARAMS, X, Y, rho=rho, adaptive=adaptive, gsam_alpha=alpha
    )
    expected, expected_loss = reference(
        lambda p: loss(p, X, Y), PARAMS, rho, adaptive=adaptive, alpha=alpha
    )
    assert max_diff(out.grad, expected) < 1e-6
    assert abs(float(out.perturbed_loss - expected_loss)) < 1e-6
    assert abs(float(out.loss - loss(PARAMS, X, Y))) < 1e-7
    # The ascent step raises the loss by about ρ‖g‖ (first order).
    g_norm = float(optax.tree.norm(jax.grad(loss)(PARAMS, X, Y)))
    if not adaptive:
        rise = float(out.perturbed_loss - out.loss)
        assert 0.5 * rho * g_norm < rise < 1.5 * rho * g_norm


def test_perturbation_has_radius_rho_in_the_adaptive_metric():
    g = jax.grad(loss)(PARAMS, X, Y)
    eps = jr.sam_perturbation(g, PARAMS, 0.3, adaptive=True, eta=0.02)
    # ‖T⁻¹ε‖ = ρ: ASAM's neighbourhood is a ball in the rescaled coordinates.
    scaled = jax.tree.map(lambda e, w: e / (jnp.abs(w) + 0.02), eps, PARAMS)
    assert abs(float(optax.tree.norm(scaled)) - 0.3) < 1e-5


def test_mask_leaves_unselected_leaves_unperturbed_and_out_of_the_norm():
    g = jax.grad(loss)(PARAMS, X, Y)
    eps = jr.sam_perturbation(g, PARAMS, 0.1, mask={"W": True, "b": False, "V": True})
    assert not np.any(np.asarray(eps["b"]))
    out = jr.sam_gradient(
        loss,
        PARAMS,
        X,
        Y,
        rho=0.1,
        mask=lambda p: {**jax.tree.map(lambda _: True, p), "b": False},
    )
    expected, _ = reference(lambda p: loss(p, X, Y), PARAMS, 0.1, skip=("'b'",))
    assert max_diff(out.grad, expected) < 1e-6


def test_zero_gradient_gives_zero_perturbation_not_nan():
    zeros = jax.tree.map(jnp.zeros_like, PARAMS)
    for adaptive in (False, True):
        eps = jr.sam_perturbation(zeros, PARAMS, 0.05, adaptive=adaptive)
        assert all(not np.any(np.asarray(e)) for e in jax.tree.leaves(eps))
    direction = jr.gsam_direction(zeros, zeros, 0.2)
    assert all(np.all(np.isfinite(d)) for d in jax.tree.leaves(direction))


def train(tx, steps, reference_grads):
    """``steps`` jitted steps: ``sam`` in the chain (``grad_fn``) or, with
    ``reference_grads``, the plain chain fed the reference SAM gradient."""

    @jax.jit
    def step(params, state):
        g = jax.grad(loss)(params, X, Y)
        return tx.update(g, state, params, grad_fn=lambda p: jax.grad(loss)(p, X, Y))

    params, state = PARAMS, tx.init(PARAMS)
    for _ in range(steps):
        if reference_grads is None:
            updates, state = step(params, state)
        else:
            updates, state = tx.update(reference_grads(params), state, params)
        params = optax.apply_updates(params, updates)
    return params, state


def has_count(node):
    return "count" in getattr(node, "_fields", ())


def counts(state):
    return [
        int(node.count)
        for node in jax.tree.leaves(state, is_leaf=has_count)
        if has_count(node)
    ]


LR = optax.linear_schedule(0.05, 0.01, 6)
MATRICES = {"W": True, "b": False, "V": True}
INNER = {
    "sgd": lambda: [optax.sgd(0.1)],
    "adam_decoupled_proximal": lambda: [
        optax.adam(LR),
        jr.decoupled(jr.l2(0.1), LR, mask=MATRICES),
        jr.proximal(jr.l1(0.05), LR, mask=MATRICES),
    ],
    "muon": lambda: [jr.muon(0.02, adam_learning_rate=LR)],
    "lion": lambda: [jr.lion(LR, weight_decay=0.1)],
    "masked_adamw": lambda: [optax.masked(optax.adamw(LR), MATRICES)],
}


@pytest.mark.parametrize("name", INNER)
def test_sam_composes_with_any_chain_and_counts_each_step_once(name):
    steps, rho = 6, 0.05
    ours, state = train(optax.chain(jr.sam(rho), *INNER[name]()), steps, None)

    def reference_grads(params):
        return reference(lambda p: loss(p, X, Y), params, rho)[0]

    expected, ref_state = train(optax.chain(*INNER[name]()), steps, reference_grads)
    assert max_diff(ours, expected) < 2e-5
    assert counts(state) == [steps] * len(counts(state)) and counts(state)
    assert counts(state)[1:] == counts(ref_state)


def test_sam_gradient_helper_feeds_any_chain():
    tx = optax.chain(*INNER["adam_decoupled_proximal"]())
    ours_params, state = PARAMS, tx.init(PARAMS)
    for _ in range(4):
        out = jr.sam_gradient(loss, ours_params, X, Y, rho=0.05)
        updates, state = tx.update(out.grad, state, ours_params)
        ours_params = optax.apply_updates(ours_params, updates)
    expected, _ = train(
        optax.chain(jr.sam(0.05), *INNER["adam_decoupled_proximal"]()), 4, None
    )
    assert max_diff(ours_params, expected) < 1e-6


def test_inject_hyperparams_changes_rho_between_steps():
    tx = optax.chain(optax.inject_hyperparams(jr.sam)(rho=0.05), optax.sgd(0.1))
    state = tx.init(PARAMS)
    grad_fn = lambda p: jax.grad(loss)(p, X, Y)  # noqa: E731
    g = grad_fn(PARAMS)
    updates, _ = tx.update(g, state, PARAMS, grad_fn=grad_fn)
    expected, _ = reference(lambda p: loss(p, X, Y), PARAMS, 0.05)
    assert max_diff(updates, jax.tree.map(lambda x: -0.1 * x, expected)) < 1e-6
    state[0].hyperparams["rho"] = jnp.asarray(0.0)
    updates, _ = tx.update(g, state, PARAMS, grad_fn=grad_fn)
    assert max_diff(updates, jax.tree.map(lambda x: -0.1 * x, g)) < 1e-7


def test_rho_schedule_is_read_at_the_step_count():
    tx = jr.sam(lambda k: jnp.where(k >= 1, 0.1, 0.0))  # 0 at step 0, then 0.1
    state = tx.init(PARAMS)
    grad_fn = lambda p: jax.grad(loss)(p, X, Y)  # noqa: E731
    g = grad_fn(PARAMS)
    first, state = tx.update(g, state, PARAMS, grad_fn=grad_fn)
    second, _ = tx.update(g, state, PARAMS, grad_fn=grad_fn)
    assert max_diff(first, g) == 0
    assert max_diff(second, reference(lambda p: loss(p, X, Y), PARAMS, 0.1)[0]) < 1e-6


def test_sam_update_compiles_once():
    tx = optax.chain(jr.sam(0.05, adaptive=True, gsam_alpha=0.1), optax.adam(1e-2))

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(params, state):
        grad_fn = lambda p: jax.grad(loss)(p, X, Y)  # noqa: E731
        updates, state = tx.update(grad_fn(params), state, params, grad_fn=grad_fn)
        return optax.apply_updates(params, updates), state

    params, state = PARAMS, tx.init(PARAMS)
    for _ in range(3):
        params, state = step(params, state)
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(params))


def test_equinox_module():
    model = eqx.nn.MLP(3, 2, 8, 2, key=jax.random.key(3))
    params, static = eqx.partition(model, eqx.is_array)
    x = jax.random.normal(jax.random.key(4), (10, 3))

    def eqx_loss(p):
        return jnp.mean(jnp.square(jax.vmap(eqx.combine(p, static))(x)))

    out = jr.sam_gradient(eqx_loss, params, rho=0.5, adaptive=True)
    expected, _ = reference(eqx_loss, params, 0.5, adaptive=True)
    assert max_diff(out.grad, expected) < 1e-6
    tx = optax.chain(jr.sam(0.5, adaptive=True), optax.sgd(0.1))
    updates, _ = tx.update(
        jax.grad(eqx_loss)(params), tx.init(params), params, grad_fn=jax.grad(eqx_loss)
    )
    assert max_diff(updates, jax.tree.map(lambda e: -0.1 * e, expected)) < 1e-6


def test_has_aux_returns_the_clean_aux():
    out = jr.sam_gradient(lambda p: (loss(p, X, Y), 7.0), PARAMS, has_aux=True)
    assert out.aux == 7.0
    assert abs(float(out.loss - loss(PARAMS, X, Y))) < 1e-7


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="rho"):
        jr.sam(-0.1)
    with pytest.raises(ValueError, match="eta"):
        jr.sam_gradient(loss, PARAMS, X, Y, adaptive=True, eta=-1.0)
    with pytest.raises(ValueError, match="gsam_alpha"):
        jr.sam(0.1, gsam_alpha=float("nan"))
    tx = jr.sam(0.1)
    with pytest.raises(ValueError, match="grad_fn"):
        tx.update(PARAMS, tx.init(PARAMS), PARAMS)


def test_negative_radius_raises_in_every_entry_point():
    """sam_perturbation, sam_sharpness and gsam_direction took a negative
    radius silently: a descent step, a negative sharpness."""
    g = jax.grad(loss)(PARAMS, X, Y)
    with pytest.raises(ValueError, match="rho"):
        jr.sam_perturbation(g, PARAMS, -0.1)
    with pytest.raises(ValueError, match="rho"):
        jr.sam_sharpness(lambda p: loss(p, X, Y), PARAMS, rho=-0.05)
    with pytest.raises(ValueError, match="eta"):
        jr.sam_perturbation(g, PARAMS, 0.1, adaptive=True, eta=-0.5)
    with pytest.raises(ValueError, match="alpha"):
        jr.gsam_direction(g, g, -0.5)


def test_none_gradient_leaf_is_not_perturbed():
    # Equinox's filter_grad gives None on a non-float leaf; it raised
    g = jax.grad(loss)(PARAMS, X, Y)
    steps = jnp.asarray(3)
    eps = jr.sam_perturbation({**g, "n": None}, {**PARAMS, "n": steps}, 0.1)
    assert int(eps["n"]) == 0 and eps["n"].dtype == steps.dtype
    chex.assert_trees_all_close(
        {k: eps[k] for k in g}, jr.sam_perturbation(g, PARAMS, 0.1)
    )


def test_flax_nnx_grad_fn_must_return_plain_arrays():
    from flax import nnx

    model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (6, 3))
    graphdef, params = nnx.split(model, nnx.Param)

    def loss_of(m):
        return jnp.mean(m(x) ** 2)

    def wrapped(p):  # nnx.grad's State, still holding Param variables
        return nnx.grad(loss_of)(nnx.merge(graphdef, p))

    def pure(p):
        return nnx.as_pure(nnx.state(wrapped(p), nnx.Param))

    params = nnx.as_pure(params)
    tx = jr.sam(0.1)
    g = pure(params)
    with pytest.raises(ValueError, match=r"grad_fn.*nnx.as_pure"):
        tx.update(g, tx.init(params), params, grad_fn=wrapped)
    out, _ = tx.update(g, tx.init(params), params, grad_fn=pure)
    expected, _ = reference(lambda p: loss_of(nnx.merge(graphdef, p)), params, 0.1)
    assert max_diff(out, expected) < 1e-6


def test_inside_optax_masked_raises_with_the_fix():
    mask = {"W": True, "b": False, "V": True}
    tx = optax.chain(optax.masked(jr.sam(0.1), mask), optax.sgd(0.1))
    g = jax.grad(loss)(PARAMS, X, Y)
    with pytest.raises(ValueError, match=r"optax.masked.*mask="):
        tx.update(g, tx.init(PARAMS), PARAMS, grad_fn=lambda p: jax.grad(loss)(p, X, Y))
    # the fix the message names: the same perturbation as the masked reference
    tx = jr.sam(0.1, mask=mask)
    out, _ = tx.update(
        g, tx.init(PARAMS), PARAMS, grad_fn=lambda p: jax.grad(loss)(p, X, Y)
    )
    expected, _ = reference(lambda p: loss(p, X, Y), PARAMS, 0.1, skip=("'b'",))
    assert max_diff(out, expected) < 1e-6


@pytest.mark.parametrize("adaptive", [False, True])
def test_python_scalar_leaf_matches_a_0d_array(adaptive):
    # the leaf check let a Python float through, then p.dtype raised
    def loss(p):
        return jnp.sum(jnp.sin(p["w"]) ** 2) * p["temperature"]

    w = jnp.array([0.3, -1.2, 0.7])
    as_float = {"w": w, "temperature": 2.0}
    as_array = {"w": w, "temperature": jnp.asarray(2.0)}
    got = jr.sam_gradient(loss, as_float, rho=0.1, adaptive=adaptive).grad
    ref = jr.sam_gradient(loss, as_array, rho=0.1, adaptive=adaptive).grad
    chex.assert_trees_all_close(got, ref, rtol=1e-6)
    np.testing.assert_allclose(
        jr.sam_sharpness(loss, as_float, rho=0.1, adaptive=adaptive),
        jr.sam_sharpness(loss, as_array, rho=0.1, adaptive=adaptive),
        rtol=1e-6,
    )
