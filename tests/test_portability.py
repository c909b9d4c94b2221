"""Backend portability of the transforms: no 64-bit types, no factorizations in
hot paths, low-precision params, orbax checkpoints, structure mismatches."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxreg as jr

FACTORIZATIONS = ("svd", "eigh", "cholesky", "triangular_solve", "lu", "qr")


def params_of(dtype):
    return {
        "w": jnp.linspace(-1, 1, 24, dtype=dtype).reshape(6, 4),
        "b": jnp.linspace(-0.1, 0.1, 4, dtype=dtype),
    }


def bias_free(p):
    return jax.tree.map(lambda x: x.ndim > 1, p)


TRANSFORMS = {
    "add_penalty_gradient": lambda: optax.chain(
        jr.add_penalty_gradient(jr.elastic_net(0.1, 0.5)), optax.sgd(0.1)
    ),
    "decoupled": lambda: optax.chain(optax.adam(1e-2), jr.decoupled(jr.l2(0.1), 1e-2)),
    "proximal_l1": lambda: jr.prox_sgd(0.1, jr.l1(0.1)),
    "proximal_group": lambda: jr.prox_adam(
        1e-2, jr.group_lasso(0.1, 0), mask=bias_free
    ),
    "prox_adamw": lambda: jr.prox_adamw(1e-2, jr.elastic_net(0.1, 0.3)),
    "lion": lambda: jr.lion(1e-3, weight_decay=0.1, mask=bias_free),
    "diagnostics": lambda: jr.with_diagnostics(
        jr.prox_sgd(0.1, jr.l1(0.1)), jr.l1(0.1)
    ),
    "nuclear_norm": lambda: jr.prox_sgd(0.1, jr.nuclear_norm(0.1), mask=bias_free),
    "muon": lambda: jr.muon(0.02, weight_decay=0.1, adam_weight_decay=0.1),
}


def step_jaxpr(tx, params):
    def step(p, state):
        updates, state = tx.update(p, state, p)
        return optax.apply_updates(p, updates), state

    return jax.make_jaxpr(step)(params, tx.init(params))


def primitives(jaxpr) -> set[str]:
    names = set()
    for eqn in jaxpr.eqns:
        names.add(eqn.primitive.name)
        for sub in jax.core.jaxprs_in_params(eqn.params):
            names |= primitives(sub)
    return names


def float32_schedule(count):
    return jnp.float32(0.1) * jnp.float32(0.5) ** count.astype(jnp.float32)


# jaxreg's own stages, without optax optimizers in front: optax's Adam bias
# correction itself computes in float64 when x64 is on.
OWN_STAGES = {
    "add_penalty_gradient": lambda: jr.add_penalty_gradient(jr.l2(0.1)),
    "decoupled": lambda: jr.decoupled(jr.l2(0.1), float32_schedule),
    "proximal": lambda: jr.proximal(jr.elastic_net(0.1, 0.5), 0.1),
    "proximal_group": lambda: jr.proximal(jr.group_lasso(0.1, 0), 0.1),
    "lion": lambda: jr.lion(1e-3, weight_decay=0.1),
    "diagnostics": lambda: jr.with_diagnostics(optax.identity(), jr.l1(0.1)),
    "muon": lambda: optax.masked(jr.scale_by_muon(bias_correction=True), bias_free),
}


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_no_64_bit_types_in_any_jaxpr(name):
    text = str(step_jaxpr(TRANSFORMS[name](), params_of(jnp.float32)))
    assert "f64" not in text and "i64" not in text


@pytest.mark.parametrize("name", list(OWN_STAGES))
def test_no_64_bit_types_even_with_x64_enabled(name):
    # With x64 on, a stray numpy float64 constant or int64 counter would promote
    # the computation: float32 params must stay float32 throughout.
    with jax.enable_x64(True):
        text = str(step_jaxpr(OWN_STAGES[name](), params_of(jnp.float32)))
    assert "f64" not in text and "i64" not in text


@pytest.mark.parametrize("name", [n for n in TRANSFORMS if n != "nuclear_norm"])
def test_no_factorizations_in_transform_hot_paths(name):
    jaxpr = step_jaxpr(TRANSFORMS[name](), params_of(jnp.float32))
    assert not primitives(jaxpr.jaxpr) & set(FACTORIZATIONS)


def test_nuclear_norm_prox_is_the_documented_svd_exception():
    jaxpr = step_jaxpr(TRANSFORMS["nuclear_norm"](), params_of(jnp.float32))
    assert "svd" in primitives(jaxpr.jaxpr)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_low_precision_params_keep_their_dtype_and_stay_finite(name, dtype):
    tx = TRANSFORMS[name]()
    params = params_of(dtype)
    state = tx.init(params)
    step = jax.jit(lambda p, s: tx.update(p, s, p))
    for _ in range(3):
        updates, state = step(params, state)
        params = optax.apply_updates(params, updates)
    for leaf in jax.tree.leaves(params):
        assert leaf.dtype == dtype
        assert np.all(np.isfinite(np.asarray(leaf, np.float32)))


def test_integer_params_get_a_clear_error():
    tx = jr.prox_sgd(0.1, jr.l1(0.1))
    params = {"w": jnp.arange(4)}
    with pytest.raises(ValueError, match="floating dtype"):
        tx.update(jax.tree.map(jnp.zeros_like, params), tx.init(params), params)


CHECKPOINTED = {
    "prox_adamw": lambda: jr.prox_adamw(
        optax.cosine_decay_schedule(1e-2, 20), jr.l1(0.01)
    ),
    "muon": lambda: jr.muon(
        optax.cosine_decay_schedule(0.02, 20), weight_decay=0.1, adam_weight_decay=0.1
    ),
    "lion": lambda: jr.lion(1e-3, weight_decay=0.1),
    "coupled+diagnostics": lambda: jr.with_diagnostics(
        optax.chain(jr.add_penalty_gradient(jr.l2(0.1)), optax.sgd(0.1, 0.9)),
        jr.l2(0.1),
    ),
    "prox_sgd_group": lambda: jr.prox_sgd(0.1, jr.group_lasso(0.1), mask=bias_free),
}


@pytest.mark.parametrize("name", list(CHECKPOINTED))
def test_orbax_round_trip_resumes_bit_identically(tmp_path, name):
    import orbax.checkpoint as ocp

    tx = CHECKPOINTED[name]()
    step = jax.jit(lambda p, s: tx.update(p, s, p))
    params, state = params_of(jnp.float32), tx.init(params_of(jnp.float32))
    for _ in range(5):
        updates, state = step(params, state)
        params = optax.apply_updates(params, updates)
    with ocp.StandardCheckpointer() as ckpt:
        ckpt.save(tmp_path / "ckpt", {"params": params, "state": state})
    with ocp.StandardCheckpointer() as ckpt:
        target = {"params": params, "state": state}
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        restored = ckpt.restore(tmp_path / "ckpt", abstract)
    q, qstate = restored["params"], restored["state"]
    for _ in range(5):
        updates, state = step(params, state)
        params = optax.apply_updates(params, updates)
        qupdates, qstate = step(q, qstate)
        q = optax.apply_updates(q, qupdates)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(q), strict=True):
        np.testing.assert_array_equal(a, b)


def test_state_from_a_different_tree_gives_a_clear_error():
    tx = jr.prox_adamw(1e-2, jr.l1(0.01))
    params = params_of(jnp.float32)
    other = {"w": params["w"]}
    with pytest.raises(ValueError, match="structure|match"):
        tx.update(params, tx.init(other), params)


def test_solvers_accept_row_sharded_X_and_match():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 40)).astype(np.float32)
    w = np.zeros(40, np.float32)
    w[:4] = [2.0, -1.0, 0.5, 1.5]
    y = X @ w + 0.1 * rng.normal(size=64).astype(np.float32)
    labels = (y > 0).astype(np.float32)
    mesh = jax.sharding.Mesh(np.array(jax.devices()), ("rows",))
    rows = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("rows", None))
    X_sharded = jax.device_put(jnp.asarray(X), rows)
    assert len(X_sharded.sharding.device_set) == 8
    design = jr.solvers.base.prepare(
        X_sharded, y, jr.solvers.Quadratic, fit_intercept=True
    ).design
    assert len(design.XT.sharding.device_set) == 8  # stays sharded
    for solve, target in (
        (lambda A, t: jr.lasso(A, t, 0.05, tol=1e-6), y),
        (lambda A, t: jr.logistic_regression(A, t, 0.01, tol=1e-6), labels),
    ):
        single, sharded = solve(jnp.asarray(X), target), solve(X_sharded, target)
        np.testing.assert_allclose(sharded.coef, single.coef, atol=1e-5)
        np.testing.assert_allclose(sharded.intercept, single.intercept, atol=1e-5)
        assert bool(sharded.converged)
    # 60 rows do not divide over 8 devices: the README's padding, 4 rows of
    # weight 0, gives the fit on the 60 rows
    sw = np.r_[np.ones(60), np.zeros(4)]
    padded = jax.device_put(
        jnp.asarray(np.r_[X[:60], np.zeros((4, 40), np.float32)]), rows
    )
    sharded = jr.lasso(
        padded, np.r_[y[:60], np.zeros(4)], 0.05, sample_weight=sw, tol=1e-6
    )
    single = jr.lasso(X[:60], y[:60], 0.05, tol=1e-6)
    np.testing.assert_allclose(sharded.coef, single.coef, atol=1e-5)
    np.testing.assert_allclose(sharded.intercept, single.intercept, atol=1e-5)


def test_solvers_stay_in_float32_even_with_x64_enabled():
    # The solvers pick float64 only for float64 inputs under x64; float32 data
    # must give float32 results (no silent promotion inside the loops).
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 12)).astype(np.float32)
    y = (X[:, 0] - X[:, 1]).astype(np.float32)
    with jax.enable_x64(True):
        results = [
            jr.lasso(X, y, 0.01),
            jr.enet(X, y, 0.01, 0.5),
            jr.logistic_regression(X, (y > 0).astype(np.float32), 0.01),
            jr.ridge(X, y, 0.1),
        ]
        path = jr.lasso_path(X, y, n_lambdas=5)
    for res in results:
        assert res.coef.dtype == jnp.float32 and bool(res.converged)
        assert jnp.asarray(res.gap).dtype == jnp.float32
    assert path.coef.dtype == jnp.float32
