"""Choosing λ by its gradient: hypergradients through the Lasso vs a grid.

Cross-validation usually picks the Lasso strength λ on a grid: scikit-learn's
``LassoCV`` and ``jaxreg.cross_validate`` fit 100 values of λ on each of 5
folds. ``jaxreg.tune`` instead differentiates the K-fold validation loss with
respect to log λ: the Lasso solution is differentiable almost everywhere, and
its derivative solves a linear system on the support only (implicit
differentiation, sparse-ho's generalized Jacobian, by conjugate gradients on
Hessian-vector products), so a line search on log λ that uses these slopes
(cubic steps inside a bracket) reaches a minimum of the validation loss with a
few warm-started solves per fold. The same folds are used by all three methods,
on scikit-learn's diabetes data with degree-2 polynomial features (442 × 65,
standardized) and on a synthetic 500 × 1000 sparse regression problem (20 true
features). The figure shows the grid's CV curve and the path the hypergradient
search takes on it. Gradients also make the weighted Lasso, one penalty weight
per feature (1000 hyperparameters, ``per_feature=True``), tunable at all: no
grid can search that space. The validation losses are checked against refits by
scikit-learn's ``Lasso`` on the same folds. Wall times exclude compilation
(every method runs once before it is timed) and are noisy on a shared machine.
"""

import time

import numpy as np

import jaxreg
from jaxreg.examples._common import Claim, ExampleResult, new_figure, save_figure

N_FOLDS = 5


def _timed(fn, warm=True):
    if warm:
        fn()  # compile first
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _datasets(quick):
    from sklearn.datasets import load_diabetes
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(
        PolynomialFeatures(2, include_bias=False).fit_transform(X)
    )
    n, d = (200, 400) if quick else (500, 1000)
    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(n, d))
    w = np.zeros(d)
    w[:20] = rng.normal(size=20)
    ys = Xs @ w + 0.5 * rng.normal(size=n)
    data = {f"synthetic ({n} × {d})": (Xs, ys)}
    if not quick:  # the quick run skips it: fewer shapes to compile
        data[f"diabetes, degree-2 ({X.shape[0]} × {X.shape[1]})"] = (X, y)
    return data


def _sklearn_cv_mse(X, y, folds, lam, penalty_factor=None):
    """Mean over folds of the held-out MSE of scikit-learn Lasso refits (a
    weighted Lasso by rescaling the columns: w_j c_j = v_j)."""
    from sklearn.linear_model import Lasso

    c = np.ones(X.shape[1]) if penalty_factor is None else penalty_factor
    mses = []
    for tr, te in folds:
        model = Lasso(alpha=lam, tol=1e-10, max_iter=100_000).fit(X[tr] / c, y[tr])
        mses.append(np.mean((model.predict(X[te] / c) - y[te]) ** 2))
    return float(np.mean(mses))


def compute(quick):
    from sklearn.linear_model import LassoCV
    from sklearn.model_selection import KFold

    out = {}
    for name, (X, y) in _datasets(quick).items():
        folds = list(KFold(N_FOLDS, shuffle=True, random_state=0).split(X))
        grid, t_grid = _timed(
            lambda X=X, y=y, f=folds: jaxreg.cross_validate(X, y, cv=f), not quick
        )
        sk, t_sk = _timed(lambda X=X, y=y, f=folds: LassoCV(cv=f).fit(X, y), not quick)
        hyper, t_hyper = _timed(
            lambda X=X, y=y, f=folds: jaxreg.tune(X, y, cv=f), not quick
        )
        out[name] = dict(
            X=X,
            y=y,
            folds=folds,
            grid=grid,
            t_grid=t_grid,
            sk_mse=float(sk.mse_path_.mean(axis=1).min()),
            t_sk=t_sk,
            hyper=hyper,
            t_hyper=t_hyper,
            sk_check=_sklearn_cv_mse(X, y, folds, float(hyper.best)),
        )
    syn = next(v for k, v in out.items() if k.startswith("synthetic"))
    weighted, t_weighted = _timed(
        lambda: jaxreg.tune(
            syn["X"],
            syn["y"],
            cv=syn["folds"],
            per_feature=True,
            lam_init=syn["hyper"].best,
            max_steps=5 if quick else 20,
        ),
        not quick,
    )
    out["weighted"] = dict(
        result=weighted,
        t=t_weighted,
        sk_check=_sklearn_cv_mse(
            syn["X"], syn["y"], syn["folds"], 1.0, penalty_factor=weighted.best
        ),
        scalar_mse=2 * syn["hyper"].best_loss,
    )
    return out


def plot(data, out_dir):
    curves = [(k, v) for k, v in data.items() if k != "weighted"]
    fig, axes = new_figure(1, len(curves) + 1, width=4.6, height=3.6)
    for ax, (name, d) in zip(axes[0], curves, strict=False):
        grid, hyper = d["grid"], d["hyper"]
        ax.semilogx(grid.lambdas, grid.scores.mean(axis=1), label="grid (100 λ)")
        ax.plot(
            hyper.hyperparameters,
            2 * hyper.losses,
            "o-",
            ms=4,
            label="hypergradient steps",
        )
        ax.plot(hyper.best, 2 * hyper.best_loss, "k*", ms=10, label="final")
        ax.set(xlabel="λ", ylabel=f"{N_FOLDS}-fold CV MSE", title=name)
        ax.set_ylim(top=grid.scores.mean(axis=1).max() * 1.05)
        ax.legend(fontsize=7)
    w = data["weighted"]
    ax = axes[0, -1]
    ax.plot(2 * w["result"].losses, "o-")
    ax.axhline(w["scalar_mse"], color="k", ls="--", lw=1, label="best single λ")
    ax.set(
        xlabel="hypergradient step",
        ylabel=f"{N_FOLDS}-fold CV MSE",
        title=f"weighted Lasso: {w['result'].best.size} weights",
    )
    ax.legend(fontsize=7)
    return save_figure(fig, out_dir, "hyperparameter_gradients")


def claims(data):
    out = []
    for name, d in data.items():
        if name == "weighted":
            continue
        grid_best = float(d["grid"].scores.mean(axis=1).min())
        mse = 2 * d["hyper"].best_loss
        out.append(
            Claim(
                f"{name}: hypergradient search reaches the grid's best CV MSE "
                "within 1% (jaxreg grid and scikit-learn's LassoCV)",
                f"{mse:.5g} vs {grid_best:.5g} (jaxreg), {d['sk_mse']:.5g} "
                f"(LassoCV); {d['hyper'].n_solves} solves vs "
                f"{N_FOLDS * d['grid'].lambdas.size}",
                mse <= 1.01 * min(grid_best, d["sk_mse"]),
            )
        )
        out.append(
            Claim(
                f"{name}: its CV MSE is that of scikit-learn Lasso refits at "
                "the chosen λ (≤ 1e-3)",
                f"{mse:.6g} vs {d['sk_check']:.6g}",
                abs(mse / d["sk_check"] - 1) <= 1e-3,
            )
        )
    w = data["weighted"]
    mse = 2 * w["result"].best_loss
    out.append(
        Claim(
            f"the weighted Lasso's {w['result'].best.size} tuned weights lower "
            "the CV MSE below the best single λ (checked by scikit-learn refits)",
            f"{mse:.5g} vs {w['scalar_mse']:.5g}; refits {w['sk_check']:.5g}",
            mse < w["scalar_mse"] and abs(mse / w["sk_check"] - 1) <= 1e-3,
        )
    )
    return out


def run(out_dir, quick: bool) -> ExampleResult:
    data = compute(quick)
    figure = plot(data, out_dir)
    numbers = {
        "timing": "quick run: times include compilation"
        if quick
        else ("after one compiling run each; shared machine, noisy")
    }
    for name, d in data.items():
        if name == "weighted":
            continue
        numbers[f"{name}: wall time, hypergradient / jaxreg grid / LassoCV"] = (
            f"{d['t_hyper']:.3g} s / {d['t_grid']:.3g} s / {d['t_sk']:.3g} s "
            f"(ratios {d['t_hyper'] / d['t_grid']:.2f}, "
            f"{d['t_hyper'] / d['t_sk']:.2f})"
        )
        numbers[f"{name}: λ hypergradient / grid"] = (
            f"{float(d['hyper'].best):.4g} / {d['grid'].best_lambda:.4g}"
        )
    w = data["weighted"]
    numbers["weighted Lasso: wall time, steps"] = (
        f"{w['t']:.3g} s, {w['result'].losses.size - 1} steps"
    )
    return ExampleResult(claims(data), [figure], numbers)
