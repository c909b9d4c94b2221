"""``jaxreg.linear_model.lasso_path`` / ``enet_path`` (and the estimators'
``path``) against scikit-learn's: same grid, same solutions, same shapes,
warnings and errors."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sps
from sklearn import linear_model as sk
from sklearn.datasets import make_regression

from jaxreg import linear_model as jr
from jaxreg.solvers.path import path

TIGHT = dict(tol=1e-12, max_iter=100_000)  # scikit-learn's reference solves


@pytest.fixture(scope="module")
def data():
    X, y = make_regression(80, 12, n_informative=6, noise=5.0, random_state=0)
    X = X + np.random.default_rng(1).normal(size=X.shape) * 0.1
    Y = np.stack([y, 0.5 * y[::-1] + 3.0], axis=1)
    return X, y, Y


def _close(ours, ref):
    # float32 and a gap-based stop: ~1e-3 of the largest coefficient (the
    # objectives agree far closer, test_enet_path_matches_sklearn)
    scale = np.abs(ref).max()
    np.testing.assert_allclose(ours, ref, atol=1e-3 * scale)


def _objective(X, y, coefs, alphas, rho):
    r = y[:, None] - X @ coefs
    return (
        (r**2).sum(0) / (2 * X.shape[0])
        + alphas * rho * np.abs(coefs).sum(0)
        + alphas * (1 - rho) / 2 * (coefs**2).sum(0)
    )


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
@pytest.mark.parametrize("sparse", [False, True])
def test_enet_path_matches_sklearn(data, l1_ratio, sparse):
    X, y, _ = data
    if sparse:
        X = sps.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))
    a_ref, c_ref, g_ref = sk.enet_path(X, y, l1_ratio=l1_ratio, alphas=20, **TIGHT)
    a, c, g = jr.enet_path(X, y, l1_ratio=l1_ratio, alphas=20, tol=1e-6)
    np.testing.assert_allclose(a, a_ref, rtol=1e-12)
    assert c.shape == c_ref.shape == (12, 20) and c.dtype == c_ref.dtype
    assert g.shape == g_ref.shape and g.dtype == np.float64
    _close(c, c_ref)
    # within the stopping rule gap <= tol·P(0) of scikit-learn's tight optimum
    excess = _objective(X, y, c, a, l1_ratio) - _objective(X, y, c_ref, a, l1_ratio)
    assert np.all(excess <= 1e-6 * (y @ y) / (2 * len(y)))


def test_lasso_path_defaults_and_positive(data):
    X, y, _ = data
    a_ref, c_ref, _ = sk.lasso_path(X, y, eps=1e-2, positive=True, **TIGHT)
    a, c, _ = jr.lasso_path(X, y, eps=1e-2, positive=True, tol=1e-6)
    assert a.shape == (100,)
    np.testing.assert_allclose(a, a_ref, rtol=1e-12)
    assert np.all(c >= 0)
    _close(c, c_ref)


@pytest.mark.parametrize("n_targets", [1, 2])
def test_multi_output_is_the_multitask_problem(data, n_targets):
    X, _, Y = data
    Y = Y[:, :n_targets]  # 2-D even with one column: scikit-learn's multi-task path
    a_ref, c_ref, _ = sk.enet_path(X, Y, l1_ratio=0.8, alphas=10, **TIGHT)
    a, c, _, n_iter = jr.enet_path(
        X, Y, l1_ratio=0.8, alphas=10, tol=1e-6, return_n_iter=True
    )
    np.testing.assert_allclose(a, a_ref, rtol=1e-12)
    assert c.shape == c_ref.shape == (n_targets, 12, 10)
    _close(c, c_ref)
    assert isinstance(n_iter, list) and len(n_iter) == 10
    assert all(isinstance(k, int) for k in n_iter)


def test_given_alphas_and_Xy(data):
    X, y, _ = data
    alphas = [0.5, 30.0, 3.0]
    a_ref, c_ref, _ = sk.lasso_path(X, y, alphas=alphas, **TIGHT)
    a, c, _ = jr.lasso_path(X, y, alphas=alphas, tol=1e-6)
    np.testing.assert_array_equal(a, [30.0, 3.0, 0.5])  # solved decreasing
    _close(c, c_ref)
    # a given Xy sets the grid's top, as in scikit-learn
    Xy = 3.0 * (X.T @ y)
    a_ref, _, _ = sk.lasso_path(X, y, Xy=Xy, alphas=5, precompute=X.T @ X)
    a, _, _ = jr.lasso_path(X, y, Xy=Xy, alphas=5, precompute=X.T @ X)
    np.testing.assert_allclose(a, a_ref, rtol=1e-12)
    np.testing.assert_allclose(a[0], np.abs(Xy).max() / X.shape[0], rtol=1e-12)


@pytest.mark.parametrize("n_targets", [0, 2])
def test_empty_alphas_give_empty_results_as_sklearn(data, n_targets):
    X, y, _ = data
    Y = y if n_targets == 0 else np.stack([y] * n_targets, axis=1)
    ref = sk.enet_path(X, Y, alphas=[], return_n_iter=True)
    out = jr.enet_path(X, Y, alphas=[], return_n_iter=True)
    for ours, theirs in zip(out, ref, strict=True):
        assert np.shape(ours) == np.shape(theirs)
    assert out[1].dtype == ref[1].dtype and out[2].dtype == ref[2].dtype


def test_estimators_path_is_sklearns():
    for name in (
        "Lasso",
        "ElasticNet",
        "MultiTaskLasso",
        "MultiTaskElasticNet",
        "LassoCV",
        "ElasticNetCV",
        "MultiTaskLassoCV",
        "MultiTaskElasticNetCV",
    ):
        ours, ref = getattr(jr, name).path, getattr(sk, name).path
        assert ours is getattr(jr, ref.__name__), name


def test_coef_init_warm_starts(data):
    X, y, _ = data
    a, c, _, n_iter = jr.lasso_path(
        X, y, alphas=[2.0, 1.0], tol=1e-6, return_n_iter=True
    )
    assert n_iter[0] > 0
    _, c2, _, n_iter2 = jr.lasso_path(
        X, y, alphas=[2.0, 1.0], tol=1e-6, coef_init=c[:, 0], return_n_iter=True
    )
    assert n_iter2[0] == 0  # started at the first alpha's solution
    _close(c2, c)


def test_random_selection_unpermutes(data):
    X, y, Y = data
    _, c, _ = jr.enet_path(X, y, alphas=5, tol=1e-6)
    _, c_rand, _ = jr.enet_path(
        X, y, alphas=5, tol=1e-6, selection="random", random_state=0
    )
    _close(c_rand, c)
    _, C, _ = jr.enet_path(X, Y, alphas=5, tol=1e-6)
    _, C_rand, _ = jr.enet_path(
        X, Y, alphas=5, tol=1e-6, selection="random", random_state=0
    )
    _close(C_rand, C)


def test_deprecated_alphas_warn_as_sklearn(data):
    X, y, _ = data
    for kwargs, n in ((dict(n_alphas=7), 7), (dict(alphas=None), 100)):
        for fn in (sk.lasso_path, jr.lasso_path):
            with pytest.warns(FutureWarning, match="deprecated"):
                a, _, _ = fn(X, y, **kwargs)
            assert a.shape == (n,)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jr.lasso_path(X, y, alphas=3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(positive=True, multi=True), "positive=True is not allowed"),
        (dict(l1_ratio=0.0), "l1_ratio=0"),
        (dict(l1_ratio=1.5), "l1_ratio"),
        (dict(eps=0.0), "eps"),
        (dict(alphas=0), "alphas"),
        (dict(alphas=[-1.0]), "alphas"),
        (dict(bogus=1), "Unexpected parameters"),
        (dict(sample_weight=np.ones(80)), "internal parameter"),
        (dict(coef_init=np.zeros(3)), "coef_init"),
        (dict(precompute=np.eye(3)), "precompute"),
        (dict(selection="sorted"), "selection"),
    ],
)
def test_errors(data, kwargs, match):
    X, y, Y = data
    target = Y if kwargs.pop("multi", False) else y
    with pytest.raises(ValueError, match=match):
        jr.enet_path(X, target, **kwargs)


def test_solver_path_coef_init_checks(data):
    X, y, _ = data
    with pytest.raises(ValueError, match="coef_init must have shape"):
        path(X, y, coef_init=np.zeros(3))
    with pytest.raises(ValueError, match="batched"):
        path(X, y, coef_init=np.zeros(12), batched=True)
