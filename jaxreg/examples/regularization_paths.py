"""Regularization paths on the diabetes data, with the cross-validated λ.

scikit-learn's diabetes data (442 patients, 10 standardized baseline
variables, disease progression after a year) is fitted with lasso
(1/(2n)‖y − Xw − b‖² + λ‖w‖₁), elastic net (ρ = 0.5: λ(ρ‖w‖₁ + (1−ρ)/2‖w‖²)) and
ridge (λ/2‖w‖²) along a grid of λ by jaxreg's solvers: ``jaxreg.lasso_path`` and
``jaxreg.enet_path`` (working-set coordinate descent, warm-started down the
grid inside one compiled loop, stopped on the duality gap) and
``jaxreg.ridge`` (Cholesky). ``jaxreg.cross_validate`` then picks λ by 5-fold
cross-validation on the same shuffled folds for all three. The lasso path
starts at λ_max = ‖Xᵀ(y − ȳ)‖_∞/n, where every coefficient is exactly zero, and
the variables enter one at a time as λ falls, in the order the LARS paper
(Efron et al., 2004) reports for this data: bmi, s5 (log triglycerides), bp,
s3 (HDL). Elastic net follows a smoother version of the same path; ridge never
zeroes a coefficient and only shrinks all of them together. Each result is
checked against scikit-learn on the same objective: ``lasso_path``,
``LassoCV`` on the same folds, and ``Ridge`` with α = nλ.
"""

import numpy as np

import jaxreg
from jaxreg.examples._common import Claim, ExampleResult, new_figure, save_figure

N_FOLDS = 5
L1_RATIO = 0.5
PATH_RATIO = 1e-4  # the lasso path runs from λ_max down to λ_max·1e-4
# The L2 part of elastic net shrinks these large coefficients (hundreds, on
# unit-norm columns) hard, so its cross-validated λ lies further down.
ENET_PATH_RATIO = 1e-6
TOL = 1e-6  # duality gap ≤ TOL·P(0) at every λ
LARS_ORDER = ("bmi", "s5", "bp", "s3")  # Efron et al. (2004), diabetes data


def run(out_dir, quick: bool) -> ExampleResult:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LassoCV, Ridge, lasso_path
    from sklearn.model_selection import KFold

    data = load_diabetes()
    X, y, names = data.data, data.target, list(data.feature_names)
    n = len(y)
    n_lambdas = 40 if quick else 100
    Xc, yc = X - X.mean(axis=0), y - y.mean()
    lam_max = float(np.max(np.abs(Xc.T @ yc)) / n)
    lasso_lams = lam_max * np.logspace(0, np.log10(PATH_RATIO), n_lambdas)
    enet_lams = (
        lam_max / L1_RATIO * np.logspace(0, np.log10(ENET_PATH_RATIO), n_lambdas)
    )
    ridge_lams = np.logspace(0, -7, n_lambdas)
    folds = list(KFold(N_FOLDS, shuffle=True, random_state=0).split(X))

    lasso_coefs = np.asarray(
        jaxreg.lasso_path(X, y, lambdas=lasso_lams, tol=TOL).coef
    ).T
    enet_coefs = np.asarray(
        jaxreg.enet_path(X, y, l1_ratio=L1_RATIO, lambdas=enet_lams, tol=TOL).coef
    ).T
    ridge_coefs = np.stack(
        [np.asarray(jaxreg.ridge(X, y, lam).coef) for lam in ridge_lams], axis=1
    )
    cv = {
        name: jaxreg.cross_validate(
            X, y, lambdas=lams, l1_ratio=ratio, cv=folds, tol=TOL
        )
        for name, lams, ratio in (
            ("lasso", lasso_lams, 1.0),
            ("elastic net", enet_lams, L1_RATIO),
            ("ridge", ridge_lams, 0.0),
        )
    }
    cv_mse = {name: result.scores.mean(axis=1) for name, result in cv.items()}

    # Independent references: scikit-learn on the same objectives and folds.
    _, sk_lasso, _ = lasso_path(Xc, yc, alphas=lasso_lams, tol=1e-12, max_iter=100_000)
    lasso_error = float(
        np.max(np.abs(lasso_coefs - sk_lasso)) / np.max(np.abs(sk_lasso))
    )
    sk_alpha = LassoCV(alphas=lasso_lams, cv=folds).fit(X, y).alpha_
    ridge_ref = np.stack(
        [Ridge(alpha=n * lam).fit(X, y).coef_ for lam in ridge_lams], axis=1
    )
    ridge_error = float(
        np.max(np.abs(ridge_coefs - ridge_ref)) / np.max(np.abs(ridge_ref))
    )
    lam_ridge = cv["ridge"].best_lambda
    sk_fold_mse = np.mean(
        [
            np.mean(
                (
                    Ridge(alpha=len(tr) * lam_ridge).fit(X[tr], y[tr]).predict(X[te])
                    - y[te]
                )
                ** 2
            )
            for tr, te in folds
        ]
    )
    ridge_cv_error = float(
        abs(cv_mse["ridge"][cv["ridge"].best_index] / sk_fold_mse - 1)
    )
    lasso_fit = jaxreg.lasso(X, y, cv["lasso"].best_lambda, tol=TOL)
    lasso_kept = int(np.sum(np.asarray(lasso_fit.coef) != 0))

    entry = {}
    for k in range(n_lambdas):
        for j in np.flatnonzero(lasso_coefs[:, k]):
            entry.setdefault(names[j], k)
    order = sorted(entry, key=entry.get)
    lasso_mse = cv_mse["lasso"]

    fig, axes = new_figure(2, 2, width=5.2, height=3.7)
    panels = [
        ("lasso", lasso_lams, lasso_coefs, cv["lasso"].best_lambda),
        (
            f"elastic net, ρ = {L1_RATIO}",
            enet_lams,
            enet_coefs,
            cv["elastic net"].best_lambda,
        ),
        ("ridge", ridge_lams, ridge_coefs, lam_ridge),
    ]
    for ax, (title, lams, coefs, chosen) in zip(axes.flat, panels, strict=False):
        for j in range(coefs.shape[0]):
            ax.semilogx(lams, coefs[j], lw=1.2, label=names[j])
        ax.axvline(chosen, color="k", ls="--", lw=1, label="CV-chosen λ")
        ax.invert_xaxis()
        ax.set(xlabel="λ (decreasing →)", ylabel="coefficient", title=title)
    axes[0, 0].legend(fontsize=6, ncol=2)
    ax = axes[1, 1]
    for (label, result), mse in zip(cv.items(), cv_mse.values(), strict=True):
        scale = result.lambdas.max()
        (line,) = ax.loglog(result.lambdas / scale, mse, label=label)
        best = result.best_index
        ax.plot(result.lambdas[best] / scale, mse[best], "o", color=line.get_color())
    ax.set(
        xlabel="λ / (largest λ on the grid)",
        ylabel=f"{N_FOLDS}-fold CV mean squared error",
        title="cross-validation curves (jaxreg.cross_validate)",
    )
    ax.invert_xaxis()
    ax.legend(fontsize=8)
    figure = save_figure(fig, out_dir, "regularization_paths")

    improvement = 1 - lasso_mse.min() / lasso_mse[0]
    numbers = {
        "λ_max = ‖Xᵀ(y − ȳ)‖_∞ / n": f"{lam_max:.4g}",
        "lasso: order of entry": ", ".join(order),
        "lasso: CV λ (jaxreg, scikit-learn), features kept, CV MSE": (
            f"{cv['lasso'].best_lambda:.4g}, {sk_alpha:.4g}, {lasso_kept}/10, "
            f"{lasso_mse.min():.0f}"
        ),
        "elastic net: CV λ, CV MSE": (
            f"{cv['elastic net'].best_lambda:.4g}, {cv_mse['elastic net'].min():.0f}"
        ),
        "ridge: CV λ, CV MSE": f"{lam_ridge:.3g}, {cv_mse['ridge'].min():.0f}",
    }
    claims = [
        Claim(
            "at λ_max = ‖Xᵀ(y − ȳ)‖_∞/n every lasso coefficient is exactly 0",
            f"{int(np.sum(lasso_coefs[:, 0] != 0))} non-zero at λ_max, "
            f"{int(np.sum(lasso_coefs[:, 1] != 0))} at the next λ",
            np.all(lasso_coefs[:, 0] == 0) and np.any(lasso_coefs[:, 1] != 0),
        ),
        Claim(
            "variables enter the lasso path in the LARS paper's order",
            f"first four: {', '.join(order[:4])}",
            tuple(order[:4]) == LARS_ORDER,
        ),
        Claim(
            "jaxreg.lasso_path equals scikit-learn's lasso_path at every λ (≤ 1e-3)",
            f"max |Δw| / max |w| = {lasso_error:.1e}",
            lasso_error < 1e-3,
        ),
        Claim(
            "jaxreg.cross_validate picks LassoCV's λ on the same folds",
            f"{cv['lasso'].best_lambda:.5g} vs {sk_alpha:.5g}",
            np.isclose(cv["lasso"].best_lambda, sk_alpha, rtol=1e-6),
        ),
        Claim(
            "the CV-chosen lasso keeps fewer than 10 variables and cuts the "
            "intercept-only CV error by more than 45%",
            f"{lasso_kept}/10 kept; CV MSE {lasso_mse.min():.0f} vs "
            f"{lasso_mse[0]:.0f} ({improvement:.0%} lower)",
            lasso_kept < 10 and improvement > 0.45,
        ),
        Claim(
            "ridge never zeroes a coefficient along its path",
            f"{int(np.sum(ridge_coefs == 0))} zeros in {ridge_coefs.size} coefficients",
            np.all(ridge_coefs != 0),
        ),
        Claim(
            "jaxreg.ridge matches scikit-learn's Ridge(α = nλ) along the path (≤ 1e-4)",
            f"max |Δw| / max |w| = {ridge_error:.1e}",
            ridge_error < 1e-4,
        ),
        Claim(
            "ridge CV error at the chosen λ matches per-fold scikit-learn refits",
            f"relative difference = {ridge_cv_error:.1e}",
            ridge_cv_error < 1e-4,
        ),
    ]
    return ExampleResult(claims, [figure], numbers)
