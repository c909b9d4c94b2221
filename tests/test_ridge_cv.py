"""RidgeCV (leave-one-out from one SVD), RidgeClassifier and
RidgeClassifierCV (jaxreg._ridge_cv) against scikit-learn."""

import jax
import numpy as np
import pytest
import scipy.sparse as sps
from sklearn import linear_model as sk
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.exceptions import UnsetMetadataPassedError
from sklearn.metrics import get_scorer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from jaxreg._ridge_cv import ridge_loo
from jaxreg.linear_model import RidgeClassifier, RidgeClassifierCV, RidgeCV
from tests.test_linear_model import run_sklearn_check, sklearn_checks

ALPHAS = np.logspace(-3, 3, 13)


@sklearn_checks([RidgeCV(), RidgeClassifier(), RidgeClassifierCV()])
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


@pytest.mark.parametrize("zero_weight", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_loo_of_a_wide_design_in_float32(fit_intercept, zero_weight):
    """n <= d at float32 (the default) and small alphas: the LOO errors equal
    those of explicit refits (numpy, float64). float32 left 1e-7 of noise in
    1 - hᵢᵢ ≈ alpha/σ² ≈ 1e-11 here: the LOO error came out 0 for 84 and
    alpha_ was the smallest alpha. A row of weight 0 is no row (the review
    found it brought the noise back)."""
    rng = np.random.default_rng(0)
    n, d = 30, 100
    X = 100 * rng.normal(size=(n, d))
    y = X[:, :5] @ rng.normal(size=5) / 100 + rng.normal(size=n)
    s = np.ones(n)
    if zero_weight:
        s[7] = 0.0
    alphas = np.logspace(-6, 6, 7)
    ours = RidgeCV(alphas, fit_intercept=fit_intercept, store_cv_results=True)
    ours.fit(X.astype(np.float32), y.astype(np.float32), sample_weight=s)
    expected = np.empty(len(alphas))
    for k, alpha in enumerate(alphas):
        errors = []
        for i in np.flatnonzero(s):
            keep = (np.arange(n) != i) & (s > 0)
            Xk, yk = X[keep], y[keep]
            x_off = Xk.mean(0) if fit_intercept else np.zeros(d)
            y_off = yk.mean() if fit_intercept else 0.0
            Xc = Xk - x_off
            gram = Xc @ Xc.T + alpha * np.eye(len(yk))
            w = Xc.T @ np.linalg.solve(gram, yk - y_off)
            errors.append(y[i] - (X[i] - x_off) @ w - y_off)
        expected[k] = np.mean(np.square(errors))
    loo = ours.cv_results_[s > 0].mean(axis=0)
    np.testing.assert_allclose(loo, expected, rtol=1e-3)
    assert ours.alpha_ == alphas[np.argmin(expected)]


CASES = [
    (design, kw)
    for design in ("raw", "poly", "wide")
    for kw in (
        {},
        {"alpha_per_target": True},
        {"scoring": "r2"},
        {"store_cv_results": True},
        {"cv": 3},
        {"cv": KFold(4, shuffle=True, random_state=0), "scoring": "r2"},
    )
]


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
                # float32 LOO values, every alpha: on the wide design (n <=
                # d) 1 - hᵢᵢ ≈ alpha/σ² is resolved (the projection on what
                # neither Z nor the intercept spans is exactly 0)
                np.testing.assert_allclose(
                    ours.cv_results_,
                    ref.cv_results_,
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


def _min_norm_ridge(X, y, s, alpha, fit_intercept):
    """numpy reference: ``Σ sᵢ(yᵢ - xᵢᵀw - b)² + alpha||w||²`` by lstsq on
    the weighted centred system with ``√alpha·I`` rows appended (the
    minimum-norm solution at ``alpha = 0``)."""
    xm = s @ X / s.sum() if fit_intercept else np.zeros(X.shape[1])
    ym = s @ y / s.sum() if fit_intercept else 0.0
    r = np.sqrt(s)[:, None]
    A = np.r_[r * (X - xm), np.sqrt(alpha) * np.eye(X.shape[1])]
    b = np.r_[r[:, 0] * (y - ym), np.zeros(X.shape[1])]
    w = np.linalg.lstsq(A, b, rcond=None)[0]
    return w, ym - xm @ w


@pytest.mark.parametrize("shape", [(60, 8), (30, 50)], ids=["tall", "wide"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ridge_folds_equal_fits_on_each_folds_rows_x64(shape, sparse, fit_intercept):
    """Every weighting × alpha of the one compiled program equals the fit on
    that fold's rows alone (numpy lstsq; alpha = 0: minimum norm)."""
    from jaxreg.solvers.ridge import ridge_folds

    rng = np.random.default_rng(0)
    n, d = shape
    X = rng.normal(size=(n, d)) + 3.0 * (np.arange(d) == 0)
    X[rng.uniform(size=X.shape) < 0.3] = 0.0
    Y = rng.normal(size=(n, 2))
    sw = rng.uniform(0.5, 2.0, n)
    S = np.stack([sw * (np.arange(n) % 3 != k) for k in range(3)] + [sw])
    alphas = [0.0, 0.1, 3.0]
    with jax.enable_x64(True):
        coef, intercept = ridge_folds(
            sps.csr_matrix(X) if sparse else X,
            Y,
            S,
            alphas,
            fit_intercept=fit_intercept,
        )
    assert coef.shape == (4, 3, 2, d) and intercept.shape == (4, 3, 2)
    for bad in (np.zeros((1, n)), -S[:1]):  # no positive weight, negative ones
        with pytest.raises(ValueError, match="S\\[0\\] must be sample weights"):
            ridge_folds(X, Y, bad, alphas)
    for f in range(4):
        rows = S[f] > 0
        for i, alpha in enumerate(alphas):
            for t in range(2):
                w, b = _min_norm_ridge(
                    X[rows], Y[rows, t], S[f, rows], alpha, fit_intercept
                )
                np.testing.assert_allclose(coef[f, i, t], w, rtol=1e-8, atol=1e-10)
                np.testing.assert_allclose(intercept[f, i, t], b, atol=1e-10)


def test_cv_sparse_routing_and_column_y_like_sklearn(data):
    """``RidgeCV(cv=...)``: a sparse ``X`` gives the dense fit; a ``(n, 1)``
    ``y`` keeps scikit-learn's shapes; with metadata routing the sample
    weights reach the R² of each fold (scikit-learn's ``RidgeCV`` requests
    them) but not a scorer that declines them (one that neither requests
    nor declines them raises), as in scikit-learn; without routing both take
    them."""
    import sklearn

    X, Xp, y, _, sw = data
    Xs = sps.csr_matrix(np.where(np.abs(Xp) > 1.0, Xp, 0.0))
    dense = RidgeCV(ALPHAS, cv=4).fit(Xs.toarray(), y, sample_weight=sw)
    sparse = RidgeCV(ALPHAS, cv=4).fit(Xs, y, sample_weight=sw)
    ref = sk.RidgeCV(ALPHAS, cv=4).fit(Xs.toarray(), y, sample_weight=sw)
    assert sparse.alpha_ == dense.alpha_ == ref.alpha_
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sparse.best_score_, ref.best_score_, rtol=1e-4)

    ours = RidgeCV(ALPHAS, cv=3).fit(X, y[:, None])
    ref = sk.RidgeCV(ALPHAS, cv=3).fit(X, y[:, None])
    assert ours.coef_.shape == ref.coef_.shape
    assert np.shape(ours.intercept_) == np.shape(ref.intercept_)
    assert ours.coef_.dtype == ref.coef_.dtype

    mse = get_scorer("neg_mean_squared_error")
    with sklearn.config_context(enable_metadata_routing=True):
        for est in (RidgeCV, sk.RidgeCV):  # the scorer's request unset
            with pytest.raises(UnsetMetadataPassedError):
                est(ALPHAS, cv=3, scoring=mse).fit(X, y, sample_weight=sw)
        declined = mse.set_score_request(sample_weight=False)
    for scoring in (None, declined):
        with sklearn.config_context(enable_metadata_routing=True):
            ours = RidgeCV(ALPHAS, cv=3, scoring=scoring).fit(X, y, sample_weight=sw)
            ref = sk.RidgeCV(ALPHAS, cv=3, scoring=scoring).fit(X, y, sample_weight=sw)
        unrouted = RidgeCV(ALPHAS, cv=3, scoring=scoring).fit(X, y, sample_weight=sw)
        assert ours.alpha_ == ref.alpha_
        np.testing.assert_allclose(ours.best_score_, ref.best_score_, rtol=1e-5)
        np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-4, atol=1e-4)
        if scoring is not None:  # the scorer declined them: unweighted MSE
            assert abs(ours.best_score_ - unrouted.best_score_) > 1e-3 * abs(
                unrouted.best_score_
            )


def test_user_inputs_like_sklearn():
    """What scikit-learn users pass, each against scikit-learn itself:
    features on very different scales (float32 must keep the small one),
    a scalar sample_weight (uniform weights, not none), folds with negative
    indices and held-out rows of weight 0, a scorer that reads the fitted
    model, COO input, integer alphas (``alpha_``'s dtype), no intercept
    (``intercept_ == 0.0``), and an empty fold iterator."""
    rng = np.random.default_rng(0)
    n = 200
    X = np.c_[
        rng.uniform(20, 80, n), rng.uniform(1e4, 1e5, n), rng.uniform(0.01, 0.1, n)
    ]
    y = X @ [0.5, 1e-4, 100.0] + rng.normal(size=n)
    alphas = np.logspace(-3, 3, 7)
    for cv in (None, 5):
        ours = RidgeCV(alphas, cv=cv).fit(X, y)
        ref = sk.RidgeCV(alphas, cv=cv).fit(X, y)
        assert ours.alpha_ == ref.alpha_
        np.testing.assert_allclose(ours.best_score_, ref.best_score_, rtol=1e-5)
        np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-4)

    Xs, ys = X[:80] / X[:80].std(axis=0), y[:80]
    for cv in (None, 4):
        ours = RidgeCV(alphas, cv=cv).fit(Xs, ys, sample_weight=2.0)
        full = RidgeCV(alphas, cv=cv).fit(Xs, ys, sample_weight=np.full(80, 2.0))
        assert ours.alpha_ == full.alpha_
        np.testing.assert_allclose(ours.coef_, full.coef_)
    ref = sk.RidgeCV(alphas).fit(Xs, ys, sample_weight=2.0)
    ours = RidgeCV(alphas).fit(Xs, ys, sample_weight=2.0)
    assert ours.alpha_ == ref.alpha_
    np.testing.assert_allclose(ours.best_score_, ref.best_score_, rtol=1e-5)

    sw = np.ones(80)
    sw[:20] = 0.0  # the first fold's held-out rows
    folds = [(np.arange(20, 80), -np.arange(61, 81))] + list(KFold(4).split(Xs))[1:]

    def l1_and_error(est, X_test, y_test):  # reads the fitted model
        return (
            -np.abs(est.predict(X_test) - y_test).mean()
            - 1e-3 * np.abs(est.coef_).sum()
        )

    fits = []
    for est in (RidgeCV, sk.RidgeCV):  # both warn that the scorer takes no weights
        with pytest.warns(UserWarning, match="does not support sample_weight"):
            fits.append(
                est(alphas, cv=folds, scoring=l1_and_error).fit(
                    Xs, ys, sample_weight=sw
                )
            )
    ours, ref = fits
    assert ours.alpha_ == ref.alpha_
    np.testing.assert_allclose(ours.best_score_, ref.best_score_, rtol=1e-5)

    ours = RidgeCV([1, 10, 100], cv=3, fit_intercept=False).fit(sps.coo_matrix(Xs), ys)
    ref = sk.RidgeCV([1, 10, 100], cv=3, fit_intercept=False).fit(Xs, ys)
    assert ours.alpha_ == ref.alpha_ and type(ours.alpha_) is type(ref.alpha_)
    assert ours.intercept_ == ref.intercept_ == 0.0
    assert type(ours.intercept_) is type(ref.intercept_)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-4)
    for cv in (None, 3):
        Y2 = np.c_[ys, -ys]
        ours = RidgeCV(alphas, cv=cv, fit_intercept=False).fit(Xs, Y2)
        ref = sk.RidgeCV(alphas, cv=cv, fit_intercept=False).fit(Xs, Y2)
        assert type(ours.intercept_) is type(ref.intercept_)

    for est in (RidgeCV(alphas, cv=[]), sk.RidgeCV(alphas, cv=[])):
        with pytest.raises(ValueError, match="No fits were performed"):
            est.fit(Xs, ys)
    import sklearn

    with sklearn.config_context(enable_metadata_routing=True):
        errors = []
        for est in (RidgeCV(alphas), sk.RidgeCV(alphas)):  # leave-one-out
            with pytest.raises(TypeError) as got:
                est.fit(Xs, ys, groups=np.arange(80) // 20)
            errors.append(str(got.value))
    assert errors[0] == errors[1]


def test_best_score_type_like_sklearn(data):
    X, _, y, _, _ = data
    for cv in (None, 3):
        ours, ref = RidgeCV(cv=cv).fit(X, y), sk.RidgeCV(cv=cv).fit(X, y)
        assert type(ours.best_score_) is type(ref.best_score_)
        assert type(ours.alpha_) is type(ref.alpha_)


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


@pytest.mark.parametrize("cv", [None, 3])
def test_empty_alphas_raise(data, cv):
    """No alpha to choose from is an error naming alphas (scikit-learn fits
    NaN coefficients with alpha_ None; this raised numpy's argmax error)."""
    X, _, y, _, _ = data
    with pytest.raises(ValueError, match="alphas must hold at least one"):
        RidgeCV(alphas=[], cv=cv).fit(X, y)


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


@pytest.mark.parametrize("name", ["iris", "breast_cancer"])
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"store_cv_results": True, "alphas": [1e-3, 0.1, 10.0, 1e3]},
        {"class_weight": "balanced"},
        {"cv": 3},  # stratified, as scikit-learn's search splits a classifier
        {"cv": StratifiedKFold(4, shuffle=True, random_state=0), "alphas": ALPHAS},
        {"cv": 3, "class_weight": "balanced", "fit_intercept": False},
    ],
    ids=str,
)
@pytest.mark.parametrize("sparse", [False, True])
def test_ridge_classifier_cv_matches_sklearn(name, kw, sparse):
    """The same alpha_, best_score_, coefficients, shapes and predictions as
    scikit-learn's RidgeClassifierCV, with string labels and sample
    weights. scikit-learn fits a sparse X by conjugate gradients at its
    tol (1e-4), less exactly, so the reference is always its dense fit."""
    X, y = {"iris": load_iris, "breast_cancer": load_breast_cancer}[name](
        return_X_y=True
    )
    X = StandardScaler().fit_transform(X)
    Xin = sps.csr_matrix(X) if sparse else X
    labels = np.array(["a", "b", "c"])[y]
    sw = np.random.default_rng(0).uniform(0.5, 2.0, X.shape[0])
    ref = sk.RidgeClassifierCV(**kw).fit(X, labels, sample_weight=sw)
    ours = RidgeClassifierCV(**kw).fit(Xin, labels, sample_weight=sw)
    assert ours.alpha_ == ref.alpha_
    assert type(ours.alpha_) is type(ref.alpha_)
    np.testing.assert_allclose(ours.best_score_, ref.best_score_, rtol=1e-4)
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    assert ours.coef_.shape == ref.coef_.shape
    assert np.shape(ours.intercept_) == np.shape(ref.intercept_)
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-4 * scale)
    np.testing.assert_array_equal(ours.predict(Xin), ref.predict(X))
    if "store_cv_results" in kw:
        assert ours.cv_results_.shape == ref.cv_results_.shape
        np.testing.assert_allclose(ours.cv_results_, ref.cv_results_, atol=1e-3)


def test_ridge_classifier_cv_binary_scoring_reads_the_sign():
    """Two classes with a scoring at cv=None: each alpha's score is the
    accuracy of the leave-one-out predictions, here from explicit refits
    of scikit-learn's RidgeClassifier without each row (scikit-learn's own
    search takes the single column's arg-max, 1.0 for every alpha)."""
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)[::5]
    y = y[::5]
    alphas = [1e-2, 1.0, 1e2]
    loo = []
    for alpha in alphas:
        hits = [
            sk.RidgeClassifier(alpha)
            .fit(np.delete(X, i, 0), np.delete(y, i))
            .predict(X[i : i + 1])[0]
            == y[i]
            for i in range(len(y))
        ]
        loo.append(np.mean(hits))
    ours = RidgeClassifierCV(alphas, scoring="accuracy").fit(X, y)
    assert ours.best_score_ == pytest.approx(max(loo))
    assert ours.alpha_ == alphas[int(np.argmax(loo))]


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


def test_ridge_classifier_refuses_string_features_like_sklearn():
    # scikit-learn's RidgeClassifier validates X as 'numeric' (its Ridge
    # converts numeric strings): the same ValueError and message
    X = np.array([["1", "2"], ["3", "4"], ["5", "7"], ["2", "1"]])
    y = np.array([0, 1, 1, 0])
    errors = []
    for est in (RidgeClassifier(), sk.RidgeClassifier()):
        with pytest.raises(ValueError) as got:
            est.fit(X, y)
        errors.append(str(got.value))
    assert errors[0] == errors[1]
    # numbers held as objects still convert, as scikit-learn's do
    Xo = X.astype(float).astype(object)
    np.testing.assert_allclose(
        RidgeClassifier().fit(Xo, y).coef_,
        sk.RidgeClassifier().fit(Xo, y).coef_,
        rtol=1e-5,
    )
