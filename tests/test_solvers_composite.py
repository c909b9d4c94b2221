"""proximal_gradient / projected_gradient against independent references.

References: our linear-model solvers (Lasso by coordinate descent, group lasso
by its own FISTA), a numpy soft-impute written out here, and scipy.optimize
(L-BFGS-B on the smooth objective, on split variables for L1, with bounds for
boxes; SLSQP for the simplex and an epigraph form of the group penalty).
"""

import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import optimize

import jaxreg as jr
from jaxreg import prox
from jaxreg.solvers import ConvergenceWarning, projected_gradient, proximal_gradient
from jaxreg.solvers.composite import _power_iteration, lipschitz_estimate
from jaxreg.solvers.fista import group_lasso_regression


def least_squares(w, X, y):
    return 0.5 * jnp.mean((X @ w - y) ** 2)


def poisson_nll(w, X, y):
    """Mean Poisson negative log-likelihood, log link (up to log y!)."""
    eta = X @ w
    return jnp.mean(jnp.exp(eta) - y * eta)


def softmax_nll(W, X, labels):
    """Mean multinomial log-loss; ``W`` is (n_features, n_classes)."""
    logits = X @ W
    return jnp.mean(
        jax.nn.logsumexp(logits, axis=1) - logits[jnp.arange(len(labels)), labels]
    )


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 20)).astype(np.float32)
    w = np.zeros(20, np.float32)
    w[:4] = [1.5, -2.0, 1.0, 0.5]
    y = (X @ w + 0.3 * rng.normal(size=80)).astype(np.float32)
    return X, y


def test_lasso_equals_coordinate_descent(regression):
    X, y = regression
    res = proximal_gradient(least_squares, jnp.zeros(20), jr.l1(0.1), X, y, tol=1e-6)
    ref = jr.lasso(X, y, 0.1, fit_intercept=False, tol=1e-7)
    assert bool(res.converged)
    np.testing.assert_allclose(res.params, ref.coef, atol=2e-5)
    # the exact zeros are the same
    np.testing.assert_array_equal(
        np.asarray(res.params) == 0, np.asarray(ref.coef) == 0
    )


def test_group_lasso_equals_group_lasso_regression(regression):
    X, y = regression
    pen = jr.group_lasso(0.15, axis=1)
    res = proximal_gradient(
        lambda W, X, y: least_squares(W.reshape(-1), X, y),
        jnp.zeros((5, 4)),
        pen,
        X,
        y,
        tol=1e-6,
    )
    ref = group_lasso_regression(
        X, y, pen, coef_shape=(5, 4), fit_intercept=False, tol=1e-8, max_iter=50_000
    )
    np.testing.assert_allclose(res.params.reshape(-1), ref.coef, atol=5e-5)
    zero_groups = np.linalg.norm(np.asarray(ref.coef).reshape(5, 4), axis=1) == 0
    assert zero_groups.any() and not zero_groups.all()
    assert np.all(np.asarray(res.params)[zero_groups] == 0)


def _soft_impute(M, mask, s, n_iter=3000):
    """Numpy proximal gradient with step 1 (the loss has Lipschitz constant 1)."""
    W = np.zeros_like(M)
    for _ in range(n_iter):
        u, sig, vt = np.linalg.svd(W - mask * (W - M), full_matrices=False)
        W = (u * np.maximum(sig - s, 0)) @ vt
    return W


def test_nuclear_norm_matrix_completion_matches_numpy_soft_impute():
    rng = np.random.default_rng(1)
    M = (rng.normal(size=(12, 2)) @ rng.normal(size=(2, 9))).astype(np.float32)
    mask = (rng.uniform(size=M.shape) < 0.6).astype(np.float32)

    def completion(W, M, mask):
        return 0.5 * jnp.sum(mask * (W - M) ** 2)

    res = proximal_gradient(
        completion, jnp.zeros_like(M), jr.nuclear_norm(1.0), M, mask, tol=1e-6
    )
    ref = _soft_impute(M.astype(np.float64), mask.astype(np.float64), 1.0)
    assert bool(res.converged)
    np.testing.assert_allclose(res.params, ref, atol=1e-3)
    assert np.linalg.matrix_rank(
        np.asarray(res.params), tol=1e-3
    ) == np.linalg.matrix_rank(ref, tol=1e-3)


def test_nuclear_norm_implicit_gradient_at_repeated_singular_values():
    # min ½||W - M||² + s||W||_*: W* = U max(Σ - s, 0) Vᵀ, so d<C, W*>/ds =
    # -<C, U_S V_Sᵀ> over the singular values above s. With M = diag(3, 2, 2)
    # (a repeated value) the gradient read 0.0 (JAX's SVD derivative is NaN
    # there, and gmres returned 0 for the NaN operator)
    C = np.random.default_rng(0).normal(size=(3, 3))
    with jax.enable_x64(True):
        M = jnp.diag(jnp.array([3.0, 2.0, 2.0]))

        def objective(s):
            res = proximal_gradient(
                lambda W: 0.5 * jnp.sum((W - M) ** 2),
                jnp.zeros_like(M),
                jr.nuclear_norm(s),
                tol=1e-10,
            )
            return jnp.sum(C * res.params)

        grad = float(jax.grad(objective)(0.5))
    np.testing.assert_allclose(grad, -np.trace(C), rtol=1e-6)


@pytest.fixture(scope="module")
def counts():
    rng = np.random.default_rng(2)
    X = (rng.normal(size=(150, 8)) / 2).astype(np.float32)
    w = np.array([0.8, -0.5, 0.3, 0, 0, 0, 0.2, 0], np.float32)
    y = rng.poisson(np.exp(X @ w)).astype(np.float32)
    return X, y


def _poisson_np(w, X, y):
    eta = X @ w
    return np.mean(np.exp(eta) - y * eta), X.T @ (np.exp(eta) - y) / len(y)


def test_poisson_glm_with_l2_matches_lbfgs(counts):
    X, y = counts
    s = 0.05
    res = proximal_gradient(poisson_nll, jnp.zeros(8), jr.l2(s), X, y, tol=1e-6)

    def obj(w):
        v, g = _poisson_np(w, X.astype(np.float64), y.astype(np.float64))
        return v + 0.5 * s * w @ w, g + s * w

    ref = optimize.minimize(
        obj, np.zeros(8), jac=True, method="L-BFGS-B", options={"gtol": 1e-10}
    )
    np.testing.assert_allclose(res.params, ref.x, atol=1e-4)
    assert float(res.value) == pytest.approx(ref.fun, rel=1e-6)


def test_poisson_glm_with_l1_matches_split_variable_lbfgs(counts):
    X, y = counts
    s = 0.05
    res = proximal_gradient(poisson_nll, jnp.zeros(8), jr.l1(s), X, y, tol=1e-6)

    def obj(uv):  # w = u - v with u, v >= 0: a smooth bound-constrained problem
        v, g = _poisson_np(uv[:8] - uv[8:], X.astype(np.float64), y.astype(np.float64))
        return v + s * uv.sum(), np.concatenate([g + s, -g + s])

    ref = optimize.minimize(
        obj,
        np.zeros(16),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0, None)] * 16,
        options={"gtol": 1e-12, "ftol": 1e-15},
    )
    w_ref = ref.x[:8] - ref.x[8:]
    np.testing.assert_allclose(res.params, w_ref, atol=1e-4)
    assert np.any(np.asarray(res.params) == 0)  # exact zeros
    assert float(res.value) == pytest.approx(ref.fun, rel=1e-6)


def test_softmax_with_group_penalty_across_classes_matches_slsqp():
    rng = np.random.default_rng(3)
    n, d, k = 120, 5, 3
    X = rng.normal(size=(n, d)).astype(np.float32)
    W_true = np.zeros((d, k))
    W_true[:2] = rng.normal(size=(2, k)) * 2
    labels = np.argmax(X @ W_true + rng.gumbel(size=(n, k)), axis=1).astype(np.int32)
    s = 0.05
    # groups = rows of W: one feature's weights across all classes
    res = proximal_gradient(
        softmax_nll, jnp.zeros((d, k)), jr.group_lasso(s, axis=1), X, labels, tol=1e-6
    )

    X64 = X.astype(np.float64)
    onehot = np.eye(k)[labels]

    def loss(W):
        logits = X64 @ W
        m = logits.max(axis=1, keepdims=True)
        lse = (m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True)))[:, 0]
        p = np.exp(logits - lse[:, None])
        return np.mean(lse - (logits * onehot).sum(1)), X64.T @ (p - onehot) / n

    def obj(z):  # epigraph: min loss(W) + s Σ τ_j  s.t. ||W_j|| <= τ_j
        v, g = loss(z[: d * k].reshape(d, k))
        return v + s * z[d * k :].sum(), np.concatenate([g.ravel(), np.full(d, s)])

    cons = {
        "type": "ineq",
        "fun": lambda z: z[d * k :] ** 2 - (z[: d * k].reshape(d, k) ** 2).sum(1),
    }
    z0 = np.concatenate([np.zeros(d * k), np.ones(d)])
    ref = optimize.minimize(
        obj,
        z0,
        jac=True,
        constraints=[cons],
        bounds=[(None, None)] * (d * k) + [(0, None)] * d,
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 2000},
    )
    W_ref = ref.x[: d * k].reshape(d, k)
    np.testing.assert_allclose(res.params, W_ref, atol=5e-4)
    assert float(res.value) == pytest.approx(ref.fun, rel=1e-5)
    # rows the reference zeroes are exactly zero in ours
    zero_rows = np.linalg.norm(W_ref, axis=1) < 1e-6
    assert zero_rows.any()
    assert np.all(np.asarray(res.params)[zero_rows] == 0)


def test_projected_box_matches_lbfgsb_bounds(regression):
    X, y = regression
    res = projected_gradient(
        least_squares,
        jnp.zeros(20),
        prox.projection_box,
        X,
        y,
        projection_args=(-0.5, 1.2),
        tol=1e-6,
    )
    X64, y64 = X.astype(np.float64), y.astype(np.float64)
    ref = optimize.minimize(
        lambda w: (0.5 * np.mean((X64 @ w - y64) ** 2), X64.T @ (X64 @ w - y64) / 80),
        np.zeros(20),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-0.5, 1.2)] * 20,
        options={"gtol": 1e-12, "ftol": 1e-15},
    )
    np.testing.assert_allclose(res.params, ref.x, atol=1e-5)
    assert np.all(np.asarray(res.params) >= -0.5) and np.all(
        np.asarray(res.params) <= 1.2
    )


def test_projected_simplex_matches_slsqp(regression):
    X, y = regression
    res = projected_gradient(
        least_squares,
        jnp.zeros(20),
        prox.projection_simplex,
        X,
        y,
        projection_args=(2.0,),
        tol=1e-6,
    )
    X64, y64 = X.astype(np.float64), y.astype(np.float64)
    ref = optimize.minimize(
        lambda w: (0.5 * np.mean((X64 @ w - y64) ** 2), X64.T @ (X64 @ w - y64) / 80),
        np.full(20, 0.1),
        jac=True,
        method="SLSQP",
        bounds=[(0, None)] * 20,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 2.0}],
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    np.testing.assert_allclose(res.params, ref.x, atol=1e-4)
    assert float(jnp.sum(res.params)) == pytest.approx(2.0, rel=1e-5)


def test_lipschitz_1e7_converges_without_nan(regression):
    # X scaled by c: L = c² λ_max(XᵀX/n) ≈ 3e7. The solution of the scaled
    # problem with strength c·s is the unscaled one divided by c.
    X, y = regression
    c = 4000.0
    lip = c**2 * np.linalg.eigvalsh(X.T.astype(np.float64) @ X / 80).max()
    assert lip > 1e7
    for step_size, grow in [
        ("backtracking", True),
        ("backtracking", False),
        ("lipschitz", False),
    ]:
        res = proximal_gradient(
            least_squares,
            jnp.zeros(20),
            jr.l1(c * 0.1),
            c * X,
            y,
            step_size=step_size,
            step_growth=grow,
        )
        assert bool(res.converged) and not bool(res.failed)
        assert np.all(np.isfinite(res.params))
        ref = jr.lasso(X, y, 0.1, fit_intercept=False, tol=1e-7)
        np.testing.assert_allclose(c * res.params, ref.coef, atol=1e-4)


def test_power_iteration_gives_the_lipschitz_constant_and_f_at_x(regression):
    # the solver's first step takes f(x0) and ∇f(x0) from the power
    # iteration's last Hessian-vector product: they must be exact, on a pytree
    X, y = regression

    def f(p):
        return least_squares(p["w"], X, y) + 0.5 * jnp.sum(p["b"] ** 2)

    x = {"w": jnp.asarray(np.linspace(-1, 1, 20)), "b": jnp.ones(3)}
    lip, (value, grad) = _power_iteration(f, x, 200)
    ref_value, ref_grad = jax.value_and_grad(f)(x)
    assert float(value) == pytest.approx(float(ref_value), rel=1e-6)
    for leaf, ref in zip(jax.tree.leaves(grad), jax.tree.leaves(ref_grad), strict=True):
        np.testing.assert_allclose(leaf, ref, rtol=1e-5, atol=1e-7)
    # the Hessian is blockdiag(XᵀX/n, I): its largest eigenvalue
    top = np.linalg.eigvalsh(np.asarray(X, np.float64).T @ np.asarray(X) / 80).max()
    assert float(lip) == pytest.approx(max(top, 1.0), rel=1e-4)
    assert float(lipschitz_estimate(f, x, 200)) == float(lip)


def test_backtracking_starts_from_a_too_large_step(regression):
    # init_step = 1e3 ≫ 1/L: the line search halves it to a valid step; with
    # step_growth=False it never grows it back
    X, y = regression
    res = proximal_gradient(
        least_squares, jnp.zeros(20), jr.l1(0.1), X, y, init_step=1e3, step_growth=False
    )
    lip = np.linalg.eigvalsh(X.T.astype(np.float64) @ X / 80).max()
    assert bool(res.converged)
    assert float(res.step_size) <= 2 / lip
    ref = jr.lasso(X, y, 0.1, fit_intercept=False, tol=1e-7)
    np.testing.assert_allclose(res.params, ref.coef, atol=1e-4)


def test_step_growth_reaches_the_reference_in_fewer_iterations():
    # L1 Poisson regression with a log link: the curvature exp(Xw) along the
    # iterates differs from the one at the start, so a step that follows it
    # takes fewer iterations; both schemes reach scipy's minimizer
    rng = np.random.default_rng(0)
    n, d = 200, 30
    X = (rng.normal(size=(n, d)) / np.sqrt(d)).astype(np.float32)
    w = np.zeros(d)
    w[:5] = 3 * rng.normal(size=5)
    y = rng.poisson(np.exp(X @ w)).astype(np.float32)
    s = float(np.abs(X.T @ (1 - y)).max() / n / 20)  # λ_max / 20
    runs = {
        grow: proximal_gradient(
            poisson_nll, jnp.zeros(d), jr.l1(s), X, y, tol=1e-6, step_growth=grow
        )
        for grow in (True, False)
    }

    def obj(uv):  # w = u - v with u, v >= 0
        v, g = _poisson_np(uv[:d] - uv[d:], X.astype(np.float64), y.astype(np.float64))
        return v + s * uv.sum(), np.concatenate([g + s, -g + s])

    ref = optimize.minimize(
        obj,
        np.zeros(2 * d),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0, None)] * (2 * d),
        options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 5000},
    )
    for res in runs.values():
        assert bool(res.converged)
        np.testing.assert_allclose(res.params, ref.x[:d] - ref.x[d:], atol=2e-4)
    assert int(runs[True].n_iter) < int(runs[False].n_iter)
    assert float(runs[True].step_size) > float(runs[False].step_size)


def test_step_growth_does_not_stall_in_float32_roundoff(regression):
    # tol far below sqrt(eps): the sufficient-decrease test is roundoff there
    # and cannot vouch for a grown step (steps grown on roundoff alone reach
    # ~2/L and stall); the growing solver must still be no slower than the
    # monotone step
    X, y = regression
    runs = [
        proximal_gradient(
            least_squares,
            jnp.zeros(20),
            jr.l1(0.1),
            X,
            y,
            tol=1e-6,
            max_iter=500,
            step_growth=grow,
        )
        for grow in (True, False)
    ]
    ref = jr.lasso(X, y, 0.1, fit_intercept=False, tol=1e-7)
    for res in runs:
        assert bool(res.converged)
        np.testing.assert_allclose(res.params, ref.coef, atol=1e-5)
    assert int(runs[0].n_iter) <= int(runs[1].n_iter)


def test_nan_trials_shrink_the_step():
    # f is NaN for w <= 0 (a log barrier): large trial steps land there
    c = jnp.array([0.5, 2.0, 0.1])

    def barrier(w, c):
        return jnp.sum(c * w - jnp.log(w))

    res = proximal_gradient(barrier, jnp.ones(3), jr.l2(0.5), c, init_step=100.0)
    assert bool(res.converged) and not bool(res.failed)
    # minimizer of c w - log w + w²/4: w = (-c + sqrt(c² + 2))
    np.testing.assert_allclose(res.params, -c + jnp.sqrt(c**2 + 2), rtol=1e-4)


def test_init_step_needs_no_forward_mode_derivative():
    # the gradient comes from the host (pure_callback has no JVP rule): the
    # default first step (a Hessian-vector product) cannot be formed, a given
    # init_step needs none, as the docstring promises
    c = np.array([1.0, -2.0, 0.05], np.float32)

    @jax.custom_vjp
    def host_loss(w):
        return 0.5 * jnp.sum((w - c) ** 2)

    def host_grad(w):
        shape = jax.ShapeDtypeStruct(w.shape, w.dtype)
        return jax.pure_callback(lambda v: np.asarray(v - c, v.dtype), shape, w)

    host_loss.defvjp(lambda w: (host_loss(w), w), lambda w, g: (g * host_grad(w),))
    fun = lambda w: host_loss(w)  # noqa: E731

    with pytest.raises(ValueError, match="JVP"):
        proximal_gradient(fun, jnp.zeros(3), jr.l1(0.1))
    res = proximal_gradient(fun, jnp.zeros(3), jr.l1(0.1), init_step=1.0)
    assert bool(res.converged)
    np.testing.assert_allclose(res.params, np.sign(c) * np.maximum(abs(c) - 0.1, 0))


def test_nonfinite_objective_is_reported_not_hidden():
    def broken(w):  # finite only at the start
        return jnp.where(jnp.all(w == 1), 0.0, jnp.nan) + jnp.sum(w)

    with pytest.warns(ConvergenceWarning, match="finite"):
        res = proximal_gradient(broken, jnp.ones(3), jr.l1(0.1), init_step=1.0)
    assert bool(res.failed) and not bool(res.converged)
    np.testing.assert_array_equal(res.params, jnp.ones(3))  # the last finite iterate

    # a fixed step far too large diverges: flagged, params stay finite
    X = jnp.eye(3) * 10.0
    with pytest.warns(ConvergenceWarning, match="non-finite"):
        res = proximal_gradient(
            least_squares, jnp.zeros(3), jr.l1(0.0), X, jnp.ones(3), step_size=10.0
        )
    assert bool(res.failed)
    assert np.all(np.isfinite(res.params))


def test_unconverged_warns_outside_jit_and_flags_inside(regression):
    X, y = regression
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        res = proximal_gradient(
            least_squares, jnp.zeros(20), jr.l1(0.01), X, y, max_iter=3
        )
    assert int(res.n_iter) == 3 and not bool(res.converged)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flags = jax.jit(
            lambda X: (
                proximal_gradient(
                    least_squares, jnp.zeros(20), jr.l1(0.01), X, y, max_iter=3
                ).converged
            )
        )(X)
    assert not bool(flags)


def test_stopping_rule_is_scale_invariant(regression):
    X, y = regression

    def scaled(w, X, y, a):
        return a * least_squares(w, X, y)

    runs = [
        proximal_gradient(scaled, jnp.zeros(20), jr.l1(a * 0.1), X, y, a, tol=1e-4)
        for a in (1.0, 1e4)
    ]
    assert int(runs[0].n_iter) == int(runs[1].n_iter)
    np.testing.assert_allclose(runs[0].params, runs[1].params, atol=1e-5)


def test_checks_every_iteration_on_device_loop_backends(regression):
    X, y = regression
    assert jr.solvers.composite.default_check_every() == 1  # tests run on CPU

    def run(**kw):
        return proximal_gradient(least_squares, jnp.zeros(20), jr.l1(0.1), X, y, **kw)

    every, default, tenth = run(check_every=1), run(), run(check_every=10)
    assert int(default.n_iter) == int(every.n_iter)
    # checking every 10th step overshoots to the next multiple of 10
    k = int(every.n_iter)
    assert int(tenth.n_iter) == -(-k // 10) * 10
    with pytest.warns(ConvergenceWarning):
        short = run(max_iter=k - 1)
    assert float(every.optimality) <= 1e-5 < float(short.optimality)


def test_vmap_over_data_and_strength(regression):
    X, y = regression
    strengths = jnp.array([0.02, 0.1, 0.5])
    batched = jax.vmap(
        lambda s: proximal_gradient(
            least_squares, jnp.zeros(20), jr.l1(s), X, y, tol=1e-6
        )
    )(strengths)
    ys = jnp.stack([y, 2 * y, -y])
    over_y = jax.vmap(
        lambda y: proximal_gradient(
            least_squares, jnp.zeros(20), jr.l1(0.1), X, y, tol=1e-6
        )
    )(ys)
    for i in range(3):
        one = proximal_gradient(
            least_squares, jnp.zeros(20), jr.l1(strengths[i]), X, y, tol=1e-6
        )
        np.testing.assert_allclose(batched.params[i], one.params, atol=1e-5)
        ref = jr.lasso(X, np.asarray(ys[i]), 0.1, fit_intercept=False, tol=1e-6)
        np.testing.assert_allclose(over_y.params[i], ref.coef, atol=1e-4)
    assert batched.converged.shape == (3,) and bool(jnp.all(batched.converged))


def test_vmapped_lanes_that_stopped_do_not_keep_backtracking(regression):
    # under vmap every lane runs each step, the stopped lanes' results
    # discarded: a lane whose line search failed must not run its 40
    # shrinks again on each later step of the others (a LogisticRegressionCV
    # fold did: 11 ms a step instead of 1.1)
    X, y = regression
    X = X * jnp.linspace(1.0, 30.0, X.shape[1])[None, :]  # hundreds of steps
    calls = []

    def fun(w, broken):  # broken: NaN as soon as w moves, so the search fails
        jax.debug.callback(lambda: calls.append(1))
        value = least_squares(w, X, y)
        return jnp.where(broken & jnp.any(w != 0), jnp.nan, value)

    def solve(broken):
        return proximal_gradient(fun, jnp.zeros(20), jr.l1(0.01), broken, tol=1e-5)

    alone = solve(jnp.asarray(False))
    n_alone = len(calls)
    calls.clear()
    both = jax.vmap(solve)(jnp.array([True, False]))  # flags, no warning
    assert bool(both.failed[0]) and bool(both.converged[1])
    # batched kernels round differently: the same point, not the same steps
    n_iter = int(alone.n_iter)
    assert n_iter > 100 and abs(int(both.n_iter[1]) - n_iter) < 0.2 * n_iter
    np.testing.assert_allclose(both.value[1], alone.value, rtol=1e-5)
    # the failed lane's 40 shrinks once, not at each of the other's steps
    assert len(calls) <= 1.3 * n_alone + 2 * 40, (len(calls), n_alone)


class Linear(NamedTuple):
    w: jax.Array
    b: jax.Array


class WeightsOnly:
    """A user penalty (not a pytree): L1 on ``w``, the intercept unpenalized."""

    def __init__(self, s):
        self.pen = jr.l1(s)

    def value(self, p):
        return self.pen.value(p.w)

    def prox(self, p, step):
        return Linear(self.pen.prox(p.w, step), p.b)


def test_pytree_params_and_a_user_penalty(regression):
    X, y = regression
    y = y + 3.0

    def loss(p, X, y):
        return 0.5 * jnp.mean((X @ p.w + p.b - y) ** 2)

    res = proximal_gradient(
        loss, Linear(jnp.zeros(20), jnp.zeros(())), WeightsOnly(0.1), X, y, tol=1e-6
    )
    ref = jr.lasso(X, y, 0.1, fit_intercept=True, tol=1e-7)
    assert isinstance(res.params, Linear)
    np.testing.assert_allclose(res.params.w, ref.coef, atol=3e-5)
    np.testing.assert_allclose(res.params.b, ref.intercept, atol=3e-5)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="value.*prox"):
        proximal_gradient(least_squares, jnp.zeros(2), object())
    with pytest.raises(ValueError, match="instance, got the class L1"):
        proximal_gradient(least_squares, jnp.zeros(2), jr.penalties.L1)
    with pytest.raises(ValueError, match="step_size"):
        proximal_gradient(least_squares, jnp.zeros(2), jr.l1(0.1), step_size="auto")
    with pytest.raises(ValueError, match="step_size"):
        proximal_gradient(least_squares, jnp.zeros(2), jr.l1(0.1), step_size=-1.0)
    with pytest.raises(ValueError, match="init_params"):
        proximal_gradient(least_squares, jnp.zeros(2, jnp.int32), jr.l1(0.1))
    with pytest.raises(ValueError, match="decrease"):
        proximal_gradient(least_squares, jnp.zeros(2), jr.l1(0.1), decrease=1.0)
    with pytest.raises(ValueError, match="projection must be callable"):
        projected_gradient(least_squares, jnp.zeros(2), None)

    # an empty or impossible set: the projection's own checks run on the
    # concrete arguments before the solver traces them (it returned a point
    # marked converged: 0 for an empty box, -x for a radius of -1)
    for projection, args, match in (
        (prox.projection_box, (1.0, 0.0), "lower must be <= upper"),
        (prox.projection_l2_ball, (-1.0,), "radius"),
        (prox.projection_l1_ball, (-1.0,), "radius"),
        (prox.projection_simplex, (0.0,), "value"),
    ):
        with pytest.raises(ValueError, match=match):
            projected_gradient(
                least_squares, jnp.zeros(2), projection, projection_args=args
            )
        # the same set as a Constraint to proximal_gradient (it warned of a
        # NaN objective in fun, and returned 0 unconverged)
        with pytest.raises(ValueError, match=match):
            proximal_gradient(
                least_squares, jnp.zeros(2), jr.Constraint(projection, args)
            )
    # a NaN start (it returned NaN params "the last finite iterate")
    with pytest.raises(ValueError, match="init_params contains NaN"):
        proximal_gradient(least_squares, jnp.array([0.0, jnp.nan]), jr.l1(0.1))

    # traced under jit they cannot raise: never converged (an empty box gave
    # 0 and converged=True; now NaN, as a negative radius)
    def solve(lo, hi):
        def f(w):
            return 0.5 * jnp.sum((w - 2.0) ** 2)

        box = prox.projection_box
        return projected_gradient(f, jnp.zeros(2), box, projection_args=(lo, hi))

    res = jax.jit(solve)(1.0, 0.0)
    assert not bool(res.converged) and bool(res.failed)
    res = jax.jit(solve)(0.0, 1.0)
    assert bool(res.converged)
    np.testing.assert_allclose(res.params, [1.0, 1.0])


def test_float32_by_default_and_dtype_kept(regression):
    X, y = regression
    res = proximal_gradient(least_squares, jnp.zeros(20), jr.l1(0.1), X, y)
    assert res.params.dtype == jnp.float32 and res.value.dtype == jnp.float32
    assert res.n_iter.dtype == jnp.int32


def test_a_start_at_the_solution_stops_at_roundoff(regression):
    # started at the ridge solution (numpy's solve, rounded to float32), the
    # first prox-gradient mapping is itself roundoff: a tol relative to it is
    # unreachable, and the solver must stop at the floor eps·||∇f(x0)||
    # instead of running max_iter and warning (filterwarnings = error)
    X, y = regression
    lam = 0.1
    X64, y64 = X.astype(np.float64), y.astype(np.float64)
    n = len(y)
    w_star = np.linalg.solve(X64.T @ X64 / n + lam * np.eye(20), X64.T @ y64 / n)
    res = proximal_gradient(
        least_squares,
        jnp.asarray(w_star, jnp.float32),
        jr.l2(lam),
        X,
        y,
        tol=1e-9,
        max_iter=2_000,
    )
    assert bool(res.converged) and int(res.n_iter) < 100
    np.testing.assert_allclose(res.params, w_star, rtol=1e-5, atol=1e-6)


def _softmax_problems(seed, n_problems, dtype):
    """Strongly convex softmax regressions (L2) differing in their sample
    weights and strengths: ``(fun, args, minimizers)``, the minimizers from
    scipy's L-BFGS-B polished by Newton steps on the exact Hessian (float64;
    scipy alone stops at gradient norms ~1e-7)."""
    from jaxreg.solvers.multinomial import softmax_cross_entropy

    rng = np.random.default_rng(seed)
    n, d, K = 60, 4, 3
    X = rng.normal(size=(n, d)) * np.array([1.0, 3.0, 0.3, 10.0])
    Y = np.eye(K)[rng.integers(0, K, size=n)]
    A = rng.uniform(0.0, 1.0, size=(n_problems, n))
    A /= A.sum(1, keepdims=True)
    lams = np.geomspace(1e-1, 1e-3, n_problems)

    def fun(theta, lam, a):
        W = theta[:d]
        return softmax_cross_entropy(theta, X, Y, a) + 0.5 * lam * jnp.sum(W * W)

    refs = []
    with jax.enable_x64(True):
        for lam, a in zip(lams, A, strict=True):
            f = jax.jit(jax.value_and_grad(lambda t, lam=lam, a=a: fun(t, lam, a)))
            res = optimize.minimize(
                lambda t, f=f: tuple(np.asarray(v) for v in f(t.reshape(d + 1, K))),
                np.zeros((d + 1) * K),
                jac=True,
                method="L-BFGS-B",
                options=dict(gtol=1e-12, ftol=0, maxiter=10_000),
            )
            x = res.x
            flat = jax.jit(lambda t, lam=lam, a=a: fun(t.reshape(d + 1, K), lam, a))
            for _ in range(5):
                # least squares: the intercepts' common shift is free (the
                # softmax ignores it), and every solver keeps it at 0
                H, g = jax.hessian(flat)(x), jax.grad(flat)(x)
                x = x - np.linalg.lstsq(H, g, rcond=None)[0]
            refs.append(x.reshape(d + 1, K))
    args = (jnp.asarray(lams, dtype), jnp.asarray(A, dtype))
    return fun, args, np.stack(refs)


def test_batched_lbfgs_reaches_each_problems_minimizer():
    from jaxreg.solvers.multinomial import lbfgs_batched

    with jax.enable_x64(True):
        fun, args, refs = _softmax_problems(0, 4, np.float64)
        x0 = jnp.zeros(refs.shape)
        targets = jnp.full((4,), 1e-10)
        x, n_iter, gnorm = lbfgs_batched(fun, x0, args, targets, 1000)
    assert np.all(np.asarray(gnorm) <= 1e-10)
    assert np.all((np.asarray(n_iter) > 0) & (np.asarray(n_iter) < 1000))
    np.testing.assert_allclose(np.asarray(x), refs, atol=1e-7)


def test_batched_lbfgs_stops_at_float32_roundoff():
    """An unreachable target (0) in float32: every problem stops once its
    steps no longer lower f (long before max_iter), at the minimizer to
    float32 accuracy."""
    from jaxreg.solvers.multinomial import lbfgs_batched

    fun, args, refs = _softmax_problems(1, 3, np.float32)
    x0 = jnp.zeros(refs.shape, jnp.float32)
    x, n_iter, _ = lbfgs_batched(fun, x0, args, jnp.zeros(3), 100_000)
    assert np.all(np.asarray(n_iter) < 1000)
    scale = np.abs(refs).max()
    np.testing.assert_allclose(np.asarray(x), refs, atol=1e-4 * scale)


def test_a_step_below_the_iterates_roundoff_is_not_marked_converged():
    # NNLS with one feature in other units (x1000: curvatures 1e6 and 1): each
    # step of 1/L moves the second coefficient by less than its float32
    # roundoff, the computed mapping is 0, and converged was True at a point
    # 4.6 % above the optimum
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2)) * [1000.0, 1.0]
    y = X @ [1e-4, 0.3] + 0.1 * rng.normal(size=200)

    def f(w, X, y):
        return 0.5 * jnp.mean((X @ w - y) ** 2)

    ref = optimize.nnls(X, y)[0]
    data = (jnp.asarray(X, jnp.float32), jnp.asarray(y, jnp.float32))
    with pytest.warns(ConvergenceWarning, match="ill-conditioned for this dtype"):
        res = projected_gradient(f, jnp.zeros(2), prox.projection_non_negative, *data)
    assert not bool(res.converged) and not bool(res.failed)
    assert float(res.optimality) <= 1e-5  # what the computed mapping claimed
    w = np.asarray(res.params, np.float64)
    excess = np.mean((X @ w - y) ** 2) / np.mean((X @ ref - y) ** 2) - 1
    assert excess > 1e-2  # and the point is indeed off the optimum


def test_a_warm_started_path_converges():
    # from a warm start the first mapping is already small: the resolution
    # test measured against it alone refused float32 solves that were as
    # accurate as float32 gets (λ = 0.009, 0.008 below; filterwarnings = error)
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Lasso
    from sklearn.preprocessing import StandardScaler

    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    data = (jnp.asarray(X, jnp.float32), jnp.asarray(y, jnp.float32))
    w = jnp.zeros(10)
    for lam in (0.05, 0.03, 0.01, 0.009, 0.008):
        res = proximal_gradient(least_squares, w, jr.l1(lam), *data)
        w = res.params
        assert bool(res.converged)
        ref = Lasso(alpha=lam, tol=1e-14, max_iter=100_000).fit(X, y).coef_
        np.testing.assert_allclose(w, ref, atol=1e-4)


@pytest.mark.parametrize("x64", [False, True])
@pytest.mark.parametrize("factor", [1.0, 1.002])
def test_a_warm_start_at_or_next_to_the_solution_stops(x64, factor):
    # restarted at its own solution (or at λ·1.002's neighbour, a fine path
    # step) the first mapping is already near roundoff, tol times it lies
    # below the iterate's rounding, and the solver ran max_iter = 5000
    # steps and returned converged=False with the right point (float64 at
    # the solution, float32 next to it)
    from sklearn.linear_model import Lasso

    rng = np.random.default_rng(8)
    X, y = rng.normal(size=(30, 5)), rng.normal(size=30)
    lam = 0.05
    with jax.enable_x64(x64):
        dtype = jnp.float64 if x64 else jnp.float32
        data = (jnp.asarray(X, dtype), jnp.asarray(y, dtype))
        tight = 1e-12 if x64 else 1e-6
        w = proximal_gradient(least_squares, jnp.zeros(5, dtype), jr.l1(lam), *data)
        w = proximal_gradient(
            least_squares, w.params, jr.l1(lam), *data, tol=tight
        ).params
        res = proximal_gradient(least_squares, w, jr.l1(lam * factor), *data)
    assert bool(res.converged) and int(res.n_iter) < 100
    ref = Lasso(alpha=lam * factor, fit_intercept=False, tol=1e-14, max_iter=10**5)
    ref = ref.fit(X, y).coef_
    np.testing.assert_allclose(res.params, ref, atol=1e-6 if x64 else 1e-5)


def test_float32_lasso_does_not_collapse_its_step():
    # a well-conditioned Lasso (cond(X) = 4.5) whose line-search test falls
    # into float32 roundoff near the solution: falling back to the monotone
    # step there collapsed it to 6e-6, 586 iterations, converged=False
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Lasso

    X, y = make_regression(80, 30, n_informative=5, noise=1.0, random_state=1)
    X = X / np.linalg.norm(X, axis=0) * np.sqrt(80)
    Xj, yj = jnp.asarray(X, jnp.float32), jnp.asarray(y, jnp.float32)

    def f(w, X, y):
        return 0.5 * jnp.mean((X @ w - y) ** 2)

    lams = jnp.array([0.01, 0.0268, 0.072])
    res = jax.vmap(
        lambda lam: jr.proximal_gradient(f, jnp.zeros(30), jr.l1(lam), Xj, yj)
    )(lams)
    assert np.all(np.asarray(res.converged)) and np.all(np.asarray(res.n_iter) < 100)
    for k, lam in enumerate(np.asarray(lams, float)):
        ref = Lasso(alpha=lam, fit_intercept=False, tol=1e-14, max_iter=10**6).fit(X, y)
        err = np.abs(np.asarray(res.params[k]) - ref.coef_).max()
        assert err <= 1e-4 * np.abs(ref.coef_).max()


def test_closed_over_data_and_schedules_raise_what_to_do():
    # differentiating a value fun closes over (jaxopt's usual pattern) raised
    # JAX's CustomVJPException, which advises rewriting the custom_vjp; a
    # schedule strength raised float()'s TypeError
    def solve(a, fun, *args):
        return jr.proximal_gradient(fun, jnp.zeros(2), jr.l1(0.1), *args).params

    def closed(a):
        return solve(a, lambda w: 0.5 * jnp.sum((w - a) ** 2)).sum()

    with pytest.raises(ValueError, match="pass the data as arguments"):
        jax.grad(closed)(jnp.ones(2))

    # the closure in the penalty or the projection, not in fun: the message
    # named fun and, for projected_gradient, a penalty argument it lacks
    class PlainL1:  # no pytree: its strength is closed over
        def __init__(self, s):
            self.s = s

        def value(self, w):
            return self.s * jnp.sum(jnp.abs(w))

        def prox(self, w, step):
            return prox.soft_threshold(w, self.s * step)

    def least_squares(w, a):
        return 0.5 * jnp.sum((w - a) ** 2)

    a = jnp.array([1.0, 0.05])
    with pytest.raises(ValueError, match="the penalty.*register_dataclass"):
        jax.grad(
            lambda s: jr.proximal_gradient(
                least_squares, jnp.zeros(2), PlainL1(s), a
            ).params.sum()
        )(0.1)
    with pytest.raises(ValueError, match="the projection.*projection_args"):
        jax.grad(
            lambda hi: jr.projected_gradient(
                least_squares,
                jnp.zeros(2),
                lambda w: jr.projection_box(w, -1.0, hi),
                a,
            ).params.sum()
        )(0.5)
    # the same problem with a as an argument: soft-thresholding's derivative
    g = jax.grad(lambda a: solve(a, lambda w, a: 0.5 * jnp.sum((w - a) ** 2), a).sum())
    np.testing.assert_allclose(g(jnp.array([1.0, 0.05])), [1.0, 0.0], atol=1e-6)
    with pytest.raises(ValueError, match="schedule"):
        jr.proximal_gradient(
            lambda w: jnp.sum((w - 1) ** 2),
            jnp.zeros(2),
            jr.l1(optax.constant_schedule(0.1)),
        )

    # a user's penalty that is callable is no schedule: it solves as L1
    class CallableL1:
        def value(self, w):
            return 0.1 * jnp.sum(jnp.abs(w))

        def prox(self, w, step):
            return prox.soft_threshold(w, 0.1 * step)

        __call__ = value

    res = jr.proximal_gradient(
        lambda w: jnp.sum((w - 1) ** 2), jnp.zeros(2), CallableL1()
    )
    np.testing.assert_allclose(res.params, 0.95, rtol=1e-5)


def _small_lsq():
    rng = np.random.default_rng(0)
    X = jnp.asarray(rng.normal(size=(20, 5)), jnp.float32)
    y = jnp.asarray(rng.normal(size=20), jnp.float32)
    return (lambda w, X, y: 0.5 * jnp.mean((X @ w - y) ** 2)), X, y


def test_grad_of_an_unconverged_solve_warns_instead_of_raising():
    # outside jit the result's measures are traced under grad; reading them
    # for the warning raised a ConcretizationTypeError
    f, X, y = _small_lsq()

    def total(s):
        return jnp.sum(
            proximal_gradient(f, jnp.zeros(5), jr.l1(s), X, y, max_iter=2).params
        )

    with pytest.warns(ConvergenceWarning, match="did not converge or failed"):
        g = jax.grad(total)(0.01)
    np.testing.assert_allclose(g, jax.jit(jax.grad(total))(0.01), rtol=1e-6)


def test_traced_negative_simplex_value_fails_not_converges():
    f, X, y = _small_lsq()
    assert np.isnan(
        jax.jit(lambda v: prox.projection_simplex(jnp.ones(3), v))(-1.0)
    ).all()
    res = jax.jit(
        lambda v: projected_gradient(
            f, jnp.zeros(5), prox.projection_simplex, X, y, projection_args=(v,)
        )
    )(-1.0)
    assert bool(res.failed) and not bool(res.converged)


@pytest.mark.parametrize(
    "penalty, name",
    [
        (jr.penalties.L1(-1.0), "penalty.strength"),
        (jr.penalties.GroupLasso(-1.0, 0), "penalty.strength"),
        (jr.penalties.L1(1.0, weights=-jnp.ones(5)), "penalty.weights"),
        (jr.penalties.ElasticNet(1.0, 2.0), "penalty.l1_ratio"),
    ],
)
def test_penalty_class_built_directly_is_checked(penalty, name):
    # the factories check their arguments; the classes do not, and inside the
    # solver's jit a negative strength only gave failed=True with advice
    # about NaN in fun
    f, X, y = _small_lsq()
    with pytest.raises(ValueError, match=name):
        proximal_gradient(f, jnp.zeros(5), penalty, X, y)


def test_non_scalar_fun_is_a_value_error():
    f, X, y = _small_lsq()
    with pytest.raises(ValueError, match="has_aux, is not supported"):
        proximal_gradient(
            lambda w, X, y: (f(w, X, y), w), jnp.zeros(5), jr.l1(0.1), X, y
        )
    with pytest.raises(ValueError, match=r"fun must return a scalar .*\(20,\)"):
        proximal_gradient(
            lambda w, X, y: (X @ w - y) ** 2, jnp.zeros(5), jr.l1(0.1), X, y
        )


@pytest.mark.parametrize(
    "projection", [prox.projection_simplex, prox.projection_l1_ball]
)
def test_one_array_projections_refuse_a_tree(projection):
    with pytest.raises(ValueError, match="takes one array"):
        projection({"a": jnp.ones(3)})
