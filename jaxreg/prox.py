r"""Array-level proximal and projection operators.

Every proximal operator here solves

.. math::

    \operatorname{prox}_{t g}(x) = \arg\min_y \tfrac12 \|x - y\|_2^2 + t\, g(y)

for a step ``t >= 0`` (jaxopt's ``scaling``), and every projection solves
:math:`\arg\min_{y \in C} \|x - y\|_2`. Hyperparameters may be Python floats,
jnp scalars or traced values (``jit``/``vmap`` over a strength works); outputs
keep the dtype of ``x``. Each operator is tested against a numerical argmin.

Differences from jaxopt's ``jaxopt.prox``:

* :func:`prox_ridge` is the prox of :math:`\tfrac{s}{2}\|y\|^2` and says so
  (jaxopt computes the same thing but documents :math:`s\|y\|^2`).
* :func:`prox_elastic_net` takes scikit-learn's ``(strength, l1_ratio)``
  parameterization, not ``(λ, γ)``, and accepts traced hyperparameters.
* :func:`group_soft_threshold` has a finite (zero) Jacobian at ``x = 0``
  (jaxopt's ``prox_group_lasso`` returns NaN there).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg._validation import (
    check_bounds,
    check_nonnegative,
    check_positive,
    check_unit_interval,
)

__all__ = [
    "soft_threshold",
    "prox_elastic_net",
    "prox_ridge",
    "group_soft_threshold",
    "singular_value_threshold",
    "projection_box",
    "projection_non_negative",
    "projection_simplex",
    "projection_l1_ball",
    "projection_l2_ball",
]


def _acc(x):
    """Accumulation dtype for ``x``: at least float32."""
    return jnp.promote_types(x.dtype, jnp.float32)


def as_dtype(value, dtype):
    """A hyperparameter cast to ``dtype``.

    Concrete values are cast with numpy, so tracing a tree of many leaves does
    not dispatch a tiny device computation per leaf; arrays and tracers are
    cast with ``astype``.
    """
    if isinstance(value, jax.Array):
        return value.astype(dtype)
    with np.errstate(over="ignore"):  # 1e30 -> float16 is inf, as in JAX
        return np.asarray(value, dtype=dtype)


def nan_if_negative(value):
    """A ``jax.Array`` hyperparameter (traced, or not read back: the checks
    read Python and numpy values only) with its negative entries as NaN (in
    its floating dtype, float32 for an integer one: no float64 constant under
    x64), so that a negative threshold gives a NaN result rather than one
    pushed away from 0; other values are returned as they are (checked)."""
    if not isinstance(value, jax.Array):
        return value
    if not jnp.issubdtype(value.dtype, jnp.floating):
        value = value.astype(jnp.float32)
    return jnp.where(value >= 0, value, jnp.full((), jnp.nan, value.dtype))


def schedule_value(schedule, count, name):
    """``schedule(count)`` for a schedule (a callable), checked as a constant
    is (finite and ``>= 0``: a ``ValueError`` naming ``name`` for a Python or
    numpy value; NaN where negative for a ``jax.Array``,
    :func:`nan_if_negative`); any other value is returned as it is."""
    if not callable(schedule):
        return schedule
    value = schedule(count)
    check_nonnegative(name, value, wait=False)
    return nan_if_negative(value)


def _nonnegative(name, value, dtype):
    """A threshold-like hyperparameter (``>= 0``, ``+inf`` allowed) in
    ``dtype``: checked when it is a Python or numpy value, its negative
    entries NaN when it is a ``jax.Array`` (:func:`nan_if_negative`)."""
    check_nonnegative(name, value, allow_inf=True, wait=False)
    return nan_if_negative(as_dtype(value, dtype))


def step_times(step, strength, dtype):
    """``step · strength`` in ``dtype``; an overflow gives inf (a threshold that
    zeroes everything), without numpy's overflow warning."""
    step = _nonnegative("step", step, dtype)
    with np.errstate(over="ignore"):
        return step * _nonnegative("strength", strength, dtype)


def _as(value, x):
    """A hyperparameter in ``x``'s accumulation dtype (float32 for bf16/f16
    inputs, so a product like step·strength cannot overflow to inf·0 = NaN)."""
    return as_dtype(value, _acc(x))


def soft_threshold(x: jax.Array, threshold) -> jax.Array:
    r"""Soft thresholding, the prox of :math:`\tau\|y\|_1`.

    .. math:: y_i = \operatorname{sign}(x_i)\max(|x_i| - \tau, 0)

    computed as ``x - clip(x, -τ, τ)``, which gives exact zeros for
    :math:`|x_i| \le \tau` and a derivative of 0 or 1 everywhere.

    Args:
      x: input array.
      threshold: :math:`\tau \ge 0`; a scalar or an array broadcastable to ``x``.

    Returns:
      An array like ``x``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxreg.prox import soft_threshold
      >>> soft_threshold(jnp.array([-2.0, 0.5, 3.0]), 1.0)
      Array([-1.,  0.,  2.], dtype=float32)
    """
    t = _nonnegative("threshold", threshold, x.dtype)
    return x - jnp.clip(x, -t, t)


def prox_elastic_net(x: jax.Array, strength, l1_ratio, step=1.0) -> jax.Array:
    r"""Prox of the elastic net in scikit-learn's parameterization.

    With :math:`g(y) = s\,(\rho\|y\|_1 + \tfrac{1-\rho}{2}\|y\|_2^2)`,

    .. math::

        \operatorname{prox}_{t g}(x) =
        \frac{\operatorname{soft}(x,\ t s \rho)}{1 + t s (1 - \rho)} .

    Args:
      x: input array.
      strength: :math:`s \ge 0` (scikit-learn's ``alpha``).
      l1_ratio: :math:`\rho \in [0, 1]`.
      step: :math:`t \ge 0`.

    Returns:
      An array like ``x``.
    """
    check_unit_interval("l1_ratio", l1_ratio, wait=False)
    ts = step_times(step, strength, _acc(x))
    rho = _as(l1_ratio, x)
    l2_part = jnp.where(rho < 1, ts * (1 - rho), jnp.zeros_like(ts))
    shrunk = soft_threshold(x.astype(ts.dtype), ts * rho) / (1 + l2_part)
    return shrunk.astype(x.dtype)


def prox_ridge(x: jax.Array, strength, step=1.0) -> jax.Array:
    r"""Prox of :math:`g(y) = \tfrac{s}{2}\|y\|_2^2`: :math:`x / (1 + t s)`.

    Note the :math:`\tfrac12`: jaxopt's ``prox_ridge`` returns the same value but
    its docstring states :math:`s\|y\|^2`, which would give :math:`x/(1+2ts)`.

    Args:
      x: input array.
      strength: :math:`s \ge 0`.
      step: :math:`t \ge 0`.

    Returns:
      An array like ``x``.
    """
    ts = step_times(step, strength, _acc(x))
    return (x / (1 + ts)).astype(x.dtype)


def nonzero(x: jax.Array) -> jax.Array:
    """``x`` with its non-positive entries replaced by 1 (a safe divisor)."""
    return jnp.where(x > 0, x, jnp.ones_like(x))


def safe_norm(x: jax.Array, axis, keepdims: bool = True):
    """Euclidean norm over ``axis`` whose gradient at 0 is 0, not NaN.

    The sum of squares is accumulated in at least float32.
    """
    acc = jnp.promote_types(x.dtype, jnp.float32)
    sq = jnp.sum(jnp.square(x.astype(acc)), axis=axis, keepdims=keepdims)
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(nonzero(sq)), jnp.zeros_like(sq))


def group_soft_threshold(x: jax.Array, threshold, axis=None) -> jax.Array:
    r"""Block soft thresholding, the prox of :math:`\tau \sum_g \|y_g\|_2`.

    Groups are the slices of ``x`` along ``axis``: the norm is taken over
    ``axis`` and each remaining index is one group. For a Flax ``(in, out)``
    kernel, ``axis=0`` makes each group the incoming weights of one unit.

    .. math:: y_g = \max\!\Big(0,\ 1 - \frac{\tau}{\|x_g\|_2}\Big)\, x_g

    The Jacobian is finite everywhere: 0 on groups with
    :math:`\|x_g\|_2 \le \tau` (including :math:`x_g = 0`), where jaxopt's
    ``prox_group_lasso`` gives NaN.

    Args:
      x: input array.
      threshold: :math:`\tau \ge 0`.
      axis: int, tuple of ints, or None for the whole array as one group.

    Returns:
      An array like ``x``.
    """
    norm = safe_norm(x, axis)
    t = _nonnegative("threshold", threshold, norm.dtype)
    keep = ~(norm <= t) | (t <= 0)  # a NaN threshold or norm: NaN, not 0
    scale = jnp.where(keep, 1 - t / nonzero(norm), jnp.zeros_like(norm))
    return (x * scale.astype(x.dtype)).astype(x.dtype)


def singular_value_threshold(x: jax.Array, threshold) -> jax.Array:
    r"""Singular-value soft thresholding, the prox of :math:`\tau\|Y\|_*`.

    For :math:`X = U \operatorname{diag}(\sigma) V^\top`,
    :math:`Y = U \operatorname{diag}(\max(\sigma - \tau, 0)) V^\top`. Matrices
    are the last two axes; leading axes are batched. This needs an SVD (the
    only operator in jaxreg that does): the nuclear-norm prox has no
    matmul-only form.

    Args:
      x: array with ``ndim >= 2``.
      threshold: :math:`\tau \ge 0`.

    Returns:
      An array like ``x``.
    """
    if x.ndim < 2:
        raise ValueError(
            f"x must have ndim >= 2 for a singular-value threshold, got shape {x.shape}"
        )
    acc = jnp.promote_types(x.dtype, jnp.float32)
    tau = _nonnegative("threshold", threshold, acc)
    return _svt(x.astype(acc), tau).astype(x.dtype)


@jax.custom_jvp
def _svt(x, tau):
    u, s, vh = jnp.linalg.svd(x, full_matrices=False)
    return (u * soft_threshold(s, tau)[..., None, :]) @ vh


@_svt.defjvp
def _svt_jvp(primals, tangents):
    r"""The derivative of :math:`F(X) = U f(\Sigma) V^\top`, :math:`f(\sigma) =
    \max(\sigma - \tau, 0)`, finite at repeated singular values, where JAX's
    SVD derivative divides by :math:`\sigma_i^2 - \sigma_j^2 = 0` (a NaN
    gradient, which a linear solve can turn into a silent 0). With
    :math:`P = U^\top \mathrm{d}X\, V` split into its symmetric and skew
    parts :math:`S, A`:

    .. math::

        \mathrm{d}F = U\big(D_1 \circ S + D_2 \circ A\big)V^\top
          + (I - UU^\top)\,\mathrm{d}X\,V\,R\,V^\top
          + U R\,U^\top \mathrm{d}X\,(I - VV^\top)
          - U\,\mathrm{diag}(f'(\sigma))\,V^\top\,\mathrm{d}\tau ,

    :math:`D_1 = \frac{f(\sigma_i) - f(\sigma_j)}{\sigma_i - \sigma_j}`,
    :math:`D_2 = \frac{f(\sigma_i) + f(\sigma_j)}{\sigma_i + \sigma_j}`,
    :math:`R = \mathrm{diag}(f(\sigma)/\sigma)`, each at its limit where the
    quotient is 0/0 (:math:`D_1 = f'` at a tie: 1 above the threshold, 0
    below) — the derivative of a spectral function of a rectangular matrix
    (Lewis & Sendov 2005; Candès, Sing-Long & Trzasko 2013, for this one).
    """
    x, tau = primals
    dx, dtau = tangents
    u, s, vh = jnp.linalg.svd(x, full_matrices=False)
    f = soft_threshold(s, tau)
    out = (u * f[..., None, :]) @ vh
    v, ut = jnp.swapaxes(vh, -1, -2), jnp.swapaxes(u, -1, -2)
    # f' is 1 above the threshold (and everywhere at τ = 0, where f = id)
    active = (s > tau) | (tau <= 0)
    si, sj = s[..., :, None], s[..., None, :]
    fi, fj = f[..., :, None], f[..., None, :]
    ai, aj = active[..., :, None], active[..., None, :]
    mixed = ai != aj  # one above the threshold and one not: si != sj
    d1 = jnp.where(mixed, (fi - fj) / jnp.where(mixed, si - sj, 1), ai & aj)
    total = si + sj
    d2 = jnp.where(total > 0, (fi + fj) / jnp.where(total > 0, total, 1), ai & aj)
    ratio = jnp.where(s > 0, f / jnp.where(s > 0, s, 1), active)
    dxv = dx @ v
    p = ut @ dxv
    pt = jnp.swapaxes(p, -1, -2)
    core = d1 * (p + pt) / 2 + d2 * (p - pt) / 2
    d_out = u @ core @ vh
    d_out += ((dxv - u @ p) * ratio[..., None, :]) @ vh
    d_out += (u * ratio[..., None, :]) @ (ut @ dx - p @ vh)
    d_out -= (u * (jnp.where(s > tau, 1, 0) * dtau)[..., None, :]) @ vh
    return out, d_out


def projection_l2_ball(x, radius=1.0):
    r"""Projection onto :math:`\{y : \|y\|_2 \le r\}`: :math:`x \min(1, r/\|x\|_2)`.

    The whole of ``x`` is one vector: an array, or a pytree of them (one ball
    for the whole tree, as jaxopt's and optax's ``projection_l2_ball`` of a
    pytree; ``jax.tree.map`` it for one ball per leaf). The gradient is
    finite at ``x = 0``.
    """
    x = jax.tree.map(jnp.asarray, x)
    leaves = jax.tree.leaves(x)
    if not leaves:
        return x
    norms = [safe_norm(leaf, axis=None, keepdims=False) for leaf in leaves]
    norm = norms[0] if len(norms) == 1 else safe_norm(jnp.stack(norms), axis=None)
    norm = jnp.reshape(norm, ())
    r = _nonnegative("radius", radius, norm.dtype)
    # a NaN radius or norm: NaN, not x
    scale = jnp.where(~(norm <= r), r / nonzero(norm), jnp.ones_like(norm))
    return jax.tree.map(lambda v: (v * scale.astype(v.dtype)).astype(v.dtype), x)


def _box(x, lower, upper):
    check_bounds(lower, upper)
    lo, hi = as_dtype(lower, x.dtype), as_dtype(upper, x.dtype)
    out = jnp.clip(x, lo, hi)
    if isinstance(lo, jax.Array) or isinstance(hi, jax.Array):
        # an empty box cannot raise here: NaN, not a point outside it
        out = jnp.where(lo <= hi, out, jnp.full((), jnp.nan, out.dtype))
    return out


def projection_box(x, lower, upper):
    r"""Projection onto the box :math:`\{y : l \le y \le u\}`: ``clip(x, l, u)``.

    ``x`` is an array or a pytree of them; ``lower`` and ``upper`` are
    scalars or arrays broadcastable to every leaf, or pytrees with the
    structure of ``x`` (one bound per leaf), ``-inf``/``inf`` for an open
    side. Concrete bounds with some ``lower > upper`` (an empty box) raise
    ``ValueError``; ``jax.Array`` bounds (traced under ``jit``) give NaN
    there, as a negative radius does. jaxopt's ``projection_box(x, (lower,
    upper))`` takes the bounds as one tuple; optax's ``projections.box(tree,
    lower, upper)`` takes them as we do.
    """
    x = jax.tree.map(jnp.asarray, x)
    treedef = jax.tree.structure(x)

    def per_leaf(bound, name):
        if jax.tree_util.treedef_is_leaf(treedef):  # an array: any array-like
            return [bound]
        if jax.tree.structure(bound) == treedef:
            return jax.tree.leaves(bound)
        if jax.tree.structure(bound).num_leaves > 1:
            raise ValueError(
                f"{name} must be a scalar, an array broadcastable to every leaf, "
                f"or a pytree with the structure of x ({treedef}), got {bound!r}"
            )
        return [bound] * treedef.num_leaves

    lows, highs = per_leaf(lower, "lower"), per_leaf(upper, "upper")
    leaves = [
        _box(leaf, lo, hi)
        for leaf, lo, hi in zip(jax.tree.leaves(x), lows, highs, strict=True)
    ]
    return jax.tree.unflatten(treedef, leaves)


def projection_non_negative(x):
    r"""Projection onto the non-negative orthant: :math:`\max(x, 0)`, leaf by
    leaf for a pytree."""
    return jax.tree.map(
        lambda v: jnp.maximum(v, jnp.zeros((), jnp.asarray(v).dtype)), x
    )


def _simplex_threshold(a: jax.Array, total) -> jax.Array:
    r"""The :math:`\theta` with :math:`\sum_i \max(a_i - \theta, 0) = z`.

    ``a`` is a flat array in the accumulation dtype, ``total`` = :math:`z > 0`.
    One sort (Held, Wolfe & Crowder, 1974; Duchi et al., 2008): with ``u`` the
    sorted ``a`` (descending), :math:`\theta = (\sum_{i \le k} u_i - z)/k`
    for the largest :math:`k` with :math:`k u_k > \sum_{i \le k} u_i - z`.
    """
    u = jnp.sort(a)[::-1]
    css = jnp.cumsum(u)
    k = jnp.arange(1, a.size + 1, dtype=a.dtype)
    n_active = jnp.maximum(jnp.sum(u * k > css - total), 1)
    return (css[n_active - 1] - total) / n_active.astype(a.dtype)


def _check_one_array(name, x):
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise ValueError(
            f"{name} takes one array (the whole array is one vector), got "
            f"{type(x).__name__}: jax.tree.map it for one set per leaf, or "
            "jax.flatten_util.ravel_pytree the tree for one set over all of it"
        )


def projection_simplex(x: jax.Array, value=1.0) -> jax.Array:
    r"""Projection onto the simplex :math:`\{y : y \ge 0,\ \sum_i y_i = z\}`.

    The whole array is one vector (vmap for row-wise projections, e.g. the rows
    of a stochastic matrix); :math:`z` is ``value`` (1: the probability
    simplex) and must be > 0. The result is :math:`\max(x - \theta, 0)` with
    :math:`\theta` from one sort (:math:`O(d \log d)`). Same convention as
    jaxopt's ``projection_simplex(x, value)`` and optax's
    ``projections.simplex(tree, scale)``.
    """
    check_positive("value", value)
    _check_one_array("projection_simplex", x)
    acc = _acc(x)
    if x.size == 0:
        return x
    # a traced value < 0 (an empty set): NaN, as a negative radius
    value = nan_if_negative(as_dtype(value, acc))
    theta = _simplex_threshold(x.reshape(-1).astype(acc), value)
    return jnp.maximum(x.astype(acc) - theta, 0).astype(x.dtype)


def projection_l1_ball(x: jax.Array, radius=1.0) -> jax.Array:
    r"""Projection onto :math:`\{y : \|y\|_1 \le r\}` (Duchi et al., 2008).

    The whole array is one vector. The projection is a soft threshold at the
    :math:`\theta \ge 0` for which :math:`\sum_i \max(|x_i| - \theta, 0) = r`,
    found by one sort (:math:`O(d \log d)`); points already inside the ball are
    returned unchanged.

    References:
      Duchi, Shalev-Shwartz, Singer, Chandra, "Efficient projections onto the
      l1-ball for learning in high dimensions", ICML 2008.
    """
    _check_one_array("projection_l1_ball", x)
    acc = jnp.promote_types(x.dtype, jnp.float32)
    a = jnp.abs(x.reshape(-1)).astype(acc)
    r = _nonnegative("radius", radius, acc)
    if a.size == 0:
        return x
    theta = jnp.maximum(_simplex_threshold(a, r), 0)
    inside = jnp.sum(a) <= r
    return jnp.where(inside, x, soft_threshold(x, theta.astype(x.dtype)))
