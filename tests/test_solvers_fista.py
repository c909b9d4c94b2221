"""FISTA (jaxreg.solvers.fista): batched L1/L2 and group-Lasso regression."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxreg import elastic_net, group_lasso, l1
from jaxreg.solvers import base, fista
from jaxreg.solvers.datafits import Quadratic
from jaxreg.solvers.glm import enet


def _data(n=60, d=24, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = np.zeros(d)
    w[:6] = [3.0, -2.0, 1.5, 1.0, -1.0, 0.5]
    return X, X @ w + 0.5 * rng.standard_normal(n) + 1.0


def test_batched_fista_equals_cd_x64():
    X, y = _data()
    lams = np.array([0.5, 0.1, 0.02])
    with jax.enable_x64(True):
        problem = base.prepare(X, y, Quadratic, fit_intercept=True)
        datafit = problem.datafit
        p0 = datafit.value(jnp.zeros_like(datafit.y))
        W, _, gaps, _ = fista.solve_batched(
            problem.design,
            datafit,
            elastic_net(1.0, 0.8),
            jnp.asarray(lams),
            1e-12 * p0,
            fit_intercept=False,
            max_iter=20_000,
        )
        for k, lam in enumerate(lams):
            ref = enet(X, y, lam, 0.8, tol=1e-13)
            np.testing.assert_allclose(
                np.asarray(W[k]),
                np.asarray(ref.coef),
                atol=1e-5 * np.abs(ref.coef).max(),
            )
        assert np.all(np.asarray(gaps) <= 1e-12 * float(p0))


def test_group_lasso_kkt_x64():
    """Optimality checked independently in numpy: on each group g,
    ||X_gᵀr/n|| <= s if W_g = 0, else X_gᵀr/n = s·W_g/||W_g||."""
    X, y = _data(d=24)
    s = 0.3
    with jax.enable_x64(True):
        res = fista.group_lasso_regression(
            X,
            y,
            group_lasso(s, axis=1),
            coef_shape=(8, 3),
            tol=1e-13,
            max_iter=50_000,
        )
        w = np.asarray(res.coef)
    Xc, yc = X - X.mean(0), y - y.mean()
    g = (Xc.T @ (yc - Xc @ w) / X.shape[0]).reshape(8, 3)
    W = w.reshape(8, 3)
    norms = np.linalg.norm(W, axis=1)
    assert 0 < (norms > 0).sum() < 8  # some groups in, some out
    for k in range(8):
        if norms[k] > 0:
            np.testing.assert_allclose(g[k], s * W[k] / norms[k], atol=1e-6)
        else:
            assert np.linalg.norm(g[k]) <= s + 1e-9
    assert float(res.intercept) == pytest.approx(y.mean() - X.mean(0) @ w)


def test_group_lasso_size_one_groups_is_lasso():
    """Groups of one feature: the group Lasso is the Lasso (float32)."""
    X, y = _data()
    res = fista.group_lasso_regression(
        X, y, group_lasso(0.1, axis=1), coef_shape=(24, 1), tol=1e-6
    )
    ref = enet(X, y, 0.1, 1.0, tol=1e-6)
    np.testing.assert_allclose(np.asarray(res.coef), np.asarray(ref.coef), atol=1e-3)


def test_group_lasso_bad_input():
    X, y = _data()
    with pytest.raises(ValueError, match="GroupLasso"):
        fista.group_lasso_regression(X, y, l1(0.1))
    with pytest.raises(ValueError, match="coef_shape"):
        fista.group_lasso_regression(X, y, group_lasso(0.1), coef_shape=(5, 5))
