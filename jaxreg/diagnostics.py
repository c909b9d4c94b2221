r"""What a training loop should log, recorded inside the optimizer state.

:func:`with_diagnostics` wraps any ``GradientTransformation``. Each update stores,
as float32 scalars in the state (no host transfer until you read them):

==================  ===========================================================
``grad_norm``       :math:`\|g\|_2`, global L2 norm of the incoming gradient
``update_norm``     :math:`\|u\|_2`, global L2 norm of the outgoing update
``param_norm``      :math:`\|w\|_2` before the update
``update_ratio``    :math:`\|u\|_2 / \|w\|_2` (0 when :math:`w = 0`); healthy
                    training typically sits near 1e-3 per step
``zero_fraction``   fraction of entries of :math:`w + u` that are exactly 0
``penalty``         :math:`g(w + u)` for the given penalty (0 if none)
``nonfinite``       number of NaN/Inf entries in the incoming gradient
==================  ===========================================================

Norms are accumulated in float32 whatever the params' dtype. Read everything
with one call, :func:`read_diagnostics`, which finds the record anywhere in a
nested optimizer state (inside ``chain``, ``inject_hyperparams``...).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxreg.penalties import Penalty
from jaxreg.prox import nonzero
from jaxreg.transforms import Mask, resolve_mask

__all__ = ["Diagnostics", "DiagnosticsState", "with_diagnostics", "read_diagnostics"]


class Diagnostics(NamedTuple):
    """The recorded metrics, float32 scalars (see the module docstring)."""

    grad_norm: jax.Array
    update_norm: jax.Array
    param_norm: jax.Array
    update_ratio: jax.Array
    zero_fraction: jax.Array
    penalty: jax.Array
    nonfinite: jax.Array


class DiagnosticsState(NamedTuple):
    """The wrapped transform's state and the latest :class:`Diagnostics`."""

    inner_state: optax.OptState
    metrics: Diagnostics


def _global_norm(tree) -> jax.Array:
    sq = [jnp.sum(jnp.square(x.astype(jnp.float32))) for x in jax.tree.leaves(tree)]
    return jnp.sqrt(sum(sq, jnp.zeros((), jnp.float32)))


def _count(tree, predicate) -> jax.Array:
    counts = [jnp.sum(predicate(x), dtype=jnp.int32) for x in jax.tree.leaves(tree)]
    return sum(counts, jnp.zeros((), jnp.int32))


def _selected(params, mask) -> list:
    """The leaves (or entries, for array masks) of ``params`` that ``mask`` keeps."""
    full = jax.tree.leaves(resolve_mask(mask, params))
    return [
        p if m is True else jnp.where(m, p, jnp.zeros_like(p))
        for p, m in zip(jax.tree.leaves(params), full, strict=True)
        if m is not False
    ]


def _empty() -> Diagnostics:
    zero = jnp.zeros((), jnp.float32)
    return Diagnostics(*([zero] * len(Diagnostics._fields)))


def with_diagnostics(
    inner: optax.GradientTransformation,
    penalty: Penalty | None = None,
    mask: Mask = None,
) -> optax.GradientTransformationExtraArgs:
    """Wraps ``inner`` so that its state records the training diagnostics.

    Args:
      inner: any optax transformation (typically the whole optimizer chain).
      penalty: optional penalty whose value at the new params is recorded.
      mask: the leaves the penalty applies to, as in :mod:`jaxreg.transforms`
        (pass the same mask as the regularizing transform, e.g. to leave
        biases out of the recorded penalty). Norms and sparsity always cover
        every leaf.

    Returns:
      A ``GradientTransformationExtraArgs`` with :class:`DiagnosticsState`. Its
      update needs ``params`` (for the parameter norm and sparsity).

    Examples:
      >>> import jax.numpy as jnp, optax, jaxreg as jr
      >>> tx = jr.with_diagnostics(jr.prox_sgd(0.1, jr.l1(1.0)), jr.l1(1.0))
      >>> params = jnp.array([1.0, 0.05])
      >>> state = tx.init(params)
      >>> updates, state = tx.update(jnp.zeros(2), state, params)
      >>> jr.read_diagnostics(state)["zero_fraction"]
      0.5
    """
    inner = optax.with_extra_args_support(inner)

    def init(params):
        return DiagnosticsState(inner.init(params), _empty())

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(
                "with_diagnostics needs the current params: "
                "call update(updates, state, params)"
            )
        new_updates, inner_state = inner.update(
            updates, state.inner_state, params, **extra_args
        )
        new_params = optax.apply_updates(params, new_updates)
        grad_norm = _global_norm(updates)
        update_norm = _global_norm(new_updates)
        param_norm = _global_norm(params)
        size = sum(x.size for x in jax.tree.leaves(params))
        zeros = _count(new_params, lambda x: x == 0).astype(jnp.float32)
        metrics = Diagnostics(
            grad_norm=grad_norm,
            update_norm=update_norm,
            param_norm=param_norm,
            update_ratio=jnp.where(
                param_norm > 0,
                update_norm / nonzero(param_norm),
                jnp.zeros_like(param_norm),
            ),
            zero_fraction=zeros / max(size, 1),
            penalty=(
                jnp.zeros((), jnp.float32)
                if penalty is None
                else penalty.value(_selected(new_params, mask)).astype(jnp.float32)
            ),
            nonfinite=_count(updates, lambda x: ~jnp.isfinite(x)).astype(jnp.float32),
        )
        return new_updates, DiagnosticsState(inner_state, metrics)

    return optax.GradientTransformationExtraArgs(init, update)


def read_diagnostics(state) -> dict[str, float]:
    """The latest metrics as Python floats (one device-to-host transfer).

    Args:
      state: an optimizer state containing one :class:`DiagnosticsState`.

    Raises:
      ValueError: if ``state`` holds no :class:`DiagnosticsState`.
    """
    found = [
        node
        for node in jax.tree.leaves(
            state, is_leaf=lambda n: isinstance(n, DiagnosticsState)
        )
        if isinstance(node, DiagnosticsState)
    ]
    if not found:
        raise ValueError(
            "state holds no DiagnosticsState: wrap the optimizer in with_diagnostics"
        )
    values = jax.device_get(found[0].metrics)
    return {name: float(v) for name, v in zip(Diagnostics._fields, values, strict=True)}
