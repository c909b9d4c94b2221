"""What every example shares: claims, results, figures and the jitted step loop."""

import dataclasses
import pathlib
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


@dataclasses.dataclass(frozen=True)
class Claim:
    """One falsifiable statement an example makes, with what was measured.

    Attributes:
      statement: the claim in words, e.g. "proximal L1 zeroes all 17 noise weights".
      measured: the number behind it, formatted for people, e.g. "17/17 exactly 0".
      passed: whether the measurement supports the statement.
    """

    statement: str
    measured: str
    passed: bool

    def __post_init__(self):
        # Measurements arrive as numpy/JAX booleans; store a plain bool.
        object.__setattr__(self, "passed", bool(self.passed))


class ExampleResult(NamedTuple):
    """What an example's ``run(out_dir, quick)`` returns.

    Attributes:
      claims: the example's claims, each with its measured number.
      figures: paths of the PNG files the example wrote.
      numbers: further measured values behind the figure, name -> formatted value,
        shown in the gallery next to the claims.
    """

    claims: list[Claim]
    figures: list[pathlib.Path]
    numbers: dict[str, str]


def new_figure(nrows: int = 1, ncols: int = 1, *, width: float = 5.0, height=4.0):
    """A matplotlib figure on the Agg canvas and its ``(nrows, ncols)`` axes.

    The figure is built without pyplot, so no global backend is selected and
    nothing opens a window; ``width`` and ``height`` are per panel, in inches.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def save_figure(fig, out_dir: pathlib.Path, name: str) -> pathlib.Path:
    """Writes ``fig`` to ``out_dir/name.png`` and returns the path."""
    path = pathlib.Path(out_dir) / f"{name}.png"
    fig.savefig(path, dpi=110)
    return path


def run_optimizer(
    loss: Callable[[Any], jax.Array],
    params: Any,
    optimizer: optax.GradientTransformation,
    steps: int,
    *,
    record: Callable[[Any], Any] | None = None,
) -> Any:
    """Full-batch training for ``steps`` steps inside one ``lax.scan``.

    Each step computes ``g = ∇loss(params)``, then
    ``updates, state = optimizer.update(g, state, params)`` and
    ``params = params + updates`` (``optax.apply_updates``).

    Returns:
      The parameter trajectory: a pytree like ``params`` whose leaves have a
      leading axis of length ``steps + 1`` (the initial point, then the point
      after each step). Call it under ``jax.jit`` (or ``vmap``) to compile it.
      With ``record``, a function of the optimizer state (for example
      ``jaxreg.with_diagnostics``'s metrics), the pair ``(trajectory, records)``
      where ``records`` stacks ``record(state)`` after each of the ``steps`` steps.
    """

    def step(carry, _):
        current, state = carry
        updates, state = optimizer.update(jax.grad(loss)(current), state, current)
        current = optax.apply_updates(current, updates)
        return (current, state), (current, None if record is None else record(state))

    init = (params, optimizer.init(params))
    _, (path, records) = jax.lax.scan(step, init, length=steps)
    path = jax.tree.map(lambda p0, p: jnp.concatenate([p0[None], p]), params, path)
    return path if record is None else (path, records)
