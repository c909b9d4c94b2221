"""Group lasso, time to duality gap <= 1e-6·P(0): jaxreg vs skglm and adelie.

Usage:  python bench/group_lasso.py [--quick]   (bench/results/group_lasso.*)

Problem (issue 11): X ~ N(0, 1) of 1000 x 5000 (quick: 500 x 2000), groups of
5 contiguous features, 20 groups active in the truth, unit noise, no
intercept; λ = λ_max/10 and λ_max/100 with λ_max = max_g ‖X_gᵀy‖/n. The
objective is ``1/(2n)‖y - Xw‖² + λ Σ_g ‖w_g‖₂`` for every solver: skglm's
``GroupLasso(groups=5, alpha=λ)`` and adelie's ``grpnet`` (gaussian GLM,
``penalty=1`` per group instead of its default ``sqrt(5)``, ``lmda_path=[λ]``,
``intercept=False``, ``early_exit=False``, one thread). Same protocol as
``bench/solvers.py`` (its harness): each result is checked by ONE numpy
routine (:func:`group_lasso_obj_gap`), each peer's ``tol`` is walked down in
half-decades until that gap is <= 1e-6·P(0), jaxreg runs at ``tol=1e-6``;
end-to-end times include jaxreg's host-to-device copy of X, "solve only"
times start from a problem already on the device. float64 throughout.

adelie pins ``numpy<2`` in its metadata (1.1.52) while jax needs numpy >= 2:
``pip install adelie`` downgrades numpy and breaks jax. Install it with
``pip install --no-deps adelie`` (it runs with numpy 2); it is left out of
the ``bench`` extra for that reason. Missing peers are skipped.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))

from bench.common import main
from bench.solvers import _case

SUITE = "group_lasso"
GROUP = 5


def group_lasso_obj_gap(X, y, w, lam, m=GROUP):
    """Objective and relative duality gap of 1/(2n)||y - Xw||² + lam Σ||w_g||
    at the residual scaled into the dual ball (max_g ||X_gᵀθ||/(n lam) <= 1)."""
    n = X.shape[0]
    R = y - X @ w
    p = R @ R / (2 * n) + lam * np.linalg.norm(w.reshape(-1, m), axis=1).sum()
    s = max(1.0, np.linalg.norm((X.T @ R).reshape(-1, m), axis=1).max() / (n * lam))
    theta = R / s
    d = (y @ y - (y - theta) @ (y - theta)) / (2 * n)
    return p, (p - d) / (y @ y / (2 * n))


def data(quick):
    n, d = (500, 2000) if quick else (1000, 5000)
    rng = np.random.default_rng(0)
    X = np.asfortranarray(rng.normal(size=(n, d)))
    w = np.zeros(d)
    w[: 20 * GROUP] = rng.normal(size=20 * GROUP)
    return X, X @ w + rng.normal(size=n)


def _peers(X, y, lam):
    out = {}
    try:
        import skglm
    except ImportError:
        skglm = None
    if skglm is not None:
        out["skglm"] = (
            lambda tol: (
                skglm.GroupLasso(groups=GROUP, alpha=lam, tol=tol, fit_intercept=False)
                .fit(X, y)
                .coef_
            ),
            1e-6,
        )
    try:
        import adelie as ad
    except ImportError:
        ad = None
    if ad is not None:
        G = X.shape[1] // GROUP

        def fit_adelie(tol):
            state = ad.grpnet(
                X,
                ad.glm.gaussian(y),
                groups=np.arange(0, X.shape[1], GROUP),
                penalty=np.ones(G),
                lmda_path=np.array([lam]),
                intercept=False,
                early_exit=False,
                tol=tol,
                progress_bar=False,
            )
            return np.asarray(state.betas.toarray()[-1]).ravel()

        out["adelie"] = (fit_adelie, 1e-7)
    return out


def run(quick: bool = False) -> list[dict]:
    """λ_max/10 and λ_max/100 in float64; returns ``bench.common.row`` rows."""
    import jax

    with jax.enable_x64(True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _run(quick)


def _run(quick):
    from jaxreg.solvers import base, bcd
    from jaxreg.solvers.datafits import Quadratic

    X, y = data(quick)
    n, d = X.shape
    layout = bcd.group_layout(GROUP, d)
    problem = base.prepare(X, y, Quadratic, fit_intercept=False)
    lam_max = np.linalg.norm((X.T @ y).reshape(-1, GROUP), axis=1).max() / n
    repeats = 1 if quick else 5
    rows = []
    for ratio in (10, 100):
        lam = lam_max / ratio

        def jax_fn(tol, lam=lam):
            res = bcd.group_lasso(X, y, lam, GROUP, fit_intercept=False, tol=tol)
            return np.asarray(res.coef)

        def solve_fn(tol, lam=lam):
            res = bcd.solve_prepared(
                problem, layout, lam, None, tol=tol, max_iter=100,
                max_epochs=100_000, p0=16,
            )  # fmt: skip
            return np.asarray(res.coef)

        rows += _case(
            SUITE,
            f"group lasso {n}x{d}, groups of {GROUP}, lambda_max/{ratio}",
            jax_fn,
            solve_fn,
            _peers(X, y, lam),
            lambda w, lam=lam: group_lasso_obj_gap(X, y, w, lam),
            quick,
            repeats,
        )
    return rows


if __name__ == "__main__":
    main(run, SUITE, __doc__)
