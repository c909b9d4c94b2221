"""Geometry: why the L1 diamond gives sparse solutions and the L2 circle does not.

The loss L(w) = ½(w − w*)ᵀA(w − w*), with w* = (2, 0.8) and A an ellipse
(eigenvalues 1 and 4, rotated by 30°), is minimized over three constraint
sets as their budget shrinks from w* towards zero (budget s: the set whose boundary
passes through s·w*): the L1 diamond
‖w‖₁ ≤ r (``jaxreg.projection_l1_ball``), the L2 circle ‖w‖₂ ≤ r
(``jaxreg.projection_l2_ball``) and the elastic-net ball
ρ‖w‖₁ + (1−ρ)/2‖w‖² ≤ r with ρ = 0.5, projected onto by bisection on the step of
``elastic_net(1, 0.5).prox``. Each problem is solved by 500 projected-gradient
steps, all budgets at once in one vmapped ``lax.scan``. A constrained solution
is where the smallest loss ellipse touches the set. The circle is smooth, so
the contact point slides along it and both coordinates stay non-zero. The
diamond has corners on the axes, and the ellipse touches a corner, w₂ = 0
exactly, for every budget below the one where the KKT conditions say the
corner stops being optimal (|∂L/∂w₂| ≤ |∂L/∂w₁| at (r, 0)). The elastic-net
ball has rounded corners: it lands on the axis too, but only for smaller
budgets. Penalized and constrained problems trace the same paths (one λ per
budget), which is why a lasso gives exact zeros.
"""

import jax
import jax.numpy as jnp
import numpy as np

import jaxreg
from jaxreg.examples._common import Claim, ExampleResult, new_figure, save_figure

CENTER = (2.0, 0.8)
EIGENVALUES = (1.0, 4.0)
ANGLE_DEGREES = 30.0
L1_RATIO = 0.5
STEPS = 500
BISECTION_STEPS = 60


def quadratic():
    """The positive definite A of the loss and the unconstrained minimizer w*."""
    t = np.deg2rad(ANGLE_DEGREES)
    rotation = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    A = rotation @ np.diag(EIGENVALUES) @ rotation.T
    return A, np.asarray(CENTER)


def project_sublevel(penalty, x, budget):
    """Projection of ``x`` onto {w : penalty(w) ≤ budget} by bisection.

    The projection is prox_{t·g}(x) for the t ≥ 0 at which g(prox_{t·g}(x)) =
    budget (KKT); g(prox_{t·g}(x)) decreases in t, so a fixed number of
    bisection steps on t (static loop) finds it.
    """

    def halve(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        over = penalty.value(penalty.prox(x, mid)) > budget
        return jnp.where(over, mid, lo), jnp.where(over, hi, mid)

    upper = 10.0 * (1.0 + jnp.sum(jnp.abs(x)))  # prox at this step is 0
    _, hi = jax.lax.fori_loop(0, BISECTION_STEPS, halve, (jnp.zeros(()), upper))
    return jnp.where(penalty.value(x) <= budget, x, penalty.prox(x, hi))


def run(out_dir, quick: bool) -> ExampleResult:
    A_np, center_np = quadratic()
    A, center = jnp.asarray(A_np, jnp.float32), jnp.asarray(center_np, jnp.float32)
    fractions = np.linspace(0.02, 1.0, 25 if quick else 50)
    step = 1.0 / max(EIGENVALUES)
    enet = jaxreg.elastic_net(1.0, L1_RATIO)
    # Budget for a fraction s: the set whose boundary passes through s·w*.
    sets = {
        "L1 diamond": (
            jaxreg.projection_l1_ball,
            lambda s: s * np.abs(center_np).sum(),
        ),
        "L2 circle": (
            jaxreg.projection_l2_ball,
            lambda s: s * np.linalg.norm(center_np),
        ),
        "elastic-net ball": (
            lambda x, r: project_sublevel(enet, x, r),
            lambda s: enet.value(s * center),
        ),
    }

    def solve(project, budget):
        def body(w, _):
            return project(w - step * (A @ (w - center)), budget), None

        w, _ = jax.lax.scan(body, jnp.zeros(2), length=STEPS)
        return w

    solutions = {
        name: np.asarray(
            jax.jit(jax.vmap(lambda r, p=project: solve(p, r)))(
                jnp.asarray([budget(f) for f in fractions], jnp.float32)
            )
        )
        for name, (project, budget) in sets.items()
    }

    # KKT at the corner (r, 0) of the diamond: optimal while |∂₂L| ≤ ∂₁L there.
    # ∂L(r, 0) = A(r e₁ − w*) is affine in r; solve |∂₂L| = −∂₁L for r.
    g0, g1 = A_np @ (-center_np), A_np[:, 0]  # ∂L(r e₁) = g0 + r·g1
    roots = [(-g0[0] - s * g0[1]) / (g1[0] + s * g1[1]) for s in (1.0, -1.0)]
    r_kkt = min(r for r in roots if r > 0) / np.abs(center_np).sum()

    on_axis = {k: s[:, 1] == 0.0 for k, s in solutions.items()}
    last_on_axis = fractions[on_axis["L1 diamond"]].max(initial=0.0)
    first_off = fractions[~on_axis["L1 diamond"]].min(initial=1.0)
    sandwich = bool(
        np.all(on_axis["L1 diamond"] == (fractions <= last_on_axis))
        and last_on_axis <= r_kkt <= first_off
    )
    n_on_axis = {k: int(v.sum()) for k, v in on_axis.items()}
    if_any = {k: int(np.sum(s == 0.0)) for k, s in solutions.items()}

    fig, axes = new_figure(1, 3, width=4.3, height=4.1)
    ax, ax_path, ax_w2 = axes[0]
    g = np.linspace(-0.6, 2.6, 240)
    G1, G2 = np.meshgrid(g, g)
    D = np.stack([G1 - center_np[0], G2 - center_np[1]])
    loss = 0.5 * np.einsum("i...,ij,j...->...", D, A_np, D)
    k = int(np.argmin(np.abs(fractions - 0.25)))
    t = np.linspace(0, 2 * np.pi, 400)
    for a in (ax, ax_path):
        a.contour(G1, G2, loss, levels=np.linspace(0.2, 6, 12), cmap="Greys", alpha=0.6)
        a.plot(*center_np, "k*", ms=10)
        a.axhline(0, color="k", lw=0.4)
        a.axvline(0, color="k", lw=0.4)
        a.set(xlabel="w₁", ylabel="w₂", aspect="equal")
    r1, r2 = sets["L1 diamond"][1](fractions[k]), sets["L2 circle"][1](fractions[k])
    ax.fill([r1, 0, -r1, 0], [0, r1, 0, -r1], alpha=0.25, label="L1 diamond")
    ax.fill(r2 * np.cos(t), r2 * np.sin(t), alpha=0.25, label="L2 circle")
    ax.contour(
        G1,
        G2,
        np.asarray(jax.vmap(jax.vmap(enet.value))(jnp.asarray(np.stack([G1, G2], -1)))),
        levels=[float(sets["elastic-net ball"][1](fractions[k]))],
        colors="C2",
    )
    for j, name in enumerate(solutions):
        ax.plot(*solutions[name][k], "o", color=f"C{j}", ms=7)
        ax_path.plot(*solutions[name].T, ".-", color=f"C{j}", ms=3, label=name)
        ax_w2.plot(fractions, solutions[name][:, 1], ".-", color=f"C{j}", label=name)
    ax.set_title(
        f"sets through {fractions[k]:.2f}·w*, and their solutions", fontsize=10
    )
    ax.legend(fontsize=8, loc="upper left")
    ax_path.set_title("constrained solutions as the budget shrinks", fontsize=10)
    ax_path.legend(fontsize=8, loc="upper left")
    ax_w2.axvline(r_kkt, color="k", ls=":", lw=1, label="KKT: L1 leaves the axis")
    ax_w2.set(xlabel="budget s (the set's boundary passes through s·w*)", ylabel="w₂")
    ax_w2.set_title("the L1 solution sits exactly on the axis", fontsize=10)
    ax_w2.legend(fontsize=8)
    figure = save_figure(fig, out_dir, "geometry")

    x = jax.random.normal(jax.random.key(1), (64, 2)) * 3
    bisection_error = float(
        jnp.max(
            jnp.abs(
                jax.vmap(lambda v: project_sublevel(jaxreg.l1(1.0), v, 1.0))(x)
                - jax.vmap(lambda v: jaxreg.projection_l1_ball(v, 1.0))(x)
            )
        )
    )
    numbers = {
        f"{name}: budgets with w₂ = 0 exactly": f"{n}/{len(fractions)}"
        for name, n in n_on_axis.items()
    }
    numbers["KKT budget where the L1 solution leaves the axis"] = f"{r_kkt:.3f}"
    claims = [
        Claim(
            "for small budgets the L1 solution lands on an axis (w₂ = 0 exactly)",
            f"w₂ = 0 for budgets ≤ {last_on_axis:.0%} "
            f"({n_on_axis['L1 diamond']}/{len(fractions)})",
            n_on_axis["L1 diamond"] >= 3 and on_axis["L1 diamond"][0],
        ),
        Claim(
            "it leaves the axis where the KKT conditions at the corner predict",
            f"predicted {r_kkt:.3f}, observed between {last_on_axis:.2f} and "
            f"{first_off:.2f}",
            sandwich,
        ),
        Claim(
            "the L2 solution never has a zero coordinate",
            f"{if_any['L2 circle']} zero coordinates in {len(fractions)} solutions",
            if_any["L2 circle"] == 0,
        ),
        Claim(
            "the elastic-net ball lands on the axis too, for fewer budgets than L1",
            f"{n_on_axis['elastic-net ball']} vs {n_on_axis['L1 diamond']} budgets",
            0 < n_on_axis["elastic-net ball"] < n_on_axis["L1 diamond"],
        ),
        Claim(
            "bisection on the prox step reproduces jaxreg.projection_l1_ball",
            f"max |Δ| on 64 random points = {bisection_error:.1e}",
            bisection_error < 1e-5,
        ),
    ]
    return ExampleResult(claims, [figure], numbers)
