"""What every example shares: claims, results, figures and the jitted step loop."""

import dataclasses
import pathlib
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
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


DIGITS_CLASSES = 10


def load_digits_split(rng: np.random.Generator, n_train: int, noise: float = 0.0):
    """scikit-learn's 1797 handwritten digits (8×8 pixels scaled to [0, 1]),
    shuffled by ``rng`` and split into the first ``n_train`` images and the rest.

    A fraction ``noise`` of the training labels is replaced by random classes
    (drawn from ``rng``; some land on the true class). Returns ``(X_train,
    y_train, X_val, y_val, wrong)``, float32 images and integer labels, with
    ``wrong`` marking the training labels that differ from the truth; the
    validation labels are always the true ones.
    """
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    perm = rng.permutation(len(X))
    X, y = X[perm], y[perm]
    y_train = y[:n_train].copy()
    flipped = rng.random(n_train) < noise
    y_train[flipped] = rng.integers(0, DIGITS_CLASSES, flipped.sum())
    wrong = y_train != y[:n_train]
    return X[:n_train], y_train, X[n_train:], y[n_train:], wrong


def init_mlp(key, hidden: int, inputs: int = 64, classes: int = DIGITS_CLASSES):
    """A one-hidden-layer ReLU network's params ``{"W1", "b1", "W2", "b2"}``
    (weights ``(in, out)``), He-initialized hidden layer, LeCun output layer."""
    k1, k2 = jax.random.split(key)
    return {
        "W1": jax.random.normal(k1, (inputs, hidden)) * np.sqrt(2 / inputs),
        "b1": jnp.zeros(hidden),
        "W2": jax.random.normal(k2, (hidden, classes)) * np.sqrt(1 / hidden),
        "b2": jnp.zeros(classes),
    }


def mlp_logits(params, x):
    """Logits ``relu(x W1 + b1) W2 + b2`` of :func:`init_mlp`'s network, x (n, in)."""
    hidden = jax.nn.relu(x @ params["W1"] + params["b1"][None, :])
    return hidden @ params["W2"] + params["b2"][None, :]
