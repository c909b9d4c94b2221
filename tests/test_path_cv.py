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
from jaxreg.solvers.path import cross_validate
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


@pytest.mark.parametrize(
    "weighted, sparse", [(False, False), (True, False), (True, True)]
)
def test_multitask_match_sklearn_x64(data, weighted, sparse):
    """All folds in one program (sample weights with zeros on held-out rows;
    a dense X centred with each fold's means, a sparse one with a free
    intercept group) against scikit-learn's fold-by-fold fits (on the dense
    X: its multi-task models take no sparse input)."""
    X, _, Y, sw = data
    w = sw if weighted else None
    Xin = sps.csr_matrix(X) if sparse else X
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
            ours.fit(Xin, Y, sample_weight=w)
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
    ["LassoCV", "MultiTaskLassoCV", "RidgeCV", "RidgeClassifier", "PoissonRegressor"],
)
def test_a_negative_sample_weight_is_refused_naming_the_callers_array(data, name):
    # RidgeCV's leave-one-out returned NaN coefficients, and the multi-task
    # CV named a fold's training weights instead of the caller's array
    import jaxreg.linear_model as jl

    X, y, Y, sw = data
    X, y, Y, sw = X[:60], y[:60], Y[:60], sw[:60].copy()
    sw[5] = -1.0
    target = {"MultiTaskLassoCV": Y, "RidgeClassifier": y > np.median(y)}
    kw = {"cv": 3, "alphas": 5} if name.endswith("LassoCV") else {}
    with pytest.raises(ValueError, match="sample_weight must be finite and >= 0") as e:
        getattr(jl, name)(**kw).fit(X, target.get(name, y), sample_weight=sw)
    # the caller's array, not a fold's normalized training weights
    assert "shape (60,) with 1 entry that fails (the first at index 5: -1.0)" in str(
        e.value
    )


def test_attribute_types_and_empty_alphas_like_sklearn(data):
    X, y, Y, _ = data
    X, y, Y = X[:90], y[:90], Y[:90]
    for ours, ref, target in [
        (ElasticNetCV, sk.ElasticNetCV, y),
        (MultiTaskElasticNetCV, sk.MultiTaskElasticNetCV, Y),
    ]:
        kw = dict(alphas=4, cv=3, l1_ratio=[0.5, 1.0], eps=0.1)
        got = ours(**kw).fit(X, target)
        want = ref(**kw).fit(X, target)
        assert type(got.l1_ratio_) is type(want.l1_ratio_)
        assert type(got.alpha_) is type(want.alpha_)
        # an empty grid: a ValueError naming alphas (MultiTaskLassoCV raised
        # an IndexError, LassoCV named the solver's 'lambdas')
        with pytest.raises(ValueError, match="alphas must be"):
            ours(alphas=[], cv=3).fit(X, target)


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


def test_solve_folds_takes_one_grid_per_fold():
    # each fold's path at its own λ grid equals that fold solved alone
    from jaxreg.solvers.base import prepare
    from jaxreg.solvers.datafits import Logistic
    from jaxreg.solvers.glm import elastic_net_penalty
    from jaxreg.solvers.path import fold_weights, solve_folds

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 6))
    y = (X[:, 0] + rng.logistic(size=80) > 0).astype(float)
    problem = prepare(X, y, Logistic, fit_intercept=True)
    splits = list(KFold(3).split(X))
    A, _ = fold_weights(splits, None, 80, np.float32)
    lams = np.array([[0.2, 0.05, 0.01], [0.1, 0.03, 0.003], [0.3, 0.2, 0.1]])
    pen = elastic_net_penalty(1.0, 1.0)
    kw = dict(fit_intercept=True, tol=1e-8, max_iter=100)
    W, B = solve_folds(problem, pen, lams, A, **kw)[:2]
    for f in range(3):
        W_f, B_f = solve_folds(problem, pen, lams[f], A[f : f + 1], **kw)[:2]
        np.testing.assert_allclose(W[f], W_f[0], atol=1e-5)
        np.testing.assert_allclose(B[f], B_f[0], atol=1e-5)
    assert np.count_nonzero(np.asarray(W[1, 2])) > np.count_nonzero(np.asarray(W[2, 2]))
    with pytest.raises(ValueError, match=r"lambdas must have shape \(L,\) or \(3, L\)"):
        solve_folds(problem, pen, lams[:2], A, **kw)


def test_splits_that_repeat_rows_count_each_copy_once_x64():
    """Bootstrap-style splits (a row listed several times in a part): each
    copy is one sample, as refits on ``X[train]`` scored on ``X[test]`` count
    them (scikit-learn's, written out). A held-out row listed m times
    counted m² times (mse_path_ 691 for 403)."""
    rng = np.random.default_rng(0)
    n, d = 60, 8
    X = rng.standard_normal((n, d))
    y = X[:, 0] + rng.standard_normal(n)
    y[50] += 30  # an outlier, repeated in every held-out part
    splits = []
    for k in range(3):
        te = np.r_[np.arange(40 + 5 * k, 45 + 5 * k), [50] * 4]
        tr = np.r_[np.setdiff1d(np.arange(n), te), [3] * 3]
        splits.append((tr, te))
    alphas = [1.0, 0.3, 0.1, 0.03]
    Y = np.c_[y, rng.standard_normal(n)]

    def expected(model, target):
        mse = np.empty((4, 3))
        for k, (tr, te) in enumerate(splits):
            for i, alpha in enumerate(alphas):
                fit = model(alpha=alpha, tol=1e-12).fit(X[tr], target[tr])
                mse[i, k] = np.mean((fit.predict(X[te]) - target[te]) ** 2)
        return mse

    with jax.enable_x64(True):
        ours = LassoCV(alphas=alphas, cv=splits, tol=1e-10).fit(X, y)
        tasks = MultiTaskLassoCV(alphas=alphas, cv=splits, tol=1e-10).fit(X, Y)
        direct = cross_validate(X, y, lambdas=alphas, cv=splits, tol=1e-10)
    lasso = expected(sk.Lasso, y)
    np.testing.assert_allclose(ours.mse_path_, lasso, rtol=1e-6)
    np.testing.assert_allclose(direct.scores, lasso, rtol=1e-6)
    np.testing.assert_allclose(
        tasks.mse_path_, expected(sk.MultiTaskLasso, Y), rtol=1e-6
    )


def test_a_cv_without_splits_raises_everywhere():
    # a generator used up by an earlier fit gives no folds:
    # LogisticRegressionCV fitted zero folds and chose its first C (1e-4, all
    # coefficients near 0) silently; LassoCV failed in an argmax,
    # MultiTaskLassoCV with an IndexError
    from jaxreg.linear_model import LogisticRegressionCV, MultiTaskLassoCV, RidgeCV

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    y = X[:, 0] + 0.1 * rng.normal(size=40)
    kfold = KFold(3)
    used = kfold.split(X)
    sk.LassoCV(cv=used, alphas=3).fit(X, y)  # consumes it, as a user's first fit
    fits = [
        lambda cv: LassoCV(cv=cv, alphas=3).fit(X, y),
        lambda cv: MultiTaskLassoCV(cv=cv, alphas=3).fit(X, np.c_[y, y]),
        lambda cv: LogisticRegressionCV(
            Cs=3,
            cv=cv,
            l1_ratios=(0,),
            scoring="neg_log_loss",
            use_legacy_attributes=False,
        ).fit(X, y > 0),
        lambda cv: RidgeCV(cv=cv).fit(X, y),
        lambda cv: cross_validate(X, y, n_lambdas=3, cv=cv),
    ]
    for fit in fits:
        for cv in ([], used):
            with pytest.raises(ValueError, match="Was the CV iterator empty"):
                fit(cv)
        fit(list(kfold.split(X)))  # the same folds listed: fine


@pytest.mark.parametrize("est", ["LassoCV", "ElasticNetCV"])
def test_refit_starts_at_the_folds_working_set_size_x64(monkeypatch, est):
    """The refit on all data starts at the folds' working-set size
    (cd.path_bucket), not 64: alpha_ is often small, and each doubling on the
    way would compile another program; the refit is still scikit-learn's."""
    from sklearn.datasets import make_regression

    from jaxreg.linear_model import ElasticNetCV as OurENetCV
    from jaxreg.solvers import cd

    X, y = make_regression(100, 300, n_informative=40, noise=5.0, random_state=1)
    seen = []
    original = cd._solve_bucket

    def spy(K, *args):
        seen.append(K)
        return original(K, *args)

    monkeypatch.setattr(cd, "_solve_bucket", spy)
    kw = dict(alphas=20, cv=KFold(3), tol=1e-8)
    if est == "ElasticNetCV":
        kw["l1_ratio"] = 0.9
    with jax.enable_x64(True):  # tol=1e-8 is below float32's reach
        ours = (LassoCV if est == "LassoCV" else OurENetCV)(**kw).fit(X, y)
    # min(n, d) = 100 -> 128 (an iterate from 0 at a small alpha may still
    # outgrow it, as here; from 64 it compiled one more program)
    assert seen[0] == 128 and 64 not in seen
    ref = getattr(sk, est)(**kw, max_iter=100_000).fit(X, y)
    assert ours.alpha_ == pytest.approx(ref.alpha_, rel=1e-6)
    assert (ref.coef_ != 0).sum() > 56  # the solution outgrows 64's bucket
    np.testing.assert_allclose(
        ours.coef_, ref.coef_, atol=1e-3 * np.abs(ref.coef_).max()
    )
