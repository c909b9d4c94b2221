"""Cross-validated estimators: jaxreg.linear_model vs scikit-learn.

Usage:  python bench/estimators_cv.py [--quick]   (bench/results/estimators_cv.*)

Each estimator is fit end to end (``fit(X, y)`` from numpy, grid, folds and
refit included) with the same parameters on both sides: ``cv=5`` contiguous
folds, 100 alphas (``eps=1e-3``), ``tol=1e-4`` each in its own meaning
(jaxreg: gap <= tol·P(0); scikit-learn: gap <= tol·||y||²/n, twice as loose),
float64 input. Times are medians of ``repeats`` warm fits after one first
(compiling) fit, reported beside it. The row also says whether the selected
``alpha_`` is the same grid point as scikit-learn's (``same alpha``: 1/0).
Goal (issue 13): ratio <= 0.5 against the fastest peer. celer's
``LassoCV`` is not a peer here: it passes ``n_alphas`` to scikit-learn 1.9's
``LinearModelCV``, which no longer takes it (TypeError at construction);
skglm has no CV estimator.

Data: diabetes with degree-3 polynomial features, standardized (442 x 285,
the real correlated design of bench/solvers.py) and
``make_regression(1000, 500, n_informative=30, noise=10, random_state=0)``
(two tasks for the multi-task estimators: ``y`` and a permuted copy).
``LogisticRegressionCV`` (10 Cs from 1e-4 to 1e4, neg_log_loss, 5
stratified folds; L2 against scikit-learn's lbfgs, L1 against its saga, whose
100 epochs at the large Cs stop short and warn): breast_cancer standardized
(569 x 30, binary), ``make_classification(2000, 200, n_informative=20,
n_classes=3, random_state=0)`` (multinomial) and ``make_classification(300,
50, random_state=5)`` (binary, near-separable at the large Cs); the row
``same C`` says whether ``C_`` is the same grid point.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))

from bench.common import main, row

SUITE = "estimators_cv"


def _data(quick):
    from sklearn.datasets import load_diabetes, make_regression
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    X, y = load_diabetes(return_X_y=True)
    Xp = StandardScaler().fit_transform(
        PolynomialFeatures(2 if quick else 3, include_bias=False).fit_transform(X)
    )
    n, d = (300, 100) if quick else (1000, 500)
    Xs, ys = make_regression(n, d, n_informative=30, noise=10, random_state=0)
    return {"diabetes_poly": (Xp, y), "synthetic": (Xs, ys)}


def _fit_time(make, X, y, repeats):
    start = time.perf_counter()
    est = make().fit(X, y)
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        est = make().fit(X, y)
        times.append(time.perf_counter() - start)
    return first, statistics.median(times), est


def _pairs():
    from sklearn import linear_model as sk

    from jaxreg import linear_model as jl

    common = dict(cv=5, alphas=100, eps=1e-3, tol=1e-4)
    l1 = dict(l1_ratio=[0.5, 0.9, 1.0])
    out = {
        "LassoCV": (
            lambda: jl.LassoCV(**common),
            {"sklearn": lambda: sk.LassoCV(**common)},
            False,
        ),
        "ElasticNetCV(3 l1_ratios)": (
            lambda: jl.ElasticNetCV(**common, **l1),
            {"sklearn": lambda: sk.ElasticNetCV(**common, **l1)},
            False,
        ),
        "MultiTaskLassoCV": (
            lambda: jl.MultiTaskLassoCV(**common),
            {"sklearn": lambda: sk.MultiTaskLassoCV(**common)},
            True,
        ),
        "RidgeCV(13 alphas, LOO)": (
            lambda: jl.RidgeCV(np.logspace(-3, 3, 13)),
            {"sklearn": lambda: sk.RidgeCV(np.logspace(-3, 3, 13))},
            False,
        ),
        "RidgeCV(13 alphas, cv=5)": (
            lambda: jl.RidgeCV(np.logspace(-3, 3, 13), cv=5),
            {"sklearn": lambda: sk.RidgeCV(np.logspace(-3, 3, 13), cv=5)},
            False,
        ),
    }
    return out


def _classifier_data(quick):
    from sklearn.datasets import load_breast_cancer, make_classification
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    n, d = (300, 50) if quick else (2000, 200)
    Xs, ys = make_classification(n, d, n_informative=20, n_classes=3, random_state=0)
    return {
        "breast_cancer": (StandardScaler().fit_transform(X), y),
        "synthetic_3class": (Xs, ys),
        "synthetic_binary": make_classification(300, 50, random_state=5),
    }


def _classifier_pairs():
    from sklearn import linear_model as sk

    from jaxreg import linear_model as jl

    common = dict(
        Cs=10,
        cv=5,
        l1_ratios=(0.0,),
        scoring="neg_log_loss",
        use_legacy_attributes=False,
        tol=1e-4,
    )
    l1 = dict(common, l1_ratios=(1.0,), solver="saga")
    return {
        "LogisticRegressionCV(10 Cs, L2)": (
            lambda: jl.LogisticRegressionCV(**common),
            {"sklearn": lambda: sk.LogisticRegressionCV(**common)},
        ),
        "LogisticRegressionCV(10 Cs, L1)": (
            lambda: jl.LogisticRegressionCV(**l1),
            {"sklearn saga": lambda: sk.LogisticRegressionCV(**l1)},
        ),
    }


def _compare(case, ours, peers, X, y, repeats, chosen):
    """Rows: our first and warm fit, each peer's, and whether scikit-learn
    chose the same grid point (the attribute ``chosen``)."""
    first, t_ours, est = _fit_time(ours, X, y, repeats)
    rows = [row(SUITE, case, "first fit", first, "jaxreg warm", t_ours)]
    for peer, make in peers.items():
        _, t_peer, ref = _fit_time(make, X, y, repeats)
        rows.append(row(SUITE, case, "fit", t_ours, peer, t_peer))
        if peer.startswith("sklearn"):
            a, b = getattr(est, chosen), getattr(ref, chosen)
            same = float(np.allclose(a, b, rtol=1e-9))
            rows.append(row(SUITE, case, f"same {chosen[:-1]}", same, peer, 1.0, ""))
    return rows


def run(quick: bool = False) -> list[dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _run(quick)


def _run(quick):
    repeats = 1 if quick else 3
    rows = []
    for data_name, (X, y) in _data(quick).items():
        Y = np.stack([y, y[np.random.default_rng(0).permutation(len(y))]], axis=1)
        for name, (ours, peers, multitask) in _pairs().items():
            case = f"{name} {data_name} {X.shape[0]}x{X.shape[1]}"
            target = Y if multitask else y
            rows += _compare(case, ours, peers, X, target, repeats, "alpha_")
    for data_name, (X, y) in _classifier_data(quick).items():
        for name, (ours, peers) in _classifier_pairs().items():
            case = f"{name} {data_name} {X.shape[0]}x{X.shape[1]}"
            rows += _compare(case, ours, peers, X, y, repeats, "C_")
    return rows


if __name__ == "__main__":
    main(run, SUITE, __doc__)
