"""LogisticRegressionCV against scikit-learn 1.9's, on the same folds:
breast_cancer (binary, CD path) and iris (multinomial, FISTA vmapped over
folds); the grid, ``C_``, scores, paths and coefficients; L1 and elastic
net; sample_weight, class_weight, sparse and float32 input; refit=False;
both attribute layouts; scikit-learn's warnings and errors; check_estimator.

Grids are small and data sets few: every new shape compiles the solvers.
"""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn import linear_model as sk
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import StandardScaler

from jaxreg.linear_model import LogisticRegressionCV
from tests.test_linear_model import run_sklearn_check, sklearn_checks

EXPLICIT = dict(scoring="neg_log_loss", use_legacy_attributes=True)


@sklearn_checks(
    [
        LogisticRegressionCV(
            Cs=[0.1, 1.0],
            cv=3,
            l1_ratios=(0.0,),
            scoring="neg_log_loss",
            use_legacy_attributes=False,
        )
    ]
)
def test_check_estimator(estimator, check):
    run_sklearn_check(estimator, check, tol=1e-6, max_iter=1000)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _reference(**kw):
    """scikit-learn's estimator at a tight tolerance (its ConvergenceWarning
    where saga stops at max_iter is irrelevant: its answer is compared)."""
    kw.setdefault("tol", 1e-10)
    kw.setdefault("max_iter", 10_000)
    return sk.LogisticRegressionCV(**kw)


def _fit_reference(ref, X, y, **fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return ref.fit(X, y, **fit)


def _assert_same_layout(ours, ref):
    """Every fitted attribute: same type, shape and dtype (dicts: same keys)."""
    names = [
        "classes_",
        "coef_",
        "intercept_",
        "Cs_",
        "l1_ratios_",
        "coefs_paths_",
        "scores_",
        "C_",
        "l1_ratio_",
        "n_iter_",
        "n_features_in_",
    ]
    for name in names:
        a, b = getattr(ours, name), getattr(ref, name)
        assert type(a) is type(b), name
        if isinstance(b, dict):
            assert list(a) == list(b), name
            a, b = a[next(iter(b))], b[next(iter(b))]
        assert np.shape(a) == np.shape(b), name
        if isinstance(b, np.ndarray) and name != "n_iter_":
            assert a.dtype == b.dtype, name


def _paths_close(ours, ref, cs_axis, rtol):
    """Paths per ``C``: within ``rtol`` of the largest coefficient there."""
    for c in range(ours.shape[cs_axis]):
        a, b = np.take(ours, c, cs_axis), np.take(ref, c, cs_axis)
        np.testing.assert_allclose(a, b, atol=rtol * np.abs(b).max())


def test_binary_l2_matches_sklearn(cancer):
    """The default grid (Cs=4: 1e-4 ... 1e4), stratified 3 folds from an int;
    same C_, scores within 1e-3, paths within 1e-3 of their scale."""
    X, y = cancer
    kw = dict(Cs=4, cv=3, l1_ratios=(0,), **EXPLICIT)
    ref = _fit_reference(_reference(**kw), X, y)
    ours = LogisticRegressionCV(**kw, tol=1e-6, max_iter=1000).fit(X, y)
    _assert_same_layout(ours, ref)
    np.testing.assert_array_equal(ours.Cs_, ref.Cs_)
    np.testing.assert_array_equal(ours.C_, ref.C_)
    np.testing.assert_array_equal(ours.l1_ratio_, ref.l1_ratio_)
    (k,) = ref.scores_
    assert k == 1
    # held-out log-loss to 1e-3 relative (C = 1e4 is nearly separable: |w| ~ 70)
    np.testing.assert_allclose(ours.scores_[k], ref.scores_[k], rtol=1e-3, atol=1e-4)
    _paths_close(ours.coefs_paths_[k], ref.coefs_paths_[k], 1, 1e-3)
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-3 * scale)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-3 * scale)
    assert np.all(ours.n_iter_ >= 1)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    assert ours.score(X, y) == pytest.approx(ref.score(X, y), abs=1e-4)


def test_multinomial_new_attributes_match_sklearn(iris):
    """Explicit Cs, accuracy scoring, a shuffled KFold splitter, the 1.10
    layout (use_legacy_attributes=False)."""
    X, y = iris
    cv = KFold(4, shuffle=True, random_state=0)
    kw = dict(
        Cs=[0.01, 0.1, 1.0, 10.0],
        cv=cv,
        l1_ratios=(0,),
        scoring="accuracy",
        use_legacy_attributes=False,
    )
    ref = _fit_reference(_reference(**kw), X, y)
    ours = LogisticRegressionCV(**kw, tol=1e-5, max_iter=1000).fit(X, y)
    _assert_same_layout(ours, ref)
    assert isinstance(ours.C_, float) and ours.C_ == ref.C_
    assert ours.l1_ratio_ == ref.l1_ratio_ == 0.0
    np.testing.assert_array_equal(ours.scores_, ref.scores_)
    _paths_close(ours.coefs_paths_, ref.coefs_paths_, 2, 1e-3)
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-3 * scale)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-3 * scale)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-3)


def test_l1_and_elastic_net_match_sklearn(iris):
    """l1_ratios=(0.5, 1) against saga: the same (C_, l1_ratio_), scores
    within 1e-3; binary (iris virginica vs rest) and multinomial."""
    X, y = iris
    kw = dict(Cs=[0.05, 0.5, 5.0], cv=3, l1_ratios=(0.5, 1.0), **EXPLICIT)
    for labels in (y == 2, y):
        ref = _fit_reference(_reference(**kw, solver="saga", tol=1e-8), X, labels)
        tol = 1e-6 if labels.dtype == bool else 1e-5  # float32-reachable
        ours = LogisticRegressionCV(**kw, tol=tol, max_iter=1000).fit(X, labels)
        _assert_same_layout(ours, ref)
        np.testing.assert_array_equal(ours.l1_ratios_, [0.5, 1.0])
        np.testing.assert_array_equal(ours.C_, ref.C_)
        np.testing.assert_array_equal(ours.l1_ratio_, ref.l1_ratio_)
        for k in ref.scores_:
            np.testing.assert_allclose(ours.scores_[k], ref.scores_[k], atol=1e-3)
            _paths_close(ours.coefs_paths_[k], ref.coefs_paths_[k], 1, 2e-3)
        scale = np.abs(ref.coef_).max()
        np.testing.assert_allclose(ours.coef_, ref.coef_, atol=2e-3 * scale)
        # the L1 part zeroes what saga zeroes (to its precision)
        assert np.all(np.abs(ours.coef_[np.abs(ref.coef_) < 1e-6]) < 1e-3 * scale)


def test_sample_weight_and_class_weight_match_sklearn(iris):
    """Weights multiply the training part; scores are weighted by
    sample_weight alone; "balanced" is computed once on all of y."""
    X, y = iris
    keep = np.r_[0:50, 50:75, 100:150]  # unbalanced classes
    X, y = X[keep], y[keep]
    sw = np.random.default_rng(0).integers(1, 4, len(y)).astype(float)
    kw = dict(Cs=[0.1, 1.0, 10.0], cv=3, l1_ratios=(0,), **EXPLICIT)
    cases = [
        (dict(), dict(sample_weight=sw), y),
        (dict(class_weight="balanced"), dict(sample_weight=sw), y),
        (dict(class_weight={False: 1.0, True: 3.0}), dict(), y == 2),
    ]
    for extra, fit, labels in cases:
        ref = _fit_reference(_reference(**kw, **extra), X, labels, **fit)
        # binary at C = 10: the held-out loss of 2.37 moves by 2.6e-4 between
        # fold fits at tol 1e-6 and 1e-8 (float64 alike)
        tol = 1e-7 if labels.dtype == bool else 1e-5
        ours = LogisticRegressionCV(**kw, **extra, tol=tol, max_iter=1000)
        ours.fit(X, labels, **fit)
        np.testing.assert_array_equal(ours.C_, ref.C_)
        for k in ref.scores_:
            np.testing.assert_allclose(ours.scores_[k], ref.scores_[k], atol=1e-4)
        scale = np.abs(ref.coef_).max()
        np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-3 * scale)


def test_sparse_float32_and_refit_false(cancer):
    """Sparse and float32 input give float64 attributes as scikit-learn
    (which casts to float64); refit=False averages the folds' best
    coefficients and C."""
    X, y = cancer
    X = X[:, :10]
    kw = dict(Cs=[0.01, 0.1, 1.0, 10.0], cv=4, l1_ratios=(0,), **EXPLICIT)
    ref = _fit_reference(_reference(**kw), X, y)
    dense = LogisticRegressionCV(**kw, tol=1e-6).fit(X, y)
    for Xin in (sp.csr_matrix(X), X.astype(np.float32)):
        ours = LogisticRegressionCV(**kw, tol=1e-6).fit(Xin, y)
        _assert_same_layout(ours, ref)
        assert ours.coef_.dtype == np.float64
        np.testing.assert_array_equal(ours.C_, ref.C_)
        np.testing.assert_allclose(ours.coef_, dense.coef_, atol=1e-4)
    # refit=False, and the elastic-net average of l1_ratio_ (an array: with a
    # tuple scikit-learn 1.9 fails indexing it)
    for l1 in [(0,), np.array([0.2, 0.8])]:
        kw.update(refit=False, l1_ratios=l1)
        solver = "lbfgs" if len(l1) == 1 else "saga"
        ref = _fit_reference(_reference(**kw, solver=solver, tol=1e-8), X, y)
        ours = LogisticRegressionCV(**kw, tol=1e-6).fit(X, y)
        _assert_same_layout(ours, ref)
        np.testing.assert_allclose(ours.C_, ref.C_)
        np.testing.assert_allclose(ours.l1_ratio_, ref.l1_ratio_)
        scale = np.abs(ref.coef_).max()
        np.testing.assert_allclose(ours.coef_, ref.coef_, atol=2e-3 * scale)


def test_pandas_feature_names(iris):
    X, y = iris
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    kw = dict(Cs=2, cv=3, l1_ratios=(0,), **EXPLICIT)
    est = LogisticRegressionCV(**kw).fit(df, y)
    np.testing.assert_array_equal(est.feature_names_in_, ["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="feature names"):
        est.predict(df.rename(columns={"a": "z"}))


def test_warnings_and_errors_as_sklearn(cancer):
    """Defaults warn as scikit-learn 1.9 does (same categories and
    messages); bad values raise ValueError."""
    X, y = cancer
    X, y = X[:120], y[:120]

    def caught(est):
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            est.set_params(Cs=2, cv=2).fit(X, y)
        return sorted(
            str(w.message) for w in rec if issubclass(w.category, FutureWarning)
        )

    theirs = caught(sk.LogisticRegressionCV())
    assert len(theirs) == 3
    assert caught(LogisticRegressionCV()) == theirs
    theirs = caught(sk.LogisticRegressionCV(penalty="l1", solver="saga", **EXPLICIT))
    assert caught(LogisticRegressionCV(penalty="l1", **EXPLICIT)) == theirs
    quiet = dict(l1_ratios=(0,), **EXPLICIT)
    with pytest.raises(ValueError, match="penalizes the intercept"):
        LogisticRegressionCV(solver="liblinear", Cs=2, **quiet).fit(X, y)
    with pytest.raises(ValueError, match="only one class"):
        LogisticRegressionCV(Cs=2, **quiet).fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="l1_ratios"):
        LogisticRegressionCV(l1_ratios=(0.5, 2.0), **EXPLICIT).fit(X, y)
    # a negative weight: LogisticRegression's error (it said a fold "weighs 0")
    with pytest.raises(ValueError, match="sample_weight must be finite and >= 0"):
        LogisticRegressionCV(Cs=2, **quiet).fit(X, y, sample_weight=-np.ones(len(y)))
    for make in (LogisticRegressionCV, sk.LogisticRegressionCV):  # was TypeError
        with pytest.raises(ValueError, match="l1_ratios"), pytest.warns(FutureWarning):
            make(penalty="elasticnet", solver="saga", l1_ratios=None, Cs=2).fit(X, y)
    with pytest.raises(ValueError, match="Cs"):
        LogisticRegressionCV(Cs=[1.0, -1.0], **quiet).fit(X, y)
    with pytest.raises(ValueError, match="penalty"):
        LogisticRegressionCV(penalty="group", **quiet).fit(X, y)
    with pytest.raises(ValueError, match="class_weight"):
        LogisticRegressionCV(Cs=2, class_weight={7: 1.0}, **quiet).fit(X, y)


def test_folds_share_one_compiled_program(iris):
    """Every fold (and the refit) is the full X with zero weights on the rows
    left out: the multinomial solver compiles once per fit shape, then a
    second fit with other folds and other Cs compiles nothing."""
    from jaxreg.solvers import multinomial

    X, y = iris
    kw = dict(l1_ratios=(0,), **EXPLICIT)
    LogisticRegressionCV(Cs=[0.1, 1.0], cv=StratifiedKFold(3), **kw).fit(X, y)
    before = multinomial._folds_at._cache_size()
    cv = StratifiedKFold(3, shuffle=True, random_state=1)
    LogisticRegressionCV(Cs=[0.3, 3.0, 30.0], cv=cv, **kw).fit(X, y)
    assert before >= 1
    assert multinomial._folds_at._cache_size() == before


def test_multinomial_folds_where_zero_is_optimal_stop_at_once():
    # C small enough that W = 0 (and, with balanced classes, b = 0) is optimal:
    # the stationarity at the start is roundoff, and the fold fits must stop
    # there instead of running max_iter steps and warning (filterwarnings =
    # error turns a ConvergenceWarning into a failure)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 5))
    y = np.repeat([0, 1, 2], 30)
    est = LogisticRegressionCV(
        Cs=[1e-4, 1e-3, 1.0],
        l1_ratios=(1.0,),
        solver="saga",
        cv=3,
        scoring="neg_log_loss",
        use_legacy_attributes=False,
    ).fit(X, y)
    assert np.all(est.n_iter_[..., :2] < 100)
    assert np.all(est.n_iter_[..., 2] > 1)  # C = 1 is a real fit


def test_multinomial_warning_counts_the_fits_that_ran_their_budget(iris):
    """The warning tells apart the fits that ran their step budget (more
    max_iter helps) from those that stopped earlier at float precision (it
    does not): with max_iter=1 (100 FISTA steps) the unconverged fits (the
    folds' and the refit's) ran it."""
    X, y = iris
    est = LogisticRegressionCV(
        Cs=[1.0, 100.0],
        l1_ratios=(1.0,),
        solver="saga",
        cv=3,
        max_iter=1,
        scoring="neg_log_loss",
        use_legacy_attributes=False,
    )
    with pytest.warns(ConvergenceWarning) as rec:
        est.fit(X, y)
    assert np.any(est.n_iter_ >= 100)
    (message,) = [str(w.message) for w in rec if "multinomial" in str(w.message)]
    unconverged = int(re.match(r"(\d+) of \d+ multinomial fits", message)[1])
    assert f"{unconverged} ran their 100 steps" in message
    assert ", 0 stopped earlier" in message


def test_penalty_l1_with_a_list_of_l1_ratios_matches_sklearn(cancer):
    """penalty="l1" (deprecated) ignores l1_ratios but keeps its axis in the
    fitted attributes, one slice per listed ratio, all the same L1 fit (the
    path is computed once): scikit-learn's shapes, warnings and choice."""
    X, y = cancer
    X, y = X[:150], y[:150]
    kw = dict(penalty="l1", Cs=[0.05, 0.5], cv=3, l1_ratios=[0.2, 0.7], **EXPLICIT)

    def fit(est):
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            est.fit(X, y)
        return est, sorted(
            {str(w.message)[:40] for w in rec if w.category is not ConvergenceWarning}
        )

    ours, ours_w = fit(LogisticRegressionCV(**kw, tol=1e-6))
    ref, ref_w = fit(
        sk.LogisticRegressionCV(**kw, solver="saga", tol=1e-6, max_iter=5000)
    )
    assert ours_w == ref_w
    for name in ("scores_", "coefs_paths_"):  # dicts keyed by class
        assert np.shape(getattr(ours, name)[1]) == np.shape(getattr(ref, name)[1])
    assert ours.n_iter_.shape == ref.n_iter_.shape
    paths = ours.coefs_paths_[1]  # (folds, Cs, l1_ratios, d + 1)
    np.testing.assert_array_equal(paths[:, :, 0], paths[:, :, 1])
    assert ours.C_ == ref.C_
    np.testing.assert_allclose(ours.scores_[1], ref.scores_[1], atol=1e-3)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("scoring", [None, "accuracy", "neg_log_loss"])
def test_builtin_scores_equal_scikit_learns_scorers(n_classes, scoring):
    # the vectorized accuracy / log-loss equal scikit-learn's scorers called
    # on LogisticRegression per fold and C (string labels, sample weights,
    # sparse X, a held-out part missing a class, saturated probabilities)
    from jaxreg._logistic_cv import _scorer_scores, _scores

    rng = np.random.default_rng(n_classes)
    n, d, L = 60, 4, 5
    X = rng.normal(size=(n, d))
    classes = np.array(["ant", "bee", "cat"][:n_classes])
    y = classes[rng.integers(n_classes, size=n)]
    y[:10] = classes[0]
    k = 1 if n_classes == 2 else n_classes
    coefs = rng.normal(size=(2, L, k, d + 1))
    coefs[:, -1] *= 200  # probabilities at 0 and 1: the ε clipping
    coefs[:, 0] = 0.0  # ties: scores of exactly 0
    folds = [(np.arange(10, n), np.arange(10)), (np.arange(30), np.arange(30, n))]
    sw = rng.uniform(0.5, 2, size=n)
    for Xf, weights, fit_intercept in [
        (X, None, True),
        (sp.csr_matrix(X), sw, True),
        (X, sw, False),
    ]:
        args = (coefs, Xf, y, folds, weights, classes, scoring, fit_intercept)
        np.testing.assert_allclose(_scores(*args), _scorer_scores(*args), rtol=1e-12)


@pytest.mark.parametrize("part", ["held-out", "training"])
def test_a_fold_part_weighing_zero_raises_as_scikit_learn(part):
    X, y = load_breast_cancer(return_X_y=True)
    X, y = StandardScaler().fit_transform(X)[:200], y[:200]
    sw = np.ones(200)
    if part == "held-out":
        sw[:40] = 0.0  # fold 0's held-out rows
    else:
        sw[40:] = 0.0  # fold 0 trains on rows 40..199 only
    kw = dict(cv=KFold(5), l1_ratios=(0.0,), scoring="neg_log_loss")
    with pytest.raises(ValueError, match="at least one non-zero number"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            sk.LogisticRegressionCV(**kw).fit(X, y, sample_weight=sw)
    with pytest.raises(ValueError, match=f"at least one non-zero number: the {part}"):
        LogisticRegressionCV(**kw, use_legacy_attributes=False).fit(
            X, y, sample_weight=sw
        )


def test_training_rows_listed_twice_count_twice():
    """A cv iterable whose training part repeats a row (bootstrap-style):
    scikit-learn's folds fit ``X[train]``, each copy one sample; ours kept
    one copy (scores -0.710 for -0.689)."""
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(0)
    n = 90
    X = rng.standard_normal((n, 8))
    y = (X[:, 0] + 0.8 * rng.standard_normal(n) > 0).astype(int)
    splits = []
    for k in range(3):
        te = np.arange(60 + 6 * k, 66 + 6 * k)
        splits.append((np.r_[np.setdiff1d(np.arange(n), te), [80] * 5], te))
    ours = LogisticRegressionCV(
        Cs=[1e-2, 1.0, 1e2], cv=splits, l1_ratios=(0,), tol=1e-8, **EXPLICIT
    ).fit(X, y)
    for k, (tr, te) in enumerate(splits):
        for j, C in enumerate(ours.Cs_):
            fit = sk.LogisticRegression(C=C, tol=1e-12, max_iter=10_000)
            fit.fit(X[tr], y[tr])
            expected = -log_loss(y[te], fit.predict_proba(X[te]))
            assert np.asarray(ours.scores_[1])[k, j] == pytest.approx(
                expected, rel=1e-4
            )


@pytest.mark.parametrize("l1_ratio", [0.0, 1.0])
def test_offset_features_give_the_unshifted_scores(cancer, l1_ratio):
    """Standardized breast cancer + 1000: the model class is unchanged by the
    shift, so the held-out log-losses and the coefficient paths are those of
    scikit-learn on the unshifted data. The folds' designs were not centred
    for logistic regression: the float32 paths diverged, C_ = 1e-4 was
    chosen (accuracy 0.66 where 0.99 is right) after 40 s; each fold now
    centres its design with its training means, as a single fit does."""
    X, y = cancer
    kw = dict(Cs=[0.01, 0.1, 1.0], cv=3, l1_ratios=(l1_ratio,), **EXPLICIT)
    solver = "saga" if l1_ratio else "lbfgs"
    ref = _fit_reference(_reference(**kw, solver=solver, tol=1e-8), X, y)
    # the default tol: in float32 the gap of X + 1000 resolves ~3e-5·P(0)
    ours = LogisticRegressionCV(**kw, max_iter=1000).fit(X + 1000.0, y)
    np.testing.assert_array_equal(ours.C_, ref.C_)
    # L1 at C = 1: collinear features leave a nearly flat direction, along
    # which the held-out loss of a float32 path moves by 0.4% (unshifted too)
    np.testing.assert_allclose(ours.scores_[1], ref.scores_[1], rtol=5e-3)
    if not l1_ratio:  # L1: that flat direction moves coefficients, not scores
        d = X.shape[1]
        ours_paths, ref_paths = ours.coefs_paths_[1], ref.coefs_paths_[1]
        _paths_close(ours_paths[..., :d], ref_paths[..., :d], 1, 1e-2)
    assert ours.score(X + 1000.0, y) == pytest.approx(ref.score(X, y), abs=2e-3)
