r"""What a training loop should log, recorded inside the optimizer state.

:func:`with_diagnostics` wraps any ``GradientTransformation``. Each update stores,
as float32 scalars in the state (no host transfer until you read them):

===================  ==========================================================
``grad_norm``        :math:`\|g\|_2`, global L2 norm of the incoming gradient
``update_norm``      :math:`\|u\|_2`, global L2 norm of the outgoing update
``param_norm``       :math:`\|w\|_2` before the update
``update_ratio``     :math:`\|u\|_2 / \|w\|_2` (0 when :math:`w = 0`); healthy
                     training typically sits near 1e-3 per step
``zero_fraction``    fraction of entries of :math:`w + u` that are exactly 0
``penalty``          :math:`g(w + u)` for the given penalty (0 if none)
``nonfinite``        number of NaN/Inf entries in the incoming gradient
``nonfinite_steps``  number of steps so far whose gradient had a NaN/Inf entry
===================  ==========================================================

Norms are accumulated in float32 whatever the params' dtype. Read everything
with one call, :func:`read_diagnostics`, which finds the record anywhere in a
nested optimizer state (inside ``chain``, ``inject_hyperparams``,
``MultiSteps``...), also once Flax NNX has turned the named tuples into nested
``State`` dicts (``nnx.state(optimizer)``) or a checkpoint restored them as dicts.

Order with ``optax.apply_if_finite``: put ``with_diagnostics`` outside,
``with_diagnostics(apply_if_finite(opt, k))``, to count every non-finite
gradient. Inside (``apply_if_finite(with_diagnostics(opt), k)``) a skipped step
also discards the record of that step; :func:`read_diagnostics` then takes
``nonfinite_steps`` from the wrapper's own counter and reports ``nonfinite`` as
NaN (unknown), never as 0; once ``apply_if_finite`` applies non-finite steps
(past its ``max_consecutive_errors``) their records are kept and read.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxreg.layouts import path_names
from jaxreg.penalties import Penalty
from jaxreg.prox import nonzero
from jaxreg.transforms import Mask, check_penalty, resolve_mask

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
    nonfinite_steps: jax.Array


class DiagnosticsState(NamedTuple):
    """The wrapped transform's state, the latest :class:`Diagnostics` and the
    int32 step count (at which a penalty's strength schedule is read)."""

    inner_state: optax.OptState
    metrics: Diagnostics
    count: jax.Array


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
    if penalty is not None:
        check_penalty(penalty)
    inner = optax.with_extra_args_support(inner)

    def init(params):
        return DiagnosticsState(inner.init(params), _empty(), jnp.zeros([], jnp.int32))

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
        nonfinite = _count(updates, lambda x: ~jnp.isfinite(x)).astype(jnp.float32)
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
                else penalty.at(state.count)
                .value(_selected(new_params, mask))
                .astype(jnp.float32)
            ),
            nonfinite=nonfinite,
            nonfinite_steps=state.metrics.nonfinite_steps
            + (nonfinite > 0).astype(jnp.float32),
        )
        return new_updates, DiagnosticsState(
            inner_state, metrics, optax.safe_increment(state.count)
        )

    return optax.GradientTransformationExtraArgs(init, update)


def _named_leaves(state) -> dict[tuple, object]:
    """Every leaf of ``state`` by its path of names (NamedTuple fields and NNX
    ``State`` keys read the same)."""
    return {
        path_names(path): leaf
        for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]
    }


_SKIP_FIELDS = ("notfinite_count", "last_finite", "total_notfinite")


def read_diagnostics(state) -> dict[str, float]:
    """The latest metrics as Python floats (one device-to-host transfer).

    Args:
      state: an optimizer state containing one :class:`DiagnosticsState`
        (the first found is read), as NamedTuples or as the nested dicts of
        ``nnx.state(optimizer)`` or a restored checkpoint.

    Raises:
      ValueError: if ``state`` holds no diagnostics record.
    """
    named = _named_leaves(state)
    fields = Diagnostics._fields
    record = None
    for names in named:
        if names and names[-1] == fields[0]:
            prefix = names[:-1]
            if all(prefix + (f,) in named for f in fields):
                record = prefix
                break
    if record is None:
        raise ValueError(
            "state holds no DiagnosticsState (looked for the fields "
            f"{fields} at any depth, in NamedTuples or NNX State dicts): wrap "
            "the optimizer in jaxreg.with_diagnostics"
        )
    # the innermost apply_if_finite around the record, if any
    wrapper = None
    for cut in range(len(record) - 1, -1, -1):
        base = record[:cut]
        if record[cut] == "inner_state" and all(
            base + (f,) in named for f in _SKIP_FIELDS
        ):
            wrapper = base
            break
    wanted = [named[record + (f,)] for f in fields]
    if wrapper is not None:
        wanted += [named[wrapper + (f,)] for f in ("last_finite", "total_notfinite")]
    values = [float(np.asarray(v)) for v in jax.device_get(wanted)]
    out = dict(zip(fields, values[: len(fields)], strict=True))
    if wrapper is not None:
        # the wrapper counts every non-finite step, skipped or (past its
        # max_consecutive_errors) applied; the record only the applied ones
        last_finite, total = values[len(fields) :]
        out["nonfinite_steps"] = max(out["nonfinite_steps"], total)
        # a non-finite last step was applied iff the record saw it: once one
        # is applied, the wrapper applies every later one until a finite step
        if not last_finite and out["nonfinite"] == 0:
            out["nonfinite"] = float("nan")  # the skipped step's record is gone
    return out
