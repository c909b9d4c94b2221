"""Muon's spectrum: singular values before and after Newton–Schulz.

Muon replaces a weight matrix's momentum M by an approximation of its polar
factor UVᵀ (M = UΣVᵀ), so that every direction of the update moves by about
the same amount. Newton–Schulz gets there with matmuls only: X₀ = M/‖M‖_F,
then five steps X ← aX + b(XXᵀ)X + c(XXᵀ)²X. Each step applies the odd
polynomial p(σ) = aσ + bσ³ + cσ⁵ to every singular value and leaves U and V
alone, so the output's singular values are the composed scalar map
φ(σᵢ/‖M‖_F), which the example checks in M's singular bases. The momentum is
the real thing: the buffer M ← 0.95·M + g after 20 steps of training a 32→64
linear layer on inputs whose scales span two decades, so its spectrum spans
three. ``jaxreg.newton_schulz`` runs each of its three coefficient sets for
five steps. Keller Jordan's single quintic (3.4445, −4.7750, 2.0315) trades
accuracy for slope at zero: it pushes singular values into a wide band around
1 (0.68–1.13 for σ ≥ 10⁻²·‖M‖_F) rather than to 1. You Jiacheng's five
per-step quintics end in a much tighter band. Polar Express (Amsel et al.,
2025) uses per-step minimax-optimal quintics for σ ∈ [10⁻³, 1] and a 1.01
safety factor: a band in between, and the furthest reach into the small
singular values. None of them brings σ below about 10⁻³·‖M‖_F to 1 in five
steps, so those directions of the momentum move the weights less.
"""

import jax
import jax.numpy as jnp
import numpy as np

import jaxreg
from jaxreg.examples._common import Claim, ExampleResult, new_figure, save_figure

# Where each set puts singular values σ/‖M‖_F ≥ 1e-2 (computed from φ).
BANDS = {"keller": (0.68, 1.14), "you": (0.97, 1.04), "polar_express": (0.87, 1.13)}
NS_STEPS = 5
D_IN, D_OUT, N, STEPS, BETA = 32, 64, 512, 20, 0.95


def scalar_map(sigma, name):
    """φ(σ): the composed odd polynomials that ``NS_STEPS`` Newton–Schulz steps
    with the named coefficient set apply to a singular value σ/‖M‖_F."""
    table, norm_scale = jaxreg.COEFFICIENT_SETS[name]
    sigma = sigma / norm_scale
    for a, b, c in table[np.minimum(np.arange(NS_STEPS), len(table) - 1)]:
        sigma = a * sigma + b * sigma**3 + c * sigma**5
    return sigma


def momentum_matrix(seed: int = 0) -> np.ndarray:
    """The momentum buffer after 20 steps of heavy-ball SGD on a linear layer."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, D_IN)) * np.logspace(0, -2, D_IN)
    Y = X @ rng.standard_normal((D_IN, D_OUT)) + 0.1 * rng.standard_normal((N, D_OUT))

    def step(carry, _):
        W, M = carry
        M = BETA * M + X.T @ (X @ W - Y) / N
        return (W - 0.1 * M, M), None

    zeros = jnp.zeros((D_IN, D_OUT))
    (_, M), _ = jax.lax.scan(step, (zeros, zeros), length=STEPS)
    return np.asarray(M, np.float64)


def run(out_dir, quick: bool) -> ExampleResult:
    del quick  # one 32 × 64 matrix
    M = momentum_matrix()
    U, sigma, Vt = np.linalg.svd(M, full_matrices=False)
    normalized = sigma / np.linalg.norm(M)
    with jax.default_matmul_precision("highest"):
        outputs = {
            name: np.asarray(
                jaxreg.newton_schulz(jnp.asarray(M, jnp.float32), NS_STEPS, name)
            )
            for name in jaxreg.COEFFICIENT_SETS
        }
    # In M's singular bases the output should be diagonal: Uᵀ·NS(M)·V = φ(Σ).
    in_bases = {
        name: U.T @ out.astype(np.float64) @ Vt.T for name, out in outputs.items()
    }
    after = {name: np.diag(d) for name, d in in_bases.items()}
    off_diagonal = max(
        float(np.max(np.abs(d - np.diag(np.diag(d))))) for d in in_bases.values()
    )
    predicted = {name: scalar_map(normalized, name) for name in jaxreg.COEFFICIENT_SETS}

    fig, axes = new_figure(1, 2, width=5.6, height=4.2)
    ax, ax_map = axes[0]
    index = np.arange(1, len(sigma) + 1)
    ax.semilogy(index, normalized, "k.-", label="momentum M, σ/‖M‖_F")
    for name, s in after.items():
        ax.semilogy(index, s, ".-", label=f"after Newton–Schulz ({name})")
    ax.axhline(1.0, color="k", lw=0.5, ls=":")
    ax.set(xlabel="singular value index", ylabel="σ", title="spectrum before and after")
    ax.legend(fontsize=8)
    grid = np.logspace(-4, 0, 400)
    for k, name in enumerate(jaxreg.COEFFICIENT_SETS):
        ax_map.semilogx(
            grid, scalar_map(grid, name), color=f"C{k}", label=f"φ ({name})"
        )
        ax_map.semilogx(normalized, after[name], "o", color=f"C{k}", ms=3)
    ax_map.axhline(1.0, color="k", lw=0.5, ls=":")
    ax_map.set(
        xlabel="input σ/‖M‖_F",
        ylabel="output σ",
        title="the scalar map φ (lines) and measured σ (dots)",
    )
    ax_map.legend(fontsize=8)
    figure = save_figure(fig, out_dir, "muon_spectrum")

    bulk, tiny = normalized >= 1e-2, normalized < 1e-3
    lead = after["polar_express"][tiny] - np.maximum(
        after["keller"][tiny], after["you"][tiny]
    )
    map_error = max(float(np.max(np.abs(after[k] - predicted[k]))) for k in after)
    numbers = {
        "momentum σ/‖M‖_F (max, min)": (
            f"{normalized.max():.3g}, {normalized.min():.2g}"
        ),
        **{
            f"{name}: output σ for inputs ≥ 1e-2 (min, max)": (
                f"{after[name][bulk].min():.4f}, {after[name][bulk].max():.4f}"
            )
            for name in after
        },
        **{
            f"{name}: distance to UVᵀ, ‖NS(M) − UVᵀ‖₂": f"{np.max(np.abs(s - 1)):.3f}"
            for name, s in after.items()
        },
    }
    claims = [
        Claim(
            "the momentum matrix is badly conditioned (σ_max/σ_min > 100)",
            f"σ_max/σ_min = {sigma[0] / sigma[-1]:.0f}",
            sigma[0] / sigma[-1] > 100,
        ),
        Claim(
            "Newton–Schulz acts on singular values alone: UᵀNS(M)V = φ(Σ/‖M‖_F)",
            f"max |σ_out − φ(σ)| = {map_error:.1e}, "
            f"max off-diagonal = {off_diagonal:.1e}",
            map_error < 1e-4 and off_diagonal < 1e-4,
        ),
        *[
            Claim(
                f"{name}'s set puts every σ/‖M‖_F ≥ 1e-2 into [{lo}, {hi}]",
                f"{int(bulk.sum())} values in "
                f"[{after[name][bulk].min():.3f}, {after[name][bulk].max():.3f}]",
                lo <= after[name][bulk].min() and after[name][bulk].max() <= hi,
            )
            for name, (lo, hi) in BANDS.items()
        ],
        Claim(
            "for σ < 1e-3·‖M‖_F Polar Express lifts every value highest",
            f"{int(tiny.sum())} such values; smallest lead over Keller/You "
            f"{lead.min() if tiny.any() else float('nan'):.3f}",
            tiny.any() and lead.min() > 0,
        ),
        Claim(
            "...yet five steps leave them well short of 1 (< 0.9) for every set",
            f"largest output {max(after[k][tiny].max() for k in after):.3f}"
            if tiny.any()
            else "no such values",
            tiny.any() and all(after[k][tiny].max() < 0.9 for k in after),
        ),
    ]
    return ExampleResult(claims, [figure], numbers)
