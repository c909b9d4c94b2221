"""LassoCV, ElasticNetCV, MultiTaskLassoCV, MultiTaskElasticNetCV
(jaxreg._path_cv) against scikit-learn: same grid, same folds, same choice."""

import jax
import numpy as np
import pytest
import scipy.sparse as sps
from sklearn import linear_model as sk
from sklearn.datasets import load_diabetes
from sklearn.model_selection import KFold

from jaxreg.linear_model import (
    ElasticNetCV,
    LassoCV,
    MultiTaskElasticNetCV,
    MultiTaskLassoCV,
)
from tests.test_linear_model import run_sklearn_check, sklearn_checks


# LassoCV's checks run in test_linear_model.py; ElasticNetCV shares its code
# and passes too (checked once by hand: 8 more minutes of compiling)
@sklearn_checks([MultiTaskElasticNetCV(alphas=3, cv=2)])
def test_check_estimator(estimator, check):
    run_sklearn_check(estimator, check)


@pytest.fixture(scope="module")
def data():
    X, y = load_diabetes(return_X_y=True)
    Y = np.stack([y, 0.5 * y[::-1] + 3.0], axis=1)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, X.shape[0])
    return X, y, Y, sw


def _compare(ours, ref, *, mse_rtol, coef_atol, grid_rtol=1e-12):
    # the same grid point (float32 X rounds the grid in the 8th digit)
    assert ours.alpha_ == pytest.approx(ref.alpha_, rel=grid_rtol)
    assert getattr(ours, "l1_ratio_", None) == getattr(ref, "l1_ratio_", None)
    np.testing.assert_allclose(ours.alphas_, ref.alphas_, rtol=grid_rtol)
    assert ours.mse_path_.shape == ref.mse_path_.shape
    np.testing.assert_allclose(ours.mse_path_, ref.mse_path_, rtol=mse_rtol)
    assert ours.coef_.shape == ref.coef_.shape
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=coef_atol * scale)
    assert np.shape(ours.intercept_) == np.shape(ref.intercept_)
    assert np.shape(ours.dual_gap_) == np.shape(ref.dual_gap_)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
def test_single_output_match_sklearn_x64(data, weighted, sparse):
    X, y, _, sw = data
    Xin = sps.csc_matrix(X) if sparse else X
    w = sw if weighted else None
    cv = KFold(4, shuffle=True, random_state=0)
    with jax.enable_x64(True):
        for ours, ref in [
            (
                LassoCV(alphas=30, cv=cv, tol=1e-12, max_iter=1000),
                sk.LassoCV(alphas=30, cv=cv, tol=1e-13, max_iter=10**6),
            ),
            (
                ElasticNetCV(
                    l1_ratio=[0.2, 0.7, 1.0], alphas=20, cv=3, tol=1e-12, max_iter=1000
                ),
                sk.ElasticNetCV(
                    l1_ratio=[0.2, 0.7, 1.0], alphas=20, cv=3, tol=1e-13, max_iter=10**6
                ),
            ),
        ]:
            ours.fit(Xin, y, sample_weight=w)
            ref.fit(Xin, y, sample_weight=w)
            _compare(ours, ref, mse_rtol=1e-6, coef_atol=1e-6)


def test_single_output_float32_defaults(data):
    """float32, default tol: same selected alpha and grid, MSE path to 1e-3."""
    X, y, _, _ = data
    ours = ElasticNetCV(l1_ratio=0.8, tol=1e-6).fit(X.astype(np.float32), y)
    ref = sk.ElasticNetCV(l1_ratio=0.8, tol=1e-10, max_iter=10**5).fit(X, y)
    _compare(ours, ref, mse_rtol=1e-3, coef_atol=2e-3, grid_rtol=1e-7)
    assert ours.coef_.dtype == np.float32


def test_explicit_alphas_sorted_and_positive(data):
    X, y, _, _ = data
    alphas = [0.5, 0.01, 0.1, 0.05]
    with jax.enable_x64(True):
        ours = LassoCV(alphas=alphas, positive=True, cv=3, tol=1e-12).fit(X, y)
    ref = sk.LassoCV(alphas=alphas, positive=True, cv=3, tol=1e-13).fit(X, y)
    np.testing.assert_array_equal(ours.alphas_, [0.5, 0.1, 0.05, 0.01])
    _compare(ours, ref, mse_rtol=1e-6, coef_atol=1e-6)
    assert ours.coef_.min() >= 0


@pytest.mark.parametrize("weighted", [False, True])
def test_multitask_match_sklearn_x64(data, weighted):
    X, _, Y, sw = data
    w = sw if weighted else None
    with jax.enable_x64(True):
        for ours, ref in [
            (
                MultiTaskLassoCV(alphas=8, cv=3, tol=1e-12),
                sk.MultiTaskLassoCV(alphas=8, cv=3, tol=1e-13, max_iter=10**6),
            ),
            (
                MultiTaskElasticNetCV(l1_ratio=[0.3, 0.9], alphas=6, cv=3, tol=1e-12),
                sk.MultiTaskElasticNetCV(
                    l1_ratio=[0.3, 0.9], alphas=6, cv=3, tol=1e-13, max_iter=10**6
                ),
            ),
        ]:
            ours.fit(X, Y, sample_weight=w)
            ref.fit(X, Y, sample_weight=w)
            _compare(ours, ref, mse_rtol=1e-6, coef_atol=1e-6)


def test_errors_like_sklearn(data):
    X, y, Y, _ = data
    cases = [
        (LassoCV(cv=3), sk.LassoCV(cv=3), X, Y),  # multi-task y
        (MultiTaskLassoCV(cv=3), sk.MultiTaskLassoCV(cv=3), X, y),  # 1-D y
        (ElasticNetCV(l1_ratio=0.0), sk.ElasticNetCV(l1_ratio=0.0), X, y),
    ]
    for ours, ref, Xb, yb in cases:
        with pytest.raises(ValueError) as got:
            ours.fit(Xb, yb)
        with pytest.raises(ValueError) as want:
            ref.fit(Xb, yb)
        assert str(got.value)[:30] == str(want.value)[:30]


@pytest.mark.parametrize(
    "name",
    ["LassoCV", "MultiTaskElasticNetCV", "RidgeCV", "LogisticRegressionCV"],
)
def test_fit_params_need_metadata_routing_as_in_sklearn(data, name):
    """``fit(X, y, groups=...)``: scikit-learn's ValueError without metadata
    routing; with it, the groups reach the splitter (the same folds as an
    explicit split), and a splitter that does not take them (``KFold``)
    raises scikit-learn's TypeError."""
    import sklearn
    from sklearn.model_selection import GroupKFold

    import jaxreg.linear_model as jl

    X, y, Y, _ = data
    X, y, Y = X[:120], y[:120], Y[:120]
    target = {"MultiTaskElasticNetCV": Y, "LogisticRegressionCV": y > np.median(y)}
    yy = target.get(name, y)
    logistic = dict(
        l1_ratios=(0.0,), scoring="neg_log_loss", use_legacy_attributes=False
    )
    kw = logistic if name == "LogisticRegressionCV" else {}
    groups = np.arange(len(yy)) // 10
    with pytest.raises(ValueError) as want:
        getattr(sk, name)(**kw).fit(X, yy, groups=groups)
    with pytest.raises(ValueError) as got:
        getattr(jl, name)(**kw).fit(X, yy, groups=groups)
    assert str(got.value) == str(want.value)

    attr = "C_" if name == "LogisticRegressionCV" else "alpha_"
    folds = list(GroupKFold(3).split(X, yy, groups))
    explicit = getattr(jl, name)(cv=folds, **kw).fit(X, yy)
    with sklearn.config_context(enable_metadata_routing=True):
        routed = getattr(jl, name)(cv=GroupKFold(3), **kw).fit(X, yy, groups=groups)
    np.testing.assert_array_equal(getattr(routed, attr), getattr(explicit, attr))
    np.testing.assert_allclose(routed.coef_, explicit.coef_)
    # with routing, what the splitter does not request: scikit-learn's TypeError
    with sklearn.config_context(enable_metadata_routing=True):
        with pytest.raises(TypeError) as want:
            getattr(sk, name)(cv=3, **kw).fit(X, yy, groups=groups)
        with pytest.raises(TypeError) as got:
            getattr(jl, name)(cv=3, **kw).fit(X, yy, groups=groups)
    assert str(got.value) == str(want.value)
