r"""Weight layouts: which axes of a leaf are input, output and batch.

Matrix-shaped transforms (Muon, nuclear norm, spectral normalization, group
penalties across units) need to read a weight as a stack of matrices
:math:`W_b \in \mathbb{R}^{\text{fan\_in} \times \text{fan\_out}}` with
:math:`y = x W_b`. Frameworks store the same weight differently:

==============================  ====================  ===========================
framework / module              stored shape          preset
==============================  ====================  ===========================
Flax linen / NNX ``Dense``      ``(in, out)``         :data:`FLAX_DENSE`
Equinox / PyTorch ``Linear``    ``(out, in)``         :data:`TORCH_DENSE`
Flax ``Conv`` (1-, 2-, 3-D)     ``(*k, in, out)``     :data:`FLAX_CONV`
Equinox / PyTorch ``Conv``      ``(out, in, *k)``     :data:`TORCH_CONV`
``nn.scan`` / stacked layers    ``(L, ...)``          :func:`stacked`
==============================  ====================  ===========================

A :class:`Layout` lists the input axes, the output axes and (optionally) batch
axes; the axes it does not list are batch axes (``rest="batch"``, stacked
layers, attention heads) or, for convolutions, part of the input
(``rest="input"``: a kernel's spatial taps multiply inputs, so
:math:`\text{fan\_in} = k_h k_w c_\text{in}`). Within each group the axes are
flattened in increasing axis order (row-major, as ``reshape`` does), so Flax
kernels become matrices by a plain reshape.

:func:`resolve_layouts` turns what a user passes (nothing, one layout, a prefix
pytree, or a callable of ``(path, leaf)``) into one layout per leaf. Defaults
are never silently wrong: leaves with fewer than 2 axes are not matrices
(``None``); a 2-D leaf is read as ``(in, out)`` unless it is the ``weight`` of
an ``equinox.nn.Linear`` or the ``weight_ih`` / ``weight_hh`` of an
``equinox.nn.GRUCell`` / ``LSTMCell`` (then ``(out, in)``); the ``weight`` of an
``equinox.nn.Conv`` is :data:`TORCH_CONV` (its bias ``(out, 1, ..., 1)`` is no
matrix); those modules built by ``eqx.filter_vmap`` (ensembles, stacked
layers) keep their layout behind the extra leading batch axes; a leaf named
``bias`` or ``scale`` with ≥ 2 axes (a scanned or vmapped Flax layer's bias
or norm scale, ``(L, d)``) is a stack of vectors, not a matrix (``None``), and
so are the leaves of an Equinox ``LayerNorm``, ``RMSNorm``, ``GroupNorm`` or
``BatchNorm``; any other ≥ 3-D leaf is read as a Flax kernel ``(*in, out)``.
Every leaf read by one of these two guesses is named in a
``UserWarning`` that says how to describe it. A layout a user gives for all
leaves or for a subtree skips the leaves named ``bias`` or ``scale`` in it
(:func:`resolve_layouts`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg._validation import warn_caller

__all__ = [
    "Layout",
    "FLAX_DENSE",
    "TORCH_DENSE",
    "EQUINOX_DENSE",
    "FLAX_CONV",
    "TORCH_CONV",
    "EQUINOX_CONV",
    "stacked",
    "resolve_layouts",
    "weight_mask",
    "is_array",
    "path_names",
]

_RESTS = ("batch", "input", "output")


def is_array(x) -> bool:
    """Whether a pytree leaf is an array (not a callable, string or static)."""
    return isinstance(x, jax.Array | np.ndarray | np.generic | jax.ShapeDtypeStruct)


def check_array_leaves(name: str, tree, scalars: bool = False) -> None:
    """Raises a ``ValueError`` naming the first leaf of ``tree`` that is not an
    array (nor, with ``scalars``, a Python number): the functions of an
    unfiltered Equinox module, a string."""
    for path, x in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if not (is_array(x) or scalars and isinstance(x, int | float | complex)):
            raise ValueError(
                f"{name}{jax.tree_util.keystr(path)} is not an array ({x!r}); "
                "pass only the arrays, e.g. eqx.filter(model, eqx.is_inexact_array) or "
                "nnx.state(model, nnx.Param)"
            )


def _check_axes(name: str, axes) -> tuple[int, ...]:
    if isinstance(axes, int) and not isinstance(axes, bool):
        axes = (axes,)
    if not isinstance(axes, tuple | list) or not all(
        isinstance(a, int) and not isinstance(a, bool) for a in axes
    ):
        raise ValueError(f"{name} must be a tuple of ints, got {axes!r}")
    return tuple(axes)


@dataclasses.dataclass(frozen=True)
class Layout:
    r"""Which axes of a weight are input (fan-in), output (fan-out) and batch.

    Args:
      input_axes: axes multiplied by the layer's input (negative axes count
        from the end).
      output_axes: axes indexing the layer's outputs.
      batch_axes: axes listed explicitly as batch (independent matrices), used
        by :func:`stacked` for a leading scan axis.
      rest: what the unlisted axes are: ``"batch"`` (default: stacked layers,
        heads), ``"input"`` (a convolution's spatial taps) or ``"output"``.

    ``to_matrices(w)`` returns ``(*batch, fan_in, fan_out)``; the batch axes
    keep their order and the axes of each group are flattened in increasing
    axis order. ``from_matrices`` is its exact inverse.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxreg.layouts import TORCH_DENSE, stacked, FLAX_DENSE
      >>> TORCH_DENSE.to_matrices(jnp.zeros((3, 5))).shape  # (out, in)
      (5, 3)
      >>> stacked(FLAX_DENSE).to_matrices(jnp.zeros((4, 5, 3))).shape
      (4, 5, 3)
    """

    input_axes: tuple[int, ...]
    output_axes: tuple[int, ...]
    batch_axes: tuple[int, ...] = ()
    rest: str = "batch"

    def __post_init__(self):
        for name in ("input_axes", "output_axes", "batch_axes"):
            object.__setattr__(self, name, _check_axes(name, getattr(self, name)))
        if self.rest not in _RESTS:
            raise ValueError(f"rest must be one of {_RESTS}, got {self.rest!r}")
        if not self.input_axes and self.rest != "input":
            raise ValueError("a Layout needs at least one input axis")
        if not self.output_axes and self.rest != "output":
            raise ValueError("a Layout needs at least one output axis")

    @property
    def min_ndim(self) -> int:
        """The fewest axes a leaf needs for this layout."""
        listed = self.input_axes + self.output_axes + self.batch_axes
        pos = [a + 1 for a in listed if a >= 0]
        neg = [-a for a in listed if a < 0]
        return max(max(pos, default=0), max(neg, default=0), len(listed), 2)

    def axes(self, ndim: int) -> tuple[tuple[int, ...], ...]:
        """``(batch, input, output)`` axes of an ``ndim``-axis leaf, non-negative
        and sorted.

        Raises:
          ValueError: the leaf has too few axes or an axis is listed twice.
        """
        if ndim < self.min_ndim:
            raise ValueError(
                f"{self} needs a leaf with at least {self.min_ndim} axes, got {ndim}"
            )
        groups = {}
        for name in ("input_axes", "output_axes", "batch_axes"):
            axes = getattr(self, name)
            groups[name] = [a % ndim for a in axes]
        listed = sum(groups.values(), [])
        if len(set(listed)) != len(listed):
            raise ValueError(f"{self} lists an axis twice for a leaf with {ndim} axes")
        others = [a for a in range(ndim) if a not in listed]
        key = {"batch": "batch_axes", "input": "input_axes", "output": "output_axes"}
        groups[key[self.rest]] += others
        batch, inp, out = (
            tuple(sorted(groups[k]))
            for k in ("batch_axes", "input_axes", "output_axes")
        )
        if not inp or not out:
            raise ValueError(
                f"{self} leaves no input or no output axis for a leaf with {ndim} axes"
            )
        return batch, inp, out

    def _split(self, shape) -> tuple[tuple[int, ...], ...]:
        return self.axes(len(shape))

    def batch_shape(self, shape) -> tuple[int, ...]:
        """Shape of the batch of matrices (``()`` for a single matrix)."""
        batch, _, _ = self._split(shape)
        return tuple(shape[a] for a in batch)

    def fan_in(self, shape) -> int:
        """Product of the input axes' sizes (the rows of each matrix)."""
        _, inp, _ = self._split(shape)
        return math.prod(shape[a] for a in inp)

    def fan_out(self, shape) -> int:
        """Product of the output axes' sizes (the columns of each matrix)."""
        _, _, out = self._split(shape)
        return math.prod(shape[a] for a in out)

    def to_matrices(self, w) -> jax.Array:
        """``w`` as an array of shape ``(*batch, fan_in, fan_out)``."""
        w = jnp.asarray(w)
        shape = w.shape
        batch, inp, out = self._split(shape)
        perm = batch + inp + out
        if perm != tuple(range(w.ndim)):
            w = jnp.transpose(w, perm)
        return w.reshape(
            *(shape[a] for a in batch),
            math.prod(shape[a] for a in inp),
            math.prod(shape[a] for a in out),
        )

    def from_matrices(self, m, shape) -> jax.Array:
        """Inverse of :meth:`to_matrices`: the array of ``shape`` whose matrices
        are ``m`` (shape ``(*batch, fan_in, fan_out)``)."""
        m = jnp.asarray(m)
        shape = tuple(shape)
        batch, inp, out = self._split(shape)
        expected = (*self.batch_shape(shape), self.fan_in(shape), self.fan_out(shape))
        if m.shape != expected:
            raise ValueError(
                f"m has shape {m.shape}, but {self} reads a leaf of shape {shape} "
                f"as matrices of shape {expected}"
            )
        perm = batch + inp + out
        m = m.reshape(tuple(shape[a] for a in perm))
        if perm != tuple(range(len(shape))):
            m = jnp.transpose(m, np.argsort(perm))
        return m


FLAX_DENSE = Layout(input_axes=(-2,), output_axes=(-1,))
"""Flax linen / NNX ``Dense``/``Linear`` kernel ``(in, out)``; leading axes batch."""

TORCH_DENSE = Layout(input_axes=(-1,), output_axes=(-2,))
"""PyTorch / Equinox ``Linear`` weight ``(out, in)``; leading axes batch."""

EQUINOX_DENSE = TORCH_DENSE
"""Alias of :data:`TORCH_DENSE` (``equinox.nn.Linear.weight`` is ``(out, in)``)."""

FLAX_CONV = Layout(input_axes=(-2,), output_axes=(-1,), rest="input")
"""Flax ``Conv`` kernel ``(*kernel_size, in, out)`` of any spatial rank:
``fan_in = prod(kernel_size)·in``."""

TORCH_CONV = Layout(input_axes=(1,), output_axes=(0,), rest="input")
"""PyTorch / Equinox ``Conv`` weight ``(out, in, *kernel_size)`` of any spatial
rank: ``fan_in = in·prod(kernel_size)`` (torch Muon's ``view(out, -1)``)."""

EQUINOX_CONV = TORCH_CONV
"""Alias of :data:`TORCH_CONV`."""


def stacked(layout: Layout, n_batch_axes: int = 1) -> Layout:
    """``layout`` behind ``n_batch_axes`` leading batch axes (``nn.scan``,
    ``jax.lax.scan`` over layers, ``eqx.filter_vmap``-built stacks).

    Non-negative axes of ``layout`` shift by ``n_batch_axes``; negative ones
    (counted from the end) stay.
    """
    if not isinstance(layout, Layout):
        raise ValueError(f"layout must be a Layout, got {layout!r}")
    if isinstance(n_batch_axes, bool) or not isinstance(n_batch_axes, int):
        raise ValueError(f"n_batch_axes must be an int >= 1, got {n_batch_axes!r}")
    if n_batch_axes < 1:
        raise ValueError(f"n_batch_axes must be an int >= 1, got {n_batch_axes!r}")

    def shift(axes):
        return tuple(a + n_batch_axes if a >= 0 else a for a in axes)

    return Layout(
        input_axes=shift(layout.input_axes),
        output_axes=shift(layout.output_axes),
        batch_axes=tuple(range(n_batch_axes)) + shift(layout.batch_axes),
        rest=layout.rest,
    )


LayoutSpec = Layout | Any | Callable[[Any, Any], "Layout | None"] | None

# Module types whose weights' layout is known from the type (by name, so that
# equinox stays an optional dependency): the weight fields, and their layout
_EQUINOX_WEIGHTS = {
    "equinox.nn._linear.Linear": (("weight",), TORCH_DENSE),
    "equinox.nn._conv.Conv": (("weight",), TORCH_CONV),
    "equinox.nn._conv.Conv1d": (("weight",), TORCH_CONV),
    "equinox.nn._conv.Conv2d": (("weight",), TORCH_CONV),
    "equinox.nn._conv.Conv3d": (("weight",), TORCH_CONV),
    "equinox.nn._rnn.GRUCell": (("weight_ih", "weight_hh"), TORCH_DENSE),
    "equinox.nn._rnn.LSTMCell": (("weight_ih", "weight_hh"), TORCH_DENSE),
    # no matrices: a norm's weight is a vector (filter_vmap-stacked: (L, d))
    "equinox.nn._normalisation.LayerNorm": ((), None),
    "equinox.nn._normalisation.RMSNorm": ((), None),
    "equinox.nn._normalisation.GroupNorm": ((), None),
    "equinox.nn._batch_norm.BatchNorm": ((), None),
}


def _known_weights(module):
    """``(fields, layout)`` of a known module's weights. A module built by
    ``eqx.filter_vmap`` (an ensemble, a stack of layers) has weights with
    leading axes beyond a single layer's (``2 + num_spatial_dims``): they
    are batch axes (:func:`stacked`), never a convolution's output."""
    fields, layout = _EQUINOX_WEIGHTS[
        f"{type(module).__module__}.{type(module).__qualname__}"
    ]
    if not fields:
        return fields, None
    single = 2 + getattr(module, "num_spatial_dims", 0)
    extra = max(getattr(getattr(module, f), "ndim", single) - single for f in fields)
    return fields, stacked(layout, extra) if extra > 0 else layout


def _known_module(x) -> bool:
    cls = type(x)
    return f"{cls.__module__}.{cls.__qualname__}" in _EQUINOX_WEIGHTS


def path_names(path) -> tuple:
    """A key path as plain names (dict keys, attribute names, indices).

    A Flax NNX ``Variable``'s trailing ``.value`` is dropped, so a NamedTuple
    state, an NNX ``State`` and a checkpoint restored as dicts name a leaf the
    same way.
    """
    names = []
    for key in path:
        if isinstance(key, jax.tree_util.DictKey):
            names.append(key.key)
        elif isinstance(key, jax.tree_util.GetAttrKey):
            names.append(key.name)
        elif isinstance(key, jax.tree_util.SequenceKey):
            names.append(key.idx)
        elif isinstance(key, jax.tree_util.FlattenedIndexKey):
            names.append(key.key)
        else:
            names.append(str(key))
    if names and names[-1] == "value":
        names.pop()
    return tuple(names)


def is_function(spec) -> bool:
    """A callable that is not itself a pytree (an Equinox module is callable)."""
    return callable(spec) and jax.tree_util.treedef_is_leaf(jax.tree.structure(spec))


def _checked(layout, path, leaf):
    """``layout`` for ``leaf``, or None for non-arrays and vectors."""
    if not is_array(leaf) or leaf.ndim < 2:
        return None
    if layout is None:
        return None
    if not isinstance(layout, Layout):
        raise ValueError(
            f"layouts{jax.tree_util.keystr(path)} must be a jaxreg Layout or None, "
            f"got {layout!r}"
        )
    try:
        layout.axes(leaf.ndim)
    except ValueError as err:
        raise ValueError(
            f"layouts{jax.tree_util.keystr(path)}: leaf of shape {leaf.shape}: "
            f"{err}. Give this leaf its own layout (or None) with a pytree or "
            "a callable (path, leaf) -> Layout | None"
        ) from err
    return layout


# the names of per-unit vectors: Flax's biases and norms' scales (linen and
# NNX), which a scanned or vmapped layer stacks to ``(L, d)``
_VECTOR_NAMES = ("bias", "scale")


def _is_vector_stack(path) -> bool:
    """The leaf at ``path`` is named ``bias`` or ``scale`` (stacked: ``(L, d)``)."""
    names = path_names(path)
    return bool(names) and names[-1] in _VECTOR_NAMES


def _spread(layout, path):
    """``layout`` spread over a subtree, for the leaf at ``path``: ``None``
    for a leaf named ``bias`` or ``scale`` (a scanned layer's ``(L, d)`` is no
    matrix; only a layout given for that very leaf reads it as one)."""
    return None if _is_vector_stack(path) else layout


def _default_tree(params, warn: bool):
    ambiguous, biases = [], []

    def leaf_default(path, leaf, known=None):
        if not is_array(leaf) or leaf.ndim < 2:
            return None
        if known is not None:
            return known
        if _is_vector_stack(path):
            biases.append(f"{jax.tree_util.keystr(path)} {tuple(leaf.shape)}")
            return None
        if leaf.ndim == 2:
            return FLAX_DENSE
        ambiguous.append(f"{jax.tree_util.keystr(path)} {tuple(leaf.shape)}")
        return FLAX_CONV

    def node(path, x):
        if _known_module(x):
            # the weight's layout is known from the type; the rest are biases
            # (an Equinox conv bias is (out, 1, ..., 1)), never matrices
            fields, known = _known_weights(x)
            return jax.tree_util.tree_map_with_path(
                lambda p, leaf: (
                    leaf_default(path + p, leaf, known)
                    if p and getattr(p[0], "name", None) in fields
                    else None
                ),
                x,
            )
        return leaf_default(path, x)

    tree = jax.tree_util.tree_map_with_path(node, params, is_leaf=_known_module)
    if warn and ambiguous:
        warn_caller(
            "jaxreg read these >=3-D leaves as Flax kernels (*in, out), every "
            "axis but the last an input axis (jaxreg.layouts.FLAX_CONV): "
            + ", ".join(ambiguous)
            + ". If that is wrong (stacked layers (L, in, out), attention "
            "(in, heads, head_dim), torch/Equinox conv (out, in, *k)), pass "
            "layouts=: one jaxreg.layouts.Layout, a pytree of them, or a "
            "callable (path, leaf) -> Layout | None, e.g. "
            "jaxreg.layouts.stacked(jaxreg.layouts.FLAX_DENSE). Pass "
            "layouts=jaxreg.layouts.FLAX_CONV to confirm the reading and silence "
            "this warning."
        )
    if warn and biases:
        warn_caller(
            "jaxreg read these leaves named 'bias' or 'scale' with >= 2 axes as "
            "stacks of vectors (a scanned or vmapped layer's biases or norm "
            "scales (L, d), a DenseGeneral's bias (heads, head_dim)), not "
            "matrices: "
            + ", ".join(biases)
            + ". Passing layouts= (one layout, or one per subtree such as "
            "{'layers': jaxreg.layouts.stacked(jaxreg.layouts.FLAX_DENSE)}) "
            "reads them so without this warning; if one is a matrix, place its "
            "layout at that leaf of a layouts pytree or return it from a "
            "callable (path, leaf) -> Layout | None."
        )
    return tree


def check_layout(layout) -> None:
    """Raises unless ``layout`` is a :class:`Layout` or ``None``."""
    if layout is not None and not isinstance(layout, Layout):
        raise ValueError(
            f"layout must be a jaxreg.layouts.Layout or None, got {layout!r}"
        )


def leaf_layout(leaf, layout, name: str) -> Layout:
    """The layout of one array with ``ndim >= 2`` for a function ``name`` that
    takes a single array (or applies one layout to every leaf) and a
    ``layout=`` argument: ``layout`` when given; otherwise the default of
    :func:`resolve_layouts` (a 2-D leaf is the matrix, a ≥ 3-D leaf a Flax
    kernel ``(*in, out)``), with a ``UserWarning`` for a ≥ 3-D leaf that says
    how to be explicit."""
    if layout is not None:
        check_layout(layout)
        return layout
    if leaf.ndim > 2:
        warn_caller(
            f"{name} read a leaf of shape {tuple(leaf.shape)} as a Flax kernel "
            "(*in, out): one matrix, every axis but the last an input axis. Say "
            f"how to read it with {name}(..., layout=...): "
            "jaxreg.layouts.stacked(jaxreg.layouts.FLAX_DENSE) for stacked layers "
            "(L, in, out) (one matrix per layer), jaxreg.layouts.TORCH_CONV for a "
            "torch/Equinox conv (out, in, *k), jaxreg.layouts.FLAX_CONV to "
            "confirm this reading."
        )
    return resolve_layouts(leaf, warn=False)


def resolve_layouts(params, layouts: LayoutSpec = None, *, warn: bool = True):
    """One :class:`Layout` (or ``None``) per leaf of ``params``.

    Args:
      params: any pytree of arrays: a dict, Flax NNX ``State``, an Equinox
        module (non-array leaves, such as activation functions, get ``None``).
      layouts: ``None`` for the defaults (module docstring); one
        :class:`Layout` for every leaf with ≥ 2 axes; a pytree of
        ``Layout``/``None`` with the structure of ``params`` or a prefix of
        it; or a callable ``(path, leaf) -> Layout | None``. Leaves with
        fewer than 2 axes always get ``None``, and so do leaves named
        ``bias`` or ``scale`` that a layout reaches as one for all leaves or
        for a subtree (``jr.stacked(jr.FLAX_DENSE)`` for a scanned block
        reads its kernels, not its ``(L, d)`` biases and norm scales); a
        layout placed at such a leaf itself, or returned for it by the
        callable, is used.
      warn: warn about ≥ 3-D leaves read by the default guess.

    Returns:
      A pytree with the structure of ``params`` whose leaves are layouts or
      ``None`` (walk it together with params using
      ``jax.tree.map(f, params, layouts, is_leaf=lambda x: x is None)``).

    Raises:
      ValueError: a layout does not fit its leaf, or ``layouts`` does not
        match the params tree.
    """
    if layouts is None:
        return _default_tree(params, warn)
    if isinstance(layouts, Layout):
        return jax.tree_util.tree_map_with_path(
            lambda p, x: _checked(_spread(layouts, p), p, x), params
        )
    if is_function(layouts):
        return jax.tree_util.tree_map_with_path(
            lambda p, x: _checked(layouts(p, x) if is_array(x) else None, p, x),
            params,
        )

    def spread(spec, sub):
        treedef = jax.tree.structure(sub)
        if treedef.num_leaves == 0:
            # nothing to read: optax.masked's MaskedNode (a leaf another
            # transform takes, e.g. jr.muon's AdamW branch), an empty dict
            return sub
        if jax.tree_util.treedef_is_leaf(treedef):
            return spec  # given for this very leaf: honoured as given
        return jax.tree_util.tree_map_with_path(lambda p, _: _spread(spec, p), sub)

    try:
        full = jax.tree.map(
            spread,
            layouts,
            params,
            is_leaf=lambda x: x is None or isinstance(x, Layout),
        )
    except ValueError as err:
        raise ValueError(
            "layouts does not match the params tree: layouts has structure "
            f"{jax.tree.structure(layouts)}, params {jax.tree.structure(params)}"
        ) from err
    return jax.tree_util.tree_map_with_path(
        lambda p, x, spec: _checked(spec, p, x),
        params,
        full,
        is_leaf=lambda x: x is None,
    )


def weight_mask(params):
    """``True`` at the weight matrices and kernels of ``params``, ``False`` at
    its biases, norm scales and other vectors: a ``mask=`` for the
    regularization transforms that leaves those alone.

    A leaf is a weight when the default reading (:func:`resolve_layouts`,
    module docstring) finds a matrix in it: ≥ 2 axes, not named ``bias`` or
    ``scale`` (a scanned or vmapped layer's ``(L, d)`` biases), not an
    Equinox convolution's bias ``(out, 1, ..., 1)`` nor an Equinox norm
    layer's leaf. The test ``w.ndim > 1`` selects those stacked biases too.
    Nothing is warned about: a mask needs no reading of a weight's axes.

    Args:
      params: any pytree of arrays (a dict, a Flax NNX ``State``, an
        Equinox module, filtered or not).

    Returns:
      A pytree of bools with the structure of ``params``.

    Examples:
      >>> import jax.numpy as jnp, jaxreg as jr
      >>> scanned = {"kernel": jnp.ones((3, 4, 4)), "bias": jnp.ones((3, 4))}
      >>> jr.layouts.weight_mask(scanned)
      {'bias': False, 'kernel': True}
    """
    layouts = resolve_layouts(params, warn=False)
    return jax.tree.map(
        lambda _, layout: layout is not None,
        params,
        layouts,
        is_leaf=lambda x: x is None,
    )
