"""Gradients through the linear-model solvers (jaxreg/solvers/hypergrad.py).

Every gradient is checked against central finite differences of the solved
problem (re-solved at ``θ ± h`` to a duality gap of 1e-13·P(0), in float64),
at random points where the support does not change between ``θ - h`` and
``θ + h``; ridge against its closed-form Jacobian.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxreg as jr
from jaxreg.solvers import fit, group_lasso

TOL = 1e-13
H = 1e-6


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _problem(seed, n=40, d=15, k=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X[:, :k] @ rng.normal(size=k) + 0.3 * rng.normal(size=n) + 2.0
    return X, y, rng


def _functional(rng, d):
    """A random linear functional of (coef, intercept): a scalar to differentiate."""
    a, c = rng.normal(size=d), rng.normal()
    return lambda res: jnp.dot(a, res.coef) + c * res.intercept


def _fd(f, x, direction, h=H):
    return (f(x + h * direction) - f(x - h * direction)) / (2 * h)


def _support(res):
    return tuple(np.flatnonzero(np.asarray(res.coef)))


@pytest.mark.parametrize("seed", range(3))
def test_lasso_gradient_in_lam_weights_X_y_matches_finite_differences(x64, seed):
    X, y, rng = _problem(seed)
    d = X.shape[1]
    value = _functional(rng, d)
    lam_max = np.max(np.abs((X - X.mean(0)).T @ (y - y.mean()))) / len(y)
    lam = lam_max * rng.uniform(0.05, 0.3)
    pf = rng.uniform(0.5, 1.5, size=d)

    def solve(lam, pf, X, y):
        return jr.lasso(X, y, lam, penalty_factor=pf, tol=TOL)

    supports = {_support(solve(lam * s, pf, X, y)) for s in (1 - 1e-4, 1 + 1e-4)}
    assert len(supports) == 1 and len(next(iter(supports))) > 0

    def f(*args):
        return value(solve(*args))

    g_lam, g_pf, g_X, g_y = jax.grad(f, argnums=(0, 1, 2, 3))(lam, pf, X, y)
    np.testing.assert_allclose(
        g_lam, _fd(lambda t: f(t, pf, X, y), lam, 1.0), rtol=1e-5
    )
    v = rng.normal(size=d)
    np.testing.assert_allclose(
        jnp.dot(g_pf, v), _fd(lambda p: f(lam, p, X, y), pf, v), rtol=1e-5, atol=1e-9
    )
    V = rng.normal(size=X.shape)
    np.testing.assert_allclose(
        jnp.sum(g_X * V), _fd(lambda M: f(lam, pf, M, y), X, V), rtol=1e-5
    )
    u = rng.normal(size=len(y))
    np.testing.assert_allclose(
        jnp.dot(g_y, u), _fd(lambda t: f(lam, pf, X, t), y, u), rtol=1e-5
    )
    # zero off the support (the generalized Jacobian): weights of zero
    # coefficients do not move the solution
    off = np.setdiff1d(np.arange(d), next(iter(supports)))
    np.testing.assert_array_equal(np.asarray(g_pf)[off], 0.0)


@pytest.mark.parametrize("seed", range(2))
def test_enet_gradient_in_lam_and_l1_ratio_matches_finite_differences(x64, seed):
    X, y, rng = _problem(seed + 10)
    value = _functional(rng, X.shape[1])

    def f(lam, rho):
        penalty = jr.elastic_net(lam, rho)
        return value(fit(X, y, penalty, tol=TOL))

    lam, rho = 0.2, 0.6
    g_lam, g_rho = jax.grad(f, argnums=(0, 1))(lam, rho)
    np.testing.assert_allclose(g_lam, _fd(lambda t: f(t, rho), lam, 1.0), rtol=1e-5)
    np.testing.assert_allclose(g_rho, _fd(lambda r: f(lam, r), rho, 1.0), rtol=1e-5)
    # enet(...) is the same function
    g_enet = jax.grad(lambda t: value(jr.enet(X, y, t, rho, tol=TOL)))(lam)
    np.testing.assert_allclose(g_enet, g_lam, rtol=1e-8)


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_logistic_gradient_in_lam_and_X_matches_finite_differences(x64, l1_ratio):
    X, y, rng = _problem(3)
    labels = y > np.median(y)
    value = _functional(rng, X.shape[1])

    def f(lam, X):
        return value(jr.logistic_regression(X, labels, lam, l1_ratio=l1_ratio, tol=TOL))

    lam = 0.02
    g_lam, g_X = jax.grad(f, argnums=(0, 1))(lam, X)
    np.testing.assert_allclose(g_lam, _fd(lambda t: f(t, X), lam, 1.0), rtol=1e-4)
    V = rng.normal(size=X.shape)
    np.testing.assert_allclose(
        jnp.sum(g_X * V), _fd(lambda M: f(lam, M), X, V), rtol=1e-4
    )


def test_logistic_labels_cannot_be_differentiated():
    X, y, _ = _problem(0)
    with pytest.raises(ValueError, match="labels"):
        jax.grad(lambda t: jr.logistic_regression(X, t, 0.1).coef.sum())(
            (y > 0).astype(np.float32)
        )


def test_sample_weight_cannot_be_traced():
    # under jit or vmap it was reported as "cannot be differentiated" (ridge:
    # JAX's TracerArrayConversionError), though nothing was differentiated
    X, y, _ = _problem(0)
    sw = np.ones(len(y))
    for transform in (jax.grad, jax.jit, jax.vmap):
        for solver in (jr.lasso, jr.ridge):
            fn = transform(lambda s, f=solver: f(X, y, 0.1, sample_weight=s).coef.sum())
            with pytest.raises(ValueError, match="close over a numpy array"):
                fn(sw[None] if transform is jax.vmap else sw)
    # closed over, it is a constant: the fit is differentiable in lam
    g = jax.grad(lambda t: jr.lasso(X, y, t, sample_weight=sw).coef.sum())(0.1)
    assert np.isfinite(g)


def test_group_lasso_gradient_in_lam_group_weights_and_X(x64):
    X, y, rng = _problem(5)
    value = _functional(rng, X.shape[1])
    labels = np.arange(15) % 5  # interleaved groups: exercises the layout

    def f(lam, gw, X):
        return value(group_lasso(X, y, lam, labels, group_weights=gw, tol=TOL))

    lam, gw = 0.3, rng.uniform(0.5, 1.5, size=5)
    g_lam, g_gw, g_X = jax.grad(f, argnums=(0, 1, 2))(lam, gw, X)
    np.testing.assert_allclose(g_lam, _fd(lambda t: f(t, gw, X), lam, 1.0), rtol=1e-5)
    v = rng.normal(size=5)
    np.testing.assert_allclose(
        jnp.dot(g_gw, v), _fd(lambda c: f(lam, c, X), gw, v), rtol=1e-5, atol=1e-9
    )
    V = rng.normal(size=X.shape)
    np.testing.assert_allclose(
        jnp.sum(g_X * V), _fd(lambda M: f(lam, gw, M), X, V), rtol=1e-5
    )


def test_group_lasso_under_jit_raises():
    X, y, _ = _problem(0)
    with pytest.raises(ValueError, match="jit"):
        jax.jit(lambda t: group_lasso(X, y, t, 3).coef)(0.1)


def test_ridge_jacobian_matches_closed_form(x64):
    X, y, _ = _problem(7)
    n, lam = len(y), 0.3
    Xc = X - X.mean(0)
    A = Xc.T @ Xc / n + lam * np.eye(X.shape[1])
    w = np.linalg.solve(A, Xc.T @ (y - y.mean()) / n)
    # w(y) = A⁻¹ Xcᵀ (y - ȳ) / n, w(λ) = A(λ)⁻¹ b: dw/dλ = -A⁻¹ w
    J_y = jax.jacrev(lambda t: fit(X, t, jr.l2(lam), tol=TOL).coef)(y)
    np.testing.assert_allclose(J_y, np.linalg.solve(A, Xc.T) / n, atol=1e-9)
    J_lam = jax.jacrev(lambda t: fit(X, y, jr.l2(t), tol=TOL).coef)(lam)
    # the solution itself is accurate to ~sqrt(gap): 1e-6 relative
    np.testing.assert_allclose(J_lam, -np.linalg.solve(A, w), rtol=1e-5)


@pytest.mark.parametrize("sparse", [False, True])
def test_ridge_is_differentiable_and_jittable(x64, sparse):
    """jax.grad through jr.ridge raised JAX's ConcretizationTypeError (dense)
    or 'Reverse-mode differentiation does not work for lax.while_loop' (CG),
    and jit TracerBoolConversionError: traced, it is the L2 fit (found by a
    user-style audit)."""
    import scipy.sparse as sp

    X, y, _ = _problem(7)
    n, lam = len(y), 0.3
    Xc = X - X.mean(0)
    A = Xc.T @ Xc / n + lam * np.eye(X.shape[1])
    w = np.linalg.solve(A, Xc.T @ (y - y.mean()) / n)
    Xin = sp.csr_matrix(X) if sparse else X
    J = jax.jacrev(lambda t: jr.ridge(Xin, y, t, tol=TOL).coef)(lam)
    np.testing.assert_allclose(J, -np.linalg.solve(A, w), rtol=1e-5)
    coef = jax.jit(lambda t: jr.ridge(Xin, y, t, tol=TOL).coef)(lam)
    np.testing.assert_allclose(coef, w, atol=1e-6)  # FISTA's budget under jit


def test_gradient_at_a_kink_is_finite_and_one_sided(x64):
    # Bisect for a strength where a coordinate enters the Lasso support.
    X, y, rng = _problem(1)
    value = _functional(rng, X.shape[1])
    lo, hi = 0.05, 0.5
    s_lo, s_hi = (
        _support(jr.lasso(X, y, lo, tol=TOL)),
        _support(jr.lasso(X, y, hi, tol=TOL)),
    )
    assert s_lo != s_hi
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if _support(jr.lasso(X, y, mid, tol=TOL)) == s_hi:
            hi = mid
        else:
            lo = mid

    def f(t):
        return value(jr.lasso(X, y, t, tol=TOL))

    g = float(jax.grad(f)(hi))
    left = _fd(f, lo - 1e-4, 1.0)  # derivative just below the kink
    right = _fd(f, hi + 1e-4, 1.0)  # just above
    assert np.isfinite(g)
    assert not np.isclose(left, right, rtol=1e-3)  # it is a kink
    assert min(abs(g - left), abs(g - right)) <= 1e-2 * max(abs(left), abs(right))


def test_under_jit_and_vmap_the_fista_forward_agrees(x64):
    X, y, rng = _problem(2)
    value = _functional(rng, X.shape[1])

    def f(t):
        return value(jr.lasso(X, y, t, tol=1e-10))

    lam = 0.15
    eager = jax.grad(f)(lam)
    np.testing.assert_allclose(jax.jit(jax.grad(f))(lam), eager, rtol=1e-4)
    lams = jnp.array([0.1, 0.2])
    batched = jax.vmap(lambda t: jr.lasso(X, y, t, tol=1e-10).coef)(lams)
    for lam_, coef in zip(lams, batched, strict=True):
        ref = jr.lasso(X, y, float(lam_), tol=1e-12).coef
        np.testing.assert_allclose(coef, ref, atol=1e-6)


@pytest.mark.parametrize("shift", [0.0, 10.0])
def test_under_jit_a_logistic_fit_on_shifted_features_converges(shift):
    # the traced FISTA ran on the uncentred X beside a free intercept: at
    # features shifted by 10 its step 1/L shrank with the means, and 10000
    # steps ended 2.3 off the eager coefficients (converged False, and no
    # warning can leave a jit); the design is centred now, as the eager fit's
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8))
    y = (X[:, 0] - X[:, 1] + 0.5 * rng.normal(size=300) > 0).astype(float)
    Xs = X + shift
    ref = jr.logistic_regression(Xs, y, 0.01, tol=1e-8)
    traced = jax.jit(lambda t: jr.logistic_regression(Xs, y, t))(0.01)
    assert bool(traced.converged)
    np.testing.assert_allclose(traced.coef, ref.coef, atol=5e-3)
    # the same model as on the unshifted features: only the intercept moves
    np.testing.assert_allclose(
        traced.intercept,
        ref.intercept,
        atol=5e-3 * (1 + np.abs(ref.coef).sum() * shift),
    )


@pytest.mark.parametrize("power", [1.0, 1.5, 2.0])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_under_jit_and_vmap_a_log_link_glm_agrees(x64, power, fit_intercept):
    # the Tweedie family has no conjugate and no global curvature bound:
    # jit/vmap raised NotImplementedError in the batched FISTA's gap; they
    # now run the line-search proximal gradient
    rng = np.random.default_rng(4)
    X = rng.normal(size=(60, 6))
    y = rng.poisson(np.exp(0.4 * X[:, 0] - 0.3 * X[:, 1])) + 0.5 * (power >= 2)
    datafit = jr.solvers.datafits.Tweedie.with_power(power)
    value = _functional(rng, X.shape[1])

    def solve(t, tol=1e-11):
        return fit(
            X, y, jr.l1(t), datafit=datafit, fit_intercept=fit_intercept, tol=tol
        )

    lam = 0.03
    ref = solve(lam, 1e-13)  # eager: the working-set prox-Newton solver
    traced = jax.jit(solve)(lam)
    assert bool(traced.converged)
    assert _support(traced) == _support(ref) != ()
    np.testing.assert_allclose(traced.coef, ref.coef, atol=1e-6)
    np.testing.assert_allclose(traced.intercept, ref.intercept, atol=1e-6)
    grad = jax.jit(jax.grad(lambda t: value(solve(t))))(lam)
    np.testing.assert_allclose(
        grad, _fd(lambda t: value(solve(t, 1e-13)), lam, 1.0), rtol=1e-4
    )
    lams = jnp.array([0.03, 0.06])
    batched = jax.vmap(lambda t: solve(t).coef)(lams)
    np.testing.assert_allclose(batched[1], solve(0.06, 1e-13).coef, atol=1e-6)


def test_a_traced_l1_ratio_keeps_the_elastic_net(x64):
    # jit(enet) with a traced l1_ratio raised TracerBoolConversionError (the
    # check for the pure-L1 case read its value); at ratio 1 it is the lasso
    X, y, _ = _problem(3)
    ratios = jnp.array([0.5, 1.0])
    batched = jax.jit(jax.vmap(lambda r: jr.enet(X, y, 0.1, r, tol=1e-10).coef))(ratios)
    for r, coef in zip(ratios, batched, strict=True):
        ref = jr.enet(X, y, 0.1, float(r), tol=1e-12).coef
        np.testing.assert_allclose(coef, ref, atol=1e-6)
    np.testing.assert_allclose(
        batched[1], jr.lasso(X, y, 0.1, tol=1e-12).coef, atol=1e-6
    )


def test_float32_gradient_is_close_to_float64():
    X, y, rng = _problem(4)
    value = _functional(rng, X.shape[1])

    def f(t):
        return value(jr.lasso(X, y, t, tol=1e-7))

    g32 = jax.grad(f)(0.2)
    assert g32.dtype == jnp.float32
    with jax.enable_x64(True):
        g64 = jax.grad(lambda t: value(jr.lasso(X, y, t, tol=TOL)))(0.2)
    np.testing.assert_allclose(g32, g64, rtol=2e-3)


def test_sparse_X_and_positive_lasso_gradient_matches_finite_differences(x64):
    import scipy.sparse as sp

    X, y, rng = _problem(6)
    X[np.abs(X) < 0.7] = 0.0  # about half the entries
    Xs = sp.csc_matrix(X)
    value = _functional(rng, X.shape[1])

    def f(lam):
        return value(jr.lasso(Xs, y, lam, positive=True, tol=TOL))

    lam = 0.1
    g = jax.grad(f)(lam)
    np.testing.assert_allclose(g, _fd(f, lam, 1.0), rtol=1e-5)
    dense = jax.grad(lambda t: value(jr.lasso(X, y, t, positive=True, tol=TOL)))(lam)
    np.testing.assert_allclose(g, dense, rtol=1e-8)


@pytest.mark.parametrize("fmt", ["csr", "bcoo"])
def test_sparse_X_under_jit(x64, fmt):
    """A sparse X closed over by a jitted fit raised JAX's
    TracerBoolConversionError (the finiteness check read a staged flag),
    though eager grad and vmap worked (found by a user-style audit)."""
    import scipy.sparse as sp
    from jax.experimental import sparse as jsparse

    X, y, rng = _problem(6)
    X[np.abs(X) < 0.7] = 0.0
    Xs = sp.csr_matrix(X) if fmt == "csr" else jsparse.BCOO.fromdense(X)
    value = _functional(rng, X.shape[1])

    def f(lam, X):
        return value(jr.lasso(X, y, lam, tol=1e-10))

    def jitted(fun, X):  # X closed over, as a user's jitted step does
        return jax.jit(lambda lam: fun(lambda t: f(t, X))(lam))

    lam = 0.1
    eager = jax.grad(f)(lam, X)
    np.testing.assert_allclose(jitted(jax.grad, Xs)(lam), eager, rtol=1e-4)
    np.testing.assert_allclose(jitted(lambda g: g, Xs)(lam), f(lam, X), rtol=1e-6)
    X[0, 0] = np.nan
    Xs = sp.csr_matrix(X) if fmt == "csr" else jsparse.BCOO.fromdense(X)
    with pytest.raises(ValueError, match="NaN"):
        jitted(lambda g: g, Xs)(lam)
