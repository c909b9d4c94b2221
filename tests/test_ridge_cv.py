"""RidgeCV (leave-one-out from one SVD) and RidgeClassifier
(jaxreg._ridge_cv) against scikit-learn."""

import jax
import numpy as np
import pytest
import scipy.sparse as sps
from sklearn import linear_model as sk
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from jaxreg._ridge_cv import ridge_loo
from jaxreg.linear_model import RidgeClassifier, RidgeCV
from tests.test_linear_model import run_sklearn_check, sklearn_checks

ALPHAS = np.logspace(-3, 3, 13)


@sklearn_checks([RidgeCV(), RidgeClassifier()])
def test_check_estimator(estimator, check):
    run_sklearn_check(estimator, check)


@pytest.fixture(scope="module")
def data():
    X, y = load_diabetes(return_X_y=True)
    Xp = PolynomialFeatures(3, include_bias=False).fit_transform(X)
    Xp = StandardScaler().fit_transform(Xp)
    Y = np.stack([y, 0.5 * y[::-1] + 3.0], axis=1)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, X.shape[0])
    return X, Xp, y, Y, sw


def test_loo_residuals_equal_refits():
    """The LOO residuals are those of n refits without sample i (a two-pass
    reference written out with numpy's lstsq)."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(25, 8)), rng.normal(size=25)
    s = rng.uniform(0.5, 2.0, 25)
    alpha = 0.7
    with jax.enable_x64(True):
        looe, _, _ = ridge_loo(X, y[:, None], [alpha], sample_weight=s)
    for i in range(25):
        keep = np.arange(25) != i
        A = np.c_[X[keep], np.ones(24)] * np.sqrt(s[keep])[:, None]
        A = np.r_[A, np.c_[np.sqrt(alpha) * np.eye(8), np.zeros(8)]]
        b = np.r_[y[keep] * np.sqrt(s[keep]), np.zeros(8)]
        coef = np.linalg.lstsq(A, b, rcond=None)[0]
        resid = y[i] - X[i] @ coef[:8] - coef[8]
        assert looe[0, i, 0] == pytest.approx(np.sqrt(s[i]) * resid, rel=1e-8)


CASES = [
    (design, kw)
    for design in ("raw", "poly", "wide")
    for kw in (
        {},
        {"alpha_per_target": True},
        {"scoring": "r2"},
        {"store_cv_results": True},
    )
] + [("raw", {"cv": 3})]  # GridSearchCV over our Ridge: one design suffices


@pytest.mark.parametrize(("design", "kw"), CASES, ids=str)
def test_matches_sklearn_float32(data, design, kw):
    X, Xp, y, Y, sw = data
    Xd = {"raw": X, "poly": Xp, "wide": Xp[:100]}[design]
    n = Xd.shape[0]
    for target in (y[:n], Y[:n]):
        for w in (None, sw[:n]):
            ours = RidgeCV(ALPHAS, **kw).fit(Xd, target, sample_weight=w)
            ref = sk.RidgeCV(ALPHAS, **kw).fit(Xd, target, sample_weight=w)
            np.testing.assert_array_equal(ours.alpha_, ref.alpha_)
            np.testing.assert_allclose(ours.best_score_, ref.best_score_, rtol=2e-4)
            assert ours.coef_.shape == ref.coef_.shape
            assert np.shape(ours.intercept_) == np.shape(ref.intercept_)
            np.testing.assert_allclose(
                ours.coef_, ref.coef_, atol=1e-5 * np.abs(ref.coef_).max()
            )
            if "store_cv_results" in kw:
                assert ours.cv_results_.shape == ref.cv_results_.shape
                # float32 LOO values: 1 - hᵢᵢ loses digits at small alpha;
                # on the rank-deficient wide design, alpha < 0.1 is beyond
                # float32 (checked in x64 by test_sparse_and_x64)
                keep = ALPHAS >= (0.1 if design == "wide" else 0.0)
                np.testing.assert_allclose(
                    ours.cv_results_[..., keep],
                    ref.cv_results_[..., keep],
                    rtol=1e-2,
                    atol=1e-4 * np.abs(ref.cv_results_).max(),
                )


@pytest.mark.parametrize("design", ["raw", "wide"])
def test_sparse_and_x64(data, design):
    X, Xp, y, _, sw = data
    if design == "wide":
        X, y, sw = Xp[:100], y[:100], sw[:100]
    with jax.enable_x64(True):
        ours = RidgeCV(ALPHAS, store_cv_results=True).fit(
            sps.csr_matrix(X), y, sample_weight=sw
        )
    ref = sk.RidgeCV(ALPHAS, store_cv_results=True).fit(X, y, sample_weight=sw)
    assert ours.alpha_ == ref.alpha_
    np.testing.assert_allclose(ours.cv_results_, ref.cv_results_, rtol=1e-6)
    np.testing.assert_allclose(
        ours.coef_, ref.coef_, rtol=1e-7, atol=1e-9 * np.abs(ref.coef_).max()
    )


def test_errors_like_sklearn(data):
    X, _, y, Y, _ = data
    for kw in (
        {"alphas": [0.0, 1.0]},
        {"cv": 3, "store_cv_results": True},
        {"cv": 3, "alpha_per_target": True},
        {"gcv_mode": "qr"},
    ):
        with pytest.raises(ValueError):
            RidgeCV(**kw).fit(X, Y)
        with pytest.raises(ValueError):
            sk.RidgeCV(**kw).fit(X, Y)


@pytest.mark.parametrize("name", ["iris", "breast_cancer"])
@pytest.mark.parametrize(
    "kw",
    [{}, {"class_weight": "balanced"}, {"solver": "svd", "alpha": 3.0}],
    ids=str,
)
def test_ridge_classifier_matches_sklearn(name, kw):
    X, y = {"iris": load_iris, "breast_cancer": load_breast_cancer}[name](
        return_X_y=True
    )
    X = StandardScaler().fit_transform(X)
    labels = np.array(["a", "b", "c"])[y]
    ref = sk.RidgeClassifier(**kw).fit(X, labels)
    ours = RidgeClassifier(**kw).fit(X, labels)  # float32
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    assert ours.coef_.shape == ref.coef_.shape
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-3)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    with jax.enable_x64(True):
        ours.fit(X, labels)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-8)
    np.testing.assert_allclose(
        ours.decision_function(X), ref.decision_function(X), rtol=1e-8, atol=1e-10
    )


def test_ridge_classifier_multilabel_and_one_class():
    X, y = load_iris(return_X_y=True)
    Yml = np.stack([y == 0, y == 2], axis=1).astype(int)
    ours = RidgeClassifier().fit(X, Yml)
    ref = sk.RidgeClassifier().fit(X, Yml)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    # one class: scikit-learn fits (all targets -1) and predicts that class
    one = np.full(len(y), 7)
    ours, ref = RidgeClassifier().fit(X, one), sk.RidgeClassifier().fit(X, one)
    assert ours.coef_.shape == ref.coef_.shape
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
