"""Ridge conditioning: how λ turns a near-singular system into an easy one.

Ten features that are all the same signal z plus 0.2% independent noise
(n = 100) make XᵀX nearly singular: its eigenvalues are about n·d for the
shared direction and about n·(0.002)² for the nine others. Ridge regression
under jaxreg's convention, 1/(2n)‖y − Xw‖² + λ/2‖w‖², solves
(XᵀX + nλI)w = Xᵀy, and adding nλ to every eigenvalue gives the condition
number κ(λ) = (μ_max + nλ)/(μ_min + nλ): flat at its OLS value while nλ ≪ μ_min,
then falling like 1/λ. The condition number is what float32 feels: solving the
system by Cholesky in float32 loses about log₁₀(κ) of its ~7 digits, so the
relative error against a float64 solve tracks κ·ε₃₂ (ε₃₂ ≈ 1.2·10⁻⁷, float32's
machine epsilon). The coefficients tell the same story: near λ = 0 they are
large, of both signs and driven by the noise in y; with enough λ the ten copies
share the weight equally, the stable answer a collinear design supports.
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg.examples._common import Claim, ExampleResult, new_figure, save_figure

N, D = 100, 10
COLLINEAR_NOISE = 0.002
LAMBDAS = np.logspace(-9, 1, 41)
EPS32 = float(np.finfo(np.float32).eps)


def make_data(seed: int = 0):
    """X[:, j] = z + 0.002·ε_j; y = X·(0.3, …, 0.3) + 0.1·ε (float64, on the host)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(N)
    X = z[:, None] + COLLINEAR_NOISE * rng.standard_normal((N, D))
    y = X @ np.full(D, 3.0 / D) + 0.1 * rng.standard_normal(N)
    return X, y


@jax.jit
def ridge_cholesky(X, y, lam):
    """w = (XᵀX + nλI)⁻¹Xᵀy by Cholesky, in the dtype of X (float32 here)."""
    n, d = X.shape
    factor = jax.scipy.linalg.cho_factor(X.T @ X + n * lam * jnp.eye(d, dtype=X.dtype))
    return jax.scipy.linalg.cho_solve(factor, X.T @ y)


def run(out_dir, quick: bool) -> ExampleResult:
    del quick  # 41 solves of a 10 × 10 system
    X, y = make_data()
    gram = X.T @ X
    mu = np.linalg.eigvalsh(gram)
    kappa_formula = (mu[-1] + N * LAMBDAS) / (mu[0] + N * LAMBDAS)
    kappa_svd = np.array(
        [np.linalg.cond(gram + N * lam * np.eye(D)) for lam in LAMBDAS]
    )
    reference = np.stack(
        [np.linalg.solve(gram + N * lam * np.eye(D), X.T @ y) for lam in LAMBDAS]
    )
    w32 = np.asarray(
        jax.vmap(ridge_cholesky, in_axes=(None, None, 0))(
            jnp.asarray(X, jnp.float32),
            jnp.asarray(y, jnp.float32),
            jnp.asarray(LAMBDAS, jnp.float32),
        )
    )
    error = np.linalg.norm(w32 - reference, axis=1) / np.linalg.norm(reference, axis=1)
    spread = reference.max(axis=1) - reference.min(axis=1)

    fig, axes = new_figure(1, 3, width=4.3, height=3.8)
    ax_k, ax_e, ax_w = axes[0]
    ax_k.loglog(LAMBDAS, kappa_svd, "o", ms=3, label="measured (SVD)")
    ax_k.loglog(LAMBDAS, kappa_formula, "-", lw=1, label="(μ_max + nλ)/(μ_min + nλ)")
    ax_k.set(xlabel="λ", ylabel="κ(XᵀX + nλI)", title="condition number")
    ax_k.legend(fontsize=8)
    ax_e.loglog(LAMBDAS, error, "o", ms=3, label="float32 Cholesky vs float64")
    ax_e.loglog(LAMBDAS, kappa_formula * EPS32, "-", lw=1, label="κ·ε₃₂")
    ax_e.set(xlabel="λ", ylabel="relative error of w", title="what float32 feels")
    ax_e.legend(fontsize=8)
    ax_w.semilogx(LAMBDAS, reference, lw=1)
    ax_w.set(xlabel="λ", ylabel="w_j (float64)", title="ridge coefficients")
    figure = save_figure(fig, out_dir, "ridge_conditioning")

    small, big = LAMBDAS <= 1e-6, kappa_formula <= 1e3
    formula_gap = float(np.max(np.abs(kappa_svd / kappa_formula - 1)))
    numbers = {
        "eigenvalues of XᵀX (min, max)": f"{mu[0]:.3g}, {mu[-1]:.3g}",
        **{
            f"λ = {lam:.0e}: κ, float32 error, coefficient spread": (
                f"{k:.3g}, {e:.2g}, {s:.3g}"
            )
            for lam, k, e, s in zip(
                LAMBDAS[::8], kappa_formula[::8], error[::8], spread[::8], strict=True
            )
        },
    }
    claims = [
        Claim(
            "κ(XᵀX + nλI) = (μ_max + nλ)/(μ_min + nλ) at every λ",
            f"max relative gap SVD vs formula = {formula_gap:.1e}",
            formula_gap < 1e-3,
        ),
        Claim(
            "λ takes κ from above 10⁶ (λ → 0) to below 100 (λ = 0.1)",
            f"κ = {kappa_formula[0]:.2g} at λ = 1e-9, "
            f"{np.interp(-1, np.log10(LAMBDAS), kappa_formula):.3g} at λ = 0.1",
            kappa_formula[0] > 1e6
            and np.interp(-1, np.log10(LAMBDAS), kappa_formula) < 100,
        ),
        Claim(
            "float32 error tracks κ: > 1e-2 for λ ≤ 1e-6, < 1e-3 once κ ≤ 10³",
            f"min error for λ ≤ 1e-6: {error[small].min():.1e}; "
            f"max once κ ≤ 10³: {error[big].max():.1e}",
            error[small].min() > 1e-2 and error[big].max() < 1e-3,
        ),
        Claim(
            "...and stays within 10·κ·ε₃₂ at every λ",
            f"max error / (κ·ε₃₂) = {np.max(error / (kappa_formula * EPS32)):.2f}",
            bool(np.all(error <= 10 * kappa_formula * EPS32)),
        ),
        Claim(
            "coefficients go from unstable (spread > 5) to equal shares (< 0.05)",
            f"max − min of w: {spread[0]:.2f} at λ = 1e-9, "
            f"{np.interp(-1, np.log10(LAMBDAS), spread):.3f} at λ = 0.1",
            spread[0] > 5 and np.interp(-1, np.log10(LAMBDAS), spread) < 0.05,
        ),
    ]
    return ExampleResult(claims, [figure], numbers)
