r"""LION: evolved sign momentum (Chen et al., 2023).

.. math::

    c_k &= \beta_1 m_{k-1} + (1 - \beta_1) g_k \\
    u_k &= \operatorname{sign}(c_k) \\
    m_k &= \beta_2 m_{k-1} + (1 - \beta_2) g_k

The sign uses the *previous* momentum; ``sign(0) = 0``, so ties do not move.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxreg._validation import check_nonnegative, check_unit_interval
from jaxreg.layouts import check_array_leaves
from jaxreg.penalties import l2
from jaxreg.transforms import Mask, ScalarOrSchedule, check_not_scheduled, decoupled

__all__ = ["ScaleByLionState", "scale_by_lion", "lion"]


class ScaleByLionState(NamedTuple):
    """State of :func:`scale_by_lion`: an int32 step count and the momentum."""

    count: jax.Array
    mu: optax.Updates


def scale_by_lion(
    b1: float = 0.9, b2: float = 0.99, mu_dtype=None
) -> optax.GradientTransformationExtraArgs:
    r"""Rescales updates to :math:`\operatorname{sign}(\beta_1 m + (1-\beta_1) g)`.

    Args:
      b1: interpolation between momentum and gradient for the sign, in [0, 1].
      b2: decay of the momentum, in [0, 1].
      mu_dtype: dtype of the momentum (default: that of the params), e.g.
        ``jnp.bfloat16`` to halve optimizer memory.

    Returns:
      A ``GradientTransformationExtraArgs`` with :class:`ScaleByLionState`.
      Parity: identical to ``optax.scale_by_lion(b1, b2)`` (``mode='hard'``).
    """
    check_unit_interval("b1", b1)
    check_unit_interval("b2", b2)

    def init(params):
        check_array_leaves("params", params, scalars=True)
        mu = jax.tree.map(lambda p: jnp.zeros_like(p, dtype=mu_dtype), params)
        return ScaleByLionState(count=jnp.zeros([], jnp.int32), mu=mu)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        signs = jax.tree.map(
            lambda g, m: jnp.sign((1.0 - b1) * g + b1 * m).astype(jnp.result_type(g)),
            updates,
            state.mu,
        )
        mu = jax.tree.map(
            lambda g, m: ((1.0 - b2) * g + b2 * m).astype(m.dtype), updates, state.mu
        )
        return signs, ScaleByLionState(count=optax.safe_increment(state.count), mu=mu)

    return optax.GradientTransformationExtraArgs(init, update)


def lion(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.99,
    weight_decay: float = 0.0,
    mask: Mask = None,
    mu_dtype=None,
) -> optax.GradientTransformationExtraArgs:
    r"""The LION optimizer with decoupled weight decay.

    .. math:: w \leftarrow w - \eta_k\big(\operatorname{sign}(c_k) + \lambda w\big)

    Defaults follow the reference implementation (google/automl): β = (0.9,
    0.99) and **weight decay 0**. ``optax.lion`` defaults to ``weight_decay=1e-3``;
    with the same value both give the same updates. The decay is multiplied by
    the learning rate (as in the paper and optax). LION's sign update has unit
    RMS, so use a learning rate 3–10× smaller than AdamW's and a weight decay
    3–10× larger, keeping lr·λ.

    Args:
      learning_rate: float or schedule ``count -> lr``.
      b1, b2: see :func:`scale_by_lion`.
      weight_decay: λ ≥ 0, decoupled.
      mask: leaves to decay (see :mod:`jaxreg.transforms`); biases are usually
        excluded.
      mu_dtype: momentum dtype.

    Returns:
      ``chain(scale_by_lion(b1, b2), scale_by_learning_rate(lr),
      decoupled(l2(weight_decay), lr, mask))``.

    References:
      Chen et al., "Symbolic Discovery of Optimization Algorithms", 2023,
      https://arxiv.org/abs/2302.06675
    """
    check_not_scheduled(mask=mask)
    check_nonnegative("weight_decay", weight_decay)
    return optax.chain(
        scale_by_lion(b1, b2, mu_dtype),
        optax.scale_by_learning_rate(learning_rate),
        decoupled(l2(weight_decay), learning_rate, mask),
    )
