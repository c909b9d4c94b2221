r"""Muon: momentum orthogonalized by Newton–Schulz (Jordan et al., 2024).

For a hidden weight matrix with gradient :math:`G_t`, Muon keeps an exponential
moving average of the gradient, orthogonalizes it with a few matmul-only
Newton–Schulz steps, rescales it by a shape factor and steps:

.. math::

    m_t &= \beta m_{t-1} + (1 - \beta) G_t \\
    U_t &= \beta m_t + (1 - \beta) G_t \quad(\text{Nesterov; else } U_t = m_t) \\
    W_{t+1} &= W_t - \eta_t\big(s \cdot \mathrm{NS}(U_t) + \lambda W_t\big)

:math:`\mathrm{NS}(M) \approx` the polar factor :math:`PQ^\top` of
:math:`M = P\Sigma Q^\top`: each step maps the singular values through an odd
quintic :math:`p(\sigma) = a\sigma + b\sigma^3 + c\sigma^5`. Everything else
(1-D parameters, and leaves labelled ``"adam"`` such as embeddings and output
heads) goes to a plain AdamW branch with its own learning rate and weight decay.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import PartitionSpec as P

from jaxreg._validation import (
    check_nonnegative,
    check_positive_int,
    check_unit_interval,
    warn_caller,
)
from jaxreg.layouts import LayoutSpec, check_array_leaves, resolve_layouts
from jaxreg.penalties import l2
from jaxreg.transforms import (
    ScalarOrSchedule,
    check_not_scheduled,
    decoupled,
    resolve_mask,
)

__all__ = [
    "COEFFICIENT_SETS",
    "ScaleByMuonState",
    "newton_schulz",
    "scale_by_muon",
    "muon",
]

_KELLER = ((3.4445, -4.7750, 2.0315),)
_YOU = (
    (4.0848, -6.8946, 2.9270),
    (3.9505, -6.3029, 2.6377),
    (3.7418, -5.5913, 2.3037),
    (2.8769, -3.1427, 1.2046),
    (2.8366, -3.0525, 1.2012),
)
# Published per-step minimax quintics of Amsel et al. (NoahAmsel/PolarExpress,
# ``polar_express/basic.py``: l = 1e-3, cushion 0.02), embedded rather than
# recomputed. The safety factor 1.01 shrinks every polynomial but the last,
# the steady-state quintic (15/8, -10/8, 3/8) that later steps repeat.
_POLAR_EXPRESS_RAW = (
    (8.28721201814563, -23.595886519098837, 17.300387312530933),
    (4.107059111542203, -2.9478499167379106, 0.5448431082926601),
    (3.9486908534822946, -2.908902115962949, 0.5518191394370137),
    (3.3184196573706015, -2.488488024314874, 0.51004894012372),
    (2.300652019954817, -1.6689039845747493, 0.4188073119525673),
    (1.891301407787398, -1.2679958271945868, 0.37680408948524835),
    (1.8750014808534479, -1.2500016453999487, 0.3750001645474248),
    (1.875, -1.25, 0.375),
)
_PE_SAFETY = 1.01
_POLAR_EXPRESS = np.concatenate(
    [
        np.asarray(_POLAR_EXPRESS_RAW[:-1]) / _PE_SAFETY ** np.array([1, 3, 5]),
        np.asarray(_POLAR_EXPRESS_RAW[-1:]),
    ]
)

COEFFICIENT_SETS: dict[str, tuple[np.ndarray, float]] = {
    "keller": (np.asarray(_KELLER), 1.0),
    "you": (np.asarray(_YOU), 1.0),
    "polar_express": (_POLAR_EXPRESS, _PE_SAFETY),
}
"""Named Newton–Schulz coefficient sets: ``name -> (table (n, 3), norm_scale)``.

Row ``k`` of a table holds :math:`(a_k, b_k, c_k)` of step ``k``; steps past the
last row repeat it. The input is divided by ``norm_scale · ‖G‖_F + eps``.

* ``"keller"``: Keller Jordan's (3.4445, -4.7750, 2.0315) at every step. It
  trades exactness for slope at 0: singular values land in ≈ [0.68, 1.13]
  rather than at 1, and a rank-1 input maps to φ⁵(1) ≈ 0.696436.
* ``"you"``: You Jiacheng's five per-step triples (Dion, HeavyBall, optax's
  ``'dion'`` preset); ≈ [0.98, 1.03] after five steps.
* ``"polar_express"``: Amsel et al.'s per-step minimax-optimal quintics for
  σ ∈ [1e-3, 1], the published list, with their safety normalization
  ``1.01 · ‖G‖_F`` and every polynomial but the last divided as
  (a/1.01, b/1.01³, c/1.01⁵). The default (5 steps) of :func:`newton_schulz`,
  :func:`scale_by_muon` and :func:`muon`.

Why Polar Express at 5 steps: on the momenta of a trained width-512 MLP
(``bench/muon.py``), with ``σᵢ`` the input's singular values and the output's
read as ``uᵢᵀ NS(G) vᵢ``, its largest ``|σ_out − 1|`` over ``σᵢ ≥ 1e-2·σ_max``
is 0.13 against 0.32 for Keller's 5 steps (optax's default), 0.52 against 0.75
over ``σᵢ ≥ 1e-3·σ_max``, and ``‖NS(G) − UVᵀ‖_F/‖UVᵀ‖_F`` 0.77 against 0.82,
at the same cost. No set at 4 steps matches Keller's 5 on all three (Polar
Express 4: 0.56, 0.78, 0.84; Keller 4: 0.32, 0.93, 0.88), and a greedy
minimax 4-step composition cannot keep ``|φ − 1| ≤ 0.32`` down to σ = 1.5e-3
as Keller's 5 steps do (0.42 at best).
"""


# The Gram form's round-off grows with ‖Q_T‖ ≈ φ'(0) = ∏ a_k (see newton_schulz).
_GRAM_MAX_SLOPE = 2000.0


def _coefficient_table(coeffs, steps: int, name="steps") -> tuple[np.ndarray, float]:
    """Returns the ``(steps, 3)`` float64 coefficient table and the norm scale
    (``name``: how the caller calls ``steps``, for its error)."""
    check_positive_int(name, steps)
    if isinstance(coeffs, str):
        if coeffs not in COEFFICIENT_SETS:
            raise ValueError(
                f"coeffs must be one of {sorted(COEFFICIENT_SETS)}, an (n, 3) "
                f"array or (in scale_by_muon) a callable, got {coeffs!r}"
            )
        table, norm_scale = COEFFICIENT_SETS[coeffs]
    else:
        if callable(coeffs):
            raise ValueError(
                "newton_schulz takes a coefficient set as coeffs; pass a callable "
                f"orthogonalizer to scale_by_muon or muon instead, got {coeffs!r}"
            )
        try:
            table = np.asarray(coeffs, dtype=np.float64)
        except (TypeError, ValueError, jax.errors.ConcretizationTypeError) as err:
            raise ValueError(
                f"coeffs must be a concrete (n, 3) array of floats, got {coeffs!r}"
            ) from err
        if table.ndim == 1:
            table = table[None]
        if table.ndim != 2 or table.shape[0] < 1 or table.shape[1] != 3:
            raise ValueError(
                f"coeffs must have shape (3,) or (n, 3), got shape {table.shape}"
            )
        if not np.all(np.isfinite(table)):
            raise ValueError(f"coeffs must be finite, got {coeffs!r}")
        norm_scale = 1.0
    rows = np.minimum(np.arange(steps), table.shape[0] - 1)
    return table[rows], norm_scale


def newton_schulz(
    G: jax.typing.ArrayLike,
    steps: int = 5,
    coeffs: str | jax.typing.ArrayLike = "polar_express",
    dtype: jax.typing.DTypeLike | None = None,
    eps: float = 1e-7,
    gram: bool | None = None,
) -> jax.Array:
    r"""Approximate polar factor of ``G`` by a matmul-only Newton–Schulz iteration.

    .. math::

        X_0 &= G / (\kappa\,\|G\|_F + \epsilon) \\
        A_k &= X_k X_k^\top, \qquad
        X_{k+1} = a_k X_k + (b_k A_k + c_k A_k^2) X_k

    so each singular value :math:`\sigma` of :math:`X_0` (all ≤ 1/κ) becomes
    :math:`\varphi(\sigma) = p_{T-1} \circ \dots \circ p_0(\sigma)` with
    :math:`p_k(x) = a_k x + b_k x^3 + c_k x^5`, while the singular vectors are
    kept: :math:`\mathrm{NS}(U\Sigma V^\top) = U\varphi(\Sigma/(\kappa\|G\|_F +
    \epsilon))V^\top`.

    The Frobenius norm is computed in float32 whatever ``dtype`` is. Matrices
    with more rows than columns are transposed so that :math:`A_k` is the small
    ``min(m, n)``-square Gram matrix (``NS(Gᵀ) = NS(G)ᵀ``). Leading axes are
    batch axes: a stack of ``k`` same-shape matrices costs one batched call. The
    loop is a ``lax.scan`` over the coefficient rows: static trip count, one
    compiled body, no unrolled copies of the iterates. A zero matrix maps to
    zeros (no NaN) thanks to ``eps``.

    Wide matrices (``n > 1.5 m`` after the transposition) iterate on the Gram
    matrix instead (``gram=None`` picks it): :math:`X_k = Q_kX_0` with
    :math:`R_k = a_kI + b_kA_k + c_kA_k^2`, :math:`Q_{k+1} = R_kQ_k` and
    :math:`A_{k+1} = R_kA_kR_k`, all ``m × m``, then one :math:`Q_TX_0`. The
    same map φ in exact arithmetic for
    :math:`2m^3(4T-3) + 4m^2n` flops instead of :math:`T(2m^3 + 4m^2n)`
    (for ``m × 4m`` and ``T = 5``: 25 instead of 45 units of :math:`2m^3`).
    Its float32 round-off grows with :math:`\|Q_T\| \approx
    \varphi'(0) = \prod_k a_k`: on width-512 momenta of a trained MLP the
    output, read in the input's singular bases, is within ≈ 3e-5 of
    :math:`\varphi(\Sigma)` for Keller's 5 steps and 2e-4 for Polar
    Express's 5 (≈ 1e-6 with the plain loop); up to 1e-3 off the diagonal
    for rank-deficient inputs; far below how far φ itself is from 1.
    ``gram=None`` uses it only with float32 (or wider) operands and
    :math:`\prod_k |a_k| \le 2000` (Polar Express's 8 steps, ≈ 6400, would
    reach 4e-3); bfloat16 operands need the plain loop.

    Differences: ``optax.contrib`` (0.2.8, unexported
    ``orthogonalize_via_newton_schulz``) takes only 2-D inputs, iterates in the
    input dtype with the norm in that dtype, adds ``eps = 1e-8`` and unrolls its
    loop (``ns_steps·(2·min(m,n)² + mn)`` extra floats per matrix). Keller
    Jordan's reference casts to bfloat16 before the norm; here the norm stays
    float32 and bfloat16 is opt-in through ``dtype``. optax's default is
    Keller's triple for 5 steps; ours is Polar Express for 5 (closer to the
    polar factor at the same cost, see :data:`COEFFICIENT_SETS`; pass
    ``coeffs="keller"`` for optax's). Neither optax nor the references use the
    Gram form.

    Args:
      G: array of shape ``(..., m, n)`` with a floating dtype.
      steps: number of iterations ``T`` (≥ 1). With a table of ``n`` rows, step
        ``k`` uses row ``min(k, n - 1)``.
      coeffs: a name in :data:`COEFFICIENT_SETS` (``"keller"``, ``"you"``,
        ``"polar_express"``, the default), a triple ``(a, b, c)`` used at every
        step, or an ``(n, 3)`` array of per-step triples (norm scale κ = 1 for
        arrays).
      dtype: dtype of the matmul operands (e.g. ``jnp.bfloat16``); default
        ``G``'s. Products accumulate, and the polynomial combines, in float32
        with float32 coefficients (Keller's 3.4445 would round to 3.4375 in
        bfloat16).
      eps: added to the scaled norm.
      gram: iterate on the Gram matrix (``True``), the plain loop
        (``False``), or (``None``) the Gram form when ``n > 1.5 m``, the
        operands are float32 or wider and :math:`\prod_k |a_k| \le 2000`.
        Ignored for one step (both forms then cost the same). ``True`` with
        bfloat16 operands raises ``ValueError`` (on width-512 momenta its
        output's singular values reach ≈ 200).

    Returns:
      Array with the shape and dtype of ``G``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxreg import newton_schulz
      >>> ortho = newton_schulz(jnp.diag(jnp.array([3.0, 1.0, 0.1])), coeffs="you")
      >>> bool(jnp.allclose(jnp.diag(ortho), 1.0, atol=0.04))
      True

    References:
      Jordan et al., "Muon: An optimizer for hidden layers in neural networks",
      2024, https://kellerjordan.github.io/posts/muon/

      Amsel et al., "The Polar Express: Optimal Matrix Sign Methods and Their
      Application to the Muon Algorithm", 2025, https://arxiv.org/abs/2505.16932
    """
    table, norm_scale = _coefficient_table(coeffs, steps)
    G = jnp.asarray(G)
    if G.ndim < 2:
        raise ValueError(
            f"newton_schulz needs G of shape (..., m, n), got shape {G.shape}"
        )
    if not jnp.issubdtype(G.dtype, jnp.floating):
        raise ValueError(f"G must have a floating dtype, got {G.dtype}")
    dtype = G.dtype if dtype is None else jnp.dtype(dtype)
    eps = jnp.asarray(eps, jnp.float32)
    if gram is None:
        m, n = sorted(G.shape[-2:])
        slope = float(np.prod(np.abs(table[:, 0])))
        gram = n > 1.5 * m and dtype.itemsize >= 4 and slope <= _GRAM_MAX_SLOPE
    elif gram and dtype.itemsize < 4:
        raise ValueError(
            f"gram=True needs float32 or wider matmul operands, got dtype={dtype}: "
            "the Gram form's Q_T has norm ≈ ∏ a_k (485 for Keller's 5 steps) and "
            "loses the polar factor in bfloat16; use gram=False or gram=None"
        )
    gram = bool(gram) and steps >= 2  # one step: the two forms cost the same
    rows = tuple(map(tuple, table.tolist()))
    return _iterate(G, eps, rows, norm_scale, dtype, gram)


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5))
def _iterate(G, eps, table, norm_scale, dtype, gram):
    """The NS loop; jitted with a hashable table so eager calls hit the cache."""
    transposed = G.shape[-2] > G.shape[-1]
    x = jnp.swapaxes(G, -1, -2) if transposed else G
    x = x.astype(jnp.float32)
    # As a dot: XLA's fused float32 reduce of m·n squares loses ~50x more
    # digits, which φ' (up to ~25 for Polar Express) then amplifies.
    sq = jnp.einsum("...ij,...ij->...", x, x, precision=jax.lax.Precision.HIGHEST)
    norm = jnp.sqrt(sq)[..., None, None]
    x = (x / (norm_scale * norm + eps)).astype(dtype)

    def matmul(a, b):
        return jnp.matmul(a, b, preferred_element_type=jnp.float32)

    def t(a):
        return jnp.swapaxes(a, -1, -2)

    coefficients = jnp.asarray(table, dtype=jnp.float32)
    if gram:
        x = _iterate_gram(x, coefficients, dtype, matmul)
    else:
        # Products accumulate and combine in float32 with float32 coefficients;
        # only matmul operands are rounded to ``dtype`` (no-ops for float32).
        def step(x, abc):
            A = matmul(x, t(x))
            low = A.astype(dtype)
            poly = (abc[1] * A + abc[2] * matmul(low, low)).astype(dtype)
            out = abc[0] * x.astype(jnp.float32) + matmul(poly, x)
            return out.astype(dtype), None

        x, _ = jax.lax.scan(step, x, coefficients)
    x = t(x) if transposed else x
    return x.astype(G.dtype)


def _iterate_gram(x, coefficients, dtype, matmul):
    r"""NS steps carried on the ``m × m`` Gram matrix of a wide ``m × n`` ``x``.

    Every iterate is :math:`X_k = Q_k X_0` with :math:`Q_k` a polynomial in
    :math:`A_0 = X_0X_0^\top`, so with :math:`R_k = a_kI + b_kA_k + c_kA_k^2`:
    :math:`Q_{k+1} = R_kQ_k`, :math:`A_{k+1} = R_kA_kR_k`, and one final
    :math:`Q_TX_0`. ``T ≥ 2`` steps cost ``4T − 3`` products of ``m × m``
    matrices and two that involve ``n`` (:math:`X_0X_0^\top`, :math:`Q_TX_0`),
    against ``T`` and ``2T`` in the plain loop: :math:`2m^3(4T-3) + 4m^2n`
    against :math:`T(2m^3 + 4m^2n)` flops, fewer once ``n > 1.5 m``.
    """
    eye = jnp.broadcast_to(
        jnp.eye(x.shape[-2], dtype=jnp.float32), x.shape[:-1] + x.shape[-2:-1]
    )

    def low(a):
        return a.astype(dtype)

    def poly(A, abc):
        return abc[0] * eye + abc[1] * A + abc[2] * matmul(low(A), low(A))

    def next_gram(A, R):
        return matmul(low(R), low(matmul(low(A), low(R))))

    A = matmul(x, jnp.swapaxes(x, -1, -2))
    R = poly(A, coefficients[0])
    A = next_gram(A, R)

    def step(carry, abc):
        A, Q = carry
        R = poly(A, abc)
        return (next_gram(A, R), matmul(low(R), low(Q))), None

    (A, Q), _ = jax.lax.scan(step, (A, R), coefficients[1:-1])
    Q = matmul(low(poly(A, coefficients[-1])), low(Q))
    return matmul(low(Q), x).astype(dtype)


_SCALINGS = ("keller", "moonlight", "none")


def _shape_factor(scaling: str, fan_in: int, fan_out: int) -> float:
    if scaling == "keller":
        return math.sqrt(max(1.0, fan_out / fan_in))
    if scaling == "moonlight":
        return 0.2 * math.sqrt(max(fan_in, fan_out))
    return 1.0


def _replicated(x: jax.Array) -> jax.Array:
    """Gathers an array sharded over explicit mesh axes; NS needs whole matrices.

    (Under ``Auto`` axes and without a mesh the spec is empty and GSPMD decides.)
    """
    sharding = jax.typeof(x).sharding
    if not any(sharding.spec):
        return x
    return jax.sharding.reshard(x, jax.sharding.NamedSharding(sharding.mesh, P()))


def _orthogonalize_tree(updates, layouts, orthogonalize: Callable, scaling: str):
    """Orthogonalizes every leaf as the stack of matrices its layout describes.

    A leaf is read by its :class:`~jaxreg.layouts.Layout` as ``(*batch, fan_in,
    fan_out)``, each matrix transposed to the wide orientation (``NS(Gᵀ) =
    NS(G)ᵀ``), grouped with every other matrix of that wide shape and dtype,
    orthogonalized in one batched call, scaled by the shape factor of its own
    ``(fan_in, fan_out)`` and mapped back to the leaf's layout. Leaves sharded
    over explicit mesh axes are gathered for NS and their update is resharded
    like the leaf.
    """
    path_leaves, treedef = jax.tree_util.tree_flatten_with_path(updates)
    layout_leaves = treedef.flatten_up_to(layouts)
    groups: dict[tuple, list[int]] = {}
    mats = []
    for i, ((path, x), layout) in enumerate(
        zip(path_leaves, layout_leaves, strict=True)
    ):
        if layout is None:
            raise ValueError(
                f"Muon orthogonalizes matrices; leaf {jax.tree_util.keystr(path)} "
                f"has shape {x.shape} and no layout. Route it to the AdamW branch "
                "(muon's labels='adam') or leave it out of scale_by_muon."
            )
        if x.size == 0:  # a layer pruned to no units: nothing to orthogonalize
            mats.append(None)
            continue
        mat = layout.to_matrices(_replicated(x))
        mat = mat.reshape(-1, *mat.shape[-2:])
        if mat.shape[-2] > mat.shape[-1]:
            mat = jnp.swapaxes(mat, -1, -2)
        mats.append(mat)
        groups.setdefault((mat.shape[1:], mat.dtype), []).append(i)
    out = [
        jnp.zeros_like(x) if m is None else None
        for (_, x), m in zip(path_leaves, mats, strict=True)
    ]
    for members in groups.values():
        ortho = orthogonalize(jnp.concatenate([mats[i] for i in members]))
        start = 0
        for i in members:
            x, layout = path_leaves[i][1], layout_leaves[i]
            o = ortho[start : start + mats[i].shape[0]]
            start += mats[i].shape[0]
            fan_in, fan_out = layout.fan_in(x.shape), layout.fan_out(x.shape)
            if fan_in > fan_out:
                o = jnp.swapaxes(o, -1, -2)
            o = _shape_factor(scaling, fan_in, fan_out) * o
            o = o.reshape(*layout.batch_shape(x.shape), fan_in, fan_out)
            o = layout.from_matrices(o, x.shape).astype(x.dtype)
            sharding = jax.typeof(x).sharding
            out[i] = jax.sharding.reshard(o, sharding) if any(sharding.spec) else o
    return jax.tree.unflatten(treedef, out)


class ScaleByMuonState(NamedTuple):
    """State of :func:`scale_by_muon`: an int32 step count and the momentum."""

    count: jax.Array
    mu: optax.Updates


def scale_by_muon(
    beta: float = 0.95,
    nesterov: bool = True,
    ns_steps: int = 5,
    coeffs: str
    | jax.typing.ArrayLike
    | Callable[[jax.Array], jax.Array] = "polar_express",
    scaling: str = "keller",
    dtype: jax.typing.DTypeLike | None = None,
    eps: float = 1e-7,
    bias_correction: bool = False,
    layouts: LayoutSpec = None,
    gram: bool | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Momentum, then Newton–Schulz orthogonalization, then a shape factor.

    .. math::

        m_t &= \beta m_{t-1} + (1-\beta) g_t \\
        u_t &= \beta m_t + (1-\beta) g_t \ \text{(Nesterov)}, \quad
               u_t = m_t \ \text{(otherwise)} \\
        d_t &= s(\text{fan\_in}, \text{fan\_out}) \cdot \mathrm{NS}(u_t)

    With ``bias_correction=True`` the Nesterov direction becomes optax's
    :math:`\beta m_t/(1-\beta^{t+1}) + (1-\beta) g_t/(1-\beta^t)` (without
    Nesterov the correction is a positive factor, which NS removes).

    Each leaf is read through its layout (:mod:`jaxreg.layouts`) as a stack of
    ``(fan_in, fan_out)`` matrices, ``y = x @ W``: a Flax kernel ``(in, out)``
    as itself, an Equinox/PyTorch ``(out, in)`` weight as its transpose, a
    stacked ``(L, in, out)`` parameter as ``L`` matrices orthogonalized
    separately, a Flax conv ``(kh, kw, in, out)`` as ``(kh·kw·in, out)`` and an
    Equinox/PyTorch conv ``(out, in, kh, kw)`` as ``(in·kh·kw, out)``. The
    update is mapped back to the leaf's layout. Without ``layouts`` a 2-D leaf
    is read as ``(in, out)`` (``equinox.nn.Linear`` weights as ``(out, in)``)
    and a ≥ 3-D leaf as a Flax kernel, with a warning naming it. The shape
    factor uses each matrix's fan-in and fan-out. Scalings ``s``:

    * ``"keller"``: :math:`\sqrt{\max(1, \text{fan\_out}/\text{fan\_in})}`
      (Keller Jordan's :math:`\sqrt{\max(1, \text{rows}/\text{cols})}` on torch
      ``(out, in)`` weights; optax's default);
    * ``"moonlight"``: :math:`0.2\sqrt{\max(\text{fan\_in}, \text{fan\_out})}`,
      matching AdamW's update RMS so AdamW learning rates and weight decays
      transfer (Liu et al. 2025; optax's ``consistent_rms=0.2``);
    * ``"none"``: 1.

    Every leaf is orthogonalized: same-shape matrices (up to transposition) are
    stacked and sent through one batched call. A leaf with fewer than 2 axes
    (or given the layout ``None``) raises ``ValueError``; :func:`muon` routes
    those to AdamW.

    How the momentum compares with the peers (all EMA forms give the same
    direction after NS, which is scale-invariant):

    * Keller Jordan's reference and ``torch.optim.Muon``: ``buf.lerp_(g, 1-β)``,
      Nesterov ``g.lerp(buf, β)`` — identical to the default here.
    * optax ``contrib.scale_by_muon``: the same EMA with bias-corrected Nesterov
      (``bias_correction=True`` here).
    * MLX ``Muon``: identical EMA and Nesterov; its weight decay is coupled.
    * Moonlight and Dion: :math:`M = \mu M + g`, Nesterov :math:`g + \mu M`;
      this is :math:`(1-\mu)^{-1}` times the EMA form, so NS returns the same
      matrix (up to ``eps``). Dion turns Nesterov off by default.

    Args:
      beta: momentum decay β ∈ [0, 1).
      nesterov: use the Nesterov direction.
      ns_steps: Newton–Schulz steps (≥ 1).
      coeffs: a coefficient set for :func:`newton_schulz` (name or ``(n, 3)``
        array; default ``"polar_express"``), or a callable orthogonalizer
        ``O = f(U)`` that receives a stack ``(k, m, n)`` with ``m ≤ n`` and
        returns the same shape (``ns_steps``, ``dtype``, ``eps`` and ``gram``
        are then unused). Same-shape matrices arrive together, so the
        callable sees each group once per step.
      scaling: ``"keller"``, ``"moonlight"`` or ``"none"``.
      dtype: iteration dtype of NS (e.g. ``jnp.bfloat16``); norm stays float32.
      eps: added to the scaled Frobenius norm in NS.
      bias_correction: optax's bias-corrected Nesterov (see above).
      layouts: how to read each leaf as matrices: ``None`` (defaults, above),
        one :class:`~jaxreg.layouts.Layout` (e.g. ``jaxreg.TORCH_DENSE`` for
        an Equinox model), a pytree of layouts (a prefix of the params), or a
        callable ``(path, leaf) -> Layout | None``.
      gram: Gram-matrix form of NS for wide matrices, see
        :func:`newton_schulz` (``None``: chosen per shape).

    Returns:
      A ``GradientTransformationExtraArgs`` with :class:`ScaleByMuonState`.

    Examples:
      >>> import jax.numpy as jnp, optax
      >>> from jaxreg import scale_by_muon
      >>> tx = optax.chain(scale_by_muon(), optax.scale(-0.02))
      >>> params = {"w": jnp.ones((4, 8))}
      >>> state = tx.init(params)
      >>> updates, state = tx.update({"w": jnp.eye(4, 8)}, state)
      >>> updates["w"].shape
      (4, 8)

    References:
      Jordan et al., "Muon: An optimizer for hidden layers in neural networks",
      2024, https://kellerjordan.github.io/posts/muon/

      Liu et al., "Muon is Scalable for LLM Training", 2025,
      https://arxiv.org/abs/2502.16982
    """
    check_unit_interval("beta", beta, below_one=True)
    check_nonnegative("eps", eps)
    if scaling not in _SCALINGS:
        raise ValueError(f"scaling must be one of {_SCALINGS}, got {scaling!r}")
    if callable(coeffs):
        orthogonalize = coeffs
    else:
        _coefficient_table(coeffs, ns_steps, "ns_steps")
        if gram and dtype is not None and jnp.dtype(dtype).itemsize < 4:
            raise ValueError(
                f"gram=True needs float32 or wider matmul operands, got "
                f"dtype={dtype}; use gram=False or gram=None"
            )
        orthogonalize = functools.partial(
            newton_schulz,
            steps=ns_steps,
            coeffs=coeffs,
            dtype=dtype,
            eps=eps,
            gram=gram,
        )

    def init(params):
        resolve_layouts(params, layouts)  # check, and warn about guesses, early
        mu = jax.tree.map(jnp.zeros_like, params)
        return ScaleByMuonState(count=jnp.zeros([], jnp.int32), mu=mu)

    def update(updates, state, params=None, **extra_args):
        del params, extra_args
        count = optax.safe_increment(state.count)
        mu = jax.tree.map(
            lambda g, m: (beta * m + (1.0 - beta) * g).astype(m.dtype),
            updates,
            state.mu,
        )
        if bias_correction:
            t = count.astype(jnp.float32)
            c_mu = 1.0 - beta ** (t + 1.0) if nesterov else 1.0 - beta**t
            c_g = 1.0 - beta**t
        else:
            c_mu = c_g = 1.0
        if nesterov:
            direction = jax.tree.map(
                lambda g, m: beta * (m / c_mu) + (1.0 - beta) * (g / c_g),
                updates,
                mu,
            )
        else:
            direction = jax.tree.map(lambda m: m / c_mu, mu)
        leaf_layouts = resolve_layouts(direction, layouts, warn=False)
        direction = _orthogonalize_tree(direction, leaf_layouts, orthogonalize, scaling)
        return direction, ScaleByMuonState(count=count, mu=mu)

    return optax.GradientTransformationExtraArgs(init, update)


_LABELS = ("muon", "adam")


def _is_embed_or_head(path) -> bool:
    name = jax.tree_util.keystr(path).lower()
    return "embed" in name or "head" in name


def _muon_only(params, routed):
    """``params`` with every leaf not routed to Muon replaced by ``None``."""
    return jax.tree.map(lambda x, label: x if label == "muon" else None, params, routed)


def _route(params, labels, layouts, warn: bool):
    """A tree of ``"muon"``/``"adam"`` labels with the structure of params.

    Built from the arrays only (never by calling a leaf): an Equinox module's
    label tree is a module, which is callable.
    """
    check_array_leaves("params", params)
    if labels is None:
        leaf_layouts = resolve_layouts(params, layouts, warn=False)
        routed = jax.tree.map(
            lambda x, layout: "adam" if layout is None else "muon",
            params,
            leaf_layouts,
        )
        if warn:
            for (path, x), label in zip(
                jax.tree_util.tree_flatten_with_path(params)[0],
                jax.tree.leaves(routed),
                strict=True,
            ):
                if label == "muon" and _is_embed_or_head(path):
                    warn_caller(
                        f"jaxreg.muon routes {jax.tree_util.keystr(path)} (shape "
                        f"{x.shape}) to Muon by the default >=2-D rule, but "
                        "embeddings and output heads usually belong to the AdamW "
                        "branch: pass labels marking it 'adam' (or 'muon' to "
                        "silence this warning)."
                    )
        return routed
    try:
        routed = resolve_mask(labels, params)
    except ValueError as err:
        raise ValueError(
            "labels must be a pytree of 'muon'/'adam' with the structure of "
            f"params (or a prefix of it), got {labels!r}"
        ) from err
    for (path, label), x in zip(
        jax.tree_util.tree_flatten_with_path(routed)[0],
        jax.tree.leaves(params),
        strict=True,
    ):
        if label not in _LABELS:
            raise ValueError(
                f"labels{jax.tree_util.keystr(path)} must be 'muon' or 'adam', "
                f"got {label!r}"
            )
        if label == "muon" and x.ndim < 2:
            raise ValueError(
                f"labels{jax.tree_util.keystr(path)} = 'muon' but the leaf has "
                f"shape {x.shape}; Muon needs a matrix (or a higher-rank kernel)"
            )
    muon_layouts = resolve_layouts(_muon_only(params, routed), layouts, warn=False)
    for (path, label), layout in zip(
        jax.tree_util.tree_flatten_with_path(routed)[0],
        jax.tree.flatten(routed)[1].flatten_up_to(muon_layouts),
        strict=True,
    ):
        if label == "muon" and layout is None:
            raise ValueError(
                f"labels{jax.tree_util.keystr(path)} = 'muon' but layouts gives "
                "it no layout (None); label it 'adam' or give it a Layout"
            )
    return routed


def _partition(transforms, routed) -> optax.GradientTransformationExtraArgs:
    """``optax.partition`` with the label tree held in closures.

    optax calls a label or mask tree that is callable, and an Equinox module
    (the tree of labels of an Equinox model) is callable.
    """

    def constant(tree):
        return lambda _: tree

    masked = {
        group: optax.masked(
            optax.with_extra_args_support(tx),
            constant(jax.tree.map(lambda label, g=group: label == g, routed)),
        )
        for group, tx in transforms.items()
    }

    def init(params):
        return optax.PartitionState({g: tx.init(params) for g, tx in masked.items()})

    def update(updates, state, params=None, **extra_args):
        inner = {}
        for group, tx in masked.items():
            updates, inner[group] = tx.update(
                updates, state.inner_states[group], params, **extra_args
            )
        return updates, optax.PartitionState(inner)

    return optax.GradientTransformationExtraArgs(init, update)


def _weight_decay(strength, learning_rate) -> optax.GradientTransformation:
    """Decoupled L2 decay; the identity for a literal 0 (then no params needed)."""
    if isinstance(strength, int | float) and strength == 0:
        return optax.identity()
    return decoupled(l2(strength), learning_rate)


def muon(
    learning_rate: ScalarOrSchedule,
    beta: float = 0.95,
    nesterov: bool = True,
    ns_steps: int = 5,
    coeffs: str
    | jax.typing.ArrayLike
    | Callable[[jax.Array], jax.Array] = "polar_express",
    scaling: str = "keller",
    dtype: jax.typing.DTypeLike | None = None,
    eps: float = 1e-7,
    bias_correction: bool = False,
    weight_decay: float = 0.0,
    adam_learning_rate: ScalarOrSchedule | None = None,
    adam_b1: float = 0.9,
    adam_b2: float = 0.999,
    adam_eps: float = 1e-8,
    adam_weight_decay: float = 0.0,
    labels: Any | Callable[[Any], Any] | None = None,
    layouts: LayoutSpec = None,
    gram: bool | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Muon for matrices, AdamW for everything else.

    Muon branch (see :func:`scale_by_muon` for :math:`d_t`), with decoupled
    weight decay multiplied by the learning rate:

    .. math:: W \leftarrow W - \eta_t\,(d_t + \lambda W)

    i.e. Keller Jordan's ``p *= 1 - lr·wd; p -= lr·u``. AdamW branch: plain
    AdamW (``optax.adam`` with ``adam_b1, adam_b2, adam_eps``, then
    :math:`-\eta^{\text{adam}}_t \lambda^{\text{adam}} w`), no Nesterov.

    Routing: with ``labels=None`` every leaf with ≥ 2 axes goes to Muon (conv
    kernels are flattened to ``(fan_in, fan_out)``) and the rest (biases,
    norms' scales, scalars) to AdamW. Embeddings and output heads usually work
    better with AdamW: label them ``"adam"``. A ``UserWarning`` names every
    leaf whose path contains "embed" or "head" that the default rule sends to
    Muon. ``labels`` is a pytree of ``"muon"``/``"adam"`` (or a prefix of the
    params tree), or a callable ``params -> labels``; labelling a leaf with
    fewer than 2 axes ``"muon"`` raises ``ValueError``.

    Differences from ``optax.contrib.muon`` (0.2.8): its auxiliary optimizer is
    NAdamW (it inherits ``nesterov=True``) sharing Muon's ``eps``; its momentum
    is bias-corrected (``bias_correction=True`` here reproduces it); only
    exactly-2-D leaves go to Muon (≥3-D kernels go to Adam there); its NS
    ``eps`` is 1e-8 (1e-7 here, as in Keller Jordan's code); its default NS is
    Keller's triple for 5 steps, ours Polar Express's 5 (``coeffs="keller"``
    gives optax's), run on the Gram matrix for wide matrices (see
    :func:`newton_schulz`).

    With ``optax.inject_hyperparams`` list ``ns_steps`` in ``static_args``
    (the loop length is static), ``gram`` when you set it (a bool would be
    traced), and also ``coeffs`` or ``labels`` when they are arrays or
    callables (it would trace the first and take callables for schedules);
    the learning rates, β, eps and weight decays can be injected.

    Args:
      learning_rate: η_t for the Muon branch, a float or schedule. Keller
        Jordan uses 0.02 with ``scaling="keller"``; with ``"moonlight"`` use an
        AdamW-sized rate.
      beta, nesterov, ns_steps, coeffs: see :func:`scale_by_muon`.
      scaling, dtype, eps, bias_correction, gram: see :func:`scale_by_muon`.
      weight_decay: λ ≥ 0 of the Muon branch (decoupled, times η_t).
      adam_learning_rate: learning rate of the AdamW branch; ``None`` reuses
        ``learning_rate`` (sensible with ``scaling="moonlight"``; with
        ``"keller"`` pass an Adam-sized rate such as 3e-4).
      adam_b1, adam_b2, adam_eps: Adam's moment decays (in [0, 1)) and epsilon
        (≥ 0).
      adam_weight_decay: λ ≥ 0 of the AdamW branch (decoupled, times its lr).
      labels: routing, see above.

    Returns:
      A ``GradientTransformationExtraArgs`` (an ``optax.partition`` inside).
      Its ``update`` needs ``params`` when either weight decay is nonzero.

    Examples:
      >>> import jax, jax.numpy as jnp, optax
      >>> import jaxreg
      >>> params = {"embed": jnp.ones((10, 4)), "w": jnp.ones((4, 4)),
      ...           "b": jnp.zeros(4)}
      >>> labels = {"embed": "adam", "w": "muon", "b": "adam"}
      >>> tx = jaxreg.muon(0.02, adam_learning_rate=3e-4, labels=labels)
      >>> state = tx.init(params)
      >>> grads = jax.tree.map(jnp.ones_like, params)
      >>> updates, state = tx.update(grads, state, params)
      >>> params = optax.apply_updates(params, updates)

    References:
      Jordan et al., "Muon: An optimizer for hidden layers in neural networks",
      2024, https://kellerjordan.github.io/posts/muon/

      Liu et al., "Muon is Scalable for LLM Training", 2025,
      https://arxiv.org/abs/2502.16982
    """
    check_not_scheduled(labels=labels, layouts=layouts, coeffs=coeffs)
    check_nonnegative("learning_rate", learning_rate)
    if adam_learning_rate is not None:
        check_nonnegative("adam_learning_rate", adam_learning_rate)
    check_nonnegative("weight_decay", weight_decay)
    check_nonnegative("adam_weight_decay", adam_weight_decay)
    check_unit_interval("adam_b1", adam_b1, below_one=True)
    check_unit_interval("adam_b2", adam_b2, below_one=True)
    check_nonnegative("adam_eps", adam_eps)
    if adam_learning_rate is None:
        adam_learning_rate = learning_rate
    transforms = {
        "muon": optax.chain(
            # inside optax.masked its init sees only the Muon leaves, so its
            # warning about guessed layouts names only those
            scale_by_muon(
                beta,
                nesterov,
                ns_steps,
                coeffs,
                scaling,
                dtype,
                eps,
                bias_correction,
                layouts,
                gram,
            ),
            optax.scale_by_learning_rate(learning_rate),
            _weight_decay(weight_decay, learning_rate),
        ),
        "adam": optax.chain(
            optax.adam(adam_learning_rate, adam_b1, adam_b2, adam_eps),
            _weight_decay(adam_weight_decay, adam_learning_rate),
        ),
    }

    def init(params):
        routed = _route(params, labels, layouts, warn=True)
        return _partition(transforms, routed).init(params)

    def update(updates, state, params=None, **extra_args):
        routed = _route(
            updates if params is None else params, labels, layouts, warn=False
        )
        return _partition(transforms, routed).update(
            updates, state, params, **extra_args
        )

    return optax.GradientTransformationExtraArgs(init, update)
