"""Multinomial (softmax) logistic regression by proximal gradient (FISTA).

Minimizes, over ``W`` (``n_features x K``) and ``b`` (``K``),

    Σᵢ aᵢ (log Σₖ exp(uᵢₖ) - uᵢ,yᵢ) + g(W),    u = XW + b,

with ``a = s/Σs`` (the mean cross-entropy without weights) and ``g`` any
:mod:`jaxreg.penalties` object applied to ``W`` only (``l2``, ``l1``,
``elastic_net``, and ``group_lasso(s, axis=1)``: ``s Σⱼ ||W_j,:||₂``, a
feature dropped for all classes at once). scikit-learn's
``LogisticRegression(C, l1_ratio=ρ)`` with ``K > 2`` classes is ``g =
lam (ρ||W||₁ + (1-ρ)/2 ||W||²)``, ``lam = 1/(C Σs)``.

Why FISTA and not the coordinate descent of :mod:`.cd`: the CD's datafit
contract is scalar per sample (``u`` of shape ``(n,)``), and a softmax
couples the ``K`` scores of a sample; FISTA (with backtracking and adaptive
restart, :func:`~jaxreg.solvers.composite.proximal_gradient`) needs only
the gradient, two dense ``(n, d) x (d, K)`` products per step, and works
with every penalty that has a prox.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg import penalties
from jaxreg._pytree import register_dataclass
from jaxreg.solvers.base import check_X_y, default_dtype
from jaxreg.solvers.composite import proximal_gradient
from jaxreg.solvers.datafits import normalized_weights
from jaxreg.solvers.design import is_sparse

__all__ = ["multinomial_folds_path", "multinomial_penalty", "multinomial_regression"]


@dataclasses.dataclass(frozen=True)
class _FeatureRows:
    """``penalty`` on the first ``n_features`` rows of ``θ = [W; b]``; the
    intercept row is left free."""

    penalty: penalties.Penalty
    n_features: int

    def value(self, theta):
        return self.penalty.value(theta[: self.n_features])

    def prox(self, theta, step=1.0):
        d = self.n_features
        return jnp.concatenate([self.penalty.prox(theta[:d], step), theta[d:]])


_FeatureRows = register_dataclass(
    _FeatureRows, data_fields=["penalty"], meta_fields=["n_features"]
)


def softmax_cross_entropy(theta, X, Y, a):
    """``Σᵢ aᵢ (logsumexp(uᵢ) - ⟨Yᵢ, uᵢ⟩)``, ``u = X θ[:d] + θ[d]`` (no
    intercept row when ``θ`` has ``d`` rows)."""
    d = X.shape[1]
    U = X @ theta[:d]
    if theta.shape[0] > d:
        U = U + theta[d][None, :]
    # -log_softmax at the true class: O(ε·loss) roundoff for well-classified
    # samples, where logsumexp(u) - u_y cancels (FISTA's line search compares
    # objective values to a few ulps of the loss)
    return -jnp.sum(a * jnp.sum(Y * jax.nn.log_softmax(U, axis=1), axis=1))


def _device_data(X, y, n_classes, dtype):
    """``X`` (dense, or BCOO for ``scipy.sparse``) and one-hot ``Y`` on the
    device in ``dtype``; ``ValueError`` for a non-finite dense ``X``."""
    if is_sparse(X):
        from jax.experimental import sparse as jsparse

        Xj = jsparse.BCOO.from_scipy_sparse(X.astype(dtype))
    else:
        Xj = jnp.asarray(np.asarray(X, dtype=dtype))
        if not bool(jnp.all(jnp.isfinite(Xj))):
            raise ValueError("X contains NaN or Inf")
    Y = jax.nn.one_hot(jnp.asarray(np.asarray(y, np.int32)), n_classes, dtype=dtype)
    return Xj, Y


def multinomial_penalty(lam, l1_ratio):
    """scikit-learn's ``lam (ρ||W||₁ + (1-ρ)/2||W||²)`` as a penalty object;
    ``l1_ratio="group"`` gives ``lam Σⱼ ||W_j,:||₂`` (rows = features)."""
    if l1_ratio == "group":
        return penalties.group_lasso(lam, axis=1)
    if l1_ratio == 1:
        return penalties.l1(lam)
    if l1_ratio == 0:
        return penalties.l2(lam)
    return penalties.elastic_net(lam, l1_ratio)


def multinomial_regression(
    X,
    y,
    n_classes,
    penalty,
    *,
    sample_weight=None,
    fit_intercept=True,
    tol=1e-6,
    max_iter=10_000,
    init=None,
):
    """Penalized multinomial logistic regression (see the module docstring).

    Args:
      X: ``(n_samples, n_features)``, dense or ``scipy.sparse``.
      y: class indices in ``[0, n_classes)``.
      n_classes: ``K``.
      penalty: a :mod:`jaxreg.penalties` object on ``W`` (e.g. from
        :func:`multinomial_penalty`).
      sample_weight: ``>= 0`` (``None``: all 1), normalized to sum to 1.
      fit_intercept: an unpenalized intercept per class.
      tol: prox-gradient norm relative to its first value.
      max_iter: FISTA steps.
      init: ``(coef (K, d), intercept (K,))`` warm start, or ``None``.

    Returns:
      ``(theta, n_iter)``: ``theta`` a numpy ``(d + 1, K)`` (``(d, K)``
      without intercept) array ``[Wᵀ... ; b]``: ``coef_ = theta[:d].T``.
    """
    X, y = check_X_y(X, y)
    n, d = X.shape
    dtype = default_dtype(X)
    a = jnp.asarray(normalized_weights(sample_weight, n, dtype))
    Xj, Y = _device_data(X, y, n_classes, dtype)
    rows = d + 1 if fit_intercept else d
    theta0 = np.zeros((rows, n_classes), dtype)
    if init is not None:
        coef, intercept = init
        theta0[:d] = np.asarray(coef).T
        if fit_intercept:
            theta0[d] = intercept
    pen = jax.tree.map(lambda leaf: jnp.asarray(leaf, dtype), penalty)
    res = proximal_gradient(
        softmax_cross_entropy,
        jnp.asarray(theta0),
        _FeatureRows(pen, d),
        Xj,
        Y,
        a,
        tol=tol,
        max_iter=max_iter,
        # the estimators ask for tol/100 (float32: near the measure's roundoff
        # floor on unscaled data, where a grown step keeps the iterates
        # hopping between neighbouring floats); the monotone step settles
        step_growth=False,
    )
    return _centred_intercepts(np.asarray(res.params), d), int(res.n_iter)


def _centred_intercepts(theta, d):
    """``theta`` with its intercept row (``theta[..., d, :]``, if any) shifted
    to sum 0 over the classes. The softmax is invariant to that shift and the
    gradient has no component along it, but in float32 FISTA's momentum
    drifts along it over many steps (by ~1e-3 after 10⁴ steps); scikit-learn's
    solvers start at 0 and stay at sum 0."""
    if theta.shape[-2] > d:
        theta = theta.copy()
        theta[..., d, :] -= theta[..., d, :].mean(axis=-1, keepdims=True)
    return theta


@functools.partial(jax.jit, static_argnames=("max_iter",))
def _folds_at(theta0, lams, l1_ratio, A, Xj, Y, tol, max_iter):
    """One strength per fold, the folds vmapped: ``(theta, n_iter,
    converged)`` each with a leading fold axis."""
    d = Xj.shape[1]

    def stationarity(theta, lam, a):
        """``||G_t(θ)||`` as ``t -> 0``: the smallest-norm subgradient of the
        objective (the intercept row unpenalized)."""
        g = jax.grad(softmax_cross_entropy)(theta, Xj, Y, a)
        W = theta[:d]
        gW = g[:d] + lam * (1 - l1_ratio) * W
        l1 = lam * l1_ratio
        sub = jnp.where(
            W != 0,
            gW + l1 * jnp.sign(W),
            jnp.sign(gW) * jnp.maximum(jnp.abs(gW) - l1, 0.0),
        )
        return jnp.sqrt(jnp.sum(sub * sub) + jnp.sum(g[d:] * g[d:]))

    def one(theta0, lam, a):
        pen = _FeatureRows(penalties.ElasticNet(lam, l1_ratio), d)
        # FISTA's tol is relative to its first step: from a warm start that
        # is already small, so rescale it to the cold start's reference (the
        # accuracy of multinomial_regression from 0, not tighter)
        zero = jnp.zeros_like(theta0)
        cold = stationarity(zero, lam, a)
        warm = stationarity(theta0, lam, a)
        # never below the measure's roundoff: when 0 is optimal (lam >=
        # lam_max, balanced classes) cold itself is roundoff
        g0 = jax.grad(softmax_cross_entropy)(zero, Xj, Y, a)
        eps = jnp.finfo(theta0.dtype).eps
        target = jnp.maximum(tol * cold, eps * jnp.sqrt(jnp.sum(g0 * g0)))
        rel = target / jnp.maximum(warm, jnp.finfo(theta0.dtype).tiny)
        res = proximal_gradient(
            softmax_cross_entropy,
            theta0,
            pen,
            Xj,
            Y,
            a,
            tol=rel,
            max_iter=max_iter,
            step_growth=False,  # tol/100, as in multinomial_regression
        )
        return res.params, res.n_iter, res.converged

    return jax.vmap(one)(theta0, lams, A)


def multinomial_folds_path(
    X,
    y,
    n_classes,
    lambdas,
    l1_ratio,
    fold_weights,
    *,
    fit_intercept=True,
    tol=1e-6,
    max_iter=10_000,
):
    """Multinomial fits of several folds along a grid of strengths.

    Fold ``f`` minimizes the module's objective with ``a = s_f/Σs_f`` (its
    held-out rows have weight 0, so every fold has the same shapes) and ``g =
    λ (ρ||W||₁ + (1-ρ)/2 ||W||²)``. The folds are solved at once (FISTA
    vmapped over folds, one compiled program for every fold, strength and
    ``ρ``); each strength starts from the fold's solution at the previous
    one (warm start along the grid).

    Args:
      X, y, n_classes: as in :func:`multinomial_regression`.
      lambdas: ``(L, F)``, the strengths of each fold, best decreasing along
        ``L`` (the warm start goes from a sparser, smoother solution to the
        next).
      l1_ratio: ``ρ`` in ``[0, 1]``.
      fold_weights: ``(F, n_samples)`` weights ``>= 0``, each with a positive
        sum.
      fit_intercept, tol, max_iter: as in :func:`multinomial_regression`.

    Returns:
      ``(theta, n_iter, converged)``: numpy ``(L, F, d + 1, K)`` (``(L, F,
      d, K)`` without intercept), ``(L, F)`` and ``(L, F)``.
    """
    X, y = check_X_y(X, y)
    n, d = X.shape
    dtype = default_dtype(X)
    lambdas = np.asarray(lambdas, np.float64)
    W = np.asarray(fold_weights, np.float64)
    if lambdas.ndim != 2 or W.shape != (lambdas.shape[1], n):
        raise ValueError(
            f"lambdas (L, F) and fold_weights (F, n_samples={n}) disagree: got "
            f"{lambdas.shape} and {W.shape}"
        )
    A = jnp.asarray(np.stack([normalized_weights(w, n, dtype) for w in W]))
    Xj, Y = _device_data(X, y, n_classes, dtype)
    rows = d + 1 if fit_intercept else d
    theta = jnp.zeros((W.shape[0], rows, n_classes), dtype)
    rho = jnp.asarray(l1_ratio, dtype)
    tol = jnp.asarray(tol, dtype)
    out, iters, conv = [], [], []
    for lams in lambdas:
        theta, n_iter, ok = _folds_at(
            theta, jnp.asarray(lams, dtype), rho, A, Xj, Y, tol, max_iter
        )
        out.append(theta)
        iters.append(n_iter)
        conv.append(ok)
    return (
        _centred_intercepts(np.asarray(jnp.stack(out)), d),
        np.asarray(jnp.stack(iters)),
        np.asarray(jnp.stack(conv)),
    )
