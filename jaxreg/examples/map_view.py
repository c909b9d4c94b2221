"""The Bayesian MAP view: ridge is a Gaussian prior, Lasso a Laplace prior.

With noise y = Xw + ε, ε ~ N(0, σ²I), the negative log posterior under a prior
p(w) is 1/(2σ²)‖y − Xw‖² − log p(w) + const. Multiplying by σ²/n gives our
solvers' objective 1/(2n)‖y − Xw‖² + λ·R(w): a Gaussian prior N(0, τ²I) is
ridge (λ/2)‖w‖² at λ = σ²/(n·τ²), and a Laplace prior of scale b (density ∝
exp(−|w_j|/b)) is the Lasso λ‖w‖₁ at λ = σ²/(n·b). The 1/n is ours (and
scikit-learn's): forget it and λ is n times too large. On n = 50 points with
d = 20 features (three nonzero true weights, σ = 1), ``jaxreg.ridge`` and
``jaxreg.lasso`` at those λ land on the posterior mode found independently,
the Gaussian one in closed form and the Laplace one by L-BFGS-B on the
negative log posterior (float64 scipy, w split into positive and negative
parts). The failure signature of reading a MAP estimate as "the Bayesian
answer": the Laplace MAP sets most coefficients exactly to zero, but the
posterior puts probability zero on w_j = 0 — samples from it, drawn by Park &
Casella's Gibbs sampler (a Laplace prior is a scale mixture of Gaussians), are
dense, and the zeroed coefficients have posterior spreads comparable to the
kept ones. Sparsity is a property of the mode, not of the posterior.
"""

import jax.numpy as jnp
import numpy as np

import jaxreg
from jaxreg.examples._common import Claim, ExampleResult, new_figure, save_figure

N, D = 50, 20
TRUE_WEIGHTS = (3.0, -2.0, 1.5)
SIGMA = 1.0  # noise standard deviation, known
TAU = 1.0  # Gaussian prior standard deviation
B = 0.1  # Laplace prior scale


def make_data(rng):
    X = rng.normal(size=(N, D))
    w = np.zeros(D)
    w[: len(TRUE_WEIGHTS)] = TRUE_WEIGHTS
    return X, X @ w + SIGMA * rng.normal(size=N)


def laplace_map_direct(X, y):
    """argmin 1/(2σ²)‖y − Xw‖² + ‖w‖₁/b by L-BFGS-B on w = w⁺ − w⁻ ≥ 0."""
    from scipy.optimize import minimize

    def fun(z):
        w = z[:D] - z[D:]
        r = X @ w - y
        g = X.T @ r / SIGMA**2
        value = 0.5 * r @ r / SIGMA**2 + z.sum() / B
        return value, np.concatenate([g + 1 / B, -g + 1 / B])

    out = minimize(
        fun,
        np.zeros(2 * D),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0, None)] * (2 * D),
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000},
    )
    return out.x[:D] - out.x[D:]


def laplace_posterior_samples(X, y, rng, n_samples, burn_in=500):
    """Gibbs sampler for w | y under the Laplace prior (Park & Casella, 2008,
    with σ known): w_j | s_j ~ N(0, s_j), s_j ~ Exp(1/(2b²)), so that
    1/s_j | w_j ~ InverseGaussian(mean 1/(b|w_j|), shape 1/b²) and
    w | s ~ N(A⁻¹Xᵀy/σ², A⁻¹) with A = XᵀX/σ² + diag(1/s)."""
    xtx, xty = X.T @ X / SIGMA**2, X.T @ y / SIGMA**2
    w, out = np.zeros(D), []
    for i in range(burn_in + n_samples):
        inv_s = rng.wald(1.0 / (B * np.maximum(np.abs(w), 1e-12)), 1.0 / B**2)
        chol = np.linalg.cholesky(xtx + np.diag(inv_s))
        mean = np.linalg.solve(chol.T, np.linalg.solve(chol, xty))
        w = mean + np.linalg.solve(chol.T, rng.normal(size=D))
        if i >= burn_in:
            out.append(w)
    return np.array(out)


def run(out_dir, quick: bool) -> ExampleResult:
    rng = np.random.default_rng(0)
    X, y = make_data(rng)
    X32, y32 = jnp.asarray(X, jnp.float32), jnp.asarray(y, jnp.float32)

    lam_ridge = SIGMA**2 / (N * TAU**2)
    lam_lasso = SIGMA**2 / (N * B)
    ridge = np.asarray(jaxreg.ridge(X32, y32, lam_ridge, fit_intercept=False).coef)
    lasso = np.asarray(
        jaxreg.lasso(X32, y32, lam_lasso, fit_intercept=False, tol=1e-6).coef
    )
    # Gaussian posterior mode (= mean), closed form in float64.
    gauss_map = np.linalg.solve(X.T @ X / SIGMA**2 + np.eye(D) / TAU**2, X.T @ y)
    gauss_map /= SIGMA**2
    laplace_map = laplace_map_direct(X, y)
    forgot_n = np.asarray(
        jaxreg.lasso(X32, y32, SIGMA**2 / B, fit_intercept=False).coef
    )

    samples = laplace_posterior_samples(X, y, rng, 1000 if quick else 5000)
    zeroed = lasso == 0
    kept = ~zeroed
    post_sd = samples.std(axis=0)
    err_ridge = float(np.max(np.abs(ridge - gauss_map)))
    err_lasso = float(np.max(np.abs(lasso - laplace_map)))
    exact_zeros_in_samples = int(np.sum(samples == 0))
    sd_ratio = float(np.median(post_sd[zeroed]) / np.median(post_sd[kept]))

    fig, axes = new_figure(1, 3, width=4.4, height=3.7)
    ax_coef, ax_hist, ax_samples = axes[0]
    idx = np.arange(D)
    ax_coef.plot(
        idx, gauss_map, "s", mfc="none", ms=8, label="Gaussian MAP (closed form)"
    )
    ax_coef.plot(idx, ridge, ".", label=f"jaxreg.ridge, λ=σ²/(nτ²)={lam_ridge:.3g}")
    ax_coef.plot(
        idx, laplace_map, "o", mfc="none", ms=8, label="Laplace MAP (L-BFGS-B)"
    )
    ax_coef.plot(idx, lasso, "x", label=f"jaxreg.lasso, λ=σ²/(nb)={lam_lasso:.3g}")
    ax_coef.set(xlabel="coefficient j", ylabel="w_j", title="MAP = our solvers")
    ax_coef.legend(fontsize=6)
    j = int(np.flatnonzero(zeroed)[0])
    ax_hist.hist(samples[:, j], bins=50, density=True, color="C0", alpha=0.7)
    ax_hist.axvline(0.0, color="C3", lw=2, label=f"MAP w_{j} = 0 exactly")
    ax_hist.set(
        xlabel=f"w_{j}",
        ylabel="posterior density",
        title=f"posterior of a zeroed coefficient (w_{j})",
    )
    ax_hist.legend(fontsize=7)
    for s in samples[:3]:
        ax_samples.plot(idx, s, ".", alpha=0.7)
    ax_samples.plot(idx, lasso, "kx", ms=8, label="Laplace MAP")
    ax_samples.axhline(0, color="k", lw=0.5)
    ax_samples.set(
        xlabel="coefficient j", ylabel="w_j", title="three posterior samples: dense"
    )
    ax_samples.legend(fontsize=7)
    figure = save_figure(fig, out_dir, "map_view")

    numbers = {
        "λ ridge = σ²/(n·τ²)": f"{lam_ridge:.4g} (τ = {TAU:g}, σ = {SIGMA:g}, n = {N})",
        "λ Lasso = σ²/(n·b)": f"{lam_lasso:.4g} (b = {B:g})",
        "exact zeros: Laplace MAP / posterior samples": (
            f"{int(zeroed.sum())}/{D} / {exact_zeros_in_samples}/{samples.size}"
        ),
        "posterior sd, median over zeroed / kept coefficients": (
            f"{np.median(post_sd[zeroed]):.3f} / {np.median(post_sd[kept]):.3f}"
        ),
        "Lasso with λ = σ²/b (the 1/n forgotten): nonzeros": str(
            int(np.sum(forgot_n != 0))
        ),
    }
    claims = [
        Claim(
            "ridge at λ = σ²/(nτ²) is the Gaussian-prior posterior mode",
            f"max |Δw| = {err_ridge:.1e} vs the float64 closed form",
            err_ridge < 1e-4,
        ),
        Claim(
            "Lasso at λ = σ²/(nb) is the Laplace-prior posterior mode",
            f"max |Δw| = {err_lasso:.1e} vs L-BFGS-B on the log posterior",
            err_lasso < 1e-3,
        ),
        Claim(
            "the MAP is sparse, posterior samples are not (no exact zero)",
            f"MAP: {int(zeroed.sum())}/{D} zeros; samples: "
            f"{exact_zeros_in_samples} zeros in {samples.size} entries",
            zeroed.sum() >= D // 2 and exact_zeros_in_samples == 0,
        ),
        Claim(
            "zeroed coefficients keep a posterior spread ≥ 30% of the kept ones'",
            f"ratio of median posterior sd = {sd_ratio:.2f}",
            sd_ratio >= 0.3,
        ),
        Claim(
            "forgetting the 1/n (λ = σ²/b) is not the MAP: it zeroes every weight",
            f"{int(np.sum(forgot_n != 0))} nonzeros vs {int(kept.sum())} in the MAP",
            np.all(forgot_n == 0) and kept.sum() >= 3,
        ),
    ]
    return ExampleResult(claims, [figure], numbers)
