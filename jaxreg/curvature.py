r"""Curvature and implicit-regularization signals, each opt-in with its cost.

:func:`jaxreg.with_diagnostics` records the cheap per-step signals (gradient,
update and parameter norms, the update-to-weight ratio
:math:`\|\Delta w\|/\|w\|`, sparsity). The signals here cost extra passes or a
factorization, so a training loop calls them every *k* steps, outside the
update:

* :func:`top_hessian_eigenvalue` — sharpness :math:`\lambda_{\max}(\nabla^2 L)`,
  which settles near :math:`2/\eta` under full-batch GD (edge of stability).
  Cost: ``num_iterations + 1`` Hessian-vector products (each ≈ 2–3 gradient
  passes; twice as many where a negative eigenvalue dominates); the Hessian
  is never stored.
* :func:`sam_sharpness` — :math:`L(w+\epsilon^*) - L(w)`, SAM's worst-case rise
  in a ρ-ball. Cost: one gradient + one forward pass (free from
  :func:`jaxreg.sam_gradient`).
* :func:`gradient_noise_scale` — McCandlish et al.'s
  :math:`B_{\rm simple} = \operatorname{tr}\Sigma/\|G\|^2`, the batch size
  beyond which larger batches stop helping. Cost: the per-batch gradients.
* :func:`stable_rank` :math:`\|W\|_F^2/\sigma_{\max}^2` and
  :func:`effective_rank` :math:`\exp H(\sigma/\sum\sigma)` (Roy & Vetterli,
  2007) of weight matrices. Cost: one SVD per matrix.
* :func:`weight_norm_growth` — :math:`\|w_t\|/\|w_0\|` per leaf. Cost: one
  pass over the params.

The SVD-based ranks are diagnostics, never part of a step (Metal backends run
SVD on the host). They read a leaf as matrices through its
:class:`~jaxreg.layouts.Layout` (``stacked(FLAX_DENSE)`` for stacked layers,
one value per layer; ``TORCH_CONV`` for an Equinox conv weight); without one
a ≥ 3-D leaf is one Flax ``(*in, out)`` matrix, with a warning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from jaxreg._validation import check_positive_int
from jaxreg.diagnostics import _global_norm
from jaxreg.layouts import leaf_layout
from jaxreg.prox import nonzero
from jaxreg.sam import sam_perturbation
from jaxreg.transforms import Mask

__all__ = [
    "hessian_vector_product",
    "HessianEigen",
    "top_hessian_eigenvalue",
    "sam_sharpness",
    "gradient_noise_scale",
    "stable_rank",
    "effective_rank",
    "weight_norm_growth",
]


def hessian_vector_product(loss_fn: Callable[..., jax.Array], params, vector, *args):
    r""":math:`\nabla^2 L(w)\, v` by forward-over-reverse differentiation.

    ``loss_fn(params, *args)`` is a scalar; ``vector`` is a pytree like
    ``params``. Cost: about one gradient pass plus its JVP; the Hessian is
    never formed.
    """
    grad = lambda p: jax.grad(loss_fn)(p, *args)  # noqa: E731
    return jax.jvp(grad, (params,), (vector,))[1]


class HessianEigen(NamedTuple):
    """The result of :func:`top_hessian_eigenvalue`.

    Attributes:
      value: the Rayleigh quotient :math:`v^\\top H v` of the final unit vector.
      vector: the unit vector :math:`v`, a pytree like the params (pass it as
        ``init`` next time to warm-start).
      residual: :math:`\\|Hv - (v^\\top H v) v\\|`, 0 for an exact eigenvector;
        compare with ``abs(value)`` to judge convergence.
    """

    value: jax.Array
    vector: Any
    residual: jax.Array


def top_hessian_eigenvalue(
    loss_fn: Callable[..., jax.Array],
    params,
    *args,
    num_iterations: int = 20,
    init=None,
    key: jax.Array | None = None,
    which: str = "largest",
) -> HessianEigen:
    r"""The largest Hessian eigenvalue :math:`\lambda_{\max}` by power
    iteration on HVPs.

    .. math:: v \leftarrow H v / \|H v\|, \qquad \lambda = v^\top H v

    with :math:`H = \nabla^2 L(w)`, ``num_iterations`` times (a
    ``lax.fori_loop`` with a static bound, float32). This is the sharpness
    that rises to :math:`2/\eta` under full-batch gradient descent (Cohen et
    al., 2021, "edge of stability"). Power iteration finds the eigenvalue
    :math:`\mu` of largest *magnitude*; near a minimum that is
    :math:`\lambda_{\max}`. Away from one (a saddle, early training) it may
    be negative: then (``which="largest"``) a second power iteration on
    :math:`H - \mu I`, whose eigenvalues are :math:`\lambda_i - \mu \ge 0`,
    finds :math:`\lambda_{\max}`. It converges at the rate
    :math:`|\lambda_2/\lambda_1|` per iteration (shifted:
    :math:`(\lambda_2 - \mu)/(\lambda_{\max} - \mu)`): read ``residual``
    (or warm-start with ``init``, which across nearby training steps usually
    needs only a few iterations).

    Cost: ``num_iterations + 1`` Hessian-vector products, twice that when
    :math:`\mu < 0` (``which="largest"``). Pass the loss on a fixed batch
    (or the full training set on small problems) so that the estimate is of
    one function.

    Args:
      loss_fn: scalar ``loss_fn(params, *args)``.
      params: the point :math:`w`.
      *args: passed to ``loss_fn`` (e.g. the batch).
      num_iterations: power iterations, ≥ 1.
      init: starting vector (pytree like ``params``); default (and for an
        all-zero ``init``) a Gaussian draw from ``key`` (default
        ``jax.random.key(0)``).
      key: PRNG key for the default start.
      which: ``"largest"`` (default): :math:`\lambda_{\max}`, the
        sharpness; ``"magnitude"``: the eigenvalue of largest magnitude
        :math:`\mu` (one power iteration; what this function returned
        before).

    Returns:
      :class:`HessianEigen` ``(value, vector, residual)``.
    """
    check_positive_int("num_iterations", num_iterations)
    if which not in ("largest", "magnitude"):
        raise ValueError(f"which must be 'largest' or 'magnitude', got {which!r}")
    flat, unravel_flat = ravel_pytree(params)
    flat = flat.astype(jnp.float32)

    def unravel(v):  # in the params' dtypes (one shared dtype is not cast back)
        return jax.tree.map(
            lambda x, p: x.astype(jnp.result_type(p)), unravel_flat(v), params
        )

    def hvp(v):
        out = hessian_vector_product(loss_fn, params, unravel(v), *args)
        return ravel_pytree(out)[0].astype(jnp.float32)

    key = jax.random.key(0) if key is None else key
    v = jax.random.normal(key, flat.shape, jnp.float32)
    if init is not None:  # a zero vector is no eigenvector: the random start
        v0 = ravel_pytree(init)[0].astype(jnp.float32)
        v = jnp.where(jnp.any(v0 != 0), v0, v)

    def normalize(x):
        norm = jnp.linalg.norm(x)
        return x / nonzero(norm)

    def power(op, start):
        start = normalize(start)
        v = jax.lax.fori_loop(0, num_iterations, lambda _, x: normalize(op(x)), start)
        hv = hvp(v)
        return v, hv, jnp.vdot(v, hv)

    start = v
    v, hv, value = power(hvp, start)
    if which == "largest":

        def shifted(_):  # H - μI (μ < 0) is PSD with λ_max - μ on top;
            # start away from v, the shifted operator's null direction
            return power(lambda x: hvp(x) - value * x, start - jnp.vdot(v, start) * v)

        if isinstance(value, jax.core.Tracer):  # under jit/vmap: both traced
            v, hv, value = jax.lax.cond(
                value < 0, shifted, lambda _: (v, hv, value), None
            )
        elif value < 0:  # eagerly: the shifted loop only where it runs
            v, hv, value = shifted(None)
    residual = jnp.linalg.norm(hv - value * v)
    return HessianEigen(value, unravel(v), residual)


def sam_sharpness(
    loss_fn: Callable[..., jax.Array],
    params,
    *args,
    rho=0.05,
    adaptive: bool = False,
    eta=0.01,
    mask: Mask = None,
) -> jax.Array:
    r"""SAM's sharpness :math:`L(w + \epsilon^*) - L(w)` at radius :math:`\rho`.

    :math:`\epsilon^*` as in :func:`jaxreg.sam_perturbation` (SAM or ASAM).
    To first order it is :math:`\rho\|g\|`; it is large where the loss rises
    steeply within the ball. Cost: one gradient and one forward pass. In a
    SAM training loop it is free: ``out.perturbed_loss - out.loss`` from
    :func:`jaxreg.sam_gradient`.
    """
    loss, grads = jax.value_and_grad(loss_fn)(params, *args)
    eps = sam_perturbation(grads, params, rho, adaptive=adaptive, eta=eta, mask=mask)
    return loss_fn(optax.apply_updates(params, eps), *args) - loss


def gradient_noise_scale(per_batch_grads, batch_size: int) -> jax.Array:
    r"""The simple gradient-noise scale :math:`B_{\rm simple} = \operatorname{tr}
    \Sigma / \|G\|^2` (McCandlish et al., 2018, appendix A).

    ``per_batch_grads`` stacks :math:`k \ge 2` independent minibatch gradients
    :math:`g_1..g_k` of ``batch_size`` :math:`B` examples each along a leading
    axis (e.g. ``jax.vmap(jax.grad(loss), (None, 0))(params, batches)``). With
    :math:`\bar g` their mean and
    :math:`S = \frac{1}{k-1}\sum_i\|g_i - \bar g\|^2` (unbiased for
    :math:`\operatorname{tr}\Sigma/B`, :math:`\Sigma` the per-example
    covariance):

    .. math::

        \widehat{\operatorname{tr}\Sigma} = B\,S, \qquad
        \widehat{\|G\|^2} = \|\bar g\|^2 - S/k, \qquad
        B_{\rm simple} = \widehat{\operatorname{tr}\Sigma}/\widehat{\|G\|^2}.

    Both estimates are unbiased; the ratio is not, and is noisy when
    :math:`\|G\|^2` is small against :math:`S/k` (it is ``inf`` when the
    estimate of :math:`\|G\|^2` is ≤ 0: the gradient is pure noise at this
    sample size). Cost: the :math:`k` gradients the caller computed, then one
    pass over them. Training with batches much smaller than
    :math:`B_{\rm simple}` is noise-dominated (more implicit regularization);
    much larger wastes compute.

    Raises:
      ValueError: if fewer than 2 gradients are stacked, or ``batch_size`` < 1.
    """
    check_positive_int("batch_size", batch_size)
    leaves = jax.tree.leaves(per_batch_grads)
    k = leaves[0].shape[0] if leaves and leaves[0].ndim else 0
    if k < 2 or any(x.shape[:1] != (k,) for x in leaves):
        raise ValueError(
            "per_batch_grads must stack k >= 2 gradients along a leading axis, got "
            f"leading shapes {[x.shape[:1] for x in leaves]}"
        )
    mean = jax.tree.map(
        lambda x: jnp.mean(x.astype(jnp.float32), axis=0), per_batch_grads
    )
    spread = sum(
        (
            jnp.sum(jnp.square(x.astype(jnp.float32) - m[None]))
            for x, m in zip(leaves, jax.tree.leaves(mean), strict=True)
        ),
        jnp.zeros((), jnp.float32),
    ) / (k - 1)
    signal = jnp.square(_global_norm(mean)) - spread / k
    return jnp.where(signal > 0, batch_size * spread / nonzero(signal), jnp.inf)


def _singular_values(w: jax.Array, layout, name) -> jax.Array:
    if not hasattr(w, "shape") and not isinstance(w, list | tuple | float | int):
        raise ValueError(  # numpy's "entry not a 2- or 3- tuple" before
            f"{name} takes one array (a matrix or a stack of them), got a "
            f"{type(w).__name__}: map it over the matrix leaves, e.g. "
            f"jax.tree.map(lambda w: {name}(w) if w.ndim >= 2 else None, params)"
        )
    w = jnp.asarray(w)
    if w.ndim < 2:
        raise ValueError(
            f"w must have at least 2 axes (a matrix or a stack of them), got shape "
            f"{w.shape}"
        )
    m = leaf_layout(w, layout, name).to_matrices(w)
    return jnp.linalg.svd(m.astype(jnp.float32), compute_uv=False)


def stable_rank(w: jax.Array, layout=None) -> jax.Array:
    r"""Stable rank :math:`\|W\|_F^2 / \sigma_{\max}(W)^2 \in [1, \operatorname{rank}
    W]` of each matrix of ``w``.

    A smooth, scale-free lower bound on the rank: small when a few directions
    dominate. Weight decay and small learning rates tend to lower it. Cost: one
    SVD (singular values only); 0 for a zero matrix.

    ``layout`` (a :class:`~jaxreg.layouts.Layout`) reads ``w`` as matrices
    ``(*batch, fan_in, fan_out)``, one value per matrix:
    ``stacked(FLAX_DENSE)`` for stacked layers ``(L, in, out)``,
    ``TORCH_CONV`` for an Equinox conv weight. ``None``: a 2-D ``w`` is the
    matrix; a ≥ 3-D one is read as a Flax kernel ``(*in, out)``, one
    matrix, with a warning that says how to be explicit.
    """
    s = _singular_values(w, layout, "stable_rank")
    top = s[..., 0]
    return jnp.where(
        top > 0, jnp.sum(jnp.square(s), axis=-1) / nonzero(jnp.square(top)), 0.0
    )


def effective_rank(w: jax.Array, layout=None) -> jax.Array:
    r"""Effective rank :math:`\exp(-\sum_i p_i \log p_i)`, :math:`p_i = \sigma_i /
    \sum_j \sigma_j` (Roy & Vetterli, 2007), of each matrix of ``w``.

    Equals the rank when the nonzero singular values are equal; 1 for rank
    one. Cost: one SVD; 0 for a zero matrix. ``layout``: as in
    :func:`stable_rank`.
    """
    s = _singular_values(w, layout, "effective_rank")
    total = jnp.sum(s, axis=-1, keepdims=True)
    p = s / nonzero(total)
    entropy = -jnp.sum(jnp.where(p > 0, p * jnp.log(nonzero(p)), 0.0), axis=-1)
    return jnp.where(total[..., 0] > 0, jnp.exp(entropy), 0.0)


def weight_norm_growth(params, initial_params):
    r"""Per-leaf :math:`\|w_t\|_F / \|w_0\|_F` (``inf`` where :math:`w_0 = 0`
    and :math:`w_t \ne 0`, 1 where both are 0).

    The implicit-regularization signal of norm growth: without weight decay
    the norms of scale-invariant layers grow, which lowers the effective
    learning rate. For the global norm and the per-step update-to-weight ratio
    use :func:`jaxreg.with_diagnostics` (``param_norm``, ``update_ratio``).
    Cost: one pass over the params.
    """

    def ratio(w, w0):
        now, start = _global_norm([w]), _global_norm([w0])
        return jnp.where(
            start > 0, now / nonzero(start), jnp.where(now > 0, jnp.inf, 1.0)
        )

    return jax.tree.map(ratio, params, initial_params)
