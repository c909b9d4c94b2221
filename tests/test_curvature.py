"""Curvature signals against dense numpy references (eigh, SVD, closed forms)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import jaxreg as jr

KEYS = jax.random.split(jax.random.key(1), 4)
PARAMS = {
    "W": jax.random.normal(KEYS[0], (3, 4)),
    "b": jnp.zeros((4,), jnp.float32),
    "v": jax.random.normal(KEYS[1], (4,)),
}
X = jax.random.normal(KEYS[2], (32, 3))
Y = jnp.sin(X[:, 0]) + 0.1 * jax.random.normal(KEYS[3], (32,))


def loss(params, x, y):
    hidden = jnp.tanh(x @ params["W"] + params["b"][None, :])
    return 0.5 * jnp.mean(jnp.square(hidden @ params["v"] - y))


def dense_hessian():
    flat, unravel = ravel_pytree(PARAMS)
    with jax.default_matmul_precision("highest"):
        H = jax.hessian(lambda f: loss(unravel(f), X, Y))(flat)
    H = np.asarray(H, np.float64)
    return 0.5 * (H + H.T), flat, unravel


def test_hessian_vector_product_matches_the_dense_hessian():
    H, flat, unravel = dense_hessian()
    v = np.asarray(jax.random.normal(jax.random.key(5), flat.shape), np.float64)
    with jax.default_matmul_precision("highest"):
        hv = jr.hessian_vector_product(loss, PARAMS, unravel(jnp.asarray(v)), X, Y)
    np.testing.assert_allclose(ravel_pytree(hv)[0], H @ v, rtol=1e-4, atol=1e-5)


def test_top_hessian_eigenvalue_is_the_largest_not_the_largest_magnitude():
    """At a saddle whose most negative eigenvalue dominates, power iteration
    alone returned that one (-3.1 here), read as sharpness; the shifted
    second iteration finds λ_max, as numpy's eigvalsh."""
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((5, 5)))[0]
    A = Q @ np.diag([-3.0, 1.0, 0.4, 0.1, -0.5]) @ Q.T
    w0 = rng.standard_normal(5) * 0.3

    def f(p):
        w = p["w"]
        return 0.5 * w @ (jnp.asarray(A, w.dtype) @ w) + 0.1 * jnp.sum(w**4)

    values = np.linalg.eigvalsh(A + 1.2 * np.diag(w0**2))
    params = {"w": jnp.asarray(w0, jnp.float32)}
    with jax.default_matmul_precision("highest"):
        top = jr.top_hessian_eigenvalue(f, params, num_iterations=300)
        mag = jr.top_hessian_eigenvalue(
            f, params, num_iterations=300, which="magnitude"
        )
    assert abs(float(top.value) - values[-1]) < 1e-4
    assert float(top.residual) < 1e-3
    assert abs(float(mag.value) - values[0]) < 1e-4  # the old answer, on request
    with pytest.raises(ValueError, match="which"):
        jr.top_hessian_eigenvalue(f, params, which="top")


def test_top_hessian_eigenvalue_matches_eigh():
    H, _, _ = dense_hessian()
    values, vectors = np.linalg.eigh(H)
    order = np.argsort(-np.abs(values))
    top, second = values[order[0]], values[order[1]]
    assert abs(second / top) < 0.9  # a gap, so that 200 iterations converge
    with jax.default_matmul_precision("highest"):
        eig = jr.top_hessian_eigenvalue(loss, PARAMS, X, Y, num_iterations=200)
    assert abs(float(eig.value) - top) < 1e-4 * abs(top)
    alignment = abs(ravel_pytree(eig.vector)[0] @ vectors[:, order[0]])
    assert alignment > 0.999
    assert float(eig.residual) < 1e-2 * abs(top)
    # Warm start from the answer: one iteration suffices.
    again = jr.top_hessian_eigenvalue(
        loss, PARAMS, X, Y, num_iterations=1, init=eig.vector
    )
    assert abs(float(again.value) - top) < 1e-3 * abs(top)
    # a zero init is no eigenvector: it returned value 0 with residual 0
    with jax.default_matmul_precision("highest"):
        zero = jr.top_hessian_eigenvalue(
            loss,
            PARAMS,
            X,
            Y,
            num_iterations=200,
            init=jax.tree.map(jnp.zeros_like, PARAMS),
        )
    assert abs(float(zero.value) - top) < 1e-4 * abs(top)


def test_sam_sharpness_is_the_loss_rise_at_the_written_out_perturbation():
    g = jax.grad(loss)(PARAMS, X, Y)
    norm = np.sqrt(
        sum(np.sum(np.asarray(x, np.float64) ** 2) for x in jax.tree.leaves(g))
    )
    moved = jax.tree.map(lambda w, d: w + 0.1 * d / norm, PARAMS, g)
    expected = float(loss(moved, X, Y) - loss(PARAMS, X, Y))
    measured = float(jr.sam_sharpness(loss, PARAMS, X, Y, rho=0.1))
    assert abs(measured - expected) < 1e-6
    out = jr.sam_gradient(loss, PARAMS, X, Y, rho=0.1)
    assert abs(float(out.perturbed_loss - out.loss) - measured) < 1e-7


def test_gradient_noise_scale_recovers_the_population_value():
    # Least squares: per-example gradient x_i (x_iᵀw − y_i); the population is
    # the finite data set, so tr Σ and |G|² are exact numpy sums.
    rng = np.random.default_rng(0)
    n, d, batch, k = 400, 5, 8, 4000
    data_x = rng.normal(size=(n, d))
    data_y = data_x @ rng.normal(size=d) + 0.5 * rng.normal(size=n)
    w = np.zeros(d)
    per_example = data_x * (data_x @ w - data_y)[:, None]
    G = per_example.mean(axis=0)
    trace = np.sum(per_example.var(axis=0))
    expected = trace / (G @ G)
    idx = rng.integers(0, n, size=(k, batch))  # iid batches, with replacement
    grads = {"w": jnp.asarray(per_example[idx].mean(axis=1), jnp.float32)}
    measured = float(jr.gradient_noise_scale(grads, batch))
    assert abs(measured - expected) < 0.1 * expected


def test_gradient_noise_scale_of_identical_gradients_is_zero_and_errors():
    same = {"w": jnp.ones((3, 4), jnp.float32)}
    assert float(jr.gradient_noise_scale(same, 16)) == 0.0
    with pytest.raises(ValueError, match="k >= 2"):
        jr.gradient_noise_scale({"w": jnp.ones((1, 4))}, 16)
    with pytest.raises(ValueError, match="batch_size"):
        jr.gradient_noise_scale(same, 0)


def test_ranks_match_numpy_svd_with_batch_axes():
    w = np.asarray(jax.random.normal(jax.random.key(2), (3, 6, 4)), np.float64)
    w[1] = np.outer(np.arange(1.0, 7.0), np.ones(4))  # rank one
    s = np.linalg.svd(w, compute_uv=False)
    expected_stable = np.sum(s**2, axis=-1) / s[:, 0] ** 2
    p = s / s.sum(axis=-1, keepdims=True)
    logs = np.log(np.where(p > 0, p, 1.0))
    expected_effective = np.exp(-np.sum(p * logs, axis=-1))
    w32 = jnp.asarray(w, jnp.float32)
    stack = jr.layouts.stacked(jr.layouts.FLAX_DENSE)  # (layers, in, out)
    np.testing.assert_allclose(jr.stable_rank(w32, stack), expected_stable, rtol=1e-5)
    np.testing.assert_allclose(
        jr.effective_rank(w32, stack), expected_effective, rtol=1e-4
    )
    # a conv weight is one (out, in·k·k) matrix, not a stack of per-tap ones
    conv = np.asarray(jax.random.normal(jax.random.key(3), (8, 4, 3, 3)), np.float64)
    s = np.linalg.svd(conv.reshape(8, -1), compute_uv=False)
    np.testing.assert_allclose(
        jr.stable_rank(jnp.asarray(conv, jnp.float32), jr.layouts.TORCH_CONV),
        np.sum(s**2) / s[0] ** 2,
        rtol=1e-5,
    )
    with pytest.warns(UserWarning, match=r"stable_rank\(\.\.\., layout=\.\.\.\)"):
        jr.stable_rank(w32)  # ≥ 3-D without a layout: a guess, said so
    assert abs(float(jr.effective_rank(w32[1])) - 1.0) < 1e-3
    assert abs(float(jr.stable_rank(jnp.eye(5))) - 5.0) < 1e-5
    assert abs(float(jr.effective_rank(jnp.eye(5))) - 5.0) < 1e-4
    assert float(jr.stable_rank(jnp.zeros((3, 3)))) == 0.0
    assert float(jr.effective_rank(jnp.zeros((3, 3)))) == 0.0
    with pytest.raises(ValueError, match="2 axes"):
        jr.stable_rank(jnp.ones(3))
    # a params dict: numpy's "entry not a 2- or 3- tuple" before
    with pytest.raises(
        ValueError, match=r"jax.tree.map\(lambda w: effective_rank\(w\) if w.ndim >= 2"
    ):
        jr.effective_rank({"w": w32[0]})
    # and the advice it gives works on a tree with a bias
    ranks = jax.tree.map(
        lambda w: jr.effective_rank(w) if w.ndim >= 2 else None,
        {"w": w32[0], "b": jnp.ones(4)},
    )
    assert ranks["b"] is None
    np.testing.assert_allclose(ranks["w"], expected_effective[0], rtol=1e-4)


def test_weight_norm_growth():
    later = jax.tree.map(lambda w: 3.0 * w, PARAMS)
    later["b"] = jnp.ones(4)
    growth = jr.weight_norm_growth(later, PARAMS)
    assert abs(float(growth["W"]) - 3.0) < 1e-6
    assert float(growth["b"]) == np.inf
    same = jr.weight_norm_growth({"z": jnp.zeros(2)}, {"z": jnp.zeros(2)})
    assert float(same["z"]) == 1.0


def test_top_eigenvalue_with_bfloat16_params():
    # one shared non-float32 dtype: ravel_pytree's unravel kept the float32
    # vector, and the HVP's jvp failed on mismatched dtypes; Hessian = 6·I
    def loss(p):
        return jnp.sum(3.0 * p["w"].astype(jnp.float32) ** 2)

    res = jr.top_hessian_eigenvalue(loss, {"w": jnp.ones(3, jnp.bfloat16)})
    np.testing.assert_allclose(float(res.value), 6.0, rtol=2e-2)
    assert res.vector["w"].dtype == jnp.bfloat16
    # a Python scalar leaf: Hessian of 3w² + 2b² is diag(6, 6, 6, 4)
    res = jr.top_hessian_eigenvalue(
        lambda p: loss(p) + 2.0 * p["b"] ** 2, {"w": jnp.ones(3), "b": 1.0}
    )
    np.testing.assert_allclose(float(res.value), 6.0, rtol=1e-4)
