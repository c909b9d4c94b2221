"""Time to a relative objective gap of 1e-5: proximal_gradient vs jaxopt.

Usage:  python bench/composite.py [--quick]   (writes bench/results/composite.*)

Problems (issue 18), all float32 on the default device, both solvers given the
same smooth ``fun`` and the same prox, both jitted end to end:
  (a) Lasso, ``½ mean((Xw - y)²) + λ||w||₁``, Gaussian X (n, d), λ = λ_max/20;
  (b) L1 logistic regression, mean log-loss + λ||w||₁, λ = λ_max/20;
  (c) Poisson regression with log link + λ||w||₁;
  (d) problem (a) with X scaled by 4000 (Lipschitz constant ~1e7) and
      λ scaled to match;
  (e) Lasso on diabetes with standardized degree-2 features (442 × 65) and
  (f) L1 logistic regression on standardized breast cancer (569 × 30): real,
      correlated designs, λ = λ_max/20.

Protocol: F* is the best objective from a float64 run of ours at tol 1e-12
(cross-checked with scipy where cheap is unnecessary: it is the minimum of a
convex problem and both solvers must approach it). Each solver's ``tol`` means
something else (jaxopt: absolute ‖x⁺ - z‖/η; ours: relative prox-gradient
mapping), so it is walked down in half-decades from 1 until the numpy
objective gap (F - F*)/|F*| is <= 1e-5; then the call is timed (median of
``repeats``, compile excluded). Rows: time ratio ours/jaxopt (below 1: ours is
faster), the gap each reached, its iteration count and its forward evaluations
of ``fun`` (counted in a separate untimed call: one per value_and_grad, per
line-search trial, per Hessian-vector product and per final value), which,
unlike the times, do not depend on the machine's load. A solver that returns
NaN or never reaches the gap gets no time (ratio —) and its gap is reported.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))

from bench.common import main, row, time_call

SUITE = "composite"
TARGET = 1e-5
TOLS = [10.0 ** (-k / 2) for k in range(0, 25)]  # 1 ... 1e-12


def _problems(quick):
    rng = np.random.default_rng(0)
    n, d = (400, 200) if quick else (2000, 1000)
    X = rng.normal(size=(n, d)).astype(np.float32)
    w = np.zeros(d, np.float32)
    w[: d // 20] = rng.normal(size=d // 20)
    y_reg = (X @ w + 0.5 * rng.normal(size=n)).astype(np.float32)
    y_cls = np.where(X @ w + rng.logistic(size=n) > 0, 1.0, -1.0).astype(np.float32)
    Xp = (X / np.sqrt(d)).astype(np.float32)
    y_cnt = rng.poisson(np.exp(Xp @ (3 * w))).astype(np.float32)
    from sklearn.datasets import load_breast_cancer, load_diabetes
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    # real, correlated designs: diabetes with degree-2 features is rank
    # deficient (sex² is affine in sex), breast cancer's condition number ~3e2
    Xd, yd = load_diabetes(return_X_y=True)
    Xd = StandardScaler().fit_transform(PolynomialFeatures(2).fit_transform(Xd)[:, 1:])
    Xb, yb = load_breast_cancer(return_X_y=True)
    Xb = StandardScaler().fit_transform(Xb)
    return [
        ("lasso", "least_squares", X, y_reg, 1.0),
        ("logistic L1", "logistic", X, y_cls, 1.0),
        ("poisson L1", "poisson", Xp, y_cnt, 1.0),
        ("lasso, L≈1e7", "least_squares", X, y_reg, 4000.0),
        (
            "lasso, diabetes deg-2",
            "least_squares",
            Xd.astype(np.float32),
            (yd - yd.mean()).astype(np.float32),
            1.0,
        ),
        (
            "logistic L1, breast cancer",
            "logistic",
            Xb.astype(np.float32),
            np.where(yb > 0, 1.0, -1.0).astype(np.float32),
            1.0,
        ),
    ]


def _losses():
    import jax.numpy as jnp
    from jax.nn import softplus

    def least_squares(w, X, y):
        return 0.5 * jnp.mean((X @ w - y) ** 2)

    def logistic(w, X, y):
        return jnp.mean(softplus(-y * (X @ w)))

    def poisson(w, X, y):
        eta = X @ w
        return jnp.mean(jnp.exp(eta) - y * eta)

    return {"least_squares": least_squares, "logistic": logistic, "poisson": poisson}


def _objective_np(kind, w, X, y, lam):
    w, X, y = (np.asarray(a, np.float64) for a in (w, X, y))
    if not np.all(np.isfinite(w)):
        return np.nan
    u = X @ w
    if kind == "least_squares":
        f = 0.5 * np.mean((u - y) ** 2)
    elif kind == "logistic":
        f = np.mean(np.logaddexp(0.0, -y * u))
    else:
        f = np.mean(np.exp(u) - y * u)
    return f + lam * np.abs(w).sum()


def _lambda(kind, X, y, fun):
    import jax
    import jax.numpy as jnp

    g0 = jax.grad(fun)(jnp.zeros(X.shape[1]), X, y)
    return float(jnp.max(jnp.abs(g0))) / 20


def _reference(fun, X, y, lam):
    import jax
    import jax.numpy as jnp

    import jaxreg as jr

    with jax.enable_x64(True):
        res = jr.proximal_gradient(
            fun,
            jnp.zeros(X.shape[1], jnp.float64),
            jr.l1(lam),
            jnp.asarray(X, jnp.float64),
            jnp.asarray(y, jnp.float64),
            tol=1e-12,
            max_iter=200_000,
        )
        return np.asarray(res.params)


def _walk(make, kind, X, y, lam, f_star, repeats):
    """(seconds or None, gap reached, iterations, tol) at the loosest tol
    reaching TARGET."""
    gap, iters = np.inf, None
    for tol in TOLS:
        fn = make(tol)
        w, k = fn(X, y)
        gap = (_objective_np(kind, w, X, y, lam) - f_star) / abs(f_star)
        iters = int(k)
        if not np.isfinite(gap):
            return None, gap, iters, tol
        if gap <= TARGET:
            _, t = time_call(fn, X, y, repeats=repeats)
            return t, gap, iters, tol
    return None, gap, iters, tol


def _evaluations(make, fun, tol, X, y):
    """Forward evaluations of ``fun`` (each value_and_grad, line-search trial,
    Hessian-vector product and final value counts one) in one untimed call."""
    import jax

    count = [0]

    def bump():
        count[0] += 1

    def counted(w, X, y):  # jaxopt passes X, y by keyword
        jax.debug.callback(bump)
        return fun(w, X, y)

    jax.block_until_ready(make(tol, fun=counted)(X, y))
    jax.effects_barrier()
    return count[0]


def run(quick: bool = False):
    import jax
    import jax.numpy as jnp

    import jaxreg as jr

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from jaxopt import ProximalGradient
            from jaxopt.prox import prox_lasso
    except ImportError:
        ProximalGradient = None  # noqa: N806

    losses = _losses()
    repeats = 3 if quick else 7
    rows = []
    for case, kind, X, y, scale in _problems(quick):
        fun = losses[kind]
        Xs = (scale * X).astype(np.float32)
        lam = _lambda(kind, X, y, fun) * scale
        w_star = _reference(fun, Xs, y, lam)
        f_star = _objective_np(kind, w_star, Xs, y, lam)
        x0 = jnp.zeros(X.shape[1], jnp.float32)
        Xj, yj = jnp.asarray(Xs), jnp.asarray(y)

        def ours(tol, fun=fun, lam=lam, x0=x0):
            @jax.jit
            def fn(A, b):
                res = jr.proximal_gradient(
                    fun, x0, jr.l1(lam), A, b, tol=tol, max_iter=20_000
                )
                return res.params, res.n_iter

            return fn

        t_ours, gap_ours, it_ours, tol = _walk(ours, kind, Xj, yj, lam, f_star, repeats)
        ev_ours = _evaluations(ours, fun, tol, Xj, yj)

        t_peer = gap_peer = it_peer = ev_peer = None
        if ProximalGradient is not None:

            def peer(tol, fun=fun, lam=lam, x0=x0):
                solver = ProximalGradient(
                    fun=fun, prox=prox_lasso, tol=tol, maxiter=20_000, jit=True
                )

                @jax.jit
                def fn(A, b):
                    out = solver.run(x0, lam, X=A, y=b)
                    return out.params, out.state.iter_num

                return fn

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t_peer, gap_peer, it_peer, tol = _walk(
                    peer, kind, Xj, yj, lam, f_star, repeats
                )
                ev_peer = _evaluations(peer, fun, tol, Xj, yj)

        shape = f"{case} ({X.shape[0]}×{X.shape[1]})"
        rows.append(
            row(SUITE, shape, f"time to gap<={TARGET:g}", t_ours, "jaxopt", t_peer)
        )
        rows.append(
            row(SUITE, shape, "gap reached", gap_ours, "jaxopt", gap_peer, unit="rel")
        )
        rows.append(
            row(SUITE, shape, "iterations", it_ours, "jaxopt", it_peer, unit="it")
        )
        rows.append(
            row(SUITE, shape, "fun evaluations", ev_ours, "jaxopt", ev_peer, unit="ev")
        )
    return rows


if __name__ == "__main__":
    main(run, SUITE, __doc__)
