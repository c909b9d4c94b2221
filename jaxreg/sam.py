r"""Sharpness-aware minimization: SAM, adaptive SAM (ASAM) and GSAM.

SAM (Foret et al., 2021) minimizes :math:`\max_{\|\epsilon\| \le \rho} L(w +
\epsilon)` by one ascent step then a descent step, evaluating the gradient twice:

.. math::

    g &= \nabla L(w), \qquad
    \epsilon^* = \rho\, \frac{T_w^2\, g}{\|T_w\, g\|_2}, \\
    g_{\mathrm{SAM}} &= \nabla L(w + \epsilon^*),

with :math:`T_w = I` for SAM and :math:`T_w = \operatorname{diag}(|w| + \eta)`
for ASAM (Kwon et al., 2021), whose neighbourhood scales with each weight's
magnitude (so rescaling a ReLU layer does not change the sharpness it sees).
The norm is the global L2 norm over every selected leaf, accumulated in
float32; when it is 0 the perturbation is 0 (optax.contrib's ``normalize``
gives NaN there). GSAM (Zhuang et al., 2022) also descends the *surrogate gap*
:math:`L(w+\epsilon^*) - L(w)`: with :math:`g_\perp = g - \frac{\langle g,
g_{\mathrm{SAM}}\rangle}{\|g_{\mathrm{SAM}}\|^2} g_{\mathrm{SAM}}` (the part of the
clean gradient orthogonal to the perturbed one), the direction is
:math:`g_{\mathrm{SAM}} - \alpha\, g_\perp`; :math:`\alpha = 0` is SAM.

Two ways to use it, both evaluating the gradient twice per step and advancing
every step counter **once** per real step:

* :func:`sam_gradient` — one call in the training step returns the loss, the
  perturbed loss and the SAM gradient; hand the gradient to any optax chain.
* :func:`sam` — an optax transform placed first in a chain,
  ``optax.chain(jr.sam(0.05), optax.sgd(0.1), jr.proximal(...))``, whose update
  takes the extra argument ``grad_fn(params) -> grads``.

``optax.contrib.sam`` instead alternates an adversarial call and a descent call
of ``update`` (``sync_period=2``), so every counter downstream (schedules,
Adam's bias correction, :func:`jaxreg.proximal`'s learning-rate schedule)
advances twice per real step unless wrapped with care, and it has no adaptive
variant. Its ``opaque_mode`` ``grad_fn`` takes ``(params, i)``; ours takes
``params``.

References:
  Foret, Kleiner, Mobahi, Neyshabur, `Sharpness-Aware Minimization for
  Efficiently Improving Generalization <https://arxiv.org/abs/2010.01412>`_, 2021.
  Kwon, Kim, Park, Choi, `ASAM: Adaptive Sharpness-Aware Minimization
  <https://arxiv.org/abs/2102.11600>`_, 2021.
  Zhuang et al., `Surrogate Gap Guided Sharpness-Aware Minimization
  <https://arxiv.org/abs/2203.08065>`_, 2022.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxreg._validation import check_nonnegative
from jaxreg.diagnostics import _global_norm
from jaxreg.layouts import check_array_leaves
from jaxreg.prox import nonzero
from jaxreg.transforms import Mask, ScalarOrSchedule, check_not_scheduled, resolve_mask

__all__ = [
    "sam_perturbation",
    "gsam_direction",
    "SAMGradient",
    "sam_gradient",
    "SAMState",
    "sam",
]


def _check(rho, eta, gsam_alpha) -> None:
    if not callable(rho):
        check_nonnegative("rho", rho)
    check_nonnegative("eta", eta)
    if not callable(gsam_alpha):
        check_nonnegative("gsam_alpha", gsam_alpha)


def _select(m, x):
    """``x`` where the mask entry ``m`` holds, 0 elsewhere."""
    if isinstance(m, bool | np.bool_):
        return x if m else jnp.zeros_like(x)
    return jnp.where(m, x, jnp.zeros_like(x))


def sam_perturbation(
    grads,
    params,
    rho,
    *,
    adaptive: bool = False,
    eta=0.01,
    mask: Mask = None,
):
    r"""The ascent step :math:`\epsilon^* = \rho\, T_w^2 g / \|T_w g\|_2`.

    Args:
      grads: :math:`g = \nabla L(w)`, a pytree like ``params``.
      params: :math:`w`.
      rho: neighbourhood radius :math:`\rho \ge 0` (Foret et al. use 0.05 for
        SAM; Kwon et al. use 0.5–2.0 for ASAM, whose radius is relative).
      adaptive: ASAM's :math:`T_w = |w| + \eta` (element-wise) instead of
        :math:`T_w = 1`. Kwon et al.'s code scales only parameters named
        "weight" and leaves biases at :math:`T_w = 1`; here every selected leaf
        is scaled (pass ``mask`` to leave biases unperturbed instead).
      eta: ASAM's :math:`\eta \ge 0` (default 0.01, as in the paper), which
        keeps zero weights perturbable.
      mask: which leaves (or entries) are perturbed and enter the norm, as in
        :mod:`jaxreg.transforms`; the others get :math:`\epsilon = 0`.

    Returns:
      :math:`\epsilon^*`, a pytree like ``params`` in the params' dtypes; zeros
      when :math:`\|T_w g\| = 0`, and on a leaf whose gradient is ``None``
      (Equinox's ``filter_grad`` on a non-float leaf). In bfloat16 an entry
      of :math:`\epsilon^*` below half a unit in the last place of its weight
      rounds away in :math:`w + \epsilon^*` (``rho=0.01`` on weights near 4,
      where bfloat16's spacing is 0.03): perturb float32 master weights.
    """
    # every step of jr.sam calls it: Python and numpy values only, no sync
    check_nonnegative("rho", rho, wait=False)
    check_nonnegative("eta", eta, wait=False)
    full = resolve_mask(mask, params)
    treedef = jax.tree.structure(params)
    g_leaves = treedef.flatten_up_to(grads)
    p_leaves = treedef.flatten_up_to(params)
    m_leaves = treedef.flatten_up_to(full)

    # Python scalar leaves allowed (a Python int as a float: it is perturbed)
    p_leaves = [
        jnp.asarray(p, float) if isinstance(p, int | float) else p for p in p_leaves
    ]
    g_leaves = [
        jnp.zeros(jnp.shape(p), jnp.float32) if g is None else jnp.asarray(g)
        for g, p in zip(g_leaves, p_leaves, strict=True)
    ]

    def scale(g, p):
        g = g.astype(jnp.float32)
        if not adaptive:
            return g
        return g * (jnp.abs(p.astype(jnp.float32)) + eta)

    tg = [
        _select(m, scale(g, p))
        for g, p, m in zip(g_leaves, p_leaves, m_leaves, strict=True)
    ]
    norm = _global_norm(tg)
    factor = jnp.where(norm > 0, rho / nonzero(norm), jnp.zeros_like(norm))
    eps = [
        (factor * scale(t, p)).astype(p.dtype)
        for t, p in zip(tg, p_leaves, strict=True)
    ]
    return jax.tree.unflatten(treedef, eps)


def gsam_direction(grads, perturbed_grads, alpha):
    r"""GSAM's direction :math:`g_{\mathrm{SAM}} - \alpha\, g_\perp`.

    :math:`g_\perp = g - \frac{\langle g, g_{\mathrm{SAM}}\rangle}
    {\|g_{\mathrm{SAM}}\|^2} g_{\mathrm{SAM}}` is the component of the clean
    gradient orthogonal to the perturbed one (inner products over the whole
    pytree, in float32). Descending :math:`-g_\perp` lowers the surrogate gap
    :math:`L(w+\epsilon^*) - L(w)` without changing the perturbed loss to first
    order. Zhuang et al. tune :math:`\alpha` in [0.01, 0.3].

    Args:
      grads: :math:`g = \nabla L(w)`.
      perturbed_grads: :math:`g_{\mathrm{SAM}} = \nabla L(w + \epsilon^*)`.
      alpha: :math:`\alpha \ge 0`; 0 returns ``perturbed_grads``.
    """
    check_nonnegative("alpha", alpha, wait=False)
    f32 = lambda x: x.astype(jnp.float32)  # noqa: E731
    dot = sum(
        (
            jnp.vdot(f32(g), f32(q))
            for g, q in zip(
                *map(jax.tree.leaves, (grads, perturbed_grads)), strict=True
            )
        ),
        jnp.zeros((), jnp.float32),
    )
    sq = jnp.square(_global_norm(perturbed_grads))
    coef = jnp.where(sq > 0, dot / nonzero(sq), jnp.zeros_like(sq))
    return jax.tree.map(
        lambda g, q: (f32(q) - alpha * (f32(g) - coef * f32(q))).astype(q.dtype),
        grads,
        perturbed_grads,
    )


class SAMGradient(NamedTuple):
    """What :func:`sam_gradient` returns.

    Attributes:
      loss: :math:`L(w)` (with ``has_aux``, the loss only).
      perturbed_loss: :math:`L(w + \\epsilon^*)`; ``perturbed_loss - loss`` is
        the SAM sharpness, free to log.
      grad: the direction to hand to the optimizer: :math:`\\nabla L(w +
        \\epsilon^*)`, or GSAM's direction when ``gsam_alpha > 0``.
      aux: the auxiliary output of ``loss_fn`` at :math:`w` (``None`` unless
        ``has_aux``).
    """

    loss: jax.Array
    perturbed_loss: jax.Array
    grad: Any
    aux: Any


def sam_gradient(
    loss_fn: Callable[..., Any],
    params,
    *args,
    rho=0.05,
    adaptive: bool = False,
    eta=0.01,
    gsam_alpha=0.0,
    mask: Mask = None,
    has_aux: bool = False,
    **kwargs,
) -> SAMGradient:
    r"""The SAM (ASAM, GSAM) gradient of ``loss_fn`` at ``params``: two passes.

    Computes :math:`g = \nabla L(w)`, :math:`\epsilon^*` by
    :func:`sam_perturbation`, then :math:`\nabla L(w + \epsilon^*)` (and GSAM's
    correction when ``gsam_alpha > 0``). ``loss_fn(params, *args, **kwargs)``
    is called on the same ``args`` (the same minibatch) both times, as in
    Foret et al.; cost: two forward-backward passes.

    Args:
      loss_fn: scalar loss ``loss_fn(params, *args, **kwargs)`` (or ``(loss,
        aux)`` with ``has_aux=True``).
      params: :math:`w`, any pytree (dict, Equinox module filtered to arrays,
        Flax NNX ``State``).
      *args: passed to ``loss_fn``.
      **kwargs: passed to ``loss_fn``.
      rho, adaptive, eta, mask: see :func:`sam_perturbation`.
      gsam_alpha: GSAM's :math:`\alpha` (0: plain SAM/ASAM).
      has_aux: whether ``loss_fn`` returns ``(loss, aux)``.

    Returns:
      :class:`SAMGradient` ``(loss, perturbed_loss, grad, aux)``.

    Examples:
      >>> import jax.numpy as jnp, optax, jaxreg as jr
      >>> loss = lambda w, x: jnp.sum((x * w) ** 2)
      >>> tx = optax.chain(optax.sgd(0.1), jr.proximal(jr.l1(0.01), 0.1))
      >>> w = jnp.array([1.0, -2.0]); state = tx.init(w)
      >>> out = jr.sam_gradient(loss, w, jnp.array([1.0, 0.5]), rho=0.05)
      >>> updates, state = tx.update(out.grad, state, w)
      >>> bool(out.perturbed_loss > out.loss)
      True
    """
    _check(rho, eta, gsam_alpha)
    value_and_grad = jax.value_and_grad(loss_fn, has_aux=has_aux)
    value, grads = value_and_grad(params, *args, **kwargs)
    loss, aux = value if has_aux else (value, None)
    eps = sam_perturbation(grads, params, rho, adaptive=adaptive, eta=eta, mask=mask)
    value_p, grads_p = value_and_grad(optax.apply_updates(params, eps), *args, **kwargs)
    loss_p = value_p[0] if has_aux else value_p
    if not _is_zero(gsam_alpha):
        grads_p = gsam_direction(grads, grads_p, gsam_alpha)
    return SAMGradient(loss, loss_p, grads_p, aux)


def _is_zero(value) -> bool:
    return isinstance(value, int | float) and value == 0


class SAMState(NamedTuple):
    """State of :func:`sam`: an int32 step count (evaluates ``rho`` schedules)."""

    count: jax.Array


def _has_masked_nodes(tree) -> bool:
    """Whether ``tree`` holds ``optax.MaskedNode`` placeholders (what
    ``optax.masked`` hands its inner transform for the masked-out leaves)."""

    def is_masked(x):
        return isinstance(x, optax.MaskedNode)

    return any(is_masked(x) for x in jax.tree.leaves(tree, is_leaf=is_masked))


def sam(
    rho: ScalarOrSchedule = 0.05,
    *,
    adaptive: bool = False,
    eta=0.01,
    gsam_alpha=0.0,
    mask: Mask = None,
) -> optax.GradientTransformationExtraArgs:
    r"""SAM / ASAM / GSAM as the first transform of an optax chain.

    The update receives the clean gradient :math:`g = \nabla L(w)`, the params,
    and the extra argument ``grad_fn`` (``params -> grads`` of the same loss on
    the same batch); it returns :math:`\nabla L(w + \epsilon^*)` (or GSAM's
    direction) for the rest of the chain::

        tx = optax.chain(jr.sam(0.05), optax.sgd(0.1), jr.proximal(jr.l1(1e-4), 0.1))
        grads = jax.grad(loss)(params, batch)
        grad_fn = lambda p: jax.grad(loss)(p, batch)
        updates, state = tx.update(grads, state, params, grad_fn=grad_fn)

    ``optax.chain`` passes ``grad_fn`` to every member; the others ignore it.
    One call of ``update`` is one real step: the downstream counters advance
    once. Works under ``optax.inject_hyperparams(jr.sam)(rho=...)`` (a
    callable ``mask`` raises there: inject_hyperparams would call it as a
    schedule; pass a pytree mask). Inside ``optax.masked`` it raises
    ``ValueError`` (``grad_fn`` would get the masked-out leaves as
    ``optax.MaskedNode``): give ``sam`` the mask itself (``mask=``).

    The returned gradient *replaces* the incoming updates, which only set
    the direction of :math:`\epsilon`: a transform placed before ``sam``
    (``add_penalty_gradient``, ``add_spectral_penalty``, gradient clipping)
    is otherwise lost, so place those after it. Under ``optax.MultiSteps``
    the accumulated gradient sets :math:`\epsilon` but ``grad_fn`` is the
    last micro-batch's: to accumulate SAM gradients, call
    :func:`sam_gradient` on each micro-batch and hand its gradient to
    ``MultiSteps``.

    Args:
      rho: radius, a float or a schedule ``count -> rho`` (GSAM ties it to the
        learning rate).
      adaptive, eta, mask: see :func:`sam_perturbation`.
      gsam_alpha: GSAM's :math:`\alpha`, a float or a schedule; 0 is SAM.

    Returns:
      A ``GradientTransformationExtraArgs`` with :class:`SAMState`; its update
      needs ``params`` and ``grad_fn``.
    """
    _check(rho, eta, gsam_alpha)
    check_not_scheduled(mask=mask)

    def init(params):
        del params
        return SAMState(count=jnp.zeros([], jnp.int32))

    def update(updates, state, params=None, *, grad_fn=None, **extra_args):
        del extra_args
        if params is None or grad_fn is None:
            raise ValueError(
                "sam needs the params and grad_fn: call "
                "update(grads, state, params, grad_fn=lambda p: jax.grad(loss)(p, b))"
            )
        check_array_leaves("params", params, scalars=True)
        if _has_masked_nodes(params):
            raise ValueError(
                "sam is inside optax.masked (or optax.multi_transform, which "
                "masks): its grad_fn would receive the "
                "masked-out params as optax.MaskedNode; leave sam outside the "
                "mask and pass it sam(..., mask=...) (the leaves to perturb) instead"
            )
        rho_k = rho(state.count) if callable(rho) else rho
        eps = sam_perturbation(
            updates, params, rho_k, adaptive=adaptive, eta=eta, mask=mask
        )
        perturbed = grad_fn(optax.apply_updates(params, eps))
        if jax.tree.structure(perturbed) != jax.tree.structure(updates):
            raise ValueError(
                "sam's grad_fn must return a pytree like the updates "
                f"({jax.tree.structure(updates)}), got "
                f"{jax.tree.structure(perturbed)}; with Flax NNX, return plain "
                "arrays: nnx.as_pure(nnx.state(grads, nnx.Param))"
            )
        if not _is_zero(gsam_alpha):
            alpha = gsam_alpha(state.count) if callable(gsam_alpha) else gsam_alpha
            perturbed = gsam_direction(updates, perturbed, alpha)
        return perturbed, SAMState(count=optax.safe_increment(state.count))

    return optax.GradientTransformationExtraArgs(init, update)
