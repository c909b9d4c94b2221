"""Time to duality gap <= 1e-6·P(0): jaxreg vs scikit-learn, celer, skglm, glum.

Usage:  python bench/solvers.py [--quick] [--only LETTERS]
        (writes bench/results/solvers.{json,md}; ``--only ef`` runs the sparse
        cases (e) and (f) only, ``--only g`` the estimator cases (g)-(k))

Problems (issue 4, and issue 11's real and sparse designs):
  (a) Lasso, make_regression(1000, 5000, n_informative=50, noise=10,
      random_state=0), no intercept, lambda = lambda_max/10 and lambda_max/100;
  (b) the 100-lambda path from lambda_max to lambda_max/1000 on the same data;
  (c) L1 logistic regression, make_classification(2000, 1000, n_informative=50,
      n_redundant=50, random_state=0), labels ±1, lambda_max/10 and /100;
  (d) Lasso on diabetes with degree-3 polynomial features (442 x 285,
      standardized): a real, correlated design;
  (e) sparse text-like 20 000 x 100 000 at 0.1 % density (CSC): Lasso and L1
      logistic;
  (f) TF-IDF of the Python standard library's sources (real sparse text that
      ships with Python): Lasso on log line counts, L1 logistic on "in a
      package".
  (g)-(k) warm estimator fits at default accuracy (``glm_rows``): Poisson L2
      and L1 and Gamma L2 (also against glum's GeneralizedLinearRegressor,
      when installed), multinomial L2/L1 on digits, and multinomial L1 on
      make_classification(5000, 2000, n_informative=50, n_classes=10,
      n_clusters_per_class=1, random_state=0) against scikit-learn's saga
      (skglm has no multinomial solver).

Protocol (that of shared/research/glm_bench.py): every solver's result is
checked by ONE numpy routine (objective and duality gap at the rescaled
residual dual point, below), never by the solver's own report. Each peer's
``tol`` means something else, so it is walked down in half-decades until the
numpy gap is <= 1e-6·P(0); then the fit is timed at that tol (median of
``repeats``). jaxreg stops on the gap itself (tol=1e-6) and is timed the same
way, end to end from the numpy F-ordered X the peers get (its host-to-device
copy included; the copy alone is reported too). First-call (compile) time is
reported separately. All solvers run in float64 (x64 enabled for jaxreg).
Quick mode starts each peer's walk at the tol found in the research run and
times one repeat.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings

import numpy as np
from scipy.special import expit, xlogy

if __package__ in (None, ""):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))

from bench.common import main, row

SUITE = "solvers"
TARGET = 1e-6


# ---------------------------------------------------------------- checker
def lasso_obj_gap(X, y, w, alpha):
    """Objective and relative gap of 1/(2n)||y - Xw||² + alpha||w||₁."""
    n = X.shape[0]
    R = y - X @ w
    p = R @ R / (2 * n) + alpha * np.abs(w).sum()
    s = max(1.0, np.abs(X.T @ R).max() / (n * alpha))
    theta = R / s
    d = (y @ y - (y - theta) @ (y - theta)) / (2 * n)
    return p, (p - d) / (y @ y / (2 * n))


def logreg_obj_gap(X, y, w, lam):
    """Objective and relative gap of mean log-loss + lam||w||₁, y in ±1."""
    u = y * (X @ w)
    p = np.mean(np.logaddexp(0.0, -u)) + lam * np.abs(w).sum()
    s = expit(-u)
    g = X.T @ (y * s) / X.shape[0]
    z = s * min(1.0, lam / np.abs(g).max())
    d = -np.mean(xlogy(z, z) + xlogy(1 - z, 1 - z))
    return p, (p - d) / np.log(2.0)


# ---------------------------------------------------------------- data
def data_regression():
    from sklearn.datasets import make_regression

    X, y = make_regression(
        n_samples=1000, n_features=5000, n_informative=50, noise=10, random_state=0
    )
    return np.asfortranarray(X), y


def data_classification():
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=2000,
        n_features=1000,
        n_informative=50,
        n_redundant=50,
        random_state=0,
    )
    return np.asfortranarray(X), 2.0 * y - 1.0


def data_diabetes_poly3():
    """Real, correlated: diabetes, degree-3 polynomial features (442 x 285),
    standardized, y centred."""
    from sklearn.datasets import load_diabetes
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    X, y = load_diabetes(return_X_y=True)
    X = PolynomialFeatures(3, include_bias=False).fit_transform(X)
    return np.asfortranarray(StandardScaler().fit_transform(X)), y - y.mean()


def data_sparse_text(quick):
    """Text-like: 20 000 x 100 000 at 0.1 % density (quick: 5 000 x 20 000),
    entries |N(0, 1)|, 100 informative columns; CSC."""
    import scipy.sparse as sp

    n, d = (5_000, 20_000) if quick else (20_000, 100_000)
    rng = np.random.default_rng(0)
    X = sp.random(n, d, density=1e-3, format="csc", random_state=0)
    X.data = np.abs(rng.standard_normal(X.nnz))
    w = np.zeros(d)
    w[rng.choice(d, 100, replace=False)] = rng.standard_normal(100)
    y = X @ w + 0.1 * rng.standard_normal(n)
    return X, y - y.mean()


def data_stdlib_tfidf():
    """Real sparse text: TF-IDF of the Python standard library's own source
    files (ships with every Python), target = log of the file's line count,
    centred; classification target = file in a package (has a dot path)."""
    import pathlib
    import sysconfig

    from sklearn.feature_extraction.text import TfidfVectorizer

    root = pathlib.Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts)
    texts = [p.read_text(errors="ignore") for p in files[:3000]]
    X = TfidfVectorizer(min_df=2, max_features=50_000).fit_transform(texts).tocsc()
    y = np.log1p([t.count("\n") for t in texts])
    labels = np.where(
        [len(p.relative_to(root).parts) > 1 for p in files[:3000]], 1.0, -1.0
    )
    return X, y - y.mean(), labels


# ---------------------------------------------------------------- solvers
def _peers_lasso(X, y, alpha):
    out = {}
    from sklearn.linear_model import Lasso

    out["sklearn"] = (
        lambda tol: (
            Lasso(alpha=alpha, fit_intercept=False, tol=tol, max_iter=1_000_000)
            .fit(X, y)
            .coef_
        ),
        1e-5,
    )
    try:
        import celer

        out["celer"] = (
            lambda tol: (
                celer.Lasso(alpha=alpha, fit_intercept=False, tol=tol).fit(X, y).coef_
            ),
            1e-2,
        )
    except ImportError:
        pass
    try:
        import skglm

        out["skglm"] = (
            lambda tol: (
                skglm.Lasso(alpha=alpha, fit_intercept=False, tol=tol).fit(X, y).coef_
            ),
            1e-4,
        )
    except ImportError:
        pass
    return out


def _peers_path(X, y, alphas):
    out = {}
    from sklearn.linear_model import lasso_path

    out["sklearn"] = (
        lambda tol: lasso_path(X, y, alphas=alphas, tol=tol, max_iter=1_000_000)[1],
        3e-7,
    )
    try:
        import celer

        out["celer"] = (
            lambda tol: celer.celer_path(
                X, y, "lasso", alphas=alphas, tol=tol, prune=True
            )[1],
            3e-7,
        )
    except ImportError:
        pass
    try:
        import skglm

        out["skglm"] = (
            lambda tol: skglm.Lasso(fit_intercept=False, tol=tol).path(X, y, alphas)[1],
            3e-5,
        )
    except ImportError:
        pass
    return out


def _peers_logreg(X, y, lam):
    out = {}
    n = X.shape[0]
    C = 1.0 / (n * lam)
    from sklearn.linear_model import LogisticRegression

    out["sklearn-liblinear"] = (
        lambda tol: (
            LogisticRegression(
                C=C,
                l1_ratio=1.0,
                solver="liblinear",
                fit_intercept=False,
                tol=tol,
                max_iter=100_000,
            )
            .fit(X, y)
            .coef_.ravel()
        ),
        3e-6,
    )
    try:
        import celer

        out["celer"] = (
            lambda tol: (
                celer.LogisticRegression(C=C, fit_intercept=False, tol=tol)
                .fit(X, y)
                .coef_.ravel()
            ),
            1e-5,
        )
    except ImportError:
        pass
    try:
        import skglm

        out["skglm"] = (
            lambda tol: (
                skglm.SparseLogisticRegression(
                    alpha=lam, fit_intercept=False, tol=tol, max_iter=100
                )
                .fit(X, y)
                .coef_.ravel()
            ),
            1e-5,
        )
    except ImportError:
        pass
    return out


# ---------------------------------------------------------------- harness
def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def _calibrate(fn, check, tol0, quick, budget_s=120.0):
    """Loosest tol (half-decades from tol0, or from 1e-2 unless quick) meeting
    the target; returns (tol, check result, first-call seconds)."""
    tol = tol0 if quick else 1e-2
    _, first = _timed(fn, tol)
    spent = 0.0
    while True:
        w, t = _timed(fn, tol)
        spent += t
        obj, gap = check(w)
        if gap <= TARGET or tol < 1e-13 or spent > budget_s:
            return tol, (obj, gap), first
        tol /= np.sqrt(10)


def _time(fn, tol, repeats):
    return statistics.median(_timed(fn, tol)[1] for _ in range(repeats))


def _case(suite, case, jax_fn, solve_fn, peers, check, quick, repeats):
    """Times jaxreg (end to end, and solve only on a device-resident design)
    and every peer on one problem; returns result rows."""
    _, first = _timed(jax_fn, TARGET)
    w = jax_fn(TARGET)
    obj, gap = check(w)
    t_jax = _time(jax_fn, TARGET, repeats)
    solve_obj, solve_gap = check(solve_fn(TARGET))
    t_solve = _time(solve_fn, TARGET, repeats)
    times, objs, notes = {}, {"jaxreg": obj}, {}
    for name, (fn, tol0) in peers.items():
        tol, (p_obj, p_gap), p_first = _calibrate(fn, check, tol0, quick)
        times[name] = _time(fn, tol, repeats)
        objs[name] = p_obj
        notes[name] = dict(tol=tol, rel_gap=p_gap, first_call_s=p_first)
    best = min(times.values()) if times else float("nan")
    print(
        f"{suite} {case}: jaxreg {t_jax:.4f}s (first call {first:.2f}s, rel gap "
        f"{gap:.1e}, obj {obj:.10g}); solve only {t_solve:.4f}s (rel gap "
        f"{solve_gap:.1e})"
    )
    rows = []
    for name in times:
        print(
            f"    {name:18s} {times[name]:.4f}s  tol={notes[name]['tol']:.1e} "
            f"rel gap {notes[name]['rel_gap']:.1e}  obj {objs[name]:.10g}  "
            f"first call {notes[name]['first_call_s']:.2f}s"
        )
        r = row(suite, case, "time to rel. gap <= 1e-6", t_jax, name, times[name])
        r.update(
            objective_jaxreg=obj,
            objective_peer=objs[name],
            rel_gap_jaxreg=gap,
            rel_gap_peer=notes[name]["rel_gap"],
            peer_tol=notes[name]["tol"],
        )
        rows.append(r)
        r = row(
            suite,
            case,
            "same, X already on device (solve only)",
            t_solve,
            name,
            times[name],
        )
        r.update(objective_jaxreg=solve_obj, rel_gap_jaxreg=solve_gap)
        rows.append(r)
        rows.append(
            row(
                suite,
                case,
                "first call (compile included)",
                first,
                name,
                notes[name]["first_call_s"],
            )
        )
    if not times:
        print("    no peer installed (pip install scikit-learn celer skglm)")
    else:
        print(
            f"    ratio jaxreg / fastest peer = {t_jax / best:.2f} end to end, "
            f"{t_solve / best:.2f} solve only"
        )
    return rows


def run(quick: bool = False, only: str | None = None) -> list[dict]:
    """Runs problems (a)-(k) in float64 (``only``: the letters of the cases to
    run, e.g. ``"ef"``; ``g`` stands for (g)-(k)); returns
    ``bench.common.row`` rows."""
    import jax

    # peers are float64: x64 on for this suite only, peers' warnings silenced
    with jax.enable_x64(True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _run(quick, only)


def _run(quick, only=None):
    import jax
    import jax.numpy as jnp

    import jaxreg.solvers.glm as glm
    import jaxreg.solvers.path as jpath
    from jaxreg import l1
    from jaxreg.solvers import base
    from jaxreg.solvers.datafits import Logistic, Quadratic

    def device_solver(datafit_cls, X, y):
        """fit(lam, tol) on a problem prepared (copied to the device) once."""
        problem = base.prepare(X, y, datafit_cls, fit_intercept=False)
        datafit = problem.datafit
        p_zero = datafit.value(jnp.zeros_like(datafit.y))

        def fit(lam, tol):
            res = glm.fit_prepared(
                problem,
                l1(lam),
                tol=tol,
                max_iter=100,
                max_epochs=100_000,
                p0=64,
                what="bench",
            )
            return np.asarray(res.coef)

        def path(lams, tol):
            out = jpath.solve_path(
                problem,
                l1(1.0),
                lams,
                tol_abs=tol * p_zero,
                max_iter=100,
                max_epochs=100_000,
                p0=64,
                batched=False,
            )
            return np.asarray(out[0]).T

        return fit, path

    repeats = 1 if quick else 5
    rows = []

    def want(letter):
        return only is None or letter in only

    X, y = data_regression()
    n = X.shape[0]
    t_copy = _time(
        lambda _: jax.block_until_ready(base.to_device(X.T, np.float64)), None, 5
    )
    rows.append(
        row(
            SUITE,
            "host->device copy of X (1000x5000)",
            "copy (inside every jaxreg time)",
            t_copy,
            None,
            None,
        )
    )
    print(f"host->device copy of X: {t_copy:.4f}s (inside every jaxreg time below)")

    def lasso_cases(label, X, y, ratios):
        alpha_max = np.abs(X.T @ y).max() / X.shape[0]
        dev_fit, _ = device_solver(Quadratic, X, y)
        out = []
        for ratio in ratios:
            alpha = alpha_max / ratio

            def jax_fn(tol, alpha=alpha):
                res = glm.lasso(X, y, alpha, fit_intercept=False, tol=tol)
                return np.asarray(res.coef)

            out += _case(
                SUITE,
                f"{label} lambda_max/{ratio}",
                jax_fn,
                lambda tol, a=alpha: dev_fit(a, tol),
                _peers_lasso(X, y, alpha),
                lambda w, a=alpha: lasso_obj_gap(X, y, w, a),
                quick,
                repeats,
            )
        return out

    def logreg_cases(label, X, y, ratios):
        lam_max = np.abs(X.T @ y).max() / (2 * X.shape[0])
        dev_fit, _ = device_solver(Logistic, X, y)
        out = []
        for ratio in ratios:
            lam = lam_max / ratio

            def jax_log(tol, lam=lam):
                res = glm.logistic_regression(X, y, lam, fit_intercept=False, tol=tol)
                return np.asarray(res.coef)

            out += _case(
                SUITE,
                f"{label} lambda_max/{ratio}",
                jax_log,
                lambda tol, a=lam: dev_fit(a, tol),
                _peers_logreg(X, y, lam),
                lambda w, a=lam: logreg_obj_gap(X, y, w, a),
                quick,
                repeats,
            )
        return out

    if want("a"):
        rows += lasso_cases("(a) Lasso", X, y, (10, 100))
    _, dev_path = device_solver(Quadratic, X, y)
    alpha_max = np.abs(X.T @ y).max() / n
    alphas = alpha_max * np.geomspace(1, 1e-3, 100)

    def check_path(coefs):
        coefs = coefs if coefs.shape[0] == X.shape[1] else coefs.T
        res = [lasso_obj_gap(X, y, coefs[:, k], a) for k, a in enumerate(alphas)]
        objs, gaps = zip(*res, strict=True)
        return float(np.sum(objs)), float(np.max(gaps))

    def jax_path(tol):
        res = jpath.lasso_path(X, y, lambdas=alphas, fit_intercept=False, tol=tol)
        return np.asarray(res.coef).T

    if want("b"):
        rows += _case(
            SUITE,
            "(b) Lasso path, 100 lambdas (sum of objectives)",
            jax_path,
            lambda tol: dev_path(alphas, tol),
            _peers_path(X, y, alphas),
            check_path,
            quick,
            1 if quick else 3,
        )
    if want("c"):
        X, y = data_classification()
        rows += logreg_cases("(c) L1 logistic", X, y, (10, 100))
    if want("d"):
        X, y = data_diabetes_poly3()
        rows += lasso_cases(
            "(d) Lasso, diabetes poly-3 (real, correlated)", X, y, (10, 100)
        )
    if want("e"):
        X, y = data_sparse_text(quick)
        label = "(e) sparse text-like {}x{}, 0.1%".format(*X.shape)
        rows += lasso_cases(f"{label}, Lasso", X, y, (10, 100))
        rows += logreg_cases(f"{label}, L1 logistic", X, np.sign(y + 1e-12), (10,))
    if want("f"):
        X, y, labels = data_stdlib_tfidf()
        label = "(f) stdlib TF-IDF {}x{} (real sparse)".format(*X.shape)
        rows += lasso_cases(f"{label}, Lasso", X, y, (10, 100))
        rows += logreg_cases(f"{label}, L1 logistic", X, labels, (10,))
    if want("g"):
        rows += glm_rows(quick)
    return rows


# ------------------------------------------------ GLMs and multinomial (g)-(j)
def _glm_objective(est, X, y, power, alpha, rho):
    """scikit-learn's GLM objective (mean half deviance + penalty), numpy."""
    mu = np.exp(X @ est.coef_ + est.intercept_)
    if power == 1:
        dev = np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / mu), 0) - y + mu
    else:
        dev = np.log(mu / y) + y / mu - 1
    w = est.coef_
    return dev.mean() + alpha * (rho * np.abs(w).sum() + 0.5 * (1 - rho) * w @ w)


def _multinomial_objective(est, X, y, C, rho):
    U = X @ est.coef_.T + est.intercept_
    U = U - U.max(1, keepdims=True)
    logp = U - np.log(np.exp(U).sum(1, keepdims=True))
    W = est.coef_
    ce = -logp[np.arange(len(y)), y].sum()
    return C * ce + rho * np.abs(W).sum() + 0.5 * (1 - rho) * (W * W).sum()


def glm_rows(quick):
    """Warm fits of the estimators (jaxreg.linear_model vs scikit-learn /
    skglm) at their default-like accuracy; prints each time ratio and the
    relative objective difference (ours - peer)/|peer| beside it."""
    from sklearn import linear_model as sk
    from sklearn.datasets import load_diabetes, load_digits, make_classification

    from jaxreg import linear_model as jl

    rng = np.random.default_rng(0)
    n, d = (2000, 100) if quick else (5000, 200)
    Xp = rng.standard_normal((n, d)) / np.sqrt(d)
    beta = np.zeros(d)
    beta[:10] = rng.standard_normal(10)
    yp = rng.poisson(np.exp(Xp @ beta + 0.5)).astype(float)
    Xd, yd = load_diabetes(return_X_y=True)
    Xd = (Xd - Xd.mean(0)) / Xd.std(0)
    Xg, yg = load_digits(return_X_y=True)
    sd = Xg.std(0)
    Xg = (Xg - Xg.mean(0)) / np.where(sd > 0, sd, 1)

    def fitter(est, X, y):
        return lambda _tol: est.fit(X, y)

    def glum(family, alpha, l1_ratio, X, y):
        """glum's GeneralizedLinearRegressor on the same objective (its
        ``alpha``/``l1_ratio`` are scikit-learn's: mean half-deviance +
        ``α(ρ‖w‖₁ + (1-ρ)/2‖w‖²)``), or no peer when glum is missing."""
        try:
            from glum import GeneralizedLinearRegressor
        except ImportError:
            return {}
        est = GeneralizedLinearRegressor(
            family=family, alpha=alpha, l1_ratio=l1_ratio, gradient_tol=1e-6
        )
        return {"glum": fitter(est, X, y)}

    cases = []
    a = 1e-3
    cases.append(
        (
            f"(g) Poisson L2, synthetic {n}x{d}",
            fitter(jl.PoissonRegressor(alpha=a), Xp, yp),
            {
                "sklearn-lbfgs": fitter(sk.PoissonRegressor(alpha=a), Xp, yp),
                "sklearn-newton-cholesky": fitter(
                    sk.PoissonRegressor(alpha=a, solver="newton-cholesky"), Xp, yp
                ),
                **glum("poisson", a, 0.0, Xp, yp),
            },
            lambda e: _glm_objective(e, Xp, yp, 1, a, 0.0),
        )
    )
    a1 = 5e-3
    peers = glum("poisson", a1, 1.0, Xp, yp)
    try:
        from skglm import GeneralizedLinearEstimator
        from skglm.datafits import Poisson
        from skglm.penalties import L1
        from skglm.solvers import ProxNewton

        peers["skglm"] = fitter(
            GeneralizedLinearEstimator(Poisson(), L1(a1), ProxNewton(tol=1e-6)),
            Xp,
            yp,
        )
    except ImportError:
        pass
    cases.append(
        (
            f"(h) Poisson L1, synthetic {n}x{d}",
            fitter(jl.PoissonRegressor(alpha=a1, l1_ratio=1.0), Xp, yp),
            peers,
            lambda e: _glm_objective(e, Xp, yp, 1, a1, 1.0),
        )
    )
    cases.append(
        (
            "(i) Gamma L2, diabetes",
            fitter(jl.GammaRegressor(alpha=0.01), Xd, yd),
            {
                "sklearn-lbfgs": fitter(sk.GammaRegressor(alpha=0.01), Xd, yd),
                **glum("gamma", 0.01, 0.0, Xd, yd),
            },
            lambda e: _glm_objective(e, Xd, yd, 2, 0.01, 0.0),
        )
    )
    for rho, solver in ((0.0, "lbfgs"), (1.0, "saga")):
        name = "L2" if rho == 0 else "L1"
        ours = jl.LogisticRegression(C=0.5, l1_ratio=rho, max_iter=1000)
        ref = sk.LogisticRegression(C=0.5, l1_ratio=rho, solver=solver)
        cases.append(
            (
                f"(j) multinomial {name}, digits 1797x64x10",
                fitter(ours, Xg, yg),
                {f"sklearn-{solver}": fitter(ref, Xg, yg)},
                lambda e, rho=rho: _multinomial_objective(e, Xg, yg, 0.5, rho),
            )
        )
    # (k) the 10-class problem; skglm has no multinomial solver
    nk, dk = (1000, 200) if quick else (5000, 2000)
    Xk, yk = make_classification(
        nk,
        dk,
        n_informative=50,
        n_classes=10,
        n_clusters_per_class=1,
        random_state=0,
    )
    Xk = (Xk - Xk.mean(0)) / Xk.std(0)
    Ck = 0.01
    cases.append(
        (
            f"(k) multinomial L1, synthetic {nk}x{dk}x10",
            fitter(jl.LogisticRegression(C=Ck, l1_ratio=1.0, max_iter=1000), Xk, yk),
            {
                "sklearn-saga": fitter(
                    sk.LogisticRegression(C=Ck, l1_ratio=1.0, solver="saga"), Xk, yk
                )
            },
            lambda e: _multinomial_objective(e, Xk, yk, Ck, 1.0),
        )
    )
    rows = []
    repeats = 1 if quick else 3
    for case, ours, peers, objective in cases:
        ours(None)  # compile
        t_ours = _time(ours, None, repeats)
        f_ours = objective(ours(None))
        for peer, fn in peers.items():
            t_peer = _time(fn, None, repeats)
            f_peer = objective(fn(None))
            rel = (f_ours - f_peer) / abs(f_peer)
            print(
                f"{case}: jaxreg {t_ours:.4f}s, {peer} {t_peer:.4f}s, ratio "
                f"{t_ours / t_peer:.2f}, objective (ours - peer)/|peer| {rel:+.1e}"
            )
            rows.append(row(SUITE, case, "warm fit", t_ours, peer, t_peer))
    return rows


if __name__ == "__main__":
    main(run, SUITE, __doc__)
