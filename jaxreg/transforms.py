r"""The three ways to regularize, as optax ``GradientTransformation``\ s.

Given a penalty :math:`g` (see :mod:`jaxreg.penalties`), an optimizer that maps a
gradient to a direction :math:`d_k`, and a learning rate :math:`\eta_k`:

* **coupled** — :func:`add_penalty_gradient`, placed *before* the optimizer:
  the optimizer sees :math:`\nabla f + \nabla g`. For SGD this is identical to
  weight decay; for Adam it is "Adam + L2", which the adaptive scaling distorts.
* **decoupled** — :func:`decoupled`, placed *after* the optimizer (after its
  learning-rate scaling): :math:`w \leftarrow w - \eta_k d_k - \eta_k \nabla g(w)`.
  With ``l2(λ)`` this is AdamW's :math:`w \leftarrow w - \eta_k d_k - \eta_k\lambda w`
  (optax's convention: the decay is multiplied by the learning rate, unlike
  Loshchilov & Hutter's schedule multiplier); with ``l1(λ)`` it is
  :math:`-\eta_k\lambda\operatorname{sign}(w)`, which shrinks but does not zero.
* **proximal** — :func:`proximal`, placed *last*:
  :math:`w \leftarrow \operatorname{prox}_{\eta_k g}(w - \eta_k d_k)`, which gives
  exact zeros for L1, whole zero groups for group lasso and low rank for the
  nuclear norm.

All three take ``mask``: a pytree of bools (or a prefix of ``params``), or a
callable ``params -> mask``; ``False`` leaves pass their updates through
untouched. Unlike ``optax.masked``, a callable is evaluated on ``params`` in both
``init`` and ``update``, so it may look at values, not only shapes. Leaves of the
mask may also be boolean arrays for element-wise masks. A mask that is itself a
pytree (an Equinox module of bools) is never called.

**Strength schedules.** A penalty's strength may be a schedule ``count -> s``
(``l1(optax.linear_schedule(0.0, 1e-3, 1000))``): every transform here reads it
at its own step count, like the learning rate.

**Under** ``optax.inject_hyperparams``. A penalty object is passed through as a
static argument; to make the strength a hyperparameter that can be changed
between steps without recompiling, build the penalty inside the factory::

    @optax.inject_hyperparams
    def opt(learning_rate, strength):
        return jaxreg.prox_adamw(learning_rate, jaxreg.l1(strength))

    state.hyperparams["strength"] = 1e-3  # next step uses it, same executable

``inject_hyperparams`` calls every callable argument as a schedule of the step
count, so a callable ``mask`` must be listed in ``static_args=("mask",)``; the
factories here raise ``ValueError`` when they are handed one that was not.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from optax.contrib import ScheduleFreeState, schedule_free_eval_params

from jaxreg._validation import (
    check_float_array,
    check_nonnegative,
    check_unit_interval,
)
from jaxreg.layouts import is_array, is_function
from jaxreg.penalties import Penalty, l2
from jaxreg.prox import schedule_value

__all__ = [
    "RegularizationState",
    "add_penalty_gradient",
    "decoupled",
    "proximal",
    "prox_sgd",
    "prox_adam",
    "prox_adamw",
    "schedule_free_prox_eval_params",
]

ScalarOrSchedule = float | jax.Array | Callable[[jax.Array], jax.Array]
Mask = Any | Callable[[Any], Any]


class RegularizationState(NamedTuple):
    """Step counter (int32) used to evaluate a learning-rate schedule."""

    count: jax.Array


# how a learning-rate schedule's checked value is named in errors
LR_SCHEDULE = "the learning_rate schedule's value"


def check_penalty(penalty) -> None:
    if not isinstance(penalty, Penalty):
        raise ValueError(
            f"penalty must be a jaxreg penalty (e.g. jaxreg.l1(0.1)), got {penalty!r}"
        )


def _require_params(params, name: str) -> None:
    if params is None:
        raise ValueError(
            f"{name} needs the current params: call update(updates, state, params)"
        )


def check_not_scheduled(**received) -> None:
    """Refuses values that ``optax.inject_hyperparams`` made by calling a
    callable as a schedule.

    ``inject_hyperparams`` calls every callable argument not in
    ``static_args`` with the step count and hands the factory the result, so
    a mask function would silently become ``mask(count)`` (``False`` for a
    mask of ``w.ndim > 1``: nothing regularized). Its ``init_fn`` /
    ``update_fn`` hold the schedules in ``sched_hps`` and their values in
    ``hparams``; the frames above the caller (the factory, then any factory
    of the user's that builds it) are searched for them, and an argument
    that *is* one of those values came from a schedule. Other callers are
    left alone.

    Args:
      **received: the factory's arguments by name, as it received them.
    """
    frame = sys._getframe(2)
    for _ in range(_FACTORY_DEPTH):
        if frame is None:
            return
        scheduled = frame.f_locals.get("sched_hps")
        values = frame.f_locals.get("hparams")
        if frame.f_code.co_name in ("init_fn", "update_fn") and isinstance(
            scheduled, dict
        ):
            if not isinstance(values, dict):
                return
            for name, value in received.items():
                hp = next(
                    (
                        k
                        for k in scheduled
                        if value is not None and values.get(k) is value
                    ),
                    None,
                )
                if hp is not None:
                    raise ValueError(
                        f"{name} received {value!r}, the value of {hp!r}: a "
                        "callable that optax.inject_hyperparams calls as a "
                        "schedule of the step count. Pass "
                        f"static_args=({hp!r},) to optax.inject_hyperparams, "
                        "or a pytree of bools."
                    )
            return
        frame = frame.f_back


# frames between a jaxreg factory and inject_hyperparams' init_fn/update_fn:
# a user's factory and a helper or two of theirs
_FACTORY_DEPTH = 6


def resolve_mask(mask: Mask, params):
    """The mask as a full pytree matching ``params``, one entry per leaf.

    Args:
      mask: None (every leaf), a pytree of bools / bool arrays that is
        ``params``' structure or a prefix of it, or a callable of ``params``.
      params: the parameters.

    Raises:
      ValueError: naming ``mask`` when its structure does not match ``params``.
    """
    if mask is None:
        return jax.tree.map(lambda _: True, params)
    # An Equinox module is callable: a mask that is a pytree is never called.
    tree = mask(params) if is_function(mask) else mask
    try:
        return jax.tree.map(
            lambda m, sub: jax.tree.map(lambda _: _host_flag(m), sub), tree, params
        )
    except ValueError as err:
        raise ValueError(
            "mask does not match the params tree: mask has structure "
            f"{jax.tree.structure(tree)}, params {jax.tree.structure(params)}"
        ) from err


def _host_flag(m):
    """A one-element boolean mask known on the host (``np.False_``,
    ``jnp.array(False)``) as the Python bool that skips or keeps the whole
    leaf; anything else (a traced or element-wise mask) unchanged."""
    if (
        np.ndim(m) == 0
        and not isinstance(m, jax.core.Tracer)
        and jnp.issubdtype(getattr(m, "dtype", type(m)), jnp.bool_)
    ):
        return bool(m)
    return m


def _check_array_mask(m, shape, path):
    """Raises ``ValueError`` naming the mask's leaf unless ``m`` is a bool,
    a 0/1 integer, or a boolean or integer array (read as ``jnp.where``
    reads it) that broadcasts to the param's ``shape`` (a label tree passed
    as a mask, or a mask of another layer's shape, failed inside
    ``jnp.where``)."""
    name = f"mask{jax.tree_util.keystr(path)}"
    if isinstance(m, int | np.integer):
        if m not in (0, 1):  # 2 read as True
            raise ValueError(f"{name} must be a bool or 0/1, got {m!r}")
        return
    dtype = getattr(m, "dtype", None)
    if dtype is None or not (
        jnp.issubdtype(dtype, jnp.bool_) or jnp.issubdtype(dtype, jnp.integer)
    ):
        raise ValueError(
            f"{name} must be a bool or a boolean (or 0/1 integer) array, got {m!r}"
        )
    try:
        fits = np.broadcast_shapes(np.shape(m), shape) == tuple(shape)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{name} has shape {np.shape(m)}, which does not broadcast to its "
            f"param's shape {tuple(shape)}"
        )


def masked_map(fn, mask: Mask, updates, params):
    """``fn(update, param)`` on leaves where ``mask`` is True, else ``update``.

    A Python ``False`` skips the computation entirely; an array mask selects
    element-wise with ``jnp.where``.
    """
    full = resolve_mask(mask, params)
    try:
        jax.tree.map(lambda *_: None, updates, params)
    except ValueError as err:
        hint = ""
        odd = [x for x in jax.tree.leaves(params) if not is_array(x)]
        if odd:  # an unfiltered Equinox module: its functions are leaves
            hint = (
                f" (params hold {odd[0]!r}, not an array: pass only the arrays, "
                "e.g. eqx.filter(model, eqx.is_inexact_array) or nnx.state(model, "
                "nnx.Param))"
            )
        raise ValueError(
            f"params do not match the updates tree{hint}: params have structure "
            f"{jax.tree.structure(params)}, updates {jax.tree.structure(updates)}"
        ) from err

    def leaf(path, u, p, m):
        if not isinstance(m, bool | np.bool_):
            _check_array_mask(m, jnp.shape(p), path)
        if m is not False:
            try:
                check_float_array("params", p)
            except ValueError as err:  # name the leaf (only on failure: per step)
                named = f"params{jax.tree_util.keystr(path)}"
                raise ValueError(str(err).replace("params", named, 1)) from None
            # Python scalar leaves too, as optax's transforms take them
            u, p = jnp.asarray(u), jnp.asarray(p)
        if isinstance(m, bool | np.bool_):
            return fn(u, p) if m else u
        return jnp.where(m, fn(u, p), u)

    return jax.tree_util.tree_map_with_path(leaf, updates, params, full)


def _check_selected(penalty, mask, params):
    """``penalty.check_tree`` on the leaves ``mask`` selects."""
    if type(penalty).check_tree is Penalty.check_tree:
        return  # nothing to check: no second evaluation of a callable mask

    def selected(m, p):
        return None if isinstance(m, bool | np.bool_) and not m else p

    penalty.check_tree(jax.tree.map(selected, resolve_mask(mask, params), params))


def _scheduled(
    penalty, learning_rate, mask, leaf_update, name: str
) -> optax.GradientTransformationExtraArgs:
    """A masked leaf-wise transform ``leaf_update(u, p, lr_k, penalty_k)`` with a
    step counter that evaluates the learning-rate and strength schedules."""
    check_penalty(penalty)
    check_nonnegative("learning_rate", learning_rate)  # a schedule: when read

    def init(params):
        del params
        return RegularizationState(count=jnp.zeros([], jnp.int32))

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _require_params(params, name)
        lr = schedule_value(learning_rate, state.count, LR_SCHEDULE)
        pen = penalty.at(state.count)
        _check_selected(pen, mask, params)
        new = masked_map(lambda u, p: leaf_update(u, p, lr, pen), mask, updates, params)
        return new, RegularizationState(count=optax.safe_increment(state.count))

    return optax.GradientTransformationExtraArgs(init, update)


def add_penalty_gradient(
    penalty: Penalty, mask: Mask = None
) -> optax.GradientTransformationExtraArgs:
    r"""Adds the penalty's (sub)gradient to the updates: coupled regularization.

    .. math:: u \leftarrow u + \nabla g(w)

    Place it before the optimizer, where the updates are still gradients:
    ``chain(add_penalty_gradient(l2(λ)), optax.sgd(lr))`` minimizes
    :math:`f(w) + \tfrac{\lambda}{2}\|w\|^2`. With ``l2`` and plain SGD this is
    step for step the same as :func:`decoupled`; with Adam the penalty gradient
    is rescaled by :math:`1/\sqrt{\hat v}` ("Adam + L2", what AdamW fixes).
    ``optax.add_decayed_weights(λ)`` is this transform with ``l2(λ)``. With
    :func:`jaxreg.sam`, place it after ``sam``, which replaces the gradient.

    Args:
      penalty: a :class:`~jaxreg.penalties.Penalty`.
      mask: which leaves to regularize (see the module docstring).

    Returns:
      A ``GradientTransformationExtraArgs`` with :class:`RegularizationState`
      (the step count at which a strength schedule is read); its update
      requires ``params``.
    """
    check_not_scheduled(mask=mask)
    check_penalty(penalty)

    def init(params):
        del params
        return RegularizationState(count=jnp.zeros([], jnp.int32))

    def update(updates, state, params=None, **extra_args):
        del extra_args
        _require_params(params, "add_penalty_gradient")
        pen = penalty.at(state.count)
        _check_selected(pen, mask, params)
        new = masked_map(
            lambda u, p: u + pen.grad(p).astype(u.dtype), mask, updates, params
        )
        return new, RegularizationState(count=optax.safe_increment(state.count))

    return optax.GradientTransformationExtraArgs(init, update)


def decoupled(
    penalty: Penalty, learning_rate: ScalarOrSchedule, mask: Mask = None
) -> optax.GradientTransformationExtraArgs:
    r"""Decoupled (AdamW-style) regularization, outside the adaptive scaling.

    .. math:: u \leftarrow u - \eta_k \nabla g(w)

    Place it *after* the optimizer's learning-rate scaling (the updates are then
    the step to add). ``chain(optax.adam(lr), decoupled(l2(wd), lr))`` is
    ``optax.adamw(lr, weight_decay=wd)``: :math:`w \leftarrow w - \eta(\hat m /
    (\sqrt{\hat v} + \epsilon) + \mathrm{wd}\cdot w)`. The decay is multiplied
    by the learning rate, as in optax and PyTorch; Loshchilov & Hutter multiply
    it by the schedule factor only.

    With ``l1(λ)`` the shrinkage is :math:`\eta_k\lambda\operatorname{sign}(w)`:
    weights oscillate around 0 instead of reaching it. Use :func:`proximal` for
    exact zeros.

    Args:
      penalty: a :class:`~jaxreg.penalties.Penalty` (``l2`` for weight decay).
      learning_rate: the optimizer's learning rate, a float or the same schedule
        ``count -> lr`` (this transform keeps its own step counter).
      mask: which leaves to decay (see the module docstring).

    Returns:
      A ``GradientTransformationExtraArgs``; its update requires ``params``.
    """

    check_not_scheduled(mask=mask)

    def shrink(u, p, lr, pen):
        return u - (lr * pen.grad(p)).astype(u.dtype)

    return _scheduled(penalty, learning_rate, mask, shrink, "decoupled")


def proximal(
    penalty: Penalty, learning_rate: ScalarOrSchedule, mask: Mask = None
) -> optax.GradientTransformationExtraArgs:
    r"""Proximal step: the last transform of a chain.

    .. math:: u \leftarrow \operatorname{prox}_{\eta_k g}(w + u) - w

    so that ``optax.apply_updates`` gives :math:`w^+ = \operatorname{prox}_{\eta_k
    g}(w + u)`. With ``chain(optax.sgd(lr), proximal(l1(λ), lr))`` this is ISTA
    (proximal gradient descent): noise weights land on exact zeros and stay.

    The prox needs the true step :math:`\eta_k`, which is invisible downstream of
    the optimizer, so pass the same ``learning_rate`` (float or schedule) the
    optimizer uses.

    **With adaptive optimizers** (Adam, LION, Muon) the step taken is
    :math:`\eta_k d_k` with a preconditioned :math:`d_k`; this transform still
    thresholds at :math:`\eta_k\lambda` in parameter units (the "ProxAdam" /
    proximal-SGD-with-preconditioned-direction scheme). The fixed points are
    those of the composite problem only for SGD; for Adam, read ``λ`` as "how
    far per step a weight must move to survive". This is what keeps zeros exact
    while using any optimizer.

    Args:
      penalty: a :class:`~jaxreg.penalties.Penalty`.
      learning_rate: the optimizer's learning rate, a float or the same schedule.
      mask: which leaves to regularize (see the module docstring).

    Returns:
      A ``GradientTransformationExtraArgs``; its update requires ``params``.
    """

    check_not_scheduled(mask=mask)

    def step(u, p, lr, pen):
        return (pen.prox(p + u, lr) - p).astype(u.dtype)

    return _scheduled(penalty, learning_rate, mask, step, "proximal")


def prox_sgd(
    learning_rate: ScalarOrSchedule,
    penalty: Penalty,
    momentum: float | None = None,
    nesterov: bool = False,
    mask: Mask = None,
) -> optax.GradientTransformationExtraArgs:
    r"""(Momentum) SGD followed by a proximal step: ISTA when ``momentum=None``.

    ``chain(optax.sgd(learning_rate, momentum, nesterov), proximal(penalty,
    learning_rate, mask))``; ``momentum`` in ``[0, 1)`` or ``None``.
    """
    check_not_scheduled(mask=mask)
    if momentum is not None:
        check_unit_interval("momentum", momentum, below_one=True)
    return optax.chain(
        optax.sgd(learning_rate, momentum=momentum, nesterov=nesterov),
        proximal(penalty, learning_rate, mask),
    )


def prox_adam(
    learning_rate: ScalarOrSchedule,
    penalty: Penalty,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    mask: Mask = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Adam followed by a proximal step (see :func:`proximal` on adaptive use).

    ``chain(optax.adam(learning_rate, b1, b2, eps), proximal(penalty,
    learning_rate, mask))``; ``b1``, ``b2`` in ``[0, 1)``, ``eps >= 0``.
    """
    check_not_scheduled(mask=mask)
    check_unit_interval("b1", b1, below_one=True)
    check_unit_interval("b2", b2, below_one=True)
    check_nonnegative("eps", eps)
    return optax.chain(
        optax.adam(learning_rate, b1=b1, b2=b2, eps=eps),
        proximal(penalty, learning_rate, mask),
    )


def prox_adamw(
    learning_rate: ScalarOrSchedule,
    penalty: Penalty,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 1e-4,
    mask: Mask = None,
    decay_mask: Mask | str = "same",
) -> optax.GradientTransformationExtraArgs:
    r"""AdamW followed by a proximal step.

    ``chain(optax.adam(learning_rate, b1, b2, eps), decoupled(l2(weight_decay),
    learning_rate, decay_mask), proximal(penalty, learning_rate, mask))``, i.e.
    optax's ``adamw`` (decay multiplied by the learning rate) then the prox.
    With ``penalty=l1(λ)`` the net effect is elastic-net-like: decay
    :math:`\eta\,\mathrm{wd}\,w`, then a soft threshold at :math:`\eta\lambda`.

    Args:
      learning_rate: η, a float or schedule (shared by Adam, decay and prox).
      penalty: the penalty of the prox (e.g. ``l1(λ)``, ``group_lasso(λ)``).
      b1, b2, eps: Adam's moment decays (in [0, 1)) and epsilon (≥ 0).
      weight_decay: wd ≥ 0 of the decoupled L2 decay.
      mask: the leaves the prox acts on.
      decay_mask: the leaves that decay; ``"same"`` (default) reuses ``mask``.
        Pass e.g. ``mask=`` hidden kernels only and ``decay_mask=None`` to
        decay everything, biases included.
    """
    check_not_scheduled(mask=mask, decay_mask=decay_mask)
    check_nonnegative("weight_decay", weight_decay)
    check_unit_interval("b1", b1, below_one=True)
    check_unit_interval("b2", b2, below_one=True)
    check_nonnegative("eps", eps)
    if isinstance(decay_mask, str):
        if decay_mask != "same":
            raise ValueError(
                f"decay_mask must be 'same', None, a pytree or a callable, got "
                f"{decay_mask!r}"
            )
        decay_mask = mask
    return optax.chain(
        optax.adam(learning_rate, b1=b1, b2=b2, eps=eps),
        decoupled(l2(weight_decay), learning_rate, decay_mask),
        proximal(penalty, learning_rate, mask),
    )


def schedule_free_prox_eval_params(
    state, params, penalty: Penalty, step, mask: Mask = None
):
    r"""Sparse evaluation parameters for ``optax.contrib.schedule_free``.

    .. math:: x^\text{eval} = \operatorname{prox}_{t g}(x), \qquad
        x = \text{schedule\_free\_eval\_params}(\text{state}, y)

    Schedule-free evaluates at the average :math:`x` of the base iterates
    :math:`z`, a convex combination that is never exactly sparse even when the
    :math:`z` are; the prox applied where the evaluation point is formed gives
    exact zeros (for L1, every coordinate with :math:`|x_i| \le t\lambda`).
    Use ``step`` = the base learning rate for one proximal-gradient step's
    threshold. A strength schedule is read at the number of steps taken, the
    count the penalty inside training reads at its next step (optax's
    ``step_count`` starts at 1, so that is ``step_count - 1``).

    Train with the penalty coupled or decoupled inside the base optimizer
    (``schedule_free(chain(add_penalty_gradient(l1(λ)), optax.sgd(lr)), lr)``);
    :func:`proximal` does not belong inside it: schedule-free hands its base
    optimizer the interpolated point :math:`y`, not :math:`z`, so the prox
    would be taken at the wrong point.

    Args:
      state: an optimizer state holding one ``ScheduleFreeState`` (at any
        depth).
      params: the training parameters :math:`y`.
      penalty: a :class:`~jaxreg.penalties.Penalty`.
      step: the prox step :math:`t` (float).
      mask: which leaves to threshold (see the module docstring).

    Returns:
      The evaluation parameters, with the structure of ``params``.
    """
    check_penalty(penalty)
    check_nonnegative("step", step)
    found = [
        node
        for node in jax.tree.leaves(
            state, is_leaf=lambda n: isinstance(n, ScheduleFreeState)
        )
        if isinstance(node, ScheduleFreeState)
    ]
    if not found:
        raise ValueError(
            "state holds no ScheduleFreeState: pass the state of "
            "optax.contrib.schedule_free (or of a chain containing it)"
        )
    sf = found[0]
    x = schedule_free_eval_params(sf, params)
    pen = penalty.at(sf.step_count - 1)
    return masked_map(lambda u, p: pen.prox(p, step).astype(p.dtype), mask, x, x)
