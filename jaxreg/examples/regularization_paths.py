"""Regularization paths on the diabetes data, with the cross-validated λ.

scikit-learn's diabetes data (442 patients, 10 standardized baseline
variables, disease progression after a year) is fitted with lasso
(1/(2n)‖y − Xw − b‖² + λ‖w‖₁), elastic net (ρ = 0.5: λ(ρ‖w‖₁ + (1−ρ)/2‖w‖²)) and
ridge (λ/2‖w‖²) along a grid of λ, and λ is chosen by 5-fold cross-validation
(the same shuffled folds for all three). The lasso path starts at
λ_max = ‖Xᵀ(y − ȳ)‖_∞/n, where every coefficient is exactly zero, and the
variables enter one at a time as λ falls, in the order the LARS paper
(Efron et al., 2004) reports for this data: bmi, s5 (log triglycerides), bp,
s3 (HDL). Elastic net follows a smoother version of the same path; ridge never
zeroes a coefficient and only shrinks all of them together. The ridge path and
its cross-validation are computed in JAX by the closed form (XᵀX + nλI)⁻¹Xᵀy on
centred data, every fold × λ pair in one vmapped call, and checked against
scikit-learn's Ridge. The lasso and elastic-net paths come from scikit-learn's
coordinate descent (``lasso_path``, ``enet_path``, ``LassoCV``).
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg.examples._common import Claim, ExampleResult, new_figure, save_figure

N_FOLDS = 5
L1_RATIO = 0.5
PATH_RATIO = 1e-4  # the lasso path runs from λ_max down to λ_max·1e-4
# The L2 part of elastic net shrinks these large coefficients (hundreds, on
# unit-norm columns) hard, so its cross-validated λ lies further down.
ENET_PATH_RATIO = 1e-6
LARS_ORDER = ("bmi", "s5", "bp", "s3")  # Efron et al. (2004), diabetes data


def ridge_fit(X, y, weights, lam):
    """Ridge with intercept on the rows where ``weights`` is 1:
    w = (X̃ᵀX̃ + n_w·λI)⁻¹X̃ᵀỹ on weighted-centred data, b = ȳ − x̄ᵀw."""
    n = jnp.sum(weights)
    x_mean = weights @ X / n
    y_mean = weights @ y / n
    Xc = (X - x_mean[None, :]) * jnp.sqrt(weights)[:, None]
    yc = (y - y_mean) * jnp.sqrt(weights)
    d = X.shape[1]
    factor = jax.scipy.linalg.cho_factor(Xc.T @ Xc + n * lam * jnp.eye(d))
    w = jax.scipy.linalg.cho_solve(factor, Xc.T @ yc)
    return w, y_mean - x_mean @ w


@jax.jit
def ridge_cv(X, y, train_masks, lams):
    """Mean held-out MSE for every (fold, λ): one vmapped call, shape (folds, λ)."""

    def held_out_mse(mask, lam):
        w, b = ridge_fit(X, y, mask, lam)
        test = 1.0 - mask
        return test @ (X @ w + b - y) ** 2 / jnp.sum(test)

    per_lambda = jax.vmap(held_out_mse, in_axes=(None, 0))
    return jax.vmap(per_lambda, in_axes=(0, None))(train_masks, lams)


def run(out_dir, quick: bool) -> ExampleResult:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import ElasticNetCV, LassoCV, Ridge, enet_path, lasso_path
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
    ridge_lams = np.logspace(-7, 0, n_lambdas)
    folds = KFold(N_FOLDS, shuffle=True, random_state=0)

    _, lasso_coefs, _ = lasso_path(Xc, yc, alphas=lasso_lams)
    _, enet_coefs, _ = enet_path(Xc, yc, l1_ratio=L1_RATIO, alphas=enet_lams)
    lasso_cv = LassoCV(alphas=lasso_lams, cv=folds).fit(X, y)
    enet_cv = ElasticNetCV(l1_ratio=L1_RATIO, alphas=enet_lams, cv=folds).fit(X, y)

    X32, y32 = jnp.asarray(X, jnp.float32), jnp.asarray(y, jnp.float32)
    ones = jnp.ones(n, jnp.float32)
    ridge_coefs = np.asarray(
        jax.jit(jax.vmap(lambda lam: ridge_fit(X32, y32, ones, lam)[0]))(
            jnp.asarray(ridge_lams, jnp.float32)
        )
    ).T
    masks = np.zeros((N_FOLDS, n), np.float32)
    for k, (train, _) in enumerate(folds.split(X)):
        masks[k, train] = 1.0
    ridge_mse = np.asarray(ridge_cv(X32, y32, jnp.asarray(masks), ridge_lams))
    ridge_best = int(np.argmin(ridge_mse.mean(axis=0)))

    # Independent checks with scikit-learn's Ridge (alpha = n·λ in its convention).
    ridge_ref = np.stack(
        [Ridge(alpha=n * lam).fit(X, y).coef_ for lam in ridge_lams], axis=1
    )
    ridge_path_error = float(
        np.max(np.abs(ridge_coefs - ridge_ref)) / np.max(np.abs(ridge_ref))
    )
    lam_star = ridge_lams[ridge_best]
    sk_fold_mse = [
        np.mean(
            (Ridge(alpha=len(tr) * lam_star).fit(X[tr], y[tr]).predict(X[te]) - y[te])
            ** 2
        )
        for tr, te in folds.split(X)
    ]
    ridge_cv_error = float(
        abs(ridge_mse[:, ridge_best].mean() - np.mean(sk_fold_mse))
        / np.mean(sk_fold_mse)
    )

    entry = {}
    for k in range(n_lambdas):
        for j in np.flatnonzero(lasso_coefs[:, k]):
            entry.setdefault(names[j], k)
    order = sorted(entry, key=entry.get)
    lasso_mse = lasso_cv.mse_path_.mean(axis=1)

    fig, axes = new_figure(2, 2, width=5.2, height=3.7)
    panels = [
        ("lasso", lasso_lams, lasso_coefs, lasso_cv.alpha_),
        (f"elastic net, ρ = {L1_RATIO}", enet_lams, enet_coefs, enet_cv.alpha_),
        ("ridge (JAX closed form)", ridge_lams, ridge_coefs, lam_star),
    ]
    for ax, (title, lams, coefs, chosen) in zip(axes.flat, panels, strict=False):
        for j in range(coefs.shape[0]):
            ax.semilogx(lams, coefs[j], lw=1.2, label=names[j])
        ax.axvline(chosen, color="k", ls="--", lw=1, label="CV-chosen λ")
        ax.invert_xaxis()
        ax.set(xlabel="λ (decreasing →)", ylabel="coefficient", title=title)
    axes[0, 0].legend(fontsize=6, ncol=2)
    ax = axes[1, 1]
    for label, lams, mse in (
        ("lasso", lasso_lams, lasso_mse),
        ("elastic net", enet_lams, enet_cv.mse_path_.mean(axis=1)),
        ("ridge", ridge_lams, ridge_mse.mean(axis=0)),
    ):
        ax.loglog(
            lams / lams[0] if label != "ridge" else lams / lams[-1], mse, label=label
        )
    ax.set(
        xlabel="λ / (largest λ on the grid)",
        ylabel=f"{N_FOLDS}-fold CV mean squared error",
        title="cross-validation curves",
    )
    ax.invert_xaxis()
    ax.legend(fontsize=8)
    figure = save_figure(fig, out_dir, "regularization_paths")

    lasso_kept = int(np.sum(lasso_cv.coef_ != 0))
    improvement = 1 - lasso_mse.min() / lasso_mse[0]
    numbers = {
        "λ_max = ‖Xᵀ(y − ȳ)‖_∞ / n": f"{lam_max:.4g}",
        "lasso: order of entry": ", ".join(order),
        "lasso: CV λ, features kept, CV MSE": (
            f"{lasso_cv.alpha_:.4g}, {lasso_kept}/10, {lasso_mse.min():.0f}"
        ),
        "elastic net: CV λ, features kept": (
            f"{enet_cv.alpha_:.4g}, {int(np.sum(enet_cv.coef_ != 0))}/10"
        ),
        "ridge: CV λ, CV MSE": f"{lam_star:.3g}, {ridge_mse[:, ridge_best].mean():.0f}",
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
            "the CV-chosen lasso keeps fewer than 10 variables and halves the "
            "intercept-only CV error",
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
            "the JAX ridge path matches scikit-learn's Ridge (float32, ≤ 1e-4)",
            f"max |Δw| / max |w| = {ridge_path_error:.1e}",
            ridge_path_error < 1e-4,
        ),
        Claim(
            "the vmapped ridge CV matches per-fold scikit-learn fits (≤ 1e-4)",
            f"relative difference of CV MSE at the chosen λ = {ridge_cv_error:.1e}",
            ridge_cv_error < 1e-4,
        ),
    ]
    return ExampleResult(claims, [figure], numbers)
