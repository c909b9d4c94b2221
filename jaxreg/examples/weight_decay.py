"""Weight decay vs L2: the same thing for SGD, different things for Adam.

A least-squares problem, 1/(2n)‖Xw − y‖² with n = 256 and eight features whose
scales run from 0.1 to 10, is trained for 100 steps with a penalty λ/2‖w‖²
(λ = 0.1) applied two ways: coupled, by adding the gradient λw before the
optimizer (``add_penalty_gradient(l2)``), and decoupled, by shrinking the weights
after it, w ← w − lr·λ·w (``decoupled(l2, lr)``). For SGD the two updates are
the same expression, w − lr(g + λw), and the runs agree to float32 rounding at
every step. Adam divides every gradient entry by √v̂, including the λw term, so
"Adam + L2" decays each weight by about lr·λ/√v̂ᵢ per step: strongly where the
gradients are small (the small-scale features) and hardly at all where they are
large, and its weights end far from AdamW's. AdamW decays every weight by the
same fraction lr·λ; ``chain(adam, decoupled(l2))`` reproduces ``optax.adamw`` to
float precision. The right panel shows that per-weight effective decay.
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

N, D = 256, 8
STRENGTH = 0.1
SGD_LR = 0.005  # below 2/L: the largest feature scale, 10, gives L ≈ 100
ADAM_LR = 0.05
STEPS = 100
B2 = 0.999  # optax.adam's default second-moment decay


def run(out_dir, quick: bool) -> ExampleResult:
    del quick  # five 100-step runs on a 256 × 8 problem
    key_x, key_w, key_noise = jax.random.split(jax.random.key(0), 3)
    scales = jnp.logspace(-1, 1, D)
    X = jax.random.normal(key_x, (N, D)) * scales[None, :]
    w_true = jax.random.normal(key_w, (D,))
    y = X @ w_true + 0.1 * jax.random.normal(key_noise, (N,))

    def loss(w):
        return 0.5 * jnp.mean((X @ w - y) ** 2)

    lam = STRENGTH
    methods = {
        "SGD + L2": optax.chain(
            jaxreg.add_penalty_gradient(jaxreg.l2(lam)), optax.sgd(SGD_LR)
        ),
        "SGD + weight decay": optax.chain(
            optax.sgd(SGD_LR), jaxreg.decoupled(jaxreg.l2(lam), SGD_LR)
        ),
        "Adam + L2": optax.chain(
            jaxreg.add_penalty_gradient(jaxreg.l2(lam)), optax.adam(ADAM_LR)
        ),
        "AdamW (adam + decoupled)": optax.chain(
            optax.adam(ADAM_LR), jaxreg.decoupled(jaxreg.l2(lam), ADAM_LR)
        ),
        "optax.adamw": optax.adamw(ADAM_LR, weight_decay=lam),
    }

    def second_moment(state):
        return optax.tree_utils.tree_get(state, "nu", jnp.zeros(D))

    @jax.jit
    def fit_all():
        return [
            run_optimizer(loss, jnp.zeros(D), opt, STEPS, record=second_moment)
            for opt in methods.values()
        ]

    runs = fit_all()
    paths = {
        name: np.asarray(path) for name, (path, _) in zip(methods, runs, strict=True)
    }
    # Adam's step on the coupled term λw is lr·λw/(√v̂ + ε): a per-weight decay rate.
    nu = np.asarray(runs[2][1][-1])
    v_hat = nu / (1 - B2**STEPS)
    decay_adam_l2 = ADAM_LR * lam / (np.sqrt(v_hat) + 1e-8)
    decay_adamw = np.full(D, ADAM_LR * lam)

    sgd_gap = np.max(np.abs(paths["SGD + L2"] - paths["SGD + weight decay"]), axis=1)
    optax_gap = np.max(
        np.abs(paths["AdamW (adam + decoupled)"] - paths["optax.adamw"]), axis=1
    )
    adam_gap = np.max(
        np.abs(paths["Adam + L2"] - paths["AdamW (adam + decoupled)"]), axis=1
    )
    w_adam_l2, w_adamw = paths["Adam + L2"][-1], paths["AdamW (adam + decoupled)"][-1]
    relative = float(np.linalg.norm(w_adam_l2 - w_adamw) / np.linalg.norm(w_adamw))

    fig, axes = new_figure(1, 3, width=4.4, height=3.8)
    ax_gap, ax_w, ax_decay = axes[0]
    floor = 1e-10
    ax_gap.semilogy(np.maximum(sgd_gap, floor), label="SGD + L2 vs SGD + decay")
    ax_gap.semilogy(np.maximum(optax_gap, floor), label="adam+decoupled vs optax.adamw")
    ax_gap.semilogy(np.maximum(adam_gap, floor), label="Adam + L2 vs AdamW")
    ax_gap.set(xlabel="step", ylabel="max |Δw| (0 drawn at 1e-10)", title="gaps")
    ax_gap.legend(fontsize=7)
    feature = np.arange(D)
    ax_w.bar(feature - 0.25, np.asarray(w_true), 0.25, label="true", color="0.6")
    ax_w.bar(feature, w_adam_l2, 0.25, label="Adam + L2")
    ax_w.bar(feature + 0.25, w_adamw, 0.25, label="AdamW")
    ax_w.set(xlabel="feature (scale 0.1 → 10)", title=f"weights after {STEPS} steps")
    ax_w.legend(fontsize=7)
    ax_decay.semilogy(feature, decay_adam_l2, "o-", label="Adam + L2: lr·λ/(√v̂+ε)")
    ax_decay.semilogy(feature, decay_adamw, "s-", label="AdamW: lr·λ")
    ax_decay.set(xlabel="feature (scale 0.1 → 10)", title="effective decay per step")
    ax_decay.legend(fontsize=7)
    figure = save_figure(fig, out_dir, "weight_decay")

    spread = float(decay_adam_l2.max() / decay_adam_l2.min())
    numbers = {
        "feature scales": ", ".join(f"{s:.2g}" for s in np.asarray(scales)),
        "Adam + L2 effective decay per weight": ", ".join(
            f"{v:.2g}" for v in decay_adam_l2
        ),
        "AdamW decay per weight (lr·λ)": f"{ADAM_LR * lam:.3g}",
        "Adam + L2 final w": ", ".join(f"{v:.3f}" for v in w_adam_l2),
        "AdamW final w": ", ".join(f"{v:.3f}" for v in w_adamw),
    }
    claims = [
        Claim(
            f"SGD + L2 equals SGD + weight decay to float precision over {STEPS} steps",
            f"max |Δw| over all steps = {sgd_gap.max():.1e}",
            sgd_gap.max() <= 1e-6,
        ),
        Claim(
            "chain(adam, decoupled(l2)) equals optax.adamw (max |Δw| ≤ 1e-6)",
            f"max |Δw| over all steps = {optax_gap.max():.1e}",
            optax_gap.max() <= 1e-6,
        ),
        Claim(
            "Adam + L2 and AdamW end at different weights (> 10% apart)",
            f"‖w_AdamL2 − w_AdamW‖ / ‖w_AdamW‖ = {relative:.2f}",
            relative > 0.1,
        ),
        Claim(
            "Adam + L2's effective decay varies > 10× across weights; AdamW's does not",
            f"Adam + L2 max/min = {spread:.0f}×; AdamW = 1×",
            spread > 10,
        ),
    ]
    return ExampleResult(claims, [figure], numbers)
