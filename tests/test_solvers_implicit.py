"""Implicit gradients of the composite solvers against central finite differences.

Each check runs in float64 (``jax.enable_x64`` scoped to the test), solves to
a relative prox-gradient mapping of 1e-11, and compares a directional
derivative ``<∇L(θ), v>`` with ``(L(θ + hv) - L(θ - hv)) / 2h`` at a point
where the support does not change within ``h``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxreg as jr
from jaxreg import prox
from jaxreg.solvers import projected_gradient, proximal_gradient
from jaxreg.solvers.implicit import fixed_point_vjp

TOL = 1e-11
H = 1e-6


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def least_squares(w, X, y):
    return 0.5 * jnp.mean((X @ w - y) ** 2)


def flat_least_squares(W, X, y):
    return least_squares(W.reshape(-1), X, y)


def poisson_nll(w, X, y):
    eta = X @ w
    return jnp.mean(jnp.exp(eta) - y * eta)


def central_difference(loss, theta, direction):
    plus = jax.tree.map(lambda t, v: t + H * v, theta, direction)
    minus = jax.tree.map(lambda t, v: t - H * v, theta, direction)
    return (float(loss(plus)) - float(loss(minus))) / (2 * H)


def directional(grad, direction):
    parts = jax.tree.map(lambda g, v: float(jnp.sum(g * v)), grad, direction)
    return sum(jax.tree.leaves(parts))


def assert_gradient_matches(loss, theta, seed=0, rtol=1e-5):
    rng = np.random.default_rng(seed)
    direction = jax.tree.map(lambda t: jnp.asarray(rng.normal(size=np.shape(t))), theta)
    grad = jax.grad(loss)(theta)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grad))
    fd = central_difference(loss, theta, direction)
    assert directional(grad, direction) == pytest.approx(fd, rel=rtol, abs=1e-8)


@pytest.fixture
def regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 10))
    w = np.zeros(10)
    w[:3] = [1.5, -2.0, 1.0]
    y = X @ w + 0.3 * rng.normal(size=40)
    return jnp.asarray(X), jnp.asarray(y)


def test_fixed_point_vjp_of_a_linear_map_is_the_adjoint_solve():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(5, 5))
    A = 0.6 * A / np.linalg.norm(A, 2)  # a contraction: Neumann converges too
    theta = jnp.asarray(rng.normal(size=5))
    x_star = jnp.linalg.solve(jnp.eye(5) - A, theta)
    v = jnp.asarray(rng.normal(size=5))
    expected = np.linalg.solve((np.eye(5) - A).T, np.asarray(v))
    for solver in ("gmres", "neumann"):
        got = fixed_point_vjp(
            lambda x, th: A @ x + th, x_star, theta, v, linear_solver=solver, tol=1e-12
        )
        np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_a_nan_jacobian_gives_a_nan_gradient_not_zero():
    # T(x, θ) = x/2 + θ + 0·sqrt(x - x): finite values, a NaN derivative in x.
    # gmres returns 0 for a NaN operator, which read as a zero gradient
    def T(x, theta):
        return 0.5 * x + theta + 0.0 * jnp.sqrt(x - x)

    theta = jnp.array([1.0, 2.0])
    x_star = 2 * theta
    assert np.allclose(T(x_star, theta), x_star)
    for solver in ("gmres", "neumann"):
        g = fixed_point_vjp(T, x_star, theta, jnp.ones(2), linear_solver=solver)
        assert np.all(np.isnan(g)), solver


def test_lasso_gradient_in_strength_and_data(regression):
    X, y = regression
    c = jnp.linspace(-1, 1, 10)

    def solve(lam, X, y, solver="gmres"):
        res = proximal_gradient(
            least_squares,
            jnp.zeros(10),
            jr.l1(lam),
            X,
            y,
            tol=TOL,
            max_iter=100_000,
            linear_solver=solver,
            linear_tol=1e-12,
        )
        return res.params

    w = solve(0.2, X, y)
    assert 0 < int(jnp.sum(w != 0)) < 10  # a real support, zeros off it
    assert_gradient_matches(lambda th: c @ solve(th[0], th[1], th[2]), (0.2, X, y))
    # the generalized Jacobian is zero off the support: no gradient flows to
    # the zero coefficients from y
    jac = jax.jacrev(lambda y: solve(0.2, X, y))(y)
    np.testing.assert_array_equal(np.asarray(jac)[np.asarray(w) == 0], 0)
    # the Neumann adjoint solve agrees with GMRES
    g_gmres = jax.grad(lambda lam: c @ solve(lam, X, y))(0.2)
    g_neumann = jax.grad(lambda lam: c @ solve(lam, X, y, "neumann"))(0.2)
    assert float(g_neumann) == pytest.approx(float(g_gmres), rel=1e-7)


def test_value_gradient_is_the_envelope_derivative(regression):
    # d/dλ min_w f(w) + λ||w||₁ = ||w*||₁ (Danskin)
    X, y = regression

    def value(lam):
        return proximal_gradient(
            least_squares, jnp.zeros(10), jr.l1(lam), X, y, tol=TOL, max_iter=100_000
        ).value

    w = proximal_gradient(
        least_squares, jnp.zeros(10), jr.l1(0.2), X, y, tol=TOL, max_iter=100_000
    ).params
    assert float(jax.grad(value)(0.2)) == pytest.approx(
        float(jnp.sum(jnp.abs(w))), rel=1e-8
    )


def test_poisson_l2_gradient_in_data_and_strength():
    rng = np.random.default_rng(2)
    X = jnp.asarray(rng.normal(size=(60, 5)) / 2)
    y = jnp.asarray(
        rng.poisson(np.exp(np.asarray(X) @ np.array([0.5, -0.3, 0.2, 0, 0.1])))
    )
    y = y.astype(jnp.float64)
    c = jnp.asarray(rng.normal(size=5))

    def loss(theta):
        s, X, y = theta
        res = proximal_gradient(
            poisson_nll, jnp.zeros(5), jr.l2(s), X, y, tol=TOL, max_iter=100_000
        )
        return c @ res.params

    assert_gradient_matches(loss, (jnp.asarray(0.1), X, y))


def test_group_lasso_gradient_in_strength():
    rng = np.random.default_rng(3)
    X = jnp.asarray(rng.normal(size=(50, 12)))
    y = X[:, :3] @ jnp.array([1.0, -1.0, 0.5]) + 0.1 * jnp.asarray(rng.normal(size=50))
    C = jnp.asarray(rng.normal(size=(4, 3)))

    def loss(s):
        # tighter than TOL: the step sizes adapt to s, so solves at s ± H
        # stop at different points, and at TOL that noise (3e-12 in w, over
        # 2H) was 3e-5 of the difference quotient
        res = proximal_gradient(
            flat_least_squares,
            jnp.zeros((4, 3)),
            jr.group_lasso(s, axis=1),
            X,
            y,
            tol=TOL / 100,
            max_iter=100_000,
        )
        return jnp.sum(C * res.params)

    W = proximal_gradient(
        flat_least_squares,
        jnp.zeros((4, 3)),
        jr.group_lasso(0.1, axis=1),
        X,
        y,
        tol=TOL,
        max_iter=100_000,
    ).params
    norms = np.linalg.norm(np.asarray(W), axis=1)
    assert np.any(norms == 0) and np.any(norms > 0)
    assert_gradient_matches(lambda th: loss(th[0]), (jnp.asarray(0.1),))


def test_projected_gradient_in_radius_and_bounds(regression):
    X, y = regression
    c = jnp.linspace(1, 2, 10)

    def ball(theta):
        r, y = theta
        res = projected_gradient(
            least_squares,
            jnp.zeros(10),
            prox.projection_l2_ball,
            X,
            y,
            projection_args=(r,),
            tol=TOL,
            max_iter=100_000,
        )
        return c @ res.params

    w = projected_gradient(
        least_squares,
        jnp.zeros(10),
        prox.projection_l2_ball,
        X,
        y,
        projection_args=(1.0,),
        tol=TOL,
        max_iter=100_000,
    ).params
    assert float(jnp.linalg.norm(w)) == pytest.approx(1.0)  # the ball is active
    assert_gradient_matches(ball, (jnp.asarray(1.0), y))

    def box(theta):
        lo, hi = theta
        res = projected_gradient(
            least_squares,
            jnp.zeros(10),
            prox.projection_box,
            X,
            y,
            projection_args=(lo, hi),
            tol=TOL,
            max_iter=100_000,
        )
        return c @ res.params

    assert_gradient_matches(box, (jnp.asarray(-0.7), jnp.asarray(0.9)))


def test_gradient_at_a_kink_is_finite(regression):
    # at λ = λ_max the solution is 0 and one coordinate sits exactly on the
    # threshold: the solution map has a kink there
    X, y = regression
    lam_max = float(jnp.max(jnp.abs(X.T @ y)) / 40)

    def loss(lam):
        res = proximal_gradient(least_squares, jnp.zeros(10), jr.l1(lam), X, y, tol=TOL)
        return jnp.sum(res.params)

    grad = jax.grad(loss)(lam_max)
    assert np.isfinite(float(grad))
    assert float(loss(lam_max)) == 0.0


def test_gradient_is_jittable_and_vmappable(regression):
    X, y = regression

    def loss(lam):
        res = proximal_gradient(
            least_squares, jnp.zeros(10), jr.l1(lam), X, y, tol=1e-9
        )
        return jnp.sum(res.params**2)

    lams = jnp.array([0.1, 0.2, 0.3])
    batched = jax.jit(jax.vmap(jax.grad(loss)))(lams)
    looped = [float(jax.grad(loss)(lam)) for lam in lams]
    np.testing.assert_allclose(batched, looped, rtol=1e-6)
