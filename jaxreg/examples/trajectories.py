"""Optimizer trajectories on an elongated quadratic.

Seven optimizers start from w = (8, 3) on f(w) = ½w₁² + 10w₂², whose curvature
is 20 times larger along w₂ than along w₁, and take 80 full-batch steps. Each
runs at the learning rate, from one shared log-spaced grid, that brings it to
stay within ‖w‖ < 0.1 in the fewest steps (or, if none does, ends closest to
the minimum); the whole grid is one vmapped ``lax.scan`` per optimizer. Plain
SGD is held back by the stiff direction: any rate above 2/20 diverges along w₂,
so its best linear rate is (κ−1)/(κ+1) ≈ 0.905 per step for condition number
κ = 20. Heavy-ball momentum (β = 0.5, close to the optimal
((√κ−1)/(√κ+1))² ≈ 0.40) contracts at about (√κ−1)/(√κ+1) ≈ 0.635 per step and
gets there in a fraction of the steps; Nesterov's look-ahead form, at the same
β, falls in between. Adam rescales each coordinate by its gradient history, so
its steps are about lr long whatever the curvature: it crosses the valley
quickly but then oscillates around the minimum and, on this small, exactly
quadratic problem, settles later than tuned SGD; AdamW's decay (0.1) pulls
towards 0, which here is the minimum, and helps. LION moves every coordinate by
exactly ±lr per step, so with a constant rate it can only hover within about
lr of the minimum. The proximal method (SGD followed
by the L1 prox of ``jaxreg.proximal``, here minimizing f(w) + 0.5‖w‖₁) is the
only one that lands exactly on w = 0: soft-thresholding returns exact zeros
once a coordinate is within lr·λ of zero.
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

START = (8.0, 3.0)
STEPS = 80
TARGET = 0.1
L1_STRENGTH = 0.5
MOMENTUM = 0.5
# Log-spaced so that no rate divides the start exactly (a sign method would
# otherwise land on 0 by arithmetic coincidence).
LEARNING_RATES = 10.0 ** np.linspace(-2.25, -0.05, 23)

OPTIMIZERS = {
    "SGD": lambda lr: optax.sgd(lr),
    "Momentum": lambda lr: optax.sgd(lr, momentum=MOMENTUM),
    "Nesterov": lambda lr: optax.sgd(lr, momentum=MOMENTUM, nesterov=True),
    "Adam": lambda lr: optax.adam(lr),
    "AdamW": lambda lr: optax.chain(
        optax.adam(lr), jaxreg.decoupled(jaxreg.l2(0.1), lr)
    ),
    "LION": lambda lr: jaxreg.lion(lr),
    "Proximal (SGD + L1 prox)": lambda lr: optax.chain(
        optax.sgd(lr), jaxreg.proximal(jaxreg.l1(L1_STRENGTH), lr)
    ),
}


def loss(w):
    """f(w) = ½w₁² + 10w₂²."""
    return 0.5 * w[0] ** 2 + 10.0 * w[1] ** 2


def _steps_to_target(norms: np.ndarray) -> int | None:
    """The first step from which ‖w‖ stays below the target to the end."""
    outside = np.flatnonzero(~(norms < TARGET))
    if not outside.size:
        return 0
    return int(outside[-1]) + 1 if outside[-1] < len(norms) - 1 else None


def _best_run(paths: np.ndarray):
    """Index of the learning rate with the fewest steps to the target, else the
    smallest final distance; diverged runs (non-finite) never win."""
    norms = np.linalg.norm(paths.astype(np.float64), axis=-1)
    finite = np.isfinite(norms).all(axis=1)

    def score(i):
        hit = _steps_to_target(norms[i])
        return (not finite[i], hit is None, hit or 0, norms[i, -1])

    return min(range(len(paths)), key=score), norms


def run(out_dir, quick: bool) -> ExampleResult:
    del quick  # 23 learning rates × 80 steps is cheap; nothing to shrink
    w0 = jnp.asarray(START, dtype=jnp.float32)
    lrs = jnp.asarray(LEARNING_RATES, dtype=jnp.float32)
    best = {}
    for name, make in OPTIMIZERS.items():
        paths = jax.jit(
            jax.vmap(lambda lr, make=make: run_optimizer(loss, w0, make(lr), STEPS))
        )
        paths = np.asarray(paths(lrs))
        i, norms = _best_run(paths)
        best[name] = (float(LEARNING_RATES[i]), paths[i], norms[i])

    fig, axes = new_figure(1, 2, width=6.0, height=4.6)
    ax, ax_norm = axes[0]
    g1, g2 = np.meshgrid(np.linspace(-9, 9, 200), np.linspace(-4, 4, 200))
    ax.contour(g1, g2, 0.5 * g1**2 + 10 * g2**2, levels=20, cmap="Greys", alpha=0.5)
    for name, (lr, path, norms) in best.items():
        ax.plot(path[:, 0], path[:, 1], ".-", ms=3, lw=1, label=f"{name}, lr={lr:.3g}")
        ax_norm.semilogy(np.maximum(norms, 1e-7), lw=1.5, label=name)
    ax.plot(0, 0, "k*", ms=12)
    ax.set(xlabel="w₁", ylabel="w₂", title="f(w) = ½w₁² + 10w₂², start (8, 3)")
    ax.legend(fontsize=7, loc="lower left")
    ax_norm.axhline(TARGET, color="k", ls=":", lw=1)
    ax_norm.set(
        xlabel="step",
        ylabel="‖w‖ (exact 0 drawn at 1e-7)",
        title="distance to the minimum",
    )
    ax_norm.legend(fontsize=7)
    figure = save_figure(fig, out_dir, "trajectories")

    steps = {name: _steps_to_target(norms) for name, (_, _, norms) in best.items()}
    reached = {k: v for k, v in steps.items() if v is not None}
    ranking = sorted(reached, key=reached.get)
    first = ranking[0] if ranking else "none"
    exact_zero = [k for k, (_, p, _) in best.items() if np.all(p[-1] == 0.0)]
    numbers = {
        f"{name}: lr, steps to ‖w‖<{TARGET}, final ‖w‖": (
            f"{lr:.3g}, {steps[name] if steps[name] is not None else '—'}, "
            f"{norms[-1]:.2e}"
        )
        for name, (lr, _, norms) in best.items()
    }
    sgd_steps = steps["SGD"] if steps["SGD"] is not None else STEPS + 1
    claims = [
        Claim(
            f"heavy-ball momentum settles within ‖w‖ < {TARGET} first",
            f"first: {first} from step {reached.get(first, '—')}; "
            + ", ".join(f"{k} {reached[k]}" for k in ranking[1:]),
            first == "Momentum",
        ),
        Claim(
            "momentum needs less than half the steps of plain SGD",
            f"momentum {steps['Momentum']} vs SGD {steps['SGD']} steps",
            steps["Momentum"] is not None and 2 * steps["Momentum"] < sgd_steps,
        ),
        Claim(
            f"at no rate in the grid does constant-rate LION settle within {TARGET}",
            f"LION's best final ‖w‖: {best['LION'][2][-1]:.3f}",
            steps["LION"] is None,
        ),
        Claim(
            "only the proximal method ends at exactly w = 0",
            f"exactly zero at step {STEPS}: {', '.join(exact_zero) or 'none'}",
            exact_zero == ["Proximal (SGD + L1 prox)"],
        ),
    ]
    return ExampleResult(claims, [figure], numbers)
