"""Tests for jaxreg.muon: Newton–Schulz against the scalar polynomial it must
apply to singular values, invariants, optax.contrib.muon parity, a numpy port of
Keller Jordan's reference, routing, batching and a small training run."""

import inspect
import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxreg
from jaxreg._muon import COEFFICIENT_SETS

HIGHEST = "highest"


def _svd_input(rng, m, n, s):
    """G = U diag(s) Vᵀ from float64 QR of Gaussians, rounded to float32.

    Returns G (float32) and the float64 SVD of that rounded matrix, so that the
    prediction measures NS arithmetic, not the rounding of G.
    """
    r = len(s)
    U, _ = np.linalg.qr(rng.normal(size=(m, r)))
    V, _ = np.linalg.qr(rng.normal(size=(n, r)))
    G = ((U * s) @ V.T).astype(np.float32)
    U, s, Vt = np.linalg.svd(G.astype(np.float64), full_matrices=False)
    return G, U, s, Vt.T


def _phi(x, table):
    """Scalar composition p_{T-1} ∘ … ∘ p_0 in float64."""
    for a, b, c in table:
        x = a * x + b * x**3 + c * x**5
    return x


def _table(coeffs, steps):
    """Per-step rows and norm scale, read from the published sets."""
    if isinstance(coeffs, str):
        table, scale = COEFFICIENT_SETS[coeffs]
    else:
        table, scale = np.atleast_2d(np.asarray(coeffs, np.float64)), 1.0
    rows = [min(k, len(table) - 1) for k in range(steps)]
    return np.asarray(table)[rows], scale


USER_CUBIC = np.array([[1.5, -0.5, 0.0]] * 3 + [[1.875, -1.25, 0.375]])


@pytest.mark.parametrize(
    "coeffs, steps",
    [
        ("keller", 5),
        ("you", 5),
        ("polar_express", 5),
        ("polar_express", 10),
        (USER_CUBIC, 6),
        ((3.4445, -4.7750, 2.0315), 3),
    ],
)
@pytest.mark.parametrize("shape", [(24, 40), (40, 24), (32, 32)])
def test_singular_values_follow_scalar_composition(coeffs, steps, shape):
    rng = np.random.default_rng(0)
    r = min(shape)
    s = np.logspace(0, -2, r) * 3.0
    G, U, s, V = _svd_input(rng, *shape, s)
    table, kappa = _table(coeffs, steps)
    expected = _phi(s / (kappa * np.linalg.norm(s) + 1e-7), table)
    # The plain loop to 1e-5; the Gram form (wide matrices) to 3e-4: its
    # round-off grows with ‖Q_T‖ ≈ φ'(0) = ∏ a_k.
    for gram, atol in ((False, 1e-5), (True, 3e-4)):
        if gram and max(shape) <= 1.5 * min(shape):
            continue
        with jax.default_matmul_precision(HIGHEST):
            ortho = np.asarray(
                jaxreg.newton_schulz(jnp.asarray(G), steps, coeffs, gram=gram),
                np.float64,
            )
        D = U.T @ ortho @ V
        np.testing.assert_allclose(np.diag(D), expected, atol=atol)
        np.testing.assert_allclose(D - np.diag(np.diag(D)), 0.0, atol=atol)


def test_rank_one_keller_closed_form():
    rng = np.random.default_rng(1)
    G = np.outer(rng.normal(size=12), rng.normal(size=20))
    with jax.default_matmul_precision(HIGHEST):
        ortho = jaxreg.newton_schulz(jnp.asarray(G, jnp.float32), 5, "keller")
    sv = np.linalg.svd(np.asarray(ortho, np.float64), compute_uv=False)
    assert abs(sv[0] - 0.696436) <= 1e-5
    # Rounding G to float32 leaves singular values ~1e-7 relative; φ'(0) =
    # 3.4445⁵ ≈ 483 lifts them to ~1e-5, as the scalar map predicts.
    s = np.linalg.svd(np.asarray(G, np.float32).astype(np.float64), compute_uv=False)
    table, _ = _table("keller", 5)
    np.testing.assert_allclose(
        sv[1:], _phi(s / np.linalg.norm(s), table)[1:], atol=1e-5
    )


def test_polar_express_full_schedule_approximates_sign():
    # The published polynomials are minimax for σ ∈ [1e-3, 1] (after the 1.01
    # safety scaling): 6 steps bring every such σ within 1% of 1, and the 8th,
    # the steady-state quintic, to float64 round-off.
    x = np.logspace(-3, 0, 2001) / COEFFICIENT_SETS["polar_express"][1]
    assert np.max(np.abs(_phi(x, _table("polar_express", 6)[0]) - 1.0)) < 1e-2
    assert np.max(np.abs(_phi(x, _table("polar_express", 8)[0]) - 1.0)) < 1e-6


def _gradient_like(rng, m, n):
    """A gradient-like matrix: power-law singular values σᵢ = (i + 1)^-1.5 over
    half the rank, then a floor of 1e-7 (rank-deficient, as minibatch
    gradients are), in float32; returns it and its float64 SVD."""
    r = min(m, n)
    s = np.where(np.arange(r) < r // 2, (np.arange(r) + 1.0) ** -1.5, 1e-7)
    return _svd_input(rng, m, n, s)


def _quality(ortho, U, s, V):
    """max|σᵢ − 1| of diag(UᵀOV) for σᵢ ≥ 1e-2·σ_max and ≥ 1e-3·σ_max, and
    ‖O − UVᵀ‖_F/√r, against the float64 SVD of the input."""
    ortho = np.asarray(ortho, np.float64)
    sigma = np.diag(U.T @ ortho @ V)
    bulk = np.max(np.abs(sigma[s >= 1e-2 * s[0]] - 1))
    tail = np.max(np.abs(sigma[s >= 1e-3 * s[0]] - 1))
    return bulk, tail, np.linalg.norm(ortho - U @ V.T) / np.sqrt(len(s))


@pytest.mark.parametrize("shape", [(96, 256), (128, 128)])
def test_default_at_least_optax_default_quality(shape):
    # The default (Polar Express, 5 steps; the Gram form for the wide shape)
    # against optax.contrib's default NS (Keller's triple, 5 steps, eps 1e-8),
    # both measured against the numpy SVD polar factor.
    from optax.contrib._muon import orthogonalize_via_newton_schulz

    G, U, s, V = _gradient_like(np.random.default_rng(4), *shape)
    ours = _quality(jaxreg.newton_schulz(jnp.asarray(G)), U, s, V)
    keller = jnp.asarray([3.4445, -4.7750, 2.0315])
    peer = _quality(orthogonalize_via_newton_schulz(jnp.asarray(G), keller), U, s, V)
    assert ours[0] <= 0.5 * peer[0]  # bulk: ≈ 0.13 against ≈ 0.32
    assert ours[1] <= peer[1] and ours[2] <= peer[2]
    # muon and scale_by_muon share newton_schulz's defaults
    for fn in (jaxreg.muon, jaxreg.scale_by_muon):
        defaults = inspect.signature(fn).parameters
        assert defaults["coeffs"].default == "polar_express"
        assert defaults["ns_steps"].default == 5


def test_gram_form_selection_and_accuracy():
    rng = np.random.default_rng(5)
    G, U, s, V = _gradient_like(rng, 64, 160)
    G = jnp.asarray(G)
    ns = jaxreg.newton_schulz
    # None picks the Gram form for wide float32 matrices (the same program) ...
    np.testing.assert_array_equal(ns(G), ns(G, gram=True))
    np.testing.assert_array_equal(ns(G.T), ns(G.T, gram=True))
    # ... and the plain loop for near-square ones, bfloat16 operands and
    # schedules with ∏ a_k > 2000 (Polar Express's 8 steps: ≈ 6400).
    square = jnp.asarray(rng.normal(size=(64, 96)), jnp.float32)
    np.testing.assert_array_equal(ns(square), ns(square, gram=False))
    for kwargs in ({"dtype": jnp.bfloat16}, {"steps": 8}):
        np.testing.assert_array_equal(ns(G, **kwargs), ns(G, gram=False, **kwargs))
    # Both forms apply the scalar map φ in G's singular bases: the plain loop
    # to float32 round-off, the Gram form to ≈ φ'(0)·1e-7 ≈ 1e-4 on the
    # diagonal and 1e-3 off it (half of G's singular values are 1e-7 here).
    table, kappa = _table("polar_express", 5)
    expected = _phi(s / (kappa * np.linalg.norm(s) + 1e-7), table)
    for gram, atol in ((False, 1e-5), (True, 2e-3)):
        D = U.T @ np.asarray(ns(G, gram=gram), np.float64) @ V
        np.testing.assert_allclose(np.diag(D), expected, atol=min(atol, 3e-4))
        np.testing.assert_allclose(D - np.diag(np.diag(D)), 0.0, atol=atol)
    one_step = ns(G, steps=1, coeffs="keller", gram=True)
    np.testing.assert_array_equal(one_step, ns(G, 1, "keller", gram=False))


def _random(key, shape):
    return jax.random.normal(jax.random.key(key), shape)


@pytest.mark.parametrize("coeffs", ["keller", "you", "polar_express"])
def test_invariants(coeffs):
    G = _random(0, (16, 24))
    ns = jax.jit(lambda g: jaxreg.newton_schulz(g, coeffs=coeffs))
    with jax.default_matmul_precision(HIGHEST):
        base = ns(G)
        np.testing.assert_allclose(ns(G.T), base.T, atol=1e-6)
        for c in (1e-3, 7.0):
            np.testing.assert_allclose(ns(c * G), base, atol=2e-5)
        Q1 = jnp.linalg.qr(_random(1, (16, 16)))[0]
        Q2 = jnp.linalg.qr(_random(2, (24, 24)))[0]
        np.testing.assert_allclose(ns(Q1 @ G @ Q2), Q1 @ base @ Q2, atol=2e-5)
        zeros = ns(jnp.zeros((16, 24)))
        assert bool(jnp.all(zeros == 0.0))
        stack = jnp.stack([G, 2.0 * _random(3, (16, 24)), _random(4, (16, 24))])
        looped = jnp.stack([ns(g) for g in stack])
        np.testing.assert_allclose(ns(stack), looped, atol=1e-6)
        np.testing.assert_allclose(jax.vmap(ns)(stack), looped, atol=1e-6)


@pytest.mark.parametrize("coeffs", ["keller", "you", "polar_express"])
def test_bfloat16_iteration_close_to_float32(coeffs):
    G = _random(5, (64, 96))
    with jax.default_matmul_precision(HIGHEST):
        f32 = jaxreg.newton_schulz(G, coeffs=coeffs)
        bf16 = jaxreg.newton_schulz(G, coeffs=coeffs, dtype=jnp.bfloat16)
        bf16_in = jaxreg.newton_schulz(G.astype(jnp.bfloat16), coeffs=coeffs)
    assert bf16.dtype == jnp.float32 and bf16_in.dtype == jnp.bfloat16
    assert float(jnp.max(jnp.abs(bf16 - f32))) <= 6e-2
    assert float(jnp.max(jnp.abs(bf16_in.astype(jnp.float32) - f32))) <= 6e-2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"coeffs": "muon"},
        {"steps": 0},
        {"steps": 2.5},
        {"coeffs": np.ones((4, 2))},
        {"coeffs": [np.nan, 1.0, 1.0]},
        {"coeffs": lambda g: g},
        {"gram": True, "dtype": jnp.bfloat16},
    ],
)
def test_newton_schulz_bad_arguments(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        jaxreg.newton_schulz(jnp.ones((3, 4)), **kwargs)


def test_newton_schulz_bad_input():
    with pytest.raises(ValueError, match="shape"):
        jaxreg.newton_schulz(jnp.ones(4))
    with pytest.raises(ValueError, match="floating"):
        jaxreg.newton_schulz(jnp.ones((3, 4), jnp.int32))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"beta": 1.0}, "beta"),
        ({"scaling": "spectral"}, "scaling"),
        ({"coeffs": "standard"}, "coeffs"),
        ({"ns_steps": 0}, "ns_steps"),
        ({"gram": True, "dtype": jnp.bfloat16}, "gram"),
    ],
)
def test_scale_by_muon_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        jaxreg.scale_by_muon(**kwargs)


def test_vector_leaf_forced_to_muon_raises():
    params = {"w": jnp.ones((4, 4)), "b": jnp.ones(4)}
    tx = jaxreg.scale_by_muon()
    with pytest.raises(ValueError, match=r"\['b'\].*shape \(4,\)"):
        tx.update(params, tx.init(params))
    with pytest.raises(ValueError, match=r"labels\['b'\] = 'muon'"):
        jaxreg.muon(0.02, labels={"w": "muon", "b": "muon"}).init(params)
    with pytest.raises(ValueError, match="'sgd'"):
        jaxreg.muon(0.02, labels={"w": "sgd", "b": "adam"}).init(params)
    with pytest.raises(ValueError, match="labels"):
        jaxreg.muon(0.02, labels={"w": "muon"}).init(params)
    with pytest.raises(ValueError, match="weight_decay"):
        jaxreg.muon(0.02, weight_decay=-1.0)


def _run(tx, params, grads_seq):
    """Applies ``tx`` along a fixed gradient sequence; returns params per step."""
    state = tx.init(params)
    update = jax.jit(tx.update)
    out = []
    for g in grads_seq:
        updates, state = update(g, state, params)
        params = optax.apply_updates(params, updates)
        out.append(params)
    return out


def _grads(params, steps, seed=0):
    keys = jax.random.split(jax.random.key(seed), steps)
    return [
        jax.tree.map(lambda p, i=i: jax.random.normal(keys[i], p.shape), params)
        for i in range(steps)
    ]


MATRICES = {
    "a": jnp.full((24, 40), 0.1),
    "b": jnp.full((40, 24), -0.1),
    "c": {"x": jnp.zeros((32, 32)), "y": jnp.ones((24, 40))},
}


@pytest.mark.parametrize(
    "coeffs, optax_coeffs, scaling, consistent_rms",
    [
        ("keller", (3.4445, -4.7750, 2.0315), "keller", None),
        ("you", "dion", "moonlight", 0.2),
    ],
)
def test_matches_optax_contrib_muon(coeffs, optax_coeffs, scaling, consistent_rms):
    # Same momentum form (bias-corrected Nesterov), coefficients, steps, NS eps,
    # scaling and decoupled weight decay; one and 50 steps.
    grads = _grads(MATRICES, 50)
    ours = jaxreg.muon(
        0.01,
        coeffs=coeffs,
        scaling=scaling,
        eps=1e-8,
        bias_correction=True,
        weight_decay=0.1,
    )
    peer = optax.contrib.muon(
        0.01,
        ns_coeffs=optax_coeffs,
        eps=1e-8,
        weight_decay=0.1,
        consistent_rms=consistent_rms,
    )
    with jax.default_matmul_precision(HIGHEST):
        a, b = _run(ours, MATRICES, grads), _run(peer, MATRICES, grads)
    for k in (0, 49):
        chex.assert_trees_all_close(a[k], b[k], atol=2e-5, rtol=1e-5)


def test_matches_optax_with_adamw_branch():
    # Without Nesterov optax's auxiliary optimizer is plain AdamW, as ours; the
    # bias correction is then a positive factor that NS removes, so our default
    # (uncorrected) momentum gives the same matrices.
    params = {**MATRICES, "bias": jnp.linspace(-1.0, 1.0, 40), "s": jnp.ones(())}
    grads = _grads(params, 50, seed=3)
    shared = dict(
        nesterov=False,
        ns_steps=5,
        eps=1e-8,
        weight_decay=0.05,
        adam_learning_rate=3e-3,
        adam_b1=0.8,
        adam_b2=0.99,
        adam_weight_decay=0.1,
    )
    keller = (3.4445, -4.7750, 2.0315)  # optax's default, explicit on both
    ours = jaxreg.muon(0.02, coeffs=keller, **shared)
    peer = optax.contrib.muon(0.02, ns_coeffs=keller, **shared)
    with jax.default_matmul_precision(HIGHEST):
        a, b = _run(ours, params, grads), _run(peer, params, grads)
    for k in (0, 49):
        chex.assert_trees_all_close(a[k], b[k], atol=2e-5, rtol=1e-5)


def _keller_reference(W, grads, lr, beta, wd):
    """Numpy float64 port of KellerJordan/Muon (EMA, Nesterov lerp, decoupled
    wd) on a Flax (fan_in, fan_out) kernel, with fixed (3.4445, -4.775, 2.0315)."""
    buf = np.zeros_like(W)
    for g in grads:
        buf = beta * buf + (1 - beta) * g
        u = (1 - beta) * g + beta * buf
        X = u.T if u.shape[0] > u.shape[1] else u
        X = X / (np.linalg.norm(X) + 1e-7)
        for _ in range(5):
            A = X @ X.T
            X = 3.4445 * X + (-4.7750 * A + 2.0315 * A @ A) @ X
        X = X.T if u.shape[0] > u.shape[1] else X
        scale = np.sqrt(max(1.0, W.shape[1] / W.shape[0]))
        W = W * (1 - lr * wd) - lr * scale * X
    return W


@pytest.mark.parametrize("shape", [(24, 40), (40, 24)])
def test_default_matches_keller_reference(shape):
    W = np.asarray(_random(7, shape), np.float64)
    grads = [np.asarray(g["w"], np.float64) for g in _grads({"w": W}, 5, seed=8)]
    tx = jaxreg.muon(0.02, coeffs="keller", weight_decay=0.1)
    with jax.default_matmul_precision(HIGHEST):
        ours = _run(
            tx,
            {"w": jnp.asarray(W, jnp.float32)},
            [{"w": jnp.asarray(g, jnp.float32)} for g in grads],
        )
    for k in (1, 5):
        expected = _keller_reference(W, grads[:k], 0.02, 0.95, 0.1)
        np.testing.assert_allclose(ours[k - 1]["w"], expected, atol=1e-5)


def test_routing_conv_vectors_and_warning():
    params = {
        "embed": jnp.ones((10, 8)),
        "conv": _random(1, (3, 3, 4, 8)),
        "head": {"kernel": jnp.ones((8, 5))},
        "bias": jnp.ones(8),
    }
    tx = jaxreg.muon(0.02, adam_learning_rate=1e-3)
    with pytest.warns(UserWarning, match="jaxreg") as record:
        state = tx.init(params)
    assert len(record) == 3 and "embed" in str(record[0].message)
    assert len(record) == 3 and "head" in str(record[1].message)
    # the 4-D kernel is read as a Flax conv by a guess, which says so
    assert "['conv'] (3, 3, 4, 8)" in str(record[2].message)
    grads = jax.tree.map(lambda p: _random(2, p.shape), params)
    with jax.default_matmul_precision(HIGHEST):
        updates, _ = jax.jit(tx.update)(grads, state, params)
        # A conv kernel is orthogonalized as its (kh·kw·in, out) matrix and
        # scaled by √max(1, 8/36) = 1.
        g = grads["conv"].reshape(36, 8)
        first = (1 - 0.95**2) * g  # Nesterov direction at step 1
        expected = -0.02 * jaxreg.newton_schulz(first).reshape(3, 3, 4, 8)
    np.testing.assert_allclose(updates["conv"], expected, atol=1e-6)
    adam_u, _ = optax.adam(1e-3).update(
        grads["bias"], optax.adam(1e-3).init(params["bias"])
    )
    np.testing.assert_allclose(updates["bias"], adam_u, rtol=1e-6)

    labels = {"embed": "adam", "conv": "muon", "head": "adam", "bias": "adam"}
    explicit = jaxreg.muon(
        0.02, adam_learning_rate=1e-3, labels=labels, layouts=jaxreg.FLAX_CONV
    )
    state = explicit.init(params)  # no warning: filterwarnings=error
    updates, _ = jax.jit(explicit.update)(grads, state, params)
    emb_u, _ = optax.adam(1e-3).update(
        grads["embed"], optax.adam(1e-3).init(params["embed"])
    )
    np.testing.assert_allclose(updates["embed"], emb_u, rtol=1e-6)
    by_fn = jaxreg.muon(
        0.02,
        adam_learning_rate=1e-3,
        labels=lambda p: labels,
        layouts=lambda path, x: jaxreg.FLAX_CONV,
    )
    chex.assert_trees_all_close(
        jax.jit(by_fn.update)(grads, by_fn.init(params), params)[0], updates
    )


def test_same_shape_matrices_share_one_call():
    shapes = []

    def recording_ns(stack):
        shapes.append(stack.shape)
        return jaxreg.newton_schulz(stack)

    params = {
        "up": [jnp.zeros((16, 32)) for _ in range(3)],
        "down": [jnp.zeros((32, 16)) for _ in range(2)],
        "sq": jnp.zeros((8, 8)),
    }
    grads = jax.tree.map(lambda p: _random(p.size, p.shape), params)
    batched = jaxreg.scale_by_muon(coeffs=recording_ns)
    out, _ = jax.jit(batched.update)(grads, batched.init(params))
    assert sorted(shapes) == [(1, 8, 8), (5, 16, 32)]
    per_leaf = jax.tree.map(jax.jit(jaxreg.newton_schulz), grads)
    per_leaf["up"] = [np.sqrt(2.0) * u for u in per_leaf["up"]]
    # batched and single programs round differently; Polar Express's slopes
    # (φ' up to ≈ 25 on the bulk) amplify that float32 difference to ~1e-5
    chex.assert_trees_all_close(out, per_leaf, atol=3e-5)


def test_callable_orthogonalizer_exact_polar():
    def polar(stack):
        u, _, vt = jnp.linalg.svd(stack, full_matrices=False)
        return u @ vt

    params = {"w": jnp.zeros((12, 20)), "v": jnp.zeros((20, 12))}
    grads = jax.tree.map(lambda p: _random(3, p.shape), params)
    tx = jaxreg.scale_by_muon(coeffs=polar, scaling="none")
    out, _ = jax.jit(tx.update)(grads, tx.init(params))
    for leaf in jax.tree.leaves(out):
        np.testing.assert_allclose(
            np.linalg.svd(np.asarray(leaf), compute_uv=False), 1.0, atol=1e-5
        )


def test_composes_with_proximal():
    params = {"w": _random(4, (16, 24)) * 0.01, "b": jnp.zeros(24)}
    grads = jax.tree.map(lambda p: _random(5, p.shape), params)
    lr, lam = 0.02, 0.3
    tx = optax.chain(
        jaxreg.muon(lr, adam_learning_rate=1e-3), jaxreg.proximal(jaxreg.l1(lam), lr)
    )
    updates, _ = jax.jit(tx.update)(grads, tx.init(params), params)
    plain = jaxreg.muon(lr, adam_learning_rate=1e-3)
    step, _ = jax.jit(plain.update)(grads, plain.init(params), params)
    expected = jax.tree.map(
        lambda p, u: jaxreg.soft_threshold(p + u, lr * lam),
        params,
        step,
    )
    new = optax.apply_updates(params, updates)
    chex.assert_trees_all_close(new, expected, atol=1e-7)
    assert int(jnp.sum(new["w"] == 0.0)) > 0


def test_schedule_state_and_no_retrace():
    params = {"w": jnp.ones((8, 16)), "b": jnp.ones(16)}
    tx = jaxreg.muon(
        optax.linear_schedule(0.02, 0.0, 10),
        weight_decay=0.1,
        adam_learning_rate=optax.constant_schedule(1e-3),
        adam_weight_decay=0.01,
    )
    state = tx.init(params)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(params, state):
        updates, state = tx.update(params, state, params)
        return optax.apply_updates(params, updates), state

    p1, s1 = step(params, state)
    p2, s2 = step(p1, s1)
    chex.assert_trees_all_equal_structs(s2, state)
    assert jax.tree.map(lambda x: x.dtype, p2) == jax.tree.map(
        lambda x: x.dtype, params
    )
    # The muon leaf's counter drives the schedule: at step 1 η = 0.02·(1 - 1/10).
    u_second, _ = tx.update(p1, s1, p1)
    sbm = jaxreg.scale_by_muon()
    w0, w1 = {"w": params["w"]}, {"w": p1["w"]}
    expected, _ = sbm.update(w1, sbm.update(w0, sbm.init(w0))[1])
    np.testing.assert_allclose(
        u_second["w"], -0.018 * (expected["w"] + 0.1 * p1["w"]), rtol=1e-5, atol=1e-7
    )


def test_inject_hyperparams():
    params = {"w": _random(1, (8, 16)), "b": jnp.ones(16)}
    kw = dict(learning_rate=0.02, beta=0.9, weight_decay=0.1, adam_learning_rate=1e-3)
    injected = optax.inject_hyperparams(jaxreg.muon, static_args=("ns_steps",))(**kw)
    state = injected.init(params)
    state.hyperparams["learning_rate"] = jnp.asarray(0.01)
    got, _ = jax.jit(injected.update)(params, state, params)
    plain = jaxreg.muon(**{**kw, "learning_rate": 0.01})
    expected, _ = jax.jit(plain.update)(params, plain.init(params), params)
    chex.assert_trees_all_close(got, expected, atol=1e-7)


@pytest.mark.parametrize("axis_type", ["Auto", "Explicit"])
def test_sharded_params_match_unsharded(axis_type):
    mesh = jax.make_mesh(
        (8,), ("x",), axis_types=(getattr(jax.sharding.AxisType, axis_type),)
    )
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("x"))
    params = {"w": _random(1, (32, 16)), "v": _random(2, (16, 32)), "b": jnp.ones(32)}
    grads = jax.tree.map(lambda p: _random(p.size, p.shape), params)
    tx = jaxreg.muon(0.02, adam_learning_rate=1e-3)
    state = tx.init(params)
    update = jax.jit(tx.update)
    expected, _ = update(grads, state, params)
    shard = jax.tree.map(lambda x: jax.device_put(x, sharding), (grads, params))
    got, _ = update(shard[0], state, shard[1])
    chex.assert_trees_all_close(got, expected, atol=1e-6)
    if axis_type == "Explicit":
        assert (
            jax.typeof(got["w"]).sharding.spec
            == jax.typeof(shard[1]["w"]).sharding.spec
        )


def _memorization_problem(seed=0, d=32, n=512, h=128, depth=3, classes=10):
    """Tanh MLP fitting random-teacher labels on Gaussian inputs."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    z = X
    for _ in range(2):
        z = np.tanh(2 * z @ rng.normal(size=(z.shape[1], 64)) / np.sqrt(z.shape[1]))
    y = jnp.asarray(np.argmax(z @ rng.normal(size=(64, classes)), axis=1))
    shapes = {"in": (d, h), "out": (h, classes)}
    shapes.update({f"h{i}": (h, h) for i in range(depth)})
    params = {
        k: jnp.asarray(rng.normal(size=s) / np.sqrt(s[0]), jnp.float32)
        for k, s in shapes.items()
    }
    params.update({f"b{i}": jnp.zeros(h) for i in range(depth)})
    X = jnp.asarray(X)

    def loss(p):
        z = jnp.tanh(X @ p["in"])
        for i in range(depth):
            z = jnp.tanh(z @ p[f"h{i}"] + p[f"b{i}"][None])
        return optax.softmax_cross_entropy_with_integer_labels(z @ p["out"], y).mean()

    return params, loss


def _loss_curve(tx, params, loss, steps):
    def step(carry, _):
        p, s = carry
        value, g = jax.value_and_grad(loss)(p)
        u, s = tx.update(g, s, p)
        return (optax.apply_updates(p, u), s), value

    return jax.lax.scan(step, (params, tx.init(params)), None, length=steps)[1]


def test_small_mlp_reaches_target_in_fewer_steps_than_tuned_adamw():
    params, loss = _memorization_problem()
    target = 1e-3 * float(loss(params))
    steps = 60

    def steps_to_target(curve):
        hit = np.asarray(curve) < target
        return int(np.argmax(hit)) if hit.any() else steps + 1

    lrs = jnp.array([3e-3, 6e-3, 1e-2, 1.5e-2, 2e-2, 3e-2, 5e-2])
    adamw = jax.jit(
        jax.vmap(
            lambda lr: _loss_curve(
                optax.adamw(lr, weight_decay=0.0), params, loss, steps
            )
        )
    )(lrs)
    adamw_steps = [steps_to_target(c) for c in adamw]
    best = min(adamw_steps)
    # The grid brackets AdamW's optimum: both ends are worse than the best.
    assert adamw_steps[0] > best and adamw_steps[-1] > best
    muon_curve = jax.jit(
        lambda: _loss_curve(
            jaxreg.muon(0.1, adam_learning_rate=1e-2), params, loss, steps
        )
    )()
    assert steps_to_target(muon_curve) < best


# --- layouts: every preset against per-matrix numpy SVD polar factors -------


def _svd_polar(stack):
    """Exact polar factor U Vᵀ of each (m, n) matrix of a stack (orthogonalizer)."""
    u, _, vh = jnp.linalg.svd(stack, full_matrices=False)
    return u @ vh


def _np_polar(m):
    u, _, vh = np.linalg.svd(m.astype(np.float64), full_matrices=False)
    return u @ vh


def _np_per_layer(ref):
    return lambda w: np.stack([ref(w[i]) for i in range(w.shape[0])])


def _np_torch_conv(w):  # torch Muon: w.view(out, -1) is (out, in·k); (fan_in, fan_out)
    return w.reshape(w.shape[0], -1).T


LAYOUT_CASES = [
    ("flax_dense", jaxreg.FLAX_DENSE, (6, 10), lambda w: w),
    ("torch_dense", jaxreg.TORCH_DENSE, (10, 6), lambda w: w.T),
    ("flax_conv", jaxreg.FLAX_CONV, (3, 3, 2, 8), lambda w: w.reshape(-1, 8)),
    ("torch_conv", jaxreg.TORCH_CONV, (8, 2, 3, 3), _np_torch_conv),
    ("stacked_flax", jaxreg.stacked(jaxreg.FLAX_DENSE), (3, 6, 10), None),
    ("stacked_torch", jaxreg.stacked(jaxreg.TORCH_DENSE), (3, 10, 6), None),
    ("stacked_torch_conv", jaxreg.stacked(jaxreg.TORCH_CONV), (2, 8, 2, 3, 3), None),
]
_PER_MATRIX = {
    "stacked_flax": _np_per_layer(lambda w: w),
    "stacked_torch": _np_per_layer(lambda w: w.T),
    "stacked_torch_conv": _np_per_layer(_np_torch_conv),
}


@pytest.mark.parametrize("scaling", ["keller", "moonlight"])
@pytest.mark.parametrize("name, layout, shape, ref", LAYOUT_CASES)
def test_muon_layouts_match_numpy_polar_per_matrix(name, layout, shape, ref, scaling):
    ref = ref or _PER_MATRIX[name]
    g = _random(3, shape)
    tx = jaxreg.scale_by_muon(
        beta=0.0, nesterov=False, coeffs=_svd_polar, scaling=scaling, layouts=layout
    )
    params = {"w": jnp.zeros(shape)}
    with warnings.catch_warnings(action="error"):
        update, _ = jax.jit(tx.update)({"w": g}, tx.init(params))
    mats = ref(np.asarray(g))
    fan_in, fan_out = mats.shape[-2:]
    if scaling == "keller":  # Keller: √max(1, rows/cols) of the torch (out, in)
        factor = np.sqrt(max(1.0, fan_out / fan_in))
    else:
        factor = 0.2 * np.sqrt(max(fan_in, fan_out))
    flat = mats.reshape(-1, fan_in, fan_out)
    expected = factor * np.stack([_np_polar(m) for m in flat]).reshape(mats.shape)
    np.testing.assert_allclose(ref(np.asarray(update["w"])), expected, atol=2e-5)


def test_stacked_layers_differ_from_one_big_matrix():
    # the old reading (L·in, out) as one matrix is not the per-layer answer
    g = _random(4, (3, 6, 10))
    per_layer = jaxreg.scale_by_muon(
        beta=0.0, nesterov=False, layouts=jaxreg.stacked(jaxreg.FLAX_DENSE)
    )
    merged = jaxreg.scale_by_muon(beta=0.0, nesterov=False, layouts=jaxreg.FLAX_CONV)
    a, _ = per_layer.update({"w": g}, per_layer.init({"w": g}))
    b, _ = merged.update({"w": g}, merged.init({"w": g}))
    assert np.max(np.abs(np.asarray(a["w"]) - np.asarray(b["w"]))) > 0.1


def test_muon_on_equinox_mlp_reads_torch_layout_and_trains():
    import equinox as eqx

    model = eqx.nn.MLP(6, 3, 10, 2, key=jax.random.key(0))
    params = eqx.filter(model, eqx.is_array)
    tx = jaxreg.muon(0.02, beta=0.0, nesterov=False, coeffs=_svd_polar)
    grads = jax.tree.map(lambda p: _random(p.size, p.shape), params)
    with warnings.catch_warnings(action="error"):
        state = tx.init(params)
    updates, state = eqx.filter_jit(tx.update)(grads, state, params)
    # layer 0 weight is (out=10, in=6): fan_in 6, fan_out 10, factor √(10/6)
    g0 = np.asarray(grads.layers[0].weight)
    expected = -0.02 * np.sqrt(10 / 6) * _np_polar(g0.T).T
    np.testing.assert_allclose(updates.layers[0].weight, expected, atol=2e-6)
    # biases went to AdamW: first Adam step is -lr·sign(g) up to eps
    np.testing.assert_allclose(
        updates.layers[0].bias, -0.02 * np.sign(grads.layers[0].bias), rtol=1e-4
    )
    # labels as an Equinox-module tree (callable) are never called
    labels = jax.tree.map(lambda p: "muon" if p.ndim == 2 else "adam", params)
    tx2 = jaxreg.muon(0.02, beta=0.0, nesterov=False, coeffs=_svd_polar, labels=labels)
    chex.assert_trees_all_close(
        tx2.update(grads, tx2.init(params), params)[0], updates, atol=1e-6
    )
    with pytest.raises(ValueError, match="eqx.filter"):
        tx.init(model)  # activation functions are not arrays


def test_muon_on_an_equinox_conv_ensemble_updates_each_member_alone():
    # eqx.filter_vmap's (E, out, in, kh, kw) weight: the ensemble axis was
    # read as TORCH_CONV's output axis 0, coupling the members, silently
    import equinox as eqx

    keys = jax.random.split(jax.random.key(0), 3)
    ensemble = eqx.filter(
        eqx.filter_vmap(lambda k: eqx.nn.Conv2d(4, 8, 3, key=k))(keys), eqx.is_array
    )
    grads = jax.tree.map(lambda p: _random(p.size, p.shape), ensemble)
    tx = jaxreg.muon(0.02, beta=0.0, nesterov=False, coeffs=_svd_polar)
    with warnings.catch_warnings(action="error"):
        updates, _ = tx.update(grads, tx.init(ensemble), ensemble)
    for g, u in zip(grads.weight, updates.weight, strict=True):
        m = np.asarray(g).reshape(8, -1).T  # torch Muon's view(out, -1), transposed
        expected = -0.02 * _np_polar(m).T.reshape(g.shape)  # fan_out 8 < fan_in 36
        np.testing.assert_allclose(u, expected, atol=2e-6)


def test_muon_rejects_muon_label_without_layout():
    params = {"w": jnp.ones((4, 4)), "b": jnp.ones(4)}
    tx = jaxreg.muon(
        0.02,
        labels={"w": "muon", "b": "adam"},
        layouts=lambda path, x: None,
    )
    with pytest.raises(ValueError, match=r"labels\['w'\].*no layout"):
        tx.init(params)


def test_muon_takes_a_layouts_pytree_with_none_for_the_adamw_leaves():
    # the pytree form failed inside optax.masked (a MaskedNode against the
    # None given for the bias); it must equal the callable form
    key = jax.random.key(0)
    params = {
        "w": jax.random.normal(key, (4, 4)),
        "b": jnp.zeros(4),
        "k": jax.random.normal(key, (2, 4, 4)),
    }
    grads = jax.tree.map(lambda x: jax.random.normal(key, x.shape), params)
    given = {"w": jaxreg.FLAX_DENSE, "b": None, "k": jaxreg.stacked(jaxreg.FLAX_DENSE)}
    updates = {}
    for form, layouts in (
        ("pytree", given),
        ("callable", lambda path, x: given[path[-1].key]),
    ):
        tx = jaxreg.muon(0.02, adam_learning_rate=1e-3, layouts=layouts)
        updates[form] = tx.update(grads, tx.init(params), params)[0]
    jax.tree.map(np.testing.assert_array_equal, updates["pytree"], updates["callable"])


def test_a_layer_pruned_to_no_units_gets_an_empty_update():
    # prune_units leaves (in, 0) / (0, out) kernels; reshape(-1, 5, 0)
    # raised ZeroDivisionError
    out = jax.random.normal(jax.random.PRNGKey(0), (3, 2))
    params = {"kernel": jnp.ones((5, 0)), "bias": jnp.ones((0,)), "out": out}
    grads = jax.tree.map(lambda p: 0.1 * p, params)
    tx = jaxreg.muon(0.02, weight_decay=0.1)
    u, _ = tx.update(grads, tx.init(params), params)
    assert jax.tree.map(jnp.shape, u) == jax.tree.map(jnp.shape, params)
    alone = {"out": out}
    u_alone, _ = tx.update({"out": grads["out"]}, tx.init(alone), alone)
    np.testing.assert_allclose(u["out"], u_alone["out"], rtol=1e-6)
