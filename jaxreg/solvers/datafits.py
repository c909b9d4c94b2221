"""Datafits for linear models: value, gradient, curvature and a dual point.

A datafit is a function ``F(u)`` of the linear predictor ``u = Xw + b`` (one
entry per sample) that already carries the ``1/n``:

- :class:`Quadratic`: ``F(u) = 1/(2n) ||y - u||²``,
- :class:`Logistic`: ``F(u) = 1/n Σᵢ log(1 + exp(-yᵢ uᵢ))`` with ``yᵢ ∈ {-1, +1}``
  (labels in ``{0, 1}`` are mapped to ``±1`` by the solvers).

Solvers need four things from it: the value, the *negative* gradient
``r = -∇F(u)`` (for the quadratic datafit ``r = (y - u)/n``, the residual over
``n``), the diagonal of the Hessian (prox-Newton weights) and the Fenchel-Young
gap ``F(u) + F*(-θ) + ⟨u, θ⟩ ≥ 0`` that certifies a dual point ``θ``. The
duality gap of ``F(Xw + b) + Σⱼ h(wⱼ)`` at a dual point ``θ`` is the sum of
that datafit term and the penalty terms ``h(wⱼ) + h*(xⱼᵀθ) - wⱼ xⱼᵀθ``; both
sums have nonnegative summands, which keeps the gap accurate in float32 (no
difference of two large objectives).

Unlike scikit-learn's ``_cd_fast`` (which works with the unscaled
``½||y - Xw||²`` and ``n·alpha``), everything here is in the ``1/n`` scaling of
the objective itself, so ``gap`` and ``P(0)`` are in the units users see.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class Quadratic:
    """Least squares ``F(u) = 1/(2n) ||y - u||²``.

    Its conjugate makes the dual ``n``-strongly concave in the per-sample dual
    variable ``θ = r``, which sets the gap-safe screening radius
    ``sqrt(2·gap / n)``.
    """

    strong_concavity = 1.0  # of the dual, in units of n

    def value(self, y, u):
        """Returns ``1/(2n) ||y - u||²``."""
        res = y - u
        return 0.5 * jnp.mean(res * res)

    def neg_grad(self, y, u):
        """Returns ``r = -∇F(u) = (y - u)/n``."""
        return (y - u) / y.shape[0]

    def hessian_diag(self, y, u):
        """Returns the diagonal of ``∇²F(u)``, the constant ``1/n``."""
        return jnp.full_like(u, 1.0 / y.shape[0])

    def fenchel_young(self, y, u, theta):
        """Returns ``F(u) + F*(-θ) + ⟨u, θ⟩ = n/2 ||(y - u)/n - θ||²`` (≥ 0)."""
        n = y.shape[0]
        diff = (y - u) / n - theta
        return 0.5 * n * jnp.sum(diff * diff)


@dataclasses.dataclass(frozen=True)
class Logistic:
    """Mean log-loss ``F(u) = 1/n Σᵢ log(1 + exp(-yᵢ uᵢ))``, ``yᵢ ∈ {-1, +1}``.

    The dual variable is ``θᵢ = yᵢ zᵢ / n`` with ``zᵢ ∈ [0, 1]`` and
    ``F*(-θ) = 1/n Σᵢ zᵢ log zᵢ + (1 - zᵢ) log(1 - zᵢ)``; the dual is
    ``4n``-strongly concave in ``θ``. The Hessian is bounded by ``1/(4n) XᵀX``,
    so the Lipschitz constant of ``w ↦ F(Xw)`` is ``||X||₂² / (4n)``.
    """

    strong_concavity = 4.0

    def value(self, y, u):
        """Returns ``1/n Σᵢ log(1 + exp(-yᵢ uᵢ))``."""
        return jnp.mean(jnp.logaddexp(0.0, -y * u))

    def neg_grad(self, y, u):
        """Returns ``r = -∇F(u) = y σ(-y u) / n``."""
        return y * jax.nn.sigmoid(-y * u) / y.shape[0]

    def hessian_diag(self, y, u):
        """Returns the diagonal of ``∇²F(u)``: ``σ(u)(1 - σ(u)) / n``."""
        p = jax.nn.sigmoid(u)
        return p * (1.0 - p) / y.shape[0]

    def fenchel_young(self, y, u, theta):
        """Returns ``F(u) + F*(-θ) + ⟨u, θ⟩`` for ``θ = y z / n``, ``z ∈ [0, 1]``.

        Per sample this is the Kullback-Leibler divergence ``KL(z ‖ p)`` of
        Bernoulli laws, ``p = σ(-yᵢuᵢ)``; it is evaluated as
        ``z log1p(δ/p) + (1 - z) log1p(-δ/(1 - p))`` with ``δ = z - p``, whose
        terms are ``O(δ)`` rather than ``O(1)``, so a float32 gap stays
        accurate far below ``eps·log 2``.
        """
        n = y.shape[0]
        z = jnp.clip(n * y * theta, 0.0, 1.0)
        p = jax.nn.sigmoid(-y * u)
        q = jax.nn.sigmoid(y * u)  # 1 - p without cancellation
        delta = z - p
        t1 = jnp.where(z > 0, z * jnp.log1p(delta / jnp.where(p > 0, p, 1.0)), 0.0)
        t2 = jnp.where(
            z < 1, (1.0 - z) * jnp.log1p(-delta / jnp.where(q > 0, q, 1.0)), 0.0
        )
        return jnp.mean(t1 + t2)


QUADRATIC = Quadratic()
LOGISTIC = Logistic()


def lipschitz(datafit, XT, n_iter: int = 30):
    """Lipschitz constant of ``w ↦ F(Xw)`` by power iteration (no SVD).

    Returns ``c·||X||₂² / n`` with ``c = 1`` (quadratic) or ``1/4`` (logistic),
    from ``n_iter`` power iterations on ``XᵀX`` started at a fixed vector, times
    1.01 as a safety margin for the underestimate power iteration gives.

    Args:
      datafit: :class:`Quadratic` or :class:`Logistic`.
      XT: design matrix, transposed, shape ``(n_features, n_samples)``.
      n_iter: number of power iterations.
    """
    d, n = XT.shape
    v0 = jnp.ones((d,), XT.dtype) / jnp.sqrt(jnp.asarray(d, XT.dtype))

    def body(_, v):
        v = XT @ (v @ XT)
        return v / jnp.maximum(jnp.linalg.norm(v), jnp.finfo(XT.dtype).tiny)

    v = jax.lax.fori_loop(0, n_iter, body, v0)
    sq_norm = jnp.sum((v @ XT) ** 2)
    scale = 1.0 if isinstance(datafit, Quadratic) else 0.25
    return 1.01 * scale * sq_norm / n


def duality_gap(datafit, y, u, w, v, l1, l2, r=None):
    """Duality gap of ``F(u) + Σⱼ l1ⱼ|wⱼ| + l2ⱼ/2 wⱼ²`` at a rescaled dual point.

    With ``r = -∇F(u)`` and ``v = Xᵀr`` (passed in, the solvers have it), the
    dual point is ``θ = s·r``. Any other ``r`` (with its ``v = Xᵀr``) may be
    passed instead, e.g. an extrapolated residual (celer's dual
    extrapolation): the gap then certifies the primal point ``(u, w)`` with
    the dual point built from that ``r``. For a pure L1 penalty ``s = min(1, minⱼ
    l1ⱼ/|vⱼ|)`` makes ``θ`` feasible (``|xⱼᵀθ| ≤ l1ⱼ``); with an L2 part the dual
    is unconstrained and both ``s = 1`` and that ``s`` are tried, the smaller
    gap is returned. Features with ``l1ⱼ = l2ⱼ = 0`` (an unpenalized intercept
    column) are left out, so the gap certifies ``w`` with them held fixed.

    Args:
      datafit: :class:`Quadratic` or :class:`Logistic`.
      y: targets, shape ``(n,)``.
      u: linear predictor ``Xw + b``, shape ``(n,)``.
      w: coefficients, shape ``(d,)``.
      v: ``Xᵀ(-∇F(u))``, shape ``(d,)``.
      l1: per-feature L1 strengths, shape ``(d,)``.
      l2: per-feature L2 strengths, shape ``(d,)``.
      r: the residual to build ``θ`` from; default ``-∇F(u)``.

    Returns:
      ``(gap, primal)``: the gap and ``P(w) = F(u) + penalty(w)``.
    """
    if r is None:
        r = datafit.neg_grad(y, u)
    penalized = (l1 > 0) | (l2 > 0)
    primal = datafit.value(y, u) + jnp.sum(l1 * jnp.abs(w) + 0.5 * l2 * w * w)
    ratio = jnp.where(penalized & (l1 > 0), jnp.abs(v) / jnp.where(l1 > 0, l1, 1.0), 0)
    s_feasible = 1.0 / jnp.maximum(1.0, jnp.max(ratio))

    def gap_at(s):
        vs = s * v
        excess = jnp.maximum(jnp.abs(vs) - l1, 0.0)
        conj = jnp.where(
            l2 > 0, excess * excess / (2 * jnp.where(l2 > 0, l2, 1.0)), 0.0
        )
        pen = l1 * jnp.abs(w) + 0.5 * l2 * w * w + conj - w * vs
        pen_gap = jnp.sum(jnp.where(penalized, pen, 0.0))
        return datafit.fenchel_young(y, u, s * r) + pen_gap

    gap = gap_at(s_feasible)
    unconstrained = jnp.all(jnp.where(penalized, l2 > 0, True))
    gap = jnp.where(unconstrained, jnp.minimum(gap, gap_at(1.0)), gap)
    return jnp.maximum(gap, 0.0), primal
