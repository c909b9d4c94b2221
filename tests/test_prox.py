"""Every prox and projection against a numerical argmin from scipy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

import jaxreg as jr
from jaxreg import prox

SETTINGS = settings(max_examples=25, deadline=None)
coords = st.floats(-3, 3, allow_nan=False)
near_zero = st.floats(-1e-3, 1e-3, allow_nan=False)
values = st.one_of(coords, near_zero, st.just(0.0))
thresholds = st.floats(0, 2, allow_nan=False)


def as_float32(v):
    """Float32-representable float64 data, so both sides see the same input."""
    return np.asarray(v, np.float32).astype(np.float64)


def vectors(n_min=1, n_max=4):
    return st.lists(values, min_size=n_min, max_size=n_max).map(as_float32)


def matrices(elements):
    return st.lists(elements, min_size=6, max_size=6).map(
        lambda v: as_float32(v).reshape(3, 2)
    )


def scalar_argmin(objective, x):
    """Minimizes a 1-D convex function to high precision (bounded Brent)."""
    res = optimize.minimize_scalar(
        objective, bounds=(x - 10, x + 10), method="bounded", options={"xatol": 1e-12}
    )
    return res.x


def numerical_argmin(objective, x):
    """Best of Powell runs started at ``x`` and at 0 (nonsmooth objectives)."""
    best = None
    for start in (x, np.zeros_like(x)):
        res = optimize.minimize(
            objective,
            start.ravel(),
            method="Powell",
            options={"xtol": 1e-10, "ftol": 1e-14, "maxiter": 20000},
        )
        if best is None or res.fun < best.fun:
            best = res
    return best.x.reshape(x.shape), best.fun


def assert_is_prox(objective, ours, x):
    """``ours`` minimizes the (convex) prox objective.

    It must be at least as good as scipy's best argmin, and no small random
    perturbation may improve it: for a convex function a local minimum is
    global, so this certifies the argmin even where Powell stalls on a kink.
    """
    _, ref_val = numerical_argmin(objective, x)
    ours = np.asarray(ours, np.float64).ravel()
    value = objective(ours)
    assert value <= ref_val + 1e-6
    rng = np.random.default_rng(0)
    for _ in range(200):
        delta = rng.normal(size=ours.shape) * 1e-3
        assert objective(ours + delta) >= value - 1e-6


@SETTINGS
@given(x=vectors(), t=thresholds)
def test_soft_threshold_is_the_l1_prox(x, t):
    ours = np.asarray(prox.soft_threshold(jnp.asarray(x, jnp.float32), t))
    for xi, yi in zip(x, ours, strict=True):
        ref = scalar_argmin(lambda y, xi=xi: 0.5 * (xi - y) ** 2 + t * abs(y), xi)
        assert yi == pytest.approx(ref, abs=1e-5)
    # exact zeros, not tiny values, inside the threshold
    assert np.all(ours[np.abs(x.astype(np.float32)) <= np.float32(t)] == 0)


@SETTINGS
@given(x=vectors(), s=thresholds, rho=st.floats(0, 1), step=st.floats(0, 2))
def test_prox_elastic_net_matches_argmin(x, s, rho, step):
    ours = np.asarray(prox.prox_elastic_net(jnp.asarray(x, jnp.float32), s, rho, step))

    def g(y):
        return s * (rho * abs(y) + 0.5 * (1 - rho) * y**2)

    for xi, yi in zip(x, ours, strict=True):
        ref = scalar_argmin(lambda y, xi=xi: 0.5 * (xi - y) ** 2 + step * g(y), xi)
        assert yi == pytest.approx(ref, abs=1e-5)


@SETTINGS
@given(x=vectors(), s=thresholds, step=st.floats(0, 2))
def test_prox_ridge_is_prox_of_half_squared_norm(x, s, step):
    ours = np.asarray(prox.prox_ridge(jnp.asarray(x, jnp.float32), s, step))
    for xi, yi in zip(x, ours, strict=True):
        ref = scalar_argmin(
            lambda y, xi=xi: 0.5 * (xi - y) ** 2 + step * 0.5 * s * y**2, xi
        )
        assert yi == pytest.approx(ref, abs=1e-5)


def test_prox_ridge_is_not_jaxopts_documented_formula():
    # jaxopt documents s*||y||^2, whose prox would be x / (1 + 2 s): not ours.
    x = jnp.array([2.0])
    assert float(prox.prox_ridge(x, 1.0)[0]) == pytest.approx(1.0)
    assert float(prox.prox_ridge(x, 1.0)[0]) != pytest.approx(2.0 / 3.0)


@SETTINGS
@given(
    x=matrices(values),
    t=thresholds,
    axis=st.sampled_from([0, 1, None]),
)
def test_group_soft_threshold_matches_argmin(x, t, axis):
    ours = prox.group_soft_threshold(jnp.asarray(x, jnp.float32), t, axis)

    def objective(y):
        y = y.reshape(x.shape)
        norms = np.sqrt(np.sum(y**2, axis=axis))
        return 0.5 * np.sum((x - y) ** 2) + t * np.sum(norms)

    assert_is_prox(objective, ours, x)


def test_group_soft_threshold_jacobian_finite_at_zero():
    x = jnp.zeros((3, 2))
    for fn in (jax.jacfwd, jax.jacrev):
        jac = fn(lambda z: prox.group_soft_threshold(z, 0.5, axis=0))(x)
        assert np.all(np.isfinite(jac))
        np.testing.assert_array_equal(jac, 0)  # the prox is 0 near 0
    # with a zero threshold the prox is the identity, Jacobian included
    jac = jax.jacfwd(lambda z: prox.group_soft_threshold(z, 0.0))(jnp.zeros(3))
    np.testing.assert_allclose(jac, np.eye(3))


def test_group_soft_threshold_jacobian_matches_finite_differences():
    x = np.array([[0.8, -0.3], [0.2, 0.9], [-0.5, 0.1]])
    fn = lambda z: prox.group_soft_threshold(z, 0.4, axis=0)  # noqa: E731
    jac = np.asarray(jax.jacfwd(fn)(jnp.asarray(x, jnp.float32))).reshape(6, 6)
    eps = 1e-3
    fd = np.zeros((6, 6))
    for j in range(6):
        e = np.zeros(6)
        e[j] = eps
        plus = np.asarray(fn(jnp.asarray((x.ravel() + e).reshape(3, 2), jnp.float32)))
        minus = np.asarray(fn(jnp.asarray((x.ravel() - e).reshape(3, 2), jnp.float32)))
        fd[:, j] = (plus - minus).ravel() / (2 * eps)
    np.testing.assert_allclose(jac, fd, atol=2e-3)


@SETTINGS
@given(
    x=matrices(coords),
    t=thresholds,
)
def test_singular_value_threshold_matches_argmin(x, t):
    ours = prox.singular_value_threshold(jnp.asarray(x, jnp.float32), t)

    def objective(y):
        y = y.reshape(x.shape)
        return 0.5 * np.sum((x - y) ** 2) + t * np.linalg.svd(y, compute_uv=False).sum()

    assert_is_prox(objective, ours, x)


def test_singular_value_threshold_batches_leading_axes():
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 5, 3))
    batched = prox.singular_value_threshold(x, 0.7)
    looped = jnp.stack([prox.singular_value_threshold(m, 0.7) for m in x])
    np.testing.assert_allclose(batched, looped, atol=1e-5)
    with pytest.raises(ValueError, match="ndim >= 2"):
        prox.singular_value_threshold(jnp.ones(3), 0.1)


def _ball_projection_reference(x, radius, norm):
    """SLSQP on a smooth reformulation (y = u - v, u, v >= 0 for the L1 ball)."""
    n = x.size
    if norm == 2:
        cons = {"type": "ineq", "fun": lambda y: radius**2 - np.sum(y**2)}
        res = optimize.minimize(
            lambda y: 0.5 * np.sum((x - y) ** 2),
            np.zeros(n),
            jac=lambda y: y - x,
            constraints=[cons],
            method="SLSQP",
            options={"ftol": 1e-14, "maxiter": 1000},
        )
        return res.x
    cons = {"type": "ineq", "fun": lambda z: radius - np.sum(z)}
    res = optimize.minimize(
        lambda z: 0.5 * np.sum((x - (z[:n] - z[n:])) ** 2),
        np.zeros(2 * n),
        constraints=[cons],
        bounds=[(0, None)] * (2 * n),
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    return res.x[:n] - res.x[n:]


@SETTINGS
@given(x=vectors(1, 5), radius=st.floats(0, 4), norm=st.sampled_from([1, 2]))
def test_ball_projections_match_constrained_argmin(x, radius, norm):
    project = prox.projection_l1_ball if norm == 1 else prox.projection_l2_ball
    ours = np.asarray(project(jnp.asarray(x, jnp.float32), radius), np.float64)
    ref = _ball_projection_reference(x, radius, norm)
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    assert np.linalg.norm(ours, ord=norm) <= radius * (1 + 1e-5) + 1e-6


def _bounded_reference(x, lower, upper):
    """L-BFGS-B on ½||x - y||² with the box as bounds."""
    res = optimize.minimize(
        lambda y: 0.5 * np.sum((x - y) ** 2),
        np.zeros_like(x),
        jac=lambda y: y - x,
        bounds=list(zip(lower, upper, strict=True)),
        method="L-BFGS-B",
        options={"ftol": 1e-15, "gtol": 1e-12},
    )
    return res.x


@SETTINGS
@given(x=vectors(1, 5), lo=st.floats(-2, 0.5), width=st.floats(0, 2))
def test_projection_box_matches_bounded_argmin(x, lo, width):
    lower = np.full(x.shape, lo)
    upper = lower + width
    ours = prox.projection_box(jnp.asarray(x, jnp.float32), lo, lo + width)
    ref = _bounded_reference(x, lower, upper)
    np.testing.assert_allclose(np.asarray(ours, np.float64), ref, atol=1e-5)


@SETTINGS
@given(x=vectors(1, 5))
def test_projection_non_negative_matches_bounded_argmin(x):
    ours = prox.projection_non_negative(jnp.asarray(x, jnp.float32))
    ref = _bounded_reference(x, np.zeros_like(x), np.full(x.shape, np.inf))
    np.testing.assert_allclose(np.asarray(ours, np.float64), ref, atol=1e-5)


@SETTINGS
@given(x=vectors(1, 5), value=st.floats(0.1, 4))
def test_projection_simplex_matches_constrained_argmin(x, value):
    ours = np.asarray(prox.projection_simplex(jnp.asarray(x, jnp.float32), value))
    res = optimize.minimize(
        lambda y: 0.5 * np.sum((x - y) ** 2),
        np.full(x.shape, value / x.size),
        jac=lambda y: y - x,
        constraints=[{"type": "eq", "fun": lambda y: np.sum(y) - value}],
        bounds=[(0, None)] * x.size,
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    np.testing.assert_allclose(ours, res.x, atol=1e-4)
    assert np.all(ours >= 0)
    assert np.sum(ours) == pytest.approx(value, rel=1e-5)


def test_projection_simplex_and_box_reject_bad_hyperparameters():
    with pytest.raises(ValueError, match="value must be finite and > 0"):
        prox.projection_simplex(jnp.ones(3), 0.0)
    with pytest.raises(ValueError, match="lower must be <= upper"):
        prox.projection_box(jnp.ones(3), 1.0, jnp.array([2.0, 0.0, 2.0]))
    # traced bounds and values pass the check and still project
    out = jax.jit(prox.projection_simplex)(jnp.array([2.0, 0.0]), 1.0)
    np.testing.assert_allclose(out, [1.0, 0.0])


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda x, v: prox.soft_threshold(x, v), "threshold"),
        (lambda x, v: prox.group_soft_threshold(x, v), "threshold"),
        (lambda x, v: prox.singular_value_threshold(x, v), "threshold"),
        (lambda x, v: prox.prox_ridge(x, v), "strength"),
        (lambda x, v: prox.prox_ridge(x, 1.0, step=v), "step"),
        (lambda x, v: prox.prox_elastic_net(x, v, 0.5), "strength"),
        (lambda x, v: prox.prox_elastic_net(x, 1.0, 0.5, step=v), "step"),
        (lambda x, v: prox.projection_l2_ball(x, v), "radius"),
        (lambda x, v: prox.projection_l1_ball(x, v), "radius"),
    ],
)
def test_negative_or_nan_hyperparameters_raise_and_inf_is_allowed(call, name):
    # a negative threshold pushed every entry away from 0 (soft_threshold(x,
    # -1) added 1 to |x|), a negative radius flipped x through the origin
    x = jnp.array([[2.0, -0.5], [0.3, 1.0]])
    # Python and numpy values are checked (a jax.Array is not read back)
    for bad in (-1.0, np.nan, np.array([1.0, -1.0])):
        with pytest.raises(ValueError, match=name):
            call(x, bad)
    assert np.all(np.isfinite(call(x, np.inf))) or name == "radius"
    # a jax value is not read back (traced, or in flight): a negative one
    # gives NaN rather than a point pushed away from 0
    assert np.all(np.isfinite(jax.jit(call)(x, 0.5)))
    assert np.all(np.isnan(jax.jit(call)(x, -1.0)))
    assert np.all(np.isnan(call(x, jnp.asarray(-1.0))))


def test_prox_elastic_net_checks_l1_ratio():
    with pytest.raises(ValueError, match="l1_ratio"):
        prox.prox_elastic_net(jnp.ones(3), 1.0, 2.0)


def _with_singular_values(rng, m, n, sv, batch=()):
    k = min(m, n)
    u = np.linalg.qr(rng.normal(size=batch + (m, k)))[0]
    v = np.linalg.qr(rng.normal(size=batch + (n, k)))[0]
    return (u * np.asarray(sv)) @ np.swapaxes(v, -1, -2)


@pytest.mark.parametrize(
    "shape, sv",
    [
        ((5, 3), [3.0, 1.5, 0.4]),  # tall, one value below the threshold
        ((3, 5), [2.5, 0.9, 0.2]),  # wide
        ((4, 4), [3.0, 2.0, 2.0, 0.5]),  # a repeated value above it
        ((4, 4), [2.0, 2.0, 2.0, 2.0]),  # 2·(orthogonal): all tied
        ((4, 3), [0.5, 0.5, 0.2]),  # all below: the derivative is 0
        ((2, 5, 3), [3.0, 3.0, 0.3]),  # batched, a tie
    ],
)
def test_singular_value_threshold_derivative_matches_finite_differences(shape, sv):
    # JAX's SVD derivative is NaN at repeated singular values; the prox's own
    # rule is finite there and equals central differences (the threshold is
    # smooth away from σ = τ), in X and in τ
    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        x = _with_singular_values(rng, shape[-2], shape[-1], sv, shape[:-2])
        dx = rng.normal(size=shape)
        tau, dtau = 1.0, 0.7
        out, tangent = jax.jvp(
            prox.singular_value_threshold, (jnp.asarray(x), tau), (dx, dtau)
        )
        h = 1e-6
        up = prox.singular_value_threshold(x + h * dx, tau + h * dtau)
        down = prox.singular_value_threshold(x - h * dx, tau - h * dtau)
        fd = (np.asarray(up) - np.asarray(down)) / (2 * h)
    np.testing.assert_allclose(tangent, fd, atol=1e-7)
    assert np.all(
        np.isfinite(jax.grad(lambda z: prox.singular_value_threshold(z, 1.0).sum())(x))
    )


def test_projections_have_finite_gradients_at_zero():
    for project in (prox.projection_l1_ball, prox.projection_l2_ball):
        jac = jax.jacfwd(lambda z, f=project: f(z, 1.0))(jnp.zeros(3))
        assert np.all(np.isfinite(jac))
    for project in (prox.projection_simplex, prox.projection_non_negative):
        jac = jax.jacfwd(project)(jnp.zeros(3))
        assert np.all(np.isfinite(jac))


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.float32])
def test_operators_keep_the_input_dtype(dtype):
    x = jnp.linspace(-1, 1, 6, dtype=dtype).reshape(2, 3)
    outs = [
        prox.soft_threshold(x, 0.2),
        prox.prox_elastic_net(x, 0.2, 0.5, 0.5),
        prox.prox_ridge(x, 0.2),
        prox.group_soft_threshold(x, 0.2, 0),
        prox.singular_value_threshold(x, 0.2),
        prox.projection_l1_ball(x, 0.5),
        prox.projection_l2_ball(x, 0.5),
        prox.projection_box(x, -0.5, 0.5),
        prox.projection_non_negative(x),
        prox.projection_simplex(x, 1.0),
    ]
    for out in outs:
        assert out.dtype == dtype and out.shape == x.shape


def test_traced_hyperparameters_work_under_jit_and_vmap():
    x = jnp.array([1.0, -0.2, 0.05])
    fn = jax.jit(jax.vmap(lambda s: prox.prox_elastic_net(x, s, 0.5)))
    out = fn(jnp.array([0.0, 0.1, 2.0]))
    np.testing.assert_allclose(out[0], x)
    np.testing.assert_allclose(out[2], 0)


def test_projections_of_a_pytree_treat_it_as_jaxopt_and_optax_do():
    # jaxopt's and optax's l2 ball of a pytree is one ball for the whole tree
    tree = {"w": jnp.array([3.0, 4.0]), "b": jnp.array(12.0)}
    flat = np.array([12.0, 3.0, 4.0])  # leaves in tree order: b, w
    want = flat / np.linalg.norm(flat)
    got = jr.projection_l2_ball(tree, 1.0)
    np.testing.assert_allclose(np.r_[got["b"], got["w"]], want, rtol=1e-6)
    # box: scalar bounds for every leaf, or one bound per leaf
    got = jr.projection_box(tree, 0.0, 3.5)
    np.testing.assert_allclose(got["w"], [3.0, 3.5])
    assert float(got["b"]) == 3.5
    got = jr.projection_box(tree, {"w": -1.0, "b": 0.0}, {"w": 3.5, "b": 20.0})
    np.testing.assert_allclose(got["w"], [3.0, 3.5])
    assert float(got["b"]) == 12.0
    with pytest.raises(ValueError, match="structure of x"):
        jr.projection_box(tree, {"w": 0.0, "c": 0.0}, 1.0)
    one = {"a": jnp.array([3.0, -4.0])}  # a single leaf: bounds per leaf too
    np.testing.assert_array_equal(
        jr.projection_box(one, {"a": 0.0}, {"a": 1.0})["a"], [1.0, 0.0]
    )
    with pytest.raises(ValueError, match="structure of x"):
        jr.projection_box(one, {"a": 0.0, "b": 0.0}, 1.0)
    # an array's bounds may be any array-like (a list too)
    np.testing.assert_array_equal(
        jr.projection_box(jnp.array([3.0, -4.0]), [0.0, -1.0], [1.0, 2.0]), [1.0, -1.0]
    )
    # Python scalars as leaves, and the empty tree
    got = jr.projection_l2_ball({"a": 3.0, "b": 4.0}, 1.0)
    np.testing.assert_allclose([got["a"], got["b"]], [0.6, 0.8], rtol=1e-6)
    assert jr.projection_l2_ball({}, 1.0) == {}
    neg = jr.projection_non_negative({"a": jnp.array([-1.0, 2.0])})
    np.testing.assert_array_equal(neg["a"], [0.0, 2.0])


def test_projected_gradient_on_a_dict_in_a_box():
    # min ½||p - c||² over a box: the clip of c, leaf by leaf
    c = {"w": jnp.array([2.0, -3.0, 0.5]), "b": jnp.array(-0.7)}

    def fun(p):
        return 0.5 * sum(jnp.sum((p[k] - c[k]) ** 2) for k in p)

    init = jax.tree.map(jnp.zeros_like, c)
    res = jr.projected_gradient(
        fun, init, jr.projection_box, projection_args=(-1.0, 1.0)
    )
    np.testing.assert_allclose(res.params["w"], [1.0, -1.0, 0.5], atol=1e-6)
    np.testing.assert_allclose(res.params["b"], -0.7, atol=1e-6)
    with pytest.raises(ValueError, match="projection_args must be a tuple"):
        jr.projected_gradient(fun, init, jr.projection_l2_ball, projection_args=1.0)
