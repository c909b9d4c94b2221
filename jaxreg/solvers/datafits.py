"""Datafits for linear models: the ``Datafit`` contract, ``Quadratic``,
``Logistic`` and the Tweedie family (``Poisson``, ``Gamma``, ``Tweedie``).

A datafit is a function ``F(u)`` of the linear predictor ``u = Xw + b`` (one
entry per sample) that carries its targets ``y`` and its per-sample weights
``a`` (``aᵢ >= 0``, ``Σᵢ aᵢ = 1``; ``aᵢ = 1/n`` without sample weights):

- :class:`Quadratic`: ``F(u) = ½ Σᵢ aᵢ (yᵢ - uᵢ)²`` (``1/(2n) ||y - u||²``),
- :class:`Logistic`: ``F(u) = Σᵢ aᵢ log(1 + exp(-yᵢ uᵢ))``, ``yᵢ ∈ {-1, +1}``,
- :class:`Tweedie` (and its cases :class:`Poisson`, ``p = 1``, and
  :class:`Gamma`, ``p = 2``): ``F(u) = Σᵢ aᵢ ½dₚ(yᵢ, exp(uᵢ))``, half the
  Tweedie deviance with a log link (scikit-learn's ``PoissonRegressor``,
  ``GammaRegressor``, ``TweedieRegressor``).

With sample weights ``s``, ``a = s / Σs``: a weight 0 drops the row, an integer
weight repeats it, exactly as scikit-learn's ``Lasso``/``ElasticNet`` (which
rescale ``s`` to sum to ``n``). scikit-learn's ``LogisticRegression`` and
``Ridge`` sum their losses instead of averaging them; their estimators map
``C`` and ``alpha`` accordingly (``lam = 1/(C Σs)``, ``lam = alpha/Σs``).

The contract (all a solver may ask; a new datafit is one class implementing
it, a frozen dataclass registered with :func:`jaxreg.solvers.register_dataclass`;
see ``tests/test_solvers_contract.py`` for Huber):

- ``value(u)``, ``neg_grad(u)`` ``= -∇F(u)``, ``hessian_diag(u)``;
- ``curvature``: ``c`` with ``∇²F(u) ⪯ c·diag(a)`` (``1``, ``1/4``), which
  gives the Lipschitz constants and, as the dual's strong concavity modulus
  in the ``Σᵢ θᵢ²/aᵢ`` norm, the gap-safe screening radius ``sqrt(2·gap/c)``
  (``inf`` when there is no global bound: the Tweedie family);
- ``curvature_at(u)``: a curvature scale at ``u`` (``c`` itself when it is
  finite; ``Σᵢ ∇²F(u)ᵢᵢ``, the ``a``-weighted mean curvature, for the
  Tweedie family), which turns the stationarity measure into objective units;
- ``has_dual``: ``fenchel_young`` is available, so the duality gap certifies
  and gap-safe screening applies; without it (the Tweedie family, whose
  conjugate has no closed form for general ``p``) the solvers stop on the
  stationarity measure of :func:`jaxreg.solvers.cd.optimality_gap` and
  screen nothing;
- ``constant_hessian``: the quadratic model is exact (no line search, the
  working-set Gram matrix is cached);
- ``fenchel_young(u, θ)`` ``= F(u) + F*(-θ) + ⟨u, θ⟩ >= 0`` at a dual point
  ``θ = s·r``, ``r = -∇F`` (the datafit part of the duality gap);
- ``centre``: the intercept is eliminated by centring ``X`` and ``y`` (least
  squares); otherwise it is a free coordinate starting at
  ``intercept_at_zero()``, the optimal intercept at ``w = 0``;
- ``from_targets(y, weights)``: validates and encodes the targets (labels for
  the logistic loss);
- ``loss(y, pred)``: per-sample held-out loss on raw targets (for CV).

The duality gap of ``F(Xw + b) + Σⱼ hⱼ(wⱼ)`` is the sum of the datafit term
and the penalty terms ``hⱼ(wⱼ) + hⱼ*(xⱼᵀθ) - wⱼ xⱼᵀθ``; both sums have
nonnegative summands, which keeps the gap accurate in float32. Everything is
in the scaling of the objective itself (scikit-learn's ``_cd_fast`` works with
``½||y - Xw||²`` and ``n·alpha``), so ``gap`` and ``P(0)`` are in the units
users see.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg._pytree import register_dataclass
from jaxreg._validation import check_nonnegative

__all__ = [
    "Datafit",
    "Gamma",
    "Logistic",
    "Poisson",
    "Quadratic",
    "Tweedie",
    "duality_gap",
    "lipschitz",
]


def _register(cls):
    cls = dataclasses.dataclass(frozen=True)(cls)
    return register_dataclass(cls, data_fields=["y", "weights"], meta_fields=[])


def normalized_weights(sample_weight, n, dtype):
    """``a = s / Σs`` as a numpy array of ``dtype`` (``1/n`` when ``s`` is None);
    raises ``ValueError`` on a wrong shape, a negative, non-finite or all-zero
    ``sample_weight``, or a traced one."""
    if sample_weight is None:
        return np.full(n, 1.0 / n, dtype)
    if isinstance(sample_weight, jax.core.Tracer):
        raise ValueError(
            "sample_weight is read on the host and cannot be a traced value "
            "(an argument of a function under jit, vmap or grad, which cannot "
            "differentiate it either): close over a numpy array instead, e.g. "
            "jax.jit(lambda X, y: jaxreg.lasso(X, y, lam, sample_weight=sw))"
        )
    s = np.asarray(sample_weight, dtype=np.float64)
    if s.ndim == 0:
        s = np.full(n, float(s))
    if s.shape != (n,):
        raise ValueError(
            f"sample_weight must have shape ({n},), got {np.shape(sample_weight)}"
        )
    check_nonnegative("sample_weight", s)
    total = s.sum()
    if not total > 0:
        raise ValueError("sample_weight must have a positive sum, got all zeros")
    return (s / total).astype(dtype)


class Datafit(abc.ABC):
    """Base class of the datafits: see the module docstring for the contract."""

    y: jax.Array
    weights: jax.Array

    curvature = 1.0
    constant_hessian = False
    centre = False
    has_dual = True

    @classmethod
    def from_targets(cls, y, weights):
        """The datafit for raw targets ``y`` and normalized weights ``a``."""
        return cls(y, weights)

    def curvature_at(self, u):
        """A curvature scale at ``u``: the global bound ``curvature``."""
        del u
        return self.curvature

    @abc.abstractmethod
    def value(self, u): ...

    @abc.abstractmethod
    def neg_grad(self, u): ...

    @abc.abstractmethod
    def hessian_diag(self, u): ...

    @abc.abstractmethod
    def fenchel_young(self, u, theta): ...

    @abc.abstractmethod
    def intercept_at_zero(self): ...

    @staticmethod
    @abc.abstractmethod
    def loss(y, pred): ...


@_register
class Quadratic(Datafit):
    """Least squares ``F(u) = ½ Σᵢ aᵢ (yᵢ - uᵢ)²`` (``1/(2n) ||y - u||²``)."""

    y: jax.Array
    weights: jax.Array

    curvature = 1.0
    constant_hessian = True
    centre = True

    def value(self, u):
        """Returns ``½ Σᵢ aᵢ (yᵢ - uᵢ)²``."""
        res = self.y - u
        return 0.5 * jnp.sum(self.weights * res * res)

    def neg_grad(self, u):
        """Returns ``r = -∇F(u) = a ⊙ (y - u)``."""
        return self.weights * (self.y - u)

    def hessian_diag(self, u):
        """Returns the diagonal of ``∇²F(u)``, the constant ``a``."""
        return jnp.broadcast_to(self.weights, u.shape)

    def fenchel_young(self, u, theta):
        """Returns ``Σᵢ (aᵢ(yᵢ - uᵢ) - θᵢ)² / (2aᵢ)`` (≥ 0; rows with ``aᵢ = 0``
        contribute 0, as their ``θᵢ = s·rᵢ`` is 0)."""
        a = self.weights
        diff = a * (self.y - u) - theta
        return 0.5 * jnp.sum(jnp.where(a > 0, diff * diff / jnp.where(a > 0, a, 1), 0))

    def intercept_at_zero(self):
        """``Σᵢ aᵢ yᵢ`` (0 after centring)."""
        return jnp.sum(self.weights * self.y)

    @staticmethod
    def loss(y, pred):
        """Squared error ``(y - pred)²`` (CV scores are its mean: MSE)."""
        return (y - pred) ** 2


def binary_labels(y):
    """Maps labels in ``{0, 1}``, ``{-1, +1}`` or booleans to ``±1``; anything
    else raises ``ValueError``."""
    values = np.unique(np.asarray(y))
    if not (set(values.tolist()) <= {0.0, 1.0} or set(values.tolist()) <= {-1.0, 1.0}):
        raise ValueError(
            f"y must hold binary labels in {{0, 1}} or {{-1, +1}}, got values "
            f"{values[:10].tolist()}"
        )
    y = np.asarray(y)
    # labels carry no precision: keep a float dtype that does not promote X
    dtype = y.dtype if np.issubdtype(y.dtype, np.floating) else np.float32
    return np.where(y > 0, 1.0, -1.0).astype(dtype)


@_register
class Logistic(Datafit):
    """Log-loss ``F(u) = Σᵢ aᵢ log(1 + exp(-yᵢ uᵢ))``, ``yᵢ ∈ {-1, +1}``.

    The dual variable is ``θᵢ = aᵢ yᵢ zᵢ`` with ``zᵢ ∈ [0, 1]`` and
    ``F*(-θ) = Σᵢ aᵢ (zᵢ log zᵢ + (1 - zᵢ) log(1 - zᵢ))``. The Hessian is
    bounded by ``¼ diag(a)``.
    """

    y: jax.Array
    weights: jax.Array

    curvature = 0.25

    @classmethod
    def from_targets(cls, y, weights):
        """Labels ``{0, 1}``, ``±1`` or boolean, encoded as ``±1``; both
        classes must carry weight (``ValueError`` otherwise: with one class
        the log-loss has no minimum, the intercept runs off to infinity)."""
        labels = binary_labels(y)
        if not isinstance(weights, jax.core.Tracer):
            mass = np.asarray(weights) > 0
            if not (np.any(mass & (labels > 0)) and np.any(mass & (labels < 0))):
                raise ValueError(
                    "y holds one class (among the samples of weight > 0): the "
                    "log-loss has no minimum; the logistic model needs both"
                )
        return cls(labels, weights)

    def value(self, u):
        """Returns ``Σᵢ aᵢ log(1 + exp(-yᵢ uᵢ))``."""
        return jnp.sum(self.weights * jnp.logaddexp(0.0, -self.y * u))

    def neg_grad(self, u):
        """Returns ``r = -∇F(u) = a ⊙ y ⊙ σ(-y u)``."""
        return self.weights * self.y * jax.nn.sigmoid(-self.y * u)

    def hessian_diag(self, u):
        """Returns the diagonal of ``∇²F(u)``: ``a ⊙ σ(u)σ(-u)``.

        Not ``σ(u)(1 - σ(u))``: ``σ(u)`` rounds to 1 from ``u ≈ 17`` in
        float32 (37 in float64), and the curvature of a well-classified row
        came out exactly 0 while its gradient ``σ(-yu)`` did not. A feature
        seen only in such rows then had a zero Hessian diagonal, and CD never
        moved it: on near-separable data (sparse counts, L1 at λ_max/1000)
        its KKT violation stayed at λ and the fit ran its whole budget.
        ``σ(-|u|)`` underflows only from ``|u| ≈ 88`` (709)."""
        return self.weights * jax.nn.sigmoid(u) * jax.nn.sigmoid(-u)

    def fenchel_young(self, u, theta):
        """Returns ``F(u) + F*(-θ) + ⟨u, θ⟩`` for ``θ = a y z``, ``z ∈ [0, 1]``.

        Per sample this is ``aᵢ KL(zᵢ ‖ pᵢ)`` of Bernoulli laws, ``p =
        σ(-yᵢuᵢ)``, ``z log(z/p) + (1 - z) log((1 - z)/(1 - p))``. A ratio
        near 1 is evaluated as ``log1p(δ/p)`` (``δ = z - p``; likewise for
        ``1 - z``), whose terms are ``O(δ)`` rather than ``O(1)``, so a float32
        gap stays accurate far below ``eps·log 2``; a ratio below ½ as ``log z
        - log p``: there ``δ/p`` may round to -1 (``z = 1e-8·p``, a dual point
        scaled down by a small λ), and ``log1p(-1) = -inf`` made the gap
        ``-inf``, read as converged at ``w = 0``; ``log p`` is
        ``log_sigmoid(-yᵢuᵢ)``, exact where ``p`` underflows (``|u| > 88`` in
        float32: the term came out negative).
        """
        a = self.weights
        z = jnp.clip(self.y * theta / jnp.where(a > 0, a, 1), 0.0, 1.0)
        p = jax.nn.sigmoid(-self.y * u)
        q = jax.nn.sigmoid(self.y * u)  # 1 - p without cancellation
        delta = z - p
        t1 = z * _log_ratio(z, p, jax.nn.log_sigmoid(-self.y * u), delta)
        t2 = (1.0 - z) * _log_ratio(1.0 - z, q, jax.nn.log_sigmoid(self.y * u), -delta)
        # a row of weight 0 adds nothing, even where its margin is infinite
        # (an intercept driven out by a class of zero total weight)
        return jnp.sum(jnp.where(a > 0, a * (t1 + t2), 0.0))

    def intercept_at_zero(self):
        """The weighted log-odds ``log(p / (1 - p))``, ``p = Σ_{yᵢ=1} aᵢ``."""
        p = jnp.clip(jnp.sum(self.weights * (self.y > 0)), 1e-12, 1 - 1e-12)
        return jnp.log(p / (1 - p))

    @staticmethod
    def loss(y, pred):
        """Log-loss ``log(1 + exp(-y·pred))`` of ``±1`` labels."""
        return np.logaddexp(0.0, -y * pred)


@_register
class Tweedie(Datafit):
    """Half Tweedie deviance, log link: ``F(u) = Σᵢ aᵢ ½dₚ(yᵢ, μᵢ)``, ``μ = eᵘ``.

    With ``p = power``, the half unit deviance is (scikit-learn's
    ``HalfTweedieLoss`` plus the constant that makes it 0 at ``μ = y``)::

        ½dₚ(y, μ) = y^(2-p)/((1-p)(2-p)) - y μ^(1-p)/(1-p) + μ^(2-p)/(2-p)
        ½d₁(y, μ) = y log(y/μ) - y + μ            (Poisson, p = 1)
        ½d₂(y, μ) = log(μ/y) + y/μ - 1            (Gamma, p = 2)

    so ``F(Xw + b) + alpha/2 ||w||²`` is exactly scikit-learn's
    ``1/(2Σsᵢ) Σᵢ sᵢ dₚ(yᵢ, μᵢ) + alpha/2 ||w||²`` (``a = s/Σs``). The
    gradient is ``∇F(u) = a ⊙ μ^(1-p)(μ - y)``; the Hessian diagonal
    ``a ⊙ ((2-p)μ^(2-p) - (1-p)yμ^(1-p))`` is nonnegative for ``1 <= p <= 2``
    (a convex ``F``). For ``p > 2`` it can be negative (``F`` is not convex
    in ``u``); the prox-Newton model then uses its larger value and the
    Fisher information ``a ⊙ μ^(2-p)`` (exact at ``μ = y``), and the line
    search keeps every step a descent step.

    ``p = power`` is a class attribute (``p`` fixes the formulas at trace
    time): :class:`Poisson` and :class:`Gamma` are the cases ``p = 1, 2``;
    ``Tweedie.with_power(p)`` makes (and caches) the class for any ``p >= 1``.
    There is no global Hessian bound (``curvature = inf``) and, for general
    ``p``, no closed-form conjugate (``has_dual = False``): the solvers stop
    on the stationarity measure of :func:`jaxreg.solvers.cd.optimality_gap`
    and do no gap-safe screening. Valid targets: ``y >= 0`` for ``p < 2``,
    ``y > 0`` for ``p >= 2`` (scikit-learn's ranges).
    """

    y: jax.Array
    weights: jax.Array

    power = 1.5
    curvature = math.inf
    has_dual = False

    @classmethod
    @functools.cache
    def with_power(cls, power):
        """The datafit class for ``p = power >= 1`` (``Poisson`` for 1,
        ``Gamma`` for 2)."""
        power = float(power)
        if not power >= 1:
            raise ValueError(
                f"power must be >= 1 for the log-link Tweedie datafit, got {power!r}"
            )
        if power == 1:
            return Poisson
        if power == 2:
            return Gamma
        return _register(type(f"Tweedie_{power:g}", (Tweedie,), {"power": power}))

    @classmethod
    def from_targets(cls, y, weights):
        """Checks the range of ``y`` (``>= 0``, or ``> 0`` for ``p >= 2``);
        raises ``ValueError`` as scikit-learn does."""
        y = np.asarray(y)
        if y.dtype == bool or not np.issubdtype(y.dtype, np.floating):
            y = y.astype(np.float32 if y.dtype.itemsize <= 4 else np.float64)
        bad = np.any(y <= 0) if cls.power >= 2 else np.any(y < 0)
        if bad:
            need = "> 0" if cls.power >= 2 else ">= 0"
            raise ValueError(
                f"Some value(s) of y are out of the valid range of the "
                f"{cls.__name__} datafit (power={cls.power:g}): y must be {need}, "
                f"got min(y) = {y.min()!r}"
            )
        return cls(y, weights)

    def value(self, u):
        """Returns ``Σᵢ aᵢ ½dₚ(yᵢ, exp(uᵢ))``."""
        return jnp.sum(self.weights * _half_deviance(self.y, u, self.power, jnp))

    def neg_grad(self, u):
        """Returns ``r = -∇F(u) = a ⊙ μ^(1-p)(y - μ)``, ``μ = eᵘ``."""
        p, y = self.power, self.y
        if p == 1:
            return self.weights * (y - jnp.exp(u))
        if p == 2:
            return self.weights * (y * jnp.exp(-u) - 1.0)
        return self.weights * (y * jnp.exp((1 - p) * u) - jnp.exp((2 - p) * u))

    def hessian_diag(self, u):
        """Returns ``a ⊙ ((2-p)μ^(2-p) - (1-p)yμ^(1-p))`` (for ``p > 2``, its
        maximum with the Fisher information ``a ⊙ μ^(2-p)``)."""
        p, y = self.power, self.y
        if p == 1:
            return self.weights * jnp.exp(u)
        if p == 2:
            return self.weights * y * jnp.exp(-u)
        m2, m1 = jnp.exp((2 - p) * u), jnp.exp((1 - p) * u)
        h = (2 - p) * m2 - (1 - p) * y * m1
        if p > 2:
            h = jnp.maximum(h, m2)
        return self.weights * h

    def curvature_at(self, u):
        """``Σᵢ ∇²F(u)ᵢᵢ``: the ``a``-weighted mean curvature at ``u``."""
        return jnp.sum(self.hessian_diag(u))

    def fenchel_young(self, u, theta):
        raise NotImplementedError(
            f"{type(self).__name__} has no closed-form conjugate (has_dual=False);"
            " solvers stop on the stationarity measure instead"
        )

    def intercept_at_zero(self):
        """``log(Σᵢ aᵢ yᵢ)``: ``μ = ȳ`` zeroes the intercept's gradient."""
        ybar = jnp.sum(self.weights * self.y)
        return jnp.log(jnp.maximum(ybar, jnp.finfo(ybar.dtype).tiny))

    @classmethod
    def loss(cls, y, pred):
        """Half deviance ``½dₚ(y, exp(pred))`` of raw targets (numpy)."""
        return _half_deviance(y, pred, cls.power, np)


def _log_ratio(x, p, log_p, delta):
    """``log(x/p)`` for ``x >= 0``, ``p = exp(log_p) >= 0``, ``delta = x - p``,
    0 where ``x = 0`` (``0·log 0 = 0``): ``log1p(delta/p)`` when ``x/p >= ½``
    (accurate near 1), ``log x - log_p`` below or where ``p`` underflows to 0
    (no ``log1p(-1)`` when ``delta/p`` rounds to -1; ``log_p`` from
    ``log_sigmoid``, finite past float32's ``σ(-88) = 0``)."""
    near = (p > 0) & (delta >= -0.5 * p)
    safe_x = jnp.where(x > 0, x, 1.0)
    ratio = jnp.where(
        near,
        jnp.log1p(jnp.where(near, delta / jnp.where(near, p, 1.0), 0.0)),
        jnp.log(safe_x) - log_p,
    )
    return jnp.where(x > 0, ratio, 0.0)


def _half_deviance(y, u, p, xp):
    """``½dₚ(y, eᵘ)`` elementwise, with ``0 log 0 = 0`` and ``0^(2-p) = 0``."""
    if p == 1:
        safe = xp.where(y > 0, y, 1.0)
        return xp.where(y > 0, y * (xp.log(safe) - u), 0.0) - y + xp.exp(u)
    if p == 2:
        return u - xp.log(y) + y * xp.exp(-u) - 1.0
    # y^(2-p) [expm1((2-p)t)/(2-p) - expm1((1-p)t)/(1-p)], t = log(μ/y): the
    # textbook y^(2-p)/((1-p)(2-p)) - yμ^(1-p)/(1-p) + μ^(2-p)/(2-p) cancels
    # terms 1/|2-p| (or 1/|1-p|) times the deviance, and p = 1.9999 fitted
    # 0.06 off the Gamma fit in float32, with a ConvergenceWarning
    safe = xp.where(y > 0, y, 1.0)
    t = u - xp.log(safe)
    core = xp.expm1((2 - p) * t) / (2 - p) - xp.expm1((1 - p) * t) / (1 - p)
    return xp.where(y > 0, safe ** (2 - p) * core, xp.exp((2 - p) * u) / (2 - p))


@_register
class Poisson(Tweedie):
    """Half Poisson deviance ``Σᵢ aᵢ (yᵢ log(yᵢ/μᵢ) - yᵢ + μᵢ)``, ``μ = eᵘ``:
    :class:`Tweedie` with ``p = 1`` (scikit-learn's ``PoissonRegressor``;
    skglm's ``Poisson`` is ``mean(eᵘ - yu)``, the same up to a constant)."""

    y: jax.Array
    weights: jax.Array
    power = 1.0


@_register
class Gamma(Tweedie):
    """Half Gamma deviance ``Σᵢ aᵢ (log(μᵢ/yᵢ) + yᵢ/μᵢ - 1)``, ``μ = eᵘ``:
    :class:`Tweedie` with ``p = 2`` (scikit-learn's ``GammaRegressor``;
    skglm's ``Gamma`` is the same up to a constant)."""

    y: jax.Array
    weights: jax.Array
    power = 2.0


def lipschitz(datafit, design, n_iter: int = 30):
    """Lipschitz constant of ``w ↦ F(X̃w)`` by power iteration (no SVD).

    Returns ``1.01 · c · ||diag(a)^½ X̃||₂²`` (``X̃`` the design as the solver
    sees it, centred or not; ``c`` the datafit's ``curvature``) from
    ``n_iter`` power iterations on ``X̃ᵀ diag(a) X̃`` started at a fixed
    vector; 1.01 is a safety margin for the underestimate power iteration
    gives.
    """
    d = design.n_features
    dtype = design.dtype
    a = datafit.weights
    v0 = jnp.ones((d,), dtype) / jnp.sqrt(jnp.asarray(d, dtype))

    def body(_, v):
        v = design.rmatvec(a * design.matvec(v))
        return v / jnp.maximum(jnp.linalg.norm(v), jnp.finfo(dtype).tiny)

    v = jax.lax.fori_loop(0, n_iter, body, v0)
    Xv = design.matvec(v)
    return 1.01 * datafit.curvature * jnp.sum(a * Xv * Xv)


def duality_gap(datafit, penalty, u, w, v, r=None, colsq=None):
    """Duality gap of ``F(u) + Σⱼ hⱼ(wⱼ)`` at a rescaled dual point.

    With ``r = -∇F(u)`` and ``v = X̃ᵀr`` (passed in, the solvers have it), the
    dual point is ``θ = s·r`` with ``s = penalty.dual_scaling(v)``, the largest
    scaling that makes ``θ`` feasible; ``s = 1`` is tried too (feasible when
    every coordinate has a finite conjugate, e.g. with an L2 part) and the
    smaller gap is returned. Any other ``r`` (with its ``v = X̃ᵀr``) may be
    passed instead, e.g. an extrapolated residual (celer's dual
    extrapolation): the gap then certifies ``(u, w)`` with the dual point built
    from that ``r``.

    Unpenalized coordinates (``penalty.unpenalized()``: weight 0, or a zero
    strength) have no bounded conjugate; each contributes ``vⱼ²/(2 c·colsqⱼ)``
    instead, the decrease one exact coordinate step on it would give at least
    (``colsqⱼ = Σᵢ aᵢ x̃ᵢⱼ²``), so a zero penalty never reads as converged at
    ``w = 0``; under ``positive`` a coordinate at 0 with ``vⱼ < 0`` is optimal
    and contributes ``max(vⱼ, 0)²/(2 c·colsqⱼ)`` (``penalty.subdiff_distance``).
    Without ``colsq`` they are left out (the gap certifies ``w``
    with them held fixed).

    Returns:
      ``(gap, primal)``: the gap and ``P(w) = F(u) + Σⱼ hⱼ(wⱼ)``.
    """
    if r is None:
        r = datafit.neg_grad(u)
    free = penalty.unpenalized(w)
    primal = datafit.value(u) + jnp.sum(penalty.coord_value(w))

    def gap_at(s):
        vs = s * v
        terms = penalty.coord_value(w) + penalty.conjugate(vs) - w * vs
        return datafit.fenchel_young(u, s * r) + jnp.sum(jnp.where(free, 0.0, terms))

    masked = jnp.where(free, 0.0, v)
    gap = jnp.minimum(gap_at(penalty.dual_scaling(masked)), gap_at(1.0))
    if colsq is not None:
        step = jnp.where(colsq > 0, 2 * datafit.curvature * colsq, 1.0)
        # |vⱼ|, or under positivity max(vⱼ, 0) at wⱼ = 0 (the bound holds there)
        dist = penalty.subdiff_distance(w, v)
        gap = gap + jnp.sum(jnp.where(free & (colsq > 0), dist * dist / step, 0.0))
    return jnp.maximum(gap, 0.0), primal
