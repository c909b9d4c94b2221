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

Conventions (identical to scikit-learn's ``Lasso``/``ElasticNet``, so
coefficients compare directly):

==========================  =====================================================
``l1(s)``                   :math:`s\|w\|_1`
``l2(s)``                   :math:`\tfrac{s}{2}\|w\|_2^2` (gradient :math:`s w`)
``elastic_net(s, ρ)``       :math:`s(\rho\|w\|_1 + \tfrac{1-\rho}{2}\|w\|_2^2)`
``group_lasso(s, axis)``    :math:`s\sum_g \|w_g\|_2`, groups = slices along ``axis``
``nuclear_norm(s)``         :math:`s\sum_i \sigma_i(W)` over the last two axes
==========================  =====================================================
"""

from __future__ import annotations

import abc
import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp

from jaxreg import prox as _prox
from jaxreg._validation import check_float_array, check_nonnegative, check_unit_interval

__all__ = [
    "Penalty",
    "L1",
    "L2",
    "ElasticNet",
    "GroupLasso",
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
        values = [self._value(jnp.asarray(leaf)) for leaf in jax.tree.leaves(params)]
        if not values:
            return jnp.zeros((), jnp.float32)
        dtype = jnp.result_type(*values)  # float32, or float64 for x64 params
        return sum((v.astype(dtype) for v in values), jnp.zeros((), dtype))

    def grad(self, params):
        """A subgradient of the penalty at ``params`` (``sign(0) = 0``)."""
        return jax.tree.map(lambda w: self._grad(self._checked(w)), params)

    def prox(self, params, step=1.0):
        r"""``argmin_y ½‖params − y‖² + step·g(y)``, leaf by leaf."""
        check_nonnegative("step", step)
        return jax.tree.map(lambda w: self._prox(self._checked(w), step), params)

    def at(self, count) -> Penalty:
        """This penalty with every schedule hyperparameter evaluated at ``count``.

        A hyperparameter may be a schedule ``count -> value`` (``l1(schedule)``);
        the transforms in :mod:`jaxreg.transforms` call this with their step
        count before using the penalty. Constant hyperparameters are kept.
        """
        return jax.tree.map(lambda v: v(count) if callable(v) else v, self)

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
        return jax.tree_util.register_dataclass(
            cls, data_fields=data, meta_fields=list(meta_fields)
        )

    return wrap if cls is None else wrap(cls)


@_register
class L1(Penalty):
    r""":math:`g(w) = s\|w\|_1`; prox = soft threshold at :math:`t s`."""

    strength: Any

    def _value(self, w):
        return self.strength * jnp.sum(jnp.abs(w), dtype=_accumulator(w))

    def _grad(self, w):
        return self._scaled(w) * jnp.sign(w)

    def _prox(self, w, step):
        return _prox.soft_threshold(w, self._threshold(w, step))

    def alpha_max(self, grad_at_zero) -> jax.Array:
        r"""Smallest strength for which 0 is optimal: :math:`\|\nabla f(0)\|_\infty`."""
        return jnp.max(jnp.abs(grad_at_zero))


@_register
class L2(Penalty):
    r""":math:`g(w) = \tfrac{s}{2}\|w\|_2^2`; gradient :math:`s w`;
    prox :math:`w / (1 + t s)`."""

    strength: Any

    def _value(self, w):
        return 0.5 * self.strength * jnp.sum(jnp.square(w.astype(_accumulator(w))))

    def _grad(self, w):
        return self._scaled(w) * w

    def _prox(self, w, step):
        return _prox.prox_ridge(w, self.strength, step)


@_register
class ElasticNet(Penalty):
    r""":math:`g(w) = s(\rho\|w\|_1 + \tfrac{1-\rho}{2}\|w\|_2^2)` (scikit-learn's).

    ``strength`` is scikit-learn's ``alpha`` and ``l1_ratio`` its ``l1_ratio``.
    glmnet calls the same quantities ``lambda`` and ``alpha``.
    """

    strength: Any
    l1_ratio: Any

    def _value(self, w):
        wa = w.astype(_accumulator(w))
        l1 = jnp.sum(jnp.abs(wa))
        sq = jnp.sum(jnp.square(wa))
        return self.strength * (self.l1_ratio * l1 + 0.5 * (1 - self.l1_ratio) * sq)

    def _grad(self, w):
        rho = _prox.as_dtype(self.l1_ratio, w.dtype)
        return self._scaled(w) * (rho * jnp.sign(w) + (1 - rho) * w)

    def _prox(self, w, step):
        return _prox.prox_elastic_net(w, self.strength, self.l1_ratio, step)

    def alpha_max(self, grad_at_zero) -> jax.Array:
        r"""Smallest strength for which 0 is optimal.

        :math:`\|\nabla f(0)\|_\infty / \rho`.
        """
        return jnp.max(jnp.abs(grad_at_zero)) / self.l1_ratio


@functools.partial(_register, meta_fields=("axis",))
class GroupLasso(Penalty):
    r""":math:`g(W) = s\sum_g \|W_g\|_2`, groups = slices of each leaf along ``axis``.

    ``axis`` is reduced inside each group norm: for a Flax ``(in, out)`` kernel,
    ``axis=0`` groups the incoming weights of each output unit, so the prox
    removes whole units. Groups are not weighted by :math:`\sqrt{|g|}`; scale
    ``strength`` yourself if your groups differ in size. A leaf with fewer
    than ``axis + 1`` dimensions (a bias with ``axis=1``) raises ``ValueError``.
    """

    strength: Any
    axis: Any = 0

    def _axis(self, w):
        axes = (self.axis,) if isinstance(self.axis, int) else tuple(self.axis)
        if any(not -w.ndim <= a < w.ndim for a in axes):
            raise ValueError(
                f"axis={self.axis!r} is out of range for a leaf of shape {w.shape}; "
                "mask such leaves out or pick another axis"
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
class NuclearNorm(Penalty):
    r""":math:`g(W) = s\sum_i \sigma_i(W)` over the last two axes of each leaf.

    The prox is singular-value thresholding and needs an SVD; the subgradient
    is :math:`s\,U\operatorname{sign}(\Sigma)V^\top`. Leaves with fewer than two
    dimensions raise ``ValueError``: mask biases out.
    """

    strength: Any

    @staticmethod
    def _matrix(w):
        if w.ndim < 2:
            raise ValueError(
                f"nuclear_norm needs leaves with ndim >= 2, got shape {w.shape}; "
                "mask 1-D leaves (biases) out"
            )
        return w.astype(_accumulator(w))

    def _value(self, w):
        s = jnp.linalg.svd(self._matrix(w), compute_uv=False)
        return self.strength * jnp.sum(s)

    def _grad(self, w):
        u, s, vh = jnp.linalg.svd(self._matrix(w), full_matrices=False)
        g = (u * jnp.sign(s)[..., None, :]) @ vh
        return self._scaled(w) * g.astype(w.dtype)

    def _prox(self, w, step):
        self._matrix(w)
        return _prox.singular_value_threshold(w, self._threshold(w, step))


def l1(strength) -> L1:
    r"""L1 penalty :math:`s\|w\|_1` (Lasso). ``strength`` must be >= 0."""
    check_nonnegative("strength", strength)
    return L1(strength)


def l2(strength) -> L2:
    r"""L2 penalty :math:`\tfrac{s}{2}\|w\|_2^2` (ridge; gradient :math:`s w`).

    With SGD, adding its gradient equals decoupled weight decay ``s``.
    """
    check_nonnegative("strength", strength)
    return L2(strength)


def elastic_net(strength, l1_ratio=0.5) -> ElasticNet:
    r"""Elastic net :math:`s(\rho\|w\|_1 + \tfrac{1-\rho}{2}\|w\|_2^2)` (sklearn's)."""
    check_nonnegative("strength", strength)
    check_unit_interval("l1_ratio", l1_ratio)
    return ElasticNet(strength, l1_ratio)


def group_lasso(strength, axis=0) -> GroupLasso:
    r"""Group lasso :math:`s\sum_g\|w_g\|_2`, groups = slices along ``axis``."""
    check_nonnegative("strength", strength)
    if isinstance(axis, bool) or not (
        isinstance(axis, int)
        or (isinstance(axis, tuple) and all(isinstance(a, int) for a in axis))
    ):
        raise ValueError(f"axis must be an int or a tuple of ints, got {axis!r}")
    return GroupLasso(strength, axis)


def nuclear_norm(strength) -> NuclearNorm:
    r"""Nuclear norm :math:`s\sum_i\sigma_i(W)` (low rank; prox needs an SVD)."""
    check_nonnegative("strength", strength)
    return NuclearNorm(strength)
