"""The residual-form working-set model of sparse designs (issue 11): the model
against the Gram matrix formed in numpy, and fits at a large support (working
sets of 1024 columns, where the solver uses the residual form) against
scikit-learn on the same sparse matrix and against our dense fits."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import linear_model as sk

import jaxreg as jr
from jaxreg.solvers import base, cd
from jaxreg.solvers.datafits import Quadratic
from jaxreg.solvers.design import GramModel, ResidualModel, SparseDesign

P0 = 1024  # one working-set bucket of 1024 columns: K·n > 2¹⁸, residual form


def _problem(seed=0, n=1000, d=3000):
    """Sparse (1 %) nonnegative X with one column of 300 nonzeros (longer
    than a chunk: its steps loop over chunks) and ~600 active features."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=0.01, random_state=seed, format="lil")
    X[rng.choice(n, 300, replace=False), 5] = 1.0
    X = X.tocsc()
    X.data = np.abs(rng.standard_normal(X.nnz)) + 0.1
    w = np.zeros(d)
    w[rng.choice(d, 300, replace=False)] = rng.standard_normal(300)
    y = X @ w + 0.5 * rng.standard_normal(n) + 1.0
    return X, y


@pytest.fixture(scope="module")
def data():
    return _problem()


def _weights(n):
    return np.random.default_rng(1).integers(0, 4, n).astype(float)


def test_residual_model_equals_numpy_gram_model_x64():
    """Centred columns, sample weights, Hessian weights h, a free intercept
    and a chunked column: every quantity of the residual model equals the
    one of H = X̃_Wᵀ diag(h) X̃_W formed densely in numpy, after a sequence
    of coordinate updates; CD on it reaches the same point as on the Gram
    matrix."""
    rng = np.random.default_rng(0)
    n = 120
    X = sp.random(n, 40, density=0.1, random_state=0, format="lil")
    X[:100, 3] = 2.0  # 100 > 64 nonzeros: chunks of 16, several per step
    X = X.tocsc()
    with jax.enable_x64(True):
        problem = base.prepare(
            X,
            rng.standard_normal(n),
            Quadratic,
            fit_intercept=True,
            sample_weight=rng.random(n),
        )
        design = dataclasses.replace(problem.design, gram_max=0)
        assert isinstance(design, SparseDesign) and design.max_chunks > 1
        Xc = X.toarray() - np.asarray(design.xbar)[None, :]
        ws = np.array([3, 0, 7, 39, 12, 5, 20, 21, 33, 1, 8, 9])
        XW = np.concatenate([Xc[:, ws], np.ones((n, 1))], axis=1)
        h = rng.random(n)
        H = XW.T @ (h[:, None] * XW)
        model = design.ws_model(design.ws_block(jnp.asarray(ws), True), jnp.asarray(h))
        assert isinstance(model, ResidualModel)
        np.testing.assert_allclose(model.hdiag, np.diag(H), rtol=1e-12)

        x0 = rng.standard_normal(13)
        carry = model.start(jnp.asarray(x0))
        x = x0.copy()
        for j in [0, 3, 12, 5, 0, 11, 12]:  # 0: the chunked column, 12: intercept
            t = rng.standard_normal()
            carry = model.coord_set(carry, j, x[j] + t, jnp.asarray(t))
            x[j] += t
            xj, hd = model.coord_read(carry, j)
            assert float(xj) == pytest.approx(x[j], rel=1e-12)
            assert float(hd) == pytest.approx((H @ (x - x0))[j], rel=1e-10)
        delta = x - x0
        np.testing.assert_allclose(model.coefs(carry), x, rtol=1e-12)
        np.testing.assert_allclose(model.hdelta(carry), H @ delta, rtol=1e-10)
        np.testing.assert_allclose(
            model.predictor(carry, jnp.asarray(delta)), XW @ delta, rtol=1e-10
        )
        assert float(model.quad(carry, jnp.asarray(delta))) == pytest.approx(
            delta @ H @ delta, rel=1e-10
        )
        r = rng.standard_normal(n)
        np.testing.assert_allclose(model.rmatvec(jnp.asarray(r)), XW.T @ r)

        g = jnp.asarray(XW.T @ (h * rng.standard_normal(n)))
        pen = jr.l1(0.01, weights=jnp.ones(12))
        start = jnp.zeros(13)
        x_res = cd._model_cd(model, g, start, pen, 1e-13, 5000)[0]
        x_gram = cd._model_cd(
            GramModel(None, jnp.asarray(H)), g, start, pen, 1e-13, 5000
        )[0]
        np.testing.assert_allclose(x_res, x_gram, atol=1e-9)


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
def test_large_support_lasso_matches_sklearn_and_dense_x64(data, weighted):
    X, y = data
    sw = _weights(len(y)) if weighted else None
    alpha = 0.003
    ref = sk.Lasso(alpha=alpha, tol=1e-12, max_iter=100_000)
    ref.fit(X, y, sample_weight=sw)
    assert np.count_nonzero(ref.coef_) > 400  # a large support
    with jax.enable_x64(True):
        sparse = jr.lasso(X, y, alpha, sample_weight=sw, tol=1e-12, p0=P0)
        dense = jr.lasso(X.toarray(), y, alpha, sample_weight=sw, tol=1e-12, p0=P0)
    assert bool(sparse.converged)
    np.testing.assert_allclose(sparse.coef, ref.coef_, atol=1e-7)
    assert float(sparse.intercept) == pytest.approx(ref.intercept_, abs=1e-7)
    np.testing.assert_allclose(sparse.coef, dense.coef, atol=1e-8)


def test_large_support_lasso_float32_matches_sklearn(data):
    """float32 (the default) with sample weights: sklearn's float64 optimum
    to float32 accuracy, and the dense float32 fit."""
    X, y = data
    sw = _weights(len(y))
    ref = sk.Lasso(alpha=0.003, tol=1e-12, max_iter=100_000)
    ref.fit(X, y, sample_weight=sw)
    X32 = X.astype(np.float32)
    sparse = jr.lasso(X32, y, 0.003, sample_weight=sw, tol=1e-6, p0=P0)
    dense = jr.lasso(X32.toarray(), y, 0.003, sample_weight=sw, tol=1e-6, p0=P0)
    assert sparse.coef.dtype == jnp.float32 and bool(sparse.converged)
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(sparse.coef, ref.coef_, atol=2e-3 * scale)
    np.testing.assert_allclose(sparse.coef, dense.coef, atol=2e-3 * scale)


def test_large_support_logistic_sparse_equals_dense_x64(data):
    """L1 logistic regression with intercept and sample weights: the
    residual model with curvature weights σ(u)(1 - σ(u)) and the intercept's
    column of ones gives the dense fit's coefficients."""
    X, y = data
    labels = y > np.median(y)
    sw = _weights(len(y))
    with jax.enable_x64(True):
        sparse = jr.logistic_regression(
            X, labels, 2e-4, sample_weight=sw, tol=1e-10, p0=P0
        )
        dense = jr.logistic_regression(
            X.toarray(), labels, 2e-4, sample_weight=sw, tol=1e-10, p0=P0
        )
    assert np.count_nonzero(np.asarray(sparse.coef)) > 400
    np.testing.assert_allclose(sparse.coef, dense.coef, atol=1e-6)
    assert float(sparse.intercept) == pytest.approx(float(dense.intercept), abs=1e-6)
