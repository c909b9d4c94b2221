"""The worked example: L1 drives a noise feature to zero, L2 only shrinks it.

Four samples, two features: X = [[1, .1], [2, .2], [3, .1], [4, .3]] and
y = [2.1, 4, 6.1, 7.9], so y ≈ 2x₁ and x₂ is noise. The objective is
1/(2n)‖y − Xw − b‖² + penalty(w) with an unpenalized intercept b (masked out of
the penalty), λ = 0.5, lr = 0.1, from w = 0, b = 0. The data gradient at zero is
Xᵀ(Xw + b − y)/n = [−15, −0.9975] and sign(0) = 0, so the first subgradient
step gives exactly w = [1.5, 0.09975]: both weights leave zero because the data
gradient dominates. Later the data gradient on w₂ is tiny and the L1 push λ
dominates. Subgradient descent (``add_penalty_gradient(l1)``) then overshoots
zero every step and w₂ chatters in a band about lr·λ = 0.05 wide; the proximal
step (``proximal(l1)``) soft-thresholds w₂ to exactly 0 within a few steps and
it stays there, at the lasso solution scikit-learn computes. With L2
(``add_penalty_gradient(l2)``) the push λw₂ fades as w₂ shrinks and w₂ settles
at a small non-zero value, the ridge solution (XᵀX + nλI)⁻¹Xᵀy for centred data.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxreg
from jaxreg.examples._common import (
    Claim,
    ExampleResult,
    new_figure,
    run_optimizer,
    save_figure,
)

X = ((1.0, 0.1), (2.0, 0.2), (3.0, 0.1), (4.0, 0.3))
Y = (2.1, 4.0, 6.1, 7.9)
STRENGTH = 0.5
LEARNING_RATE = 0.1
STEPS = 2000
FIRST_UPDATE = (1.5, 0.09975)  # by hand: w = 0 − lr·Xᵀ(0 − y)/n, sign(0) = 0


def run(out_dir, quick: bool) -> ExampleResult:
    del quick  # 3 × 2000 steps on a 4 × 2 problem: nothing to shrink
    X_, y = jnp.asarray(X), jnp.asarray(Y)

    def loss(p):
        return 0.5 * jnp.mean((X_ @ p["w"] + p["b"] - y) ** 2)

    params = {"w": jnp.zeros(2), "b": jnp.zeros(())}
    mask = {"w": True, "b": False}  # the intercept is never penalized
    lam, lr = STRENGTH, LEARNING_RATE
    methods = {
        "L1 by subgradient": optax.chain(
            jaxreg.add_penalty_gradient(jaxreg.l1(lam), mask=mask), optax.sgd(lr)
        ),
        "L1 by proximal step": optax.chain(
            optax.sgd(lr), jaxreg.proximal(jaxreg.l1(lam), lr, mask=mask)
        ),
        "L2 (gradient)": optax.chain(
            jaxreg.add_penalty_gradient(jaxreg.l2(lam), mask=mask), optax.sgd(lr)
        ),
    }

    @jax.jit
    def fit_all():
        return [run_optimizer(loss, params, o, STEPS)["w"] for o in methods.values()]

    paths = dict(zip(methods, map(np.asarray, fit_all()), strict=True))
    sub, prox, ridge = paths.values()

    from sklearn.linear_model import Lasso, Ridge

    X64, y64 = np.asarray(X), np.asarray(Y)
    lasso_ref = Lasso(alpha=lam, tol=1e-12, max_iter=100_000).fit(X64, y64).coef_
    # sklearn's Ridge minimizes ‖y − Xw − b‖² + α‖w‖²; ours times 2n gives α = nλ.
    ridge_ref = Ridge(alpha=len(Y) * lam).fit(X64, y64).coef_

    nonzero = np.flatnonzero(prox[:, 1] != 0.0)
    zero_from = int(nonzero[-1]) + 1 if nonzero.size else 0
    tail = np.abs(sub[-100:, 1])
    first_error = float(np.max(np.abs(sub[1] - np.asarray(FIRST_UPDATE))))

    fig, axes = new_figure(1, 2, width=5.6, height=4.0)
    ax, ax_log = axes[0]
    for name, w in paths.items():
        ax.plot(w[:200, 1], lw=1.2, label=name)
        ax_log.semilogy(np.maximum(np.abs(w[:, 1]), 1e-9), lw=1.0, label=name)
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="step", ylabel="w₂ (noise feature)", title="first 200 steps")
    ax.legend(fontsize=8)
    ax_log.axhline(lr * lam, color="k", ls=":", lw=1, label="lr·λ")
    ax_log.set(
        xlabel="step",
        ylabel="|w₂| (exact 0 drawn at 1e-9)",
        title=f"all {STEPS} steps",
    )
    ax_log.legend(fontsize=8)
    figure = save_figure(fig, out_dir, "worked_example")

    numbers = {
        "first subgradient update w": f"[{sub[1, 0]:.5f}, {sub[1, 1]:.5f}]",
        **{
            f"{name}: final w": f"[{w[-1, 0]:.5f}, {w[-1, 1]:.5f}]"
            for name, w in paths.items()
        },
        "scikit-learn Lasso(α=0.5) w": f"[{lasso_ref[0]:.5f}, {lasso_ref[1]:.5f}]",
        "scikit-learn Ridge(α=nλ) w": f"[{ridge_ref[0]:.5f}, {ridge_ref[1]:.5f}]",
    }
    claims = [
        Claim(
            "the first update gives w = [1.5, 0.09975]",
            f"w = [{sub[1, 0]:.6f}, {sub[1, 1]:.6f}], max error {first_error:.1e}",
            first_error < 1e-6,
        ),
        Claim(
            "with the proximal step the noise weight reaches exactly 0 and stays",
            f"w₂ = 0 exactly from step {zero_from} to step {STEPS}",
            zero_from <= 10 and bool(np.all(prox[zero_from:, 1] == 0.0)),
        ),
        Claim(
            "...at the lasso solution (scikit-learn, max |Δw| < 1e-4)",
            f"max |Δw| = {np.max(np.abs(prox[-1] - lasso_ref)):.1e}",
            float(np.max(np.abs(prox[-1] - lasso_ref))) < 1e-4,
        ),
        Claim(
            "by subgradient it never settles: it chatters within ~lr·λ = 0.05 of 0",
            f"last 100 steps: 0 < |w₂| ≤ {tail.max():.4f}",
            bool(np.all(tail > 0)) and 0.5 * lr * lam < tail.max() < 1.5 * lr * lam,
        ),
        Claim(
            "the L2 run keeps it small but non-zero, at the ridge solution",
            f"w₂ = {ridge[-1, 1]:.5f}, ridge reference {ridge_ref[1]:.5f}",
            ridge[-1, 1] != 0.0 and abs(ridge[-1, 1] - ridge_ref[1]) < 1e-4,
        ),
    ]
    return ExampleResult(claims, [figure], numbers)
