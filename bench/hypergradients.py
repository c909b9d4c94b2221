"""Hypergradient λ search (``jaxreg.tune``) vs grid search (LassoCV), same folds.

The issue's goals: at equal validation loss, the hypergradient search takes
≤ 0.3× our own ``cross_validate`` (100 λ × 5 folds, warm-started paths) and
≤ 0.2× scikit-learn's ``LassoCV`` (its defaults: 100 λ, ``tol=1e-4``).
sparse-ho (Bertrand et al., JMLR 2022) measured 0.15× against the grid on a
500 × 1000 problem. Every method runs once before it is timed (compilation
excluded); each time is the median of ``repeats`` calls. Rows also give the
CV MSE each method reaches (ratio = hypergradient / grid, ≤ 1.01 expected).

Run: ``python bench/hypergradients.py [--quick]`` or ``jaxreg bench --suite
hypergradients``.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from bench.common import main, row, time_call

SUITE = "hypergradients"
N_FOLDS = 5


def _problems(quick):
    from sklearn.datasets import load_diabetes
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    n, d = (200, 400) if quick else (500, 1000)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d))
    w = np.zeros(d)
    w[:20] = rng.normal(size=20)
    problems = {f"synthetic {n}x{d}": (X, X @ w + 0.5 * rng.normal(size=n))}
    Xd, yd = load_diabetes(return_X_y=True)
    Xd = StandardScaler().fit_transform(
        PolynomialFeatures(2, include_bias=False).fit_transform(Xd)
    )
    problems[f"diabetes deg-2 {Xd.shape[0]}x{Xd.shape[1]}"] = (Xd, yd)
    return problems


def run(quick: bool = False) -> list[dict]:
    from sklearn.linear_model import LassoCV
    from sklearn.model_selection import KFold

    import jaxreg

    repeats = 2 if quick else 5
    rows = []
    for case, (X, y) in _problems(quick).items():
        folds = list(KFold(N_FOLDS, shuffle=True, random_state=0).split(X))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scikit-learn's convergence chatter
            tune = functools.partial(jaxreg.tune, cv=folds)
            grid_search = functools.partial(jaxreg.cross_validate, cv=folds)
            sklearn_search = LassoCV(cv=folds).fit
            _, t_hyper = time_call(tune, X, y, repeats=repeats)
            _, t_grid = time_call(grid_search, X, y, repeats=repeats)
            _, t_sk = time_call(sklearn_search, X, y, repeats=repeats)
            hyper = jaxreg.tune(X, y, cv=folds)
            grid = jaxreg.cross_validate(X, y, cv=folds)
            sk = LassoCV(cv=folds).fit(X, y)
        metric = "time to the CV-best λ"
        rows.append(row(SUITE, case, metric, t_hyper, "jaxreg grid", t_grid))
        rows.append(row(SUITE, case, metric, t_hyper, "sklearn LassoCV", t_sk))
        mse = 2 * hyper.best_loss  # tune's loss is ½·MSE
        for peer, value in (
            ("jaxreg grid", float(grid.scores.mean(axis=1).min())),
            ("sklearn LassoCV", float(sk.mse_path_.mean(axis=1).min())),
        ):
            rows.append(row(SUITE, case, "CV MSE reached", mse, peer, value, "mse"))
    return rows


if __name__ == "__main__":
    main(run, SUITE, __doc__)
