r"""Penalties: value, subgradient and prox, on arrays and pytrees.

A penalty is a frozen dataclass registered as a pytree whose hyperparameters are
leaves, so ``jit`` and ``vmap`` over a strength just work (a regularization path
is a ``vmap``). Build them with the validating factories :func:`l1`, :func:`l2`,
:func:`elastic_net`, :func:`group_lasso`, :func:`nuclear_norm`.

Every penalty is separable over the leaves of a pytree:
:math:`g(\theta) = \sum_{\text{leaves } w} g(w)`. Methods:

* ``value(params)``: :math:`g(\theta)`, a scalar accumulated in at least float32.
* ``grad(params)``: a subgradient, with :math:`\operatorname{sign}(0) = 0`.
* ``prox(params, step)``: :math:`\arg\min_y \tfrac12\|\theta - y\|^2 + t\,g(y)`.
* ``at(count)``: the penalty with schedule hyperparameters (``l1(schedule)``,
  a callable ``count -> strength``) evaluated at a step count.

Separable penalties (:class:`SeparablePenalty`: ``l1``, ``l2``, ``elastic_net``)
also carry the *solver contract* that :mod:`jaxreg.solvers` uses, coordinate by
coordinate: per-coordinate ``weights`` (glmnet's penalty factors, ``0`` =
unpenalized), an optional ``positive`` constraint, and ``coord_value``,
``coord_prox``, ``subdiff_distance``, ``zero_margin``, ``conjugate``,
``dual_scaling``, ``unpenalized``, ``alpha_max`` and ``take``. A new penalty
for the solvers is one subclass implementing them (see
``tests/test_solvers_contract.py`` for MCP).

Conventions (identical to scikit-learn's ``Lasso``/``ElasticNet``, so
coefficients compare directly):

==========================  =====================================================
``l1(s)``                   :math:`s\|w\|_1`
``l2(s)``                   :math:`\tfrac{s}{2}\|w\|_2^2` (gradient :math:`s w`)
``elastic_net(s, ρ)``       :math:`s(\rho\|w\|_1 + \tfrac{1-\rho}{2}\|w\|_2^2)`
``group_lasso(s, axis)``    :math:`s\sum_g \|w_g\|_2`, groups = slices along ``axis``
``nuclear_norm(s)``         :math:`s\sum_i \sigma_i(W)` over each leaf's matrices
==========================  =====================================================
"""

from __future__ import annotations

import abc
import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import keystr

from jaxreg import prox as _prox
from jaxreg._pytree import register_dataclass
from jaxreg._validation import (
    check_float_array,
    check_nonnegative,
    check_unit_interval,
    warn_caller,
)
from jaxreg.layouts import (
    Layout,
    _is_vector_stack,
    check_layout,
    leaf_layout,
    resolve_layouts,
)

__all__ = [
    "Penalty",
    "SeparablePenalty",
    "L1",
    "L2",
    "ElasticNet",
    "GroupLasso",
    "BlockGroupLasso",
    "NuclearNorm",
    "l1",
    "l2",
    "elastic_net",
    "group_lasso",
    "nuclear_norm",
]


def _accumulator(x):
    return jnp.promote_types(x.dtype, jnp.float32)


class Penalty(abc.ABC):
    """Base class: a penalty defined leaf by leaf.

    Subclasses implement ``_value``, ``_grad`` and ``_prox`` on one array; the
    public methods map them over a pytree.
    """

    def value(self, params) -> jax.Array:
        """The penalty summed over every leaf of ``params``.

        Accumulated in at least float32 (float64 when the params are).
        """
        self.check_tree(params)
        values = [self._value(jnp.asarray(leaf)) for leaf in jax.tree.leaves(params)]
        if not values:
            return jnp.zeros((), jnp.float32)
        dtype = jnp.result_type(*values)  # float32, or float64 for x64 params
        return sum((v.astype(dtype) for v in values), jnp.zeros((), dtype))

    def grad(self, params):
        """A subgradient of the penalty at ``params`` (``sign(0) = 0``)."""
        self.check_tree(params)
        return jax.tree.map(lambda w: self._grad(self._checked(w)), params)

    def prox(self, params, step=1.0):
        r"""``argmin_y ½‖params − y‖² + step·g(y)``, leaf by leaf."""
        check_nonnegative("step", step, wait=False)
        self.check_tree(params)
        return jax.tree.map(lambda w: self._prox(self._checked(w), step), params)

    def check_tree(self, params) -> None:
        """Warns about leaves of ``params`` (those it acts on) that this
        penalty may misread; ``value``, ``grad`` and ``prox`` call it, and
        :func:`~jaxreg.proximal`, :func:`~jaxreg.decoupled` and
        :func:`~jaxreg.add_penalty_gradient` call it with the unmasked
        leaves, as their names are invisible leaf by leaf. Default: nothing."""
        del params

    def at(self, count) -> Penalty:
        """This penalty with every schedule hyperparameter evaluated at ``count``.

        A hyperparameter may be a schedule ``count -> value`` (``l1(schedule)``);
        the transforms in :mod:`jaxreg.transforms` call this with their step
        count before using the penalty. Constant hyperparameters are kept.
        A schedule's value must be finite and ``>= 0``, as a constant's (a
        negative threshold would push every weight away from 0): a Python or
        numpy value below 0 raises a ``ValueError``; a ``jax.Array`` (traced
        under ``jit``, or not yet computed) cannot be read without waiting,
        so a negative entry becomes NaN, and so does the update.
        """

        def evaluated(path, v):
            name = f"the schedule of {type(self).__name__}{keystr(path)}"
            return _prox.schedule_value(v, count, name)

        # a schedule that is itself a pytree (jax.tree_util.Partial) is one value
        return jax.tree_util.tree_map_with_path(evaluated, self, is_leaf=callable)

    @staticmethod
    def _checked(w):
        w = jnp.asarray(w)
        check_float_array("params", w)
        return w

    def _scaled(self, w):
        """The strength in ``w``'s dtype (no float64 sneaks in under x64)."""
        return _prox.as_dtype(self.strength, w.dtype)

    def _threshold(self, w, step):
        """``step · strength`` in ``w``'s accumulation dtype (>= float32)."""
        return _prox.step_times(step, self.strength, _accumulator(w))

    @abc.abstractmethod
    def _value(self, w: jax.Array) -> jax.Array: ...

    @abc.abstractmethod
    def _grad(self, w: jax.Array) -> jax.Array: ...

    @abc.abstractmethod
    def _prox(self, w: jax.Array, step) -> jax.Array: ...


def _register(cls=None, *, meta_fields=()):
    """Frozen dataclass + pytree registration with the listed static fields."""

    def wrap(cls):
        cls = dataclasses.dataclass(frozen=True)(cls)
        data = [f.name for f in dataclasses.fields(cls) if f.name not in meta_fields]
        return register_dataclass(cls, data_fields=data, meta_fields=list(meta_fields))

    return wrap if cls is None else wrap(cls)


class SeparablePenalty(Penalty):
    r"""A penalty :math:`h(w) = \sum_j h_j(w_j)`: the solver contract.

    The solvers (:mod:`jaxreg.solvers`) treat a coefficient vector ``w`` of
    shape ``(d,)`` coordinate by coordinate; ``v = -\nabla F`` is the negative
    gradient of the datafit. Every method returns one entry per coordinate
    (shape ``(d,)``) unless stated:

    - ``coord_value(w)``: :math:`h_j(w_j)`.
    - ``coord_prox(x, step)``: :math:`\arg\min_y \tfrac12 (x_j - y)^2 +
      t_j h_j(y)`, ``step`` a scalar or per coordinate.
    - ``subdiff_distance(w, v)``: :math:`\operatorname{dist}(v_j, \partial
      h_j(w_j))`, the optimality violation (0 at a solution).
    - ``zero_margin(v)``: signed distance of :math:`v_j` to the boundary of
      :math:`\partial h_j(0)` (positive inside: :math:`w_j = 0` is optimal for
      the coordinate alone); the solvers rank features by it, and screen them
      by it when the penalty is ``convex``.
    - ``conjugate(v)``: :math:`h_j^*(v_j)` (``inf`` outside its domain); and
      ``dual_scaling(v)``, a scalar :math:`s \in (0, 1]` with :math:`s v` in
      the domain of every penalized coordinate's conjugate. Both only for a
      ``convex`` penalty: they build the duality gap.
    - ``unpenalized()``: bool, :math:`h_j \equiv 0` (weight 0) but for
      the sign constraint when ``positive``.
    - ``alpha_max(grad)``: the smallest ``strength`` with ``w = 0`` optimal when
      :math:`\nabla F(0) =` ``grad``.
    - ``take(idx)``: the penalty of the coordinates ``idx`` (weights gathered).
    """

    convex = True
    positive = False  # the constraint w >= 0 (a dataclass field where offered)
    weights: Any = None  # per-coordinate factors (a dataclass field in subclasses)

    def take(self, idx):
        """The penalty restricted to coordinates ``idx``."""
        if self.weights is None:
            return self
        return dataclasses.replace(self, weights=jnp.asarray(self.weights)[idx])

    def _weighted(self, value, like):
        """``value`` times the per-coordinate weights (broadcast to ``like``)."""
        if self.weights is None:
            return value
        weights = jnp.asarray(self.weights, like.dtype)  # a list of tracers too
        shape = weights.shape
        try:
            fits = np.broadcast_shapes(shape, like.shape) == like.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(
                f"{type(self).__name__}: weights of shape {shape} do not fit a "
                f"leaf of shape {like.shape} (they broadcast against every "
                "leaf); give each leaf its own penalty (e.g. optax.multi_transform"
                " or a mask) or weights that fit every leaf"
            )
        return value * weights

    @abc.abstractmethod
    def coord_value(self, w): ...

    @abc.abstractmethod
    def coord_prox(self, x, step): ...

    @abc.abstractmethod
    def subdiff_distance(self, w, v): ...

    @abc.abstractmethod
    def zero_margin(self, v): ...

    @abc.abstractmethod
    def unpenalized(self, like): ...

    def conjugate(self, v):
        raise NotImplementedError(f"{type(self).__name__} is not convex: no conjugate")

    def dual_scaling(self, v):
        raise NotImplementedError(f"{type(self).__name__} is not convex: no dual")


class _ElasticNetFamily(SeparablePenalty):
    r"""``l1ⱼ |wⱼ| + l2ⱼ/2 wⱼ²`` (+ the indicator of ``wⱼ >= 0`` if ``positive``)
    with per-coordinate ``(l1ⱼ, l2ⱼ)`` from :meth:`_l1_l2`: one implementation
    of the solver contract for ``L1``, ``L2`` and ``ElasticNet``."""

    @abc.abstractmethod
    def _l1_l2(self, like): ...

    def _value(self, w):
        wa = w.astype(_accumulator(w))
        l1, l2 = self._l1_l2(wa)
        return jnp.sum(l1 * jnp.abs(wa) + 0.5 * l2 * wa * wa)

    def _grad(self, w):
        l1, l2 = self._l1_l2(w)
        return (l1 * jnp.sign(w) + l2 * w).astype(w.dtype)

    def _prox(self, w, step):
        acc = _accumulator(w)
        l1, l2 = self._l1_l2(w.astype(acc))
        t = jnp.asarray(step, acc)
        # a negative traced strength or step: NaN, as the L1 part's threshold
        out = _prox.soft_threshold(w.astype(acc), t * l1) / (
            1 + _prox.nan_if_negative(t * l2)
        )
        if self.positive:
            out = jnp.maximum(out, 0)
        return out.astype(w.dtype)

    def coord_value(self, w):
        l1, l2 = self._l1_l2(w)
        return l1 * jnp.abs(w) + 0.5 * l2 * w * w

    def coord_prox(self, x, step):
        l1, l2 = self._l1_l2(x)
        out = _prox.soft_threshold(x, step * l1) / (
            1 + _prox.nan_if_negative(step * l2)
        )
        return jnp.maximum(out, 0) if self.positive else out

    def _signed(self, v):
        """``|v|``, or ``max(v, 0)`` under positivity (∂ of the indicator at 0)."""
        return jnp.maximum(v, 0) if self.positive else jnp.abs(v)

    def subdiff_distance(self, w, v):
        l1, l2 = self._l1_l2(v)
        at_zero = jnp.maximum(self._signed(v) - l1, 0.0)
        return jnp.where(w == 0, at_zero, jnp.abs(v - l1 * jnp.sign(w) - l2 * w))

    def zero_margin(self, v):
        l1, _ = self._l1_l2(v)
        return l1 - self._signed(v)

    def unpenalized(self, like):
        l1, l2 = self._l1_l2(like)
        return jnp.broadcast_to((l1 == 0) & (l2 == 0), jnp.shape(like))

    def conjugate(self, v):
        l1, l2 = self._l1_l2(v)
        excess = jnp.maximum(self._signed(v) - l1, 0.0)
        safe = jnp.where(l2 > 0, l2, 1.0)
        # a few ulps of slack: dual_scaling's s·|v| may round just above l1
        ulps = 8 * jnp.finfo(jnp.result_type(v)).eps * l1
        outside = jnp.where(excess > ulps, jnp.inf, 0.0)
        return jnp.where(l2 > 0, excess * excess / (2 * safe), outside)

    def dual_scaling(self, v):
        l1, l2 = self._l1_l2(v)
        vs = self._signed(v)
        capped = (l2 == 0) & (l1 > 0) & (vs > 0)
        ratio = jnp.where(capped, vs / jnp.where(capped, l1, 1.0), 0.0)
        return 1.0 / jnp.maximum(1.0, jnp.max(ratio))

    def _zero_optimal(self, grad, share):
        """``max_j s_j/(share·weight_j)`` over penalized ``j``, ``s = |grad|`` (or
        ``max(-grad, 0)`` under positivity): the smallest strength at which
        ``w = 0`` is optimal."""
        g = jnp.asarray(grad)
        s = self._signed(-g)
        if self.weights is None:
            return jnp.max(s) / share
        wts = jnp.broadcast_to(jnp.asarray(self.weights, g.dtype), g.shape)
        ratio = jnp.where(wts > 0, s / jnp.where(wts > 0, wts, 1.0), 0.0)
        return jnp.max(ratio) / share


_WEIGHTS_DOC = """
    ``weights`` (optional, broadcast against each leaf; shape ``(n_features,)``
    for the solvers) multiplies the strength coordinate by coordinate (glmnet's
    ``penalty.factor``; a weight 0 leaves a coordinate unpenalized);
    ``positive=True`` adds the constraint ``w >= 0``, enforced by the prox and the
    solvers (the subgradient of the constraint used by ``grad`` is 0)."""


@functools.partial(_register, meta_fields=("positive",))
class L1(_ElasticNetFamily):
    r""":math:`g(w) = s\sum_j c_j|w_j|`; prox = soft threshold at :math:`t s c_j`."""

    __doc__ = __doc__ + _WEIGHTS_DOC
    strength: Any
    weights: Any = None
    positive: bool = False

    def _l1_l2(self, like):
        return self._weighted(_prox.as_dtype(self.strength, like.dtype), like), 0.0

    def alpha_max(self, grad_at_zero) -> jax.Array:
        r"""Smallest strength for which 0 is optimal: :math:`\|\nabla f(0)\|_\infty`
        (over :math:`|\nabla_j f(0)| / c_j` with weights)."""
        return self._zero_optimal(grad_at_zero, 1.0)


@functools.partial(_register, meta_fields=("positive",))
class L2(_ElasticNetFamily):
    r""":math:`g(w) = \tfrac{s}{2}\sum_j c_j w_j^2`; gradient :math:`s c w`;
    prox :math:`w / (1 + t s c)`."""

    __doc__ = __doc__ + _WEIGHTS_DOC
    strength: Any
    weights: Any = None
    positive: bool = False

    def _l1_l2(self, like):
        return 0.0, self._weighted(_prox.as_dtype(self.strength, like.dtype), like)


@functools.partial(_register, meta_fields=("positive",))
class ElasticNet(_ElasticNetFamily):
    r""":math:`g(w) = s\sum_j c_j(\rho|w_j| + \tfrac{1-\rho}{2}w_j^2)` (scikit-learn's).

    ``strength`` is scikit-learn's ``alpha`` and ``l1_ratio`` its ``l1_ratio``.
    glmnet calls the same quantities ``lambda`` and ``alpha``.
    """

    __doc__ = __doc__ + _WEIGHTS_DOC
    strength: Any
    l1_ratio: Any
    weights: Any = None
    positive: bool = False

    def _l1_l2(self, like):
        s = self._weighted(_prox.as_dtype(self.strength, like.dtype), like)
        rho = _prox.as_dtype(self.l1_ratio, like.dtype)
        return s * rho, s * (1 - rho)

    def alpha_max(self, grad_at_zero) -> jax.Array:
        r"""Smallest strength for which 0 is optimal.

        :math:`\|\nabla f(0)\|_\infty / \rho` (over :math:`|\nabla_j f(0)|/c_j`
        with weights); infinite for :math:`\rho = 0`.
        """
        return self._zero_optimal(grad_at_zero, self.l1_ratio)


@functools.partial(_register, meta_fields=("axis",))
class GroupLasso(Penalty):
    r""":math:`g(W) = s\sum_g \|W_g\|_2`, groups = slices of each leaf along ``axis``.

    ``axis`` is reduced inside each group norm: for a Flax ``(in, out)`` kernel,
    ``axis=0`` groups the incoming weights of each output unit, so the prox
    removes whole units. Groups are not weighted by :math:`\sqrt{|g|}`; scale
    ``strength`` yourself if your groups differ in size. A leaf with fewer
    than ``axis + 1`` dimensions (a bias with ``axis=1``) raises ``ValueError``;
    ``axis=0`` on a leaf of 3 or more dimensions (stacked layers, a conv
    kernel) warns: it groups along the leading axis only. So does ``axis=0``
    on a weight known to be ``(out, in)`` (an Equinox ``Linear``, read by
    :func:`~jaxreg.layouts.resolve_layouts`): its groups are then the input
    features, not the units (``axis=1``); ``axis=(0,)`` keeps either
    grouping without the warning.
    """

    strength: Any
    axis: Any = 0

    def check_tree(self, params) -> None:
        """Warns where ``axis=0`` reduces a known layout's output axis (an
        Equinox ``Linear`` weight ``(out, in)``)."""
        if not (isinstance(self.axis, int) and self.axis == 0):
            return
        transposed = []

        def visit(path, layout, leaf):
            if layout is not None and jnp.ndim(leaf) == 2:
                if any(a % 2 == 0 for a in layout.output_axes):
                    transposed.append(f"{keystr(path)} {tuple(leaf.shape)}")

        jax.tree_util.tree_map_with_path(
            visit,
            resolve_layouts(params, warn=False),
            params,
            is_leaf=lambda x: x is None or isinstance(x, Layout),
        )
        if transposed:
            warn_caller(
                "group_lasso(axis=0) on weights laid out (out, in) (Equinox "
                "Linear): " + ", ".join(transposed) + " groups each input "
                "feature's outgoing weights, not each unit's incoming ones. For "
                "units pass axis=1; axis=(0,) keeps the feature groups without "
                "this warning"
            )

    def _axis(self, w):
        axes = (self.axis,) if isinstance(self.axis, int) else tuple(self.axis)
        if any(not -w.ndim <= a < w.ndim for a in axes):
            raise ValueError(
                f"axis={self.axis!r} is out of range for a leaf of shape {w.shape}; "
                "mask such leaves out or pick another axis"
            )
        if self.axis == 0 and w.ndim >= 3:
            warn_caller(
                f"group_lasso(axis=0) on a leaf of shape {w.shape} groups along "
                "its leading axis only: for stacked layers (L, in, out) that is "
                "the layer axis, each group one (in, out) entry across layers. "
                "For the units of each layer pass axis=-2 for Flax kernels (..., "
                "in, out), axis=-1 for stacked torch/Equinox weights (..., out, "
                "in); for Flax conv filters (kh, kw, in, out) axis=(0, 1, 2), "
                "for torch/Equinox ones (out, in, kh, kw) axis=(1, 2, 3); "
                "axis=(0,) keeps this grouping without this warning"
            )
        return axes

    def _value(self, w):
        norms = _prox.safe_norm(w, self._axis(w), keepdims=False)
        return self.strength * jnp.sum(norms)

    def _grad(self, w):
        norms = _prox.safe_norm(w, self._axis(w))
        unit = w / _prox.nonzero(norms).astype(w.dtype)
        return self._scaled(w) * unit

    def _prox(self, w, step):
        return _prox.group_soft_threshold(w, self._threshold(w, step), self._axis(w))

    def alpha_max(self, grad_at_zero) -> jax.Array:
        r"""Smallest strength for which 0 is optimal.

        :math:`\max_g \|\nabla_g f(0)\|_2`.
        """
        g = jnp.asarray(grad_at_zero)
        return jnp.max(_prox.safe_norm(g, self._axis(g)))


@_register
class BlockGroupLasso(Penalty):
    r""":math:`g(W) = s\sum_g c_g \|W_g\|_2`, groups = the rows of ``W`` (``(G, m)``).

    The group lasso as block coordinate descent sees it
    (:func:`jaxreg.solvers.group_lasso`): the coefficients laid out as one row
    per group (groups padded with zeros to a common size ``m``), ``c`` the
    per-group ``weights`` (default 1; 0 leaves a group unpenalized; skglm's
    ``WeightedGroupL2`` weights, and :math:`\sqrt{|g|}` is the usual choice
    for groups of unequal sizes). As a transform penalty it groups the last
    axis of a leaf (:class:`GroupLasso` with ``axis=-1``, weighted).

    The block contract (``V = -\nabla F`` laid out like ``W``; every method
    returns one entry per group unless stated):

    - ``block_value(W)``: :math:`s c_g \|W_g\|`;
    - ``block_prox(Z, step)``: rows :math:`\max(0, 1 - t_g s c_g/\|Z_g\|) Z_g`
      (``step`` a scalar or per group), a ``(G, m)`` array;
    - ``subdiff_distance(W, V)``: :math:`\operatorname{dist}(V_g, \partial
      (s c_g\|\cdot\|)(W_g))`: :math:`(\|V_g\| - s c_g)_+` at :math:`W_g = 0`,
      else :math:`\|V_g - s c_g W_g/\|W_g\|\|`;
    - ``zero_margin(V)``: :math:`s c_g - \|V_g\|` (``W_g = 0`` is optimal for
      the block alone when positive; gap-safe screening compares it with the
      dual sphere);
    - ``dual_scaling(V)``: :math:`1/\max(1, \max_g \|V_g\|/(s c_g))` over the
      penalized groups, which makes :math:`\theta` feasible (the conjugate of
      :math:`s c_g\|\cdot\|` is the indicator of the ball of radius
      :math:`s c_g`);
    - ``unpenalized(like)``: :math:`c_g = 0` (bool, ``(G,)``);
    - ``alpha_max(grad)``: :math:`\max_g \|\nabla_g f(0)\|/c_g` over
      penalized groups, the smallest ``strength`` with ``W = 0`` optimal;
    - ``take(idx)``: the penalty of the groups ``idx``.
    """

    strength: Any
    weights: Any = None

    convex = True

    def _c(self, like):
        """``s·c_g`` per group (``(G,)``, or a scalar without weights)."""
        s = _prox.as_dtype(self.strength, like.dtype)
        if self.weights is None:
            return s
        return s * jnp.asarray(self.weights, like.dtype)

    def take(self, idx):
        if self.weights is None:
            return self
        return dataclasses.replace(self, weights=jnp.asarray(self.weights)[idx])

    @staticmethod
    def _norms(W):
        return _prox.safe_norm(W, -1, keepdims=False).astype(W.dtype)

    def block_value(self, W):
        return self._c(W) * self._norms(W)

    def block_prox(self, Z, step):
        t = jnp.broadcast_to(jnp.asarray(step, Z.dtype) * self._c(Z), Z.shape[:-1])
        norms = self._norms(Z)
        scale = jnp.maximum(1.0 - t / _prox.nonzero(norms), 0.0)
        return scale[..., None] * Z

    def subdiff_distance(self, W, V):
        c = self._c(V)
        wn = self._norms(W)
        unit = W / _prox.nonzero(wn)[..., None]
        c_col = jnp.broadcast_to(c, wn.shape)[..., None]
        inside = self._norms(V - c_col * unit)
        return jnp.where(wn > 0, inside, jnp.maximum(self._norms(V) - c, 0.0))

    def zero_margin(self, V):
        return self._c(V) - self._norms(V)

    def unpenalized(self, like):
        c = jnp.broadcast_to(self._c(like), jnp.shape(like)[:-1])
        return c == 0

    def dual_scaling(self, V):
        c = jnp.broadcast_to(self._c(V), V.shape[:-1])
        vn = self._norms(V)
        capped = (c > 0) & (vn > 0)
        ratio = jnp.where(capped, vn / jnp.where(capped, c, 1.0), 0.0)
        return 1.0 / jnp.maximum(1.0, jnp.max(ratio))

    def alpha_max(self, grad_at_zero) -> jax.Array:
        g = jnp.asarray(grad_at_zero)
        gn = self._norms(g)
        if self.weights is None:
            return jnp.max(gn)
        c = jnp.broadcast_to(jnp.asarray(self.weights, g.dtype), gn.shape)
        return jnp.max(jnp.where(c > 0, gn / jnp.where(c > 0, c, 1.0), 0.0))

    def _value(self, w):
        wa = w.astype(_accumulator(w))
        return jnp.sum(self.block_value(wa))

    def _grad(self, w):
        norms = self._norms(w)
        c = jnp.broadcast_to(self._c(w), norms.shape)
        return (c / _prox.nonzero(norms))[..., None] * w

    def _prox(self, w, step):
        acc = _accumulator(w)
        return self.block_prox(w.astype(acc), jnp.asarray(step, acc)).astype(w.dtype)


@functools.partial(_register, meta_fields=("layout",))
class NuclearNorm(Penalty):
    r""":math:`g(W) = s\sum_i \sigma_i(W)`, summed over the matrices of each leaf.

    ``layout`` (a :class:`~jaxreg.layouts.Layout`) reads each leaf as matrices
    ``(*batch, fan_in, fan_out)`` (:meth:`~jaxreg.layouts.Layout.to_matrices`):
    the penalty is the sum of their nuclear norms. Stacked layers ``(L, in,
    out)`` are ``stacked(FLAX_DENSE)`` (one norm per layer); a Flax conv kernel
    ``(*k, in, out)`` is ``FLAX_CONV`` (one ``(k·in, out)`` matrix). One
    layout serves every leaf the penalty sees: give leaves of other layouts
    their own penalty (``mask``). ``None``: a 2-D leaf is the matrix (the
    norm is the same for ``(in, out)`` and ``(out, in)``); a ≥ 3-D leaf is
    read as :func:`~jaxreg.layouts.resolve_layouts` reads it by default, as a
    Flax kernel ``(*in, out)``, and warns, since that guess changes the norm.

    The prox is singular-value thresholding and needs an SVD; the subgradient
    is :math:`s\,U\operatorname{sign}(\Sigma)V^\top`. Leaves with fewer than two
    dimensions raise ``ValueError``: mask biases out.
    """

    strength: Any
    layout: Any = None

    def check_tree(self, params) -> None:
        """Warns about leaves named ``bias`` or ``scale`` with 2 or more axes
        read as matrices (a scanned layer's ``(L, d)``), which the
        layout-reading transforms (Muon, spectral normalization) treat as
        stacks of vectors."""
        if self.layout is not None:
            return
        biases = [
            f"{jax.tree_util.keystr(path)} {tuple(jnp.shape(leaf))}"
            for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]
            if jnp.ndim(leaf) >= 2 and _is_vector_stack(path)
        ]
        if biases:
            warn_caller(
                "nuclear_norm reads these leaves named 'bias' or 'scale' as "
                "matrices: "
                + ", ".join(biases)
                + ". A scanned or vmapped layer's (L, d) biases and norm scales "
                "are no matrices: mask them out (mask=...), or pass layout= to read "
                "them as matrices without this warning"
            )

    def _read(self, w):
        """The layout of leaf ``w``."""
        if w.ndim < 2:
            raise ValueError(
                f"nuclear_norm needs leaves with ndim >= 2, got shape {w.shape}; "
                "mask 1-D leaves (biases) out"
            )
        return leaf_layout(w, self.layout, "nuclear_norm")

    def _value(self, w):
        m = self._read(w).to_matrices(w.astype(_accumulator(w)))
        return self.strength * jnp.sum(jnp.linalg.svd(m, compute_uv=False))

    def _grad(self, w):
        layout = self._read(w)
        m = layout.to_matrices(w.astype(_accumulator(w)))
        u, s, vh = jnp.linalg.svd(m, full_matrices=False)
        g = layout.from_matrices((u * jnp.sign(s)[..., None, :]) @ vh, w.shape)
        return self._scaled(w) * g.astype(w.dtype)

    def _prox(self, w, step):
        layout = self._read(w)
        m = _prox.singular_value_threshold(
            layout.to_matrices(w), self._threshold(w, step)
        )
        return layout.from_matrices(m, w.shape)


def _check_separable(strength, weights, positive):
    check_nonnegative("strength", strength)
    if weights is not None:
        check_nonnegative("weights", weights)
    if not isinstance(positive, (bool, np.bool_)):  # np.True_ from estimators
        raise ValueError(f"positive must be True or False, got {positive!r}")


def l1(strength, *, weights=None, positive=False) -> L1:
    r"""L1 penalty :math:`s\sum_j c_j|w_j|` (Lasso; :math:`c_j =` ``weights``,
    default 1). ``strength`` and ``weights`` must be >= 0; ``positive=True``
    constrains ``w >= 0``."""
    _check_separable(strength, weights, positive)
    return L1(strength, weights, positive)


def l2(strength, *, weights=None, positive=False) -> L2:
    r"""L2 penalty :math:`\tfrac{s}{2}\sum_j c_j w_j^2` (ridge; gradient :math:`s c w`).

    With SGD, adding its gradient equals decoupled weight decay ``s``.
    """
    _check_separable(strength, weights, positive)
    return L2(strength, weights, positive)


def elastic_net(strength, l1_ratio=0.5, *, weights=None, positive=False) -> ElasticNet:
    r"""Elastic net :math:`s\sum_j c_j(\rho|w_j| + \tfrac{1-\rho}{2}w_j^2)`
    (scikit-learn's)."""
    _check_separable(strength, weights, positive)
    check_unit_interval("l1_ratio", l1_ratio)
    return ElasticNet(strength, l1_ratio, weights, positive)


def group_lasso(strength, axis=0) -> GroupLasso:
    r"""Group lasso :math:`s\sum_g\|w_g\|_2`, groups = slices along ``axis``."""
    check_nonnegative("strength", strength)
    if isinstance(axis, bool) or not (
        isinstance(axis, int)
        or (isinstance(axis, tuple) and all(isinstance(a, int) for a in axis))
    ):
        raise ValueError(f"axis must be an int or a tuple of ints, got {axis!r}")
    return GroupLasso(strength, axis)


def nuclear_norm(strength, *, layout=None) -> NuclearNorm:
    r"""Nuclear norm :math:`s\sum_i\sigma_i(W)` (low rank; prox needs an SVD),
    each leaf read as matrices by ``layout`` (:class:`NuclearNorm`)."""
    check_nonnegative("strength", strength)
    check_layout(layout)
    return NuclearNorm(strength, layout)
