r"""Structured sparsity across leaves: unit groups, their prox, and pruning.

A hidden unit :math:`j` of a dense layer owns entries in several leaves: its
incoming weights (the output slice :math:`W_\ell[:, j]` of an ``(in, out)``
kernel, or :math:`W_\ell[j, :]` of an ``(out, in)`` Equinox weight), its bias
:math:`b_\ell[j]` and, optionally, its outgoing weights (the input slice of the
next layer's weight). :class:`Units` lists those members; the group lasso over
units is

.. math::

    g(\theta) = s \sum_{\text{units } j} \big\|(W_\ell[:, j],\ b_\ell[j],
    \ W_{\ell+1}[j, :])\big\|_2

and its prox scales every member of unit :math:`j` by
:math:`\max(0, 1 - t s / \|\cdot\|_2)`: whole units reach exactly zero, which
:func:`prune_units` then removes, returning the smaller network's parameters.

Groups of different layers overlap when they include outgoing weights (the
outgoing slice of layer :math:`\ell` is the incoming slice of layer
:math:`\ell+1`'s kernel). :func:`proximal_units` then applies the layers'
proxes one after the other, which is exact for non-overlapping groups (the
default ``outgoing=False``, or a single hidden layer) and otherwise a
composition of exact proxes that still zeroes whole units.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxreg._validation import check_nonnegative, warn_caller
from jaxreg.layouts import (
    FLAX_DENSE,
    TORCH_DENSE,
    LayoutSpec,
    is_array,
    path_names,
    resolve_layouts,
)
from jaxreg.prox import schedule_value
from jaxreg.transforms import (
    LR_SCHEDULE,
    RegularizationState,
    ScalarOrSchedule,
    _require_params,
    check_not_scheduled,
)

__all__ = [
    "Units",
    "mlp_units",
    "unit_norms",
    "unit_group_lasso_value",
    "prox_units",
    "proximal_units",
    "PruneReport",
    "prune_units",
]

Names = tuple


@dataclasses.dataclass(frozen=True)
class Units:
    """``n`` units whose entries lie in several leaves.

    Attributes:
      members: ``((names, axis), ...)``: the leaf at path ``names`` (a tuple of
        dict keys / attribute names / indices, as
        :func:`jaxreg.layouts.path_names` gives them) holds unit ``j`` at
        index ``j`` of ``axis``. The group norm runs over all members.
      downstream: slices that read the units (the next layer's input slice)
        but are not in the group norm; :func:`prune_units` cuts them too.

    The first member's size along its axis is the number of units ``n``;
    every other member and downstream slice must have at least ``n`` entries
    along its axis (a ``ValueError`` otherwise, as for an axis out of range
    or a path that is no leaf). Entries past the first ``n`` (the inputs
    ``x`` of a next layer that reads the concatenation ``[h, x]``) belong to
    no unit: they are left out of the norms, never scaled, never cut.
    """

    members: tuple[tuple[Names, int], ...]
    downstream: tuple[tuple[Names, int], ...] = ()


def _leaves_by_names(params) -> tuple[list, Any, dict[Names, int]]:
    path_leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
    index = {path_names(p): i for i, (p, _) in enumerate(path_leaves)}
    return [x for _, x in path_leaves], treedef, index


def _layer_leaves(names_prefix, index, leaves):
    """The weight (the one leaf with 2 axes) and bias (1 axis, next to the
    weight: a norm's scale elsewhere under the prefix is an error) under a
    prefix."""
    under = [
        (n, leaves[i])
        for n, i in index.items()
        if n[: len(names_prefix)] == names_prefix
    ]
    weights = [n for n, x in under if is_array(x) and x.ndim == 2]
    biases = [n for n, x in under if is_array(x) and x.ndim == 1]
    stray = [n for n in biases if len(weights) == 1 and n[:-1] != weights[0][:-1]]
    if stray:
        raise ValueError(
            f"layers entry {names_prefix!r} holds 1-D leaves {stray} that are "
            f"not next to its weight {weights[0]}: a norm's scale or bias, not "
            "the layer's bias (pruning a unit would change the norm's "
            "statistics); mlp_units groups the units of dense layers only: "
            "pass each dense layer's own path"
        )
    if len(weights) != 1 or len(biases) > 1:
        hint = ""
        if not under:  # e.g. inject_hyperparams called units(params) as units(count)
            hint = (
                f"; no leaf of params has that path (its paths: "
                f"{sorted(index)[:8]}). Under optax.inject_hyperparams pass "
                "static_args=('units',)"
            )
        raise ValueError(
            f"layers entry {names_prefix!r} must hold one 2-D weight and at most one "
            f"bias, found weights {weights} and biases {biases}{hint}"
        )
    return weights[0], (biases[0] if biases else None)


def mlp_units(
    params,
    layers: Sequence[Names],
    layouts: LayoutSpec = None,
    outgoing: bool = False,
    concat: bool = False,
) -> list[Units]:
    """The hidden units of an MLP, one :class:`Units` per hidden layer.

    Args:
      params: the parameters (a linen dict, NNX ``State``, an Equinox module).
      layers: the dense layers in order, each as the path (tuple of names)
        under which its weight and bias live, e.g. ``[("params", "Dense_0"),
        ("params", "Dense_1")]`` for linen, ``[("layers", 0), ("layers", 1)]``
        for ``equinox.nn.MLP``, ``[("l1",), ("l2",)]`` for an NNX module. The
        last layer's outputs are the network's and are not units. Under each
        path: one 2-D weight and at most one 1-D leaf, its bias, next to it
        (a ``ValueError`` for a norm's scale or bias under the path: a unit
        cannot be pruned through a normalization).
      layouts: how to read the weights (default: :func:`jaxreg.layouts.
        resolve_layouts`'s, which knows ``equinox.nn.Linear`` is ``(out, in)``
        and reads other 2-D leaves as ``(in, out)``; a ``UserWarning`` when
        such a leaf is not named ``kernel``, Flax's name, and ``(out, in)``
        fits the layers' sizes too, as PyTorch-style weights without biases
        or square layers do). A ``ValueError`` when the sizes do not chain
        (a layer's outputs, its bias, the next layer's inputs).
      outgoing: also put each unit's outgoing weights (the next layer's input
        slice) in its group.
      concat: a next layer may take more inputs than the layer before gives:
        the concatenation ``[h, x]``, whose first inputs are the units. Off
        (the default), that warns: it is also what layers given in the wrong
        order look like (linen's ``@nn.compact`` numbers layers as they are
        built, so in ``nn.Dense(3)(nn.Dense(16)(x))`` ``Dense_0`` is the
        output layer, and ``[Dense_0, Dense_1]`` made the network's outputs
        the "units").

    Returns:
      ``len(layers) - 1`` :class:`Units`.
    """
    if len(layers) < 2:
        raise ValueError(f"layers needs at least 2 dense layers, got {layers!r}")
    leaves, treedef, index = _leaves_by_names(params)
    layout_leaves = treedef.flatten_up_to(resolve_layouts(params, layouts, warn=False))
    layout_of = {n: layout_leaves[i] for n, i in index.items()}
    found = [_layer_leaves(tuple(prefix), index, leaves) for prefix in layers]
    error = _chain_error(found, layout_of, leaves, index)
    if error:
        raise ValueError(
            error + ". Pass layouts= to say how the weights are laid out, e.g. "
            "jaxreg.layouts.TORCH_DENSE for PyTorch-style (out, in) weights"
        )
    wider = _chain_error(found, layout_of, leaves, index, exact=True)
    if wider and not concat:
        warn_caller(
            f"mlp_units: {wider}, more: read as the concatenation "
            "[h, x] (pass concat=True to confirm); check the order of layers= "
            "too: in linen's nn.Dense(3)(nn.Dense(16)(x)), Dense_0 is the "
            "output layer"
        )
    # a 2-D leaf of a plain pytree is read as (in, out) by a guess (Flax
    # names it "kernel"; an Equinox Linear is known): if (out, in) fits the
    # sizes as well, the guess may pair the wrong axis with the units
    guessed = [
        w
        for w, _ in found
        if layouts is None and layout_of[w] is FLAX_DENSE and w[-1] != "kernel"
    ]
    if guessed and not _chain_error(
        found, {**layout_of, **dict.fromkeys(guessed, TORCH_DENSE)}, leaves, index
    ):
        warn_caller(
            f"mlp_units read the weights {guessed} as (in, out) (Flax's layout), "
            "but (out, in) (PyTorch's) fits their sizes too, and would make "
            "other units: pass layouts=jaxreg.layouts.FLAX_DENSE to confirm the "
            "reading, or layouts=jaxreg.layouts.TORCH_DENSE for (out, in) weights"
        )
    units = []
    for (w, b), (w_next, _) in zip(found[:-1], found[1:], strict=True):
        out_axis = layout_of[w].axes(2)[2][0]
        in_axis = layout_of[w_next].axes(2)[1][0]
        members = ((w, out_axis),) + (((b, 0),) if b is not None else ())
        following = ((w_next, in_axis),)
        if outgoing:
            units.append(Units(members=members + following))
        else:
            units.append(Units(members=members, downstream=following))
    return units


def _chain_error(found, layout_of, leaves, index, exact=False) -> str | None:
    """Why the layers' sizes do not chain when read with ``layout_of`` (each
    layer's outputs, its bias and the next layer's inputs), or ``None``. A
    next layer may take more inputs (a concatenation ``[h, x]``), not fewer;
    with ``exact``, not more either."""
    for (w, b), (w_next, _) in zip(found[:-1], found[1:], strict=True):
        n_out = leaves[index[w]].shape[layout_of[w].axes(2)[2][0]]
        n_in = leaves[index[w_next]].shape[layout_of[w_next].axes(2)[1][0]]
        n_bias = n_out if b is None else leaves[index[b]].shape[0]
        if n_bias != n_out or n_in < n_out or (exact and n_in != n_out):
            return (
                f"layers: {w} read as {layout_of[w]} has {n_out} outputs, but "
                f"{w_next} takes {n_in} inputs"
                + ("" if n_bias == n_out else f" and {b} has {n_bias} entries")
            )
    return None


def _unit_count(leaves, index, units: Units) -> int:
    """The number of units ``n`` (the first member's size along its axis),
    after checking every slice of ``units`` (:class:`Units`)."""
    if not isinstance(units, Units) or not units.members:
        raise ValueError(f"units must be Units with at least one member, got {units!r}")
    n = None
    for role, slices in (("members", units.members), ("downstream", units.downstream)):
        for names, axis in slices:
            if tuple(names) not in index:
                raise ValueError(
                    f"Units {role} {names!r} is no leaf of params (its paths: "
                    f"{sorted(index)[:8]})"
                )
            shape = np.shape(leaves[index[tuple(names)]])
            if not -len(shape) <= axis < len(shape):
                raise ValueError(
                    f"Units {role} {names!r}: axis={axis} is out of range for "
                    f"a leaf of shape {shape}"
                )
            size = shape[axis]
            if n is None:
                n = size
            elif size < n:
                raise ValueError(
                    f"Units {role} {names!r} has {size} entries along axis "
                    f"{axis} (shape {shape}), fewer than the {n} units of the "
                    f"first member {units.members[0][0]!r}"
                )
    return n


def _unit_sq_norms(leaves, index, units: Units) -> jax.Array:
    n = _unit_count(leaves, index, units)
    total = None
    for names, axis in units.members:
        x = leaves[index[tuple(names)]].astype(jnp.float32)
        x = jax.lax.slice_in_dim(x, 0, n, axis=axis)  # a concatenation's x: no unit
        reduce = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
        sq = jnp.sum(jnp.square(x), axis=reduce)
        total = sq if total is None else total + sq
    return total


def unit_norms(params, units: Sequence[Units]) -> list[jax.Array]:
    """:math:`\\|\\text{unit}_j\\|_2` for every unit of every :class:`Units`."""
    leaves, _, index = _leaves_by_names(params)
    return [jnp.sqrt(_unit_sq_norms(leaves, index, u)) for u in units]


def unit_group_lasso_value(params, units: Sequence[Units], strength) -> jax.Array:
    """:math:`s\\sum_j \\|\\text{unit}_j\\|_2` summed over every :class:`Units`."""
    return strength * sum(jnp.sum(n) for n in unit_norms(params, units))


def prox_units(params, units: Sequence[Units], threshold):
    r"""Group soft-threshold of every unit at ``threshold`` (:math:`t s`).

    Each member of unit :math:`j` is multiplied by
    :math:`\max(0, 1 - \tau/\|\text{unit}_j\|_2)` (0 for a zero unit), the
    :class:`Units` one after the other (see the module docstring on overlap).
    ``threshold`` must be ``>= 0`` (a negative one would scale units up).
    """
    check_nonnegative("threshold", threshold, wait=False)
    leaves, treedef, index = _leaves_by_names(params)
    leaves = list(leaves)
    for u in units:
        sq = _unit_sq_norms(leaves, index, u)
        norm = jnp.sqrt(sq)
        scale = jnp.maximum(0.0, 1.0 - threshold / jnp.where(norm > 0, norm, 1.0))
        scale = jnp.where(norm > 0, scale, 0.0)
        for names, axis in u.members:
            i = index[tuple(names)]
            x = leaves[i]
            extra = jnp.ones((x.shape[axis] - scale.shape[0],), scale.dtype)
            shape = [1] * x.ndim
            shape[axis % x.ndim] = -1
            factor = jnp.concatenate([scale, extra]).reshape(shape)
            leaves[i] = (x * factor).astype(x.dtype)
    return jax.tree.unflatten(treedef, leaves)


def proximal_units(
    strength: ScalarOrSchedule,
    learning_rate: ScalarOrSchedule,
    units: Sequence[Units] | Any,
) -> optax.GradientTransformationExtraArgs:
    r"""Proximal step of the unit group lasso: the last transform of a chain.

    .. math:: u \leftarrow \operatorname{prox}_{\eta_k s_k g}(w + u) - w

    with :math:`g` the sum of unit norms (module docstring), so whole units
    (incoming weights, bias, optionally outgoing weights) reach exactly zero.
    ``strength`` and ``learning_rate`` may be schedules of the step count.
    ``units`` is a list of :class:`Units` or a callable ``params -> units``
    (evaluated on params; e.g. ``lambda p: mlp_units(p, layers)``). Leaves in
    no unit pass through untouched. Combine with :func:`jaxreg.prox_adamw`'s
    decay by chaining: ``chain(optax.adamw(lr), proximal_units(s, lr, units))``.
    """
    check_not_scheduled(units=units)
    check_nonnegative("strength", strength)
    check_nonnegative("learning_rate", learning_rate)

    def init(params):
        del params
        return RegularizationState(count=jnp.zeros([], jnp.int32))

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _require_params(params, "proximal_units")
        lr = schedule_value(learning_rate, state.count, LR_SCHEDULE)
        s = schedule_value(strength, state.count, "the strength schedule's value")
        groups = units(params) if callable(units) else units
        moved = optax.apply_updates(params, updates)
        new = prox_units(moved, groups, lr * s)
        out = jax.tree.map(
            lambda n, p, u: (n - p).astype(u.dtype), new, params, updates
        )
        return out, RegularizationState(count=optax.safe_increment(state.count))

    return optax.GradientTransformationExtraArgs(init, update)


class PruneReport(NamedTuple):
    """What :func:`prune_units` removed: per :class:`Units`, the indices kept
    and removed, and the sizes before and after."""

    kept: list[np.ndarray]
    removed: list[np.ndarray]
    sizes: list[tuple[int, int]]


def prune_units(params, units: Sequence[Units], tol: float = 0.0):
    r"""Removes every unit whose whole group is zero; returns the smaller params.

    A unit is removed when the norm of its group (its ``members``) is
    ``<= tol``. Its incoming slice, bias and the next layer's input slice
    (``members`` and ``downstream``) are cut out of their leaves. The pruned
    network computes the same function exactly when every removed unit's
    incoming weights and bias are zero and the activation maps 0 to 0 (ReLU,
    tanh, GELU), or when its outgoing weights are zero too
    (``mlp_units(..., outgoing=True)``).

    Concrete params only (the new shapes depend on values): call it outside
    ``jit``.

    Args:
      params: the parameters (linen dict, NNX ``State``, Equinox module).
      units: from :func:`mlp_units`.
      tol: norm at or below which a unit counts as zero.

    Returns:
      ``(pruned_params, PruneReport)``.
    """
    leaves, treedef, index = _leaves_by_names(params)
    leaves = list(leaves)
    kept, removed, sizes = [], [], []
    for u in units:
        norms = np.asarray(jnp.sqrt(_unit_sq_norms(leaves, index, u)))
        keep = np.flatnonzero(norms > tol)
        kept.append(keep)
        removed.append(np.flatnonzero(norms <= tol))
        sizes.append((norms.size, keep.size))
        for names, axis in u.members + u.downstream:
            i = index[tuple(names)]
            # entries past the units (a concatenation's x) all stay
            rest = np.arange(norms.size, leaves[i].shape[axis])
            leaves[i] = jnp.take(leaves[i], np.concatenate([keep, rest]), axis=axis)
    return jax.tree.unflatten(treedef, leaves), PruneReport(kept, removed, sizes)
