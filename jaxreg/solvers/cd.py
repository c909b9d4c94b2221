"""Working-set coordinate descent with gap-safe screening and prox-Newton.

Solves, for any datafit ``F`` (:mod:`jaxreg.solvers.datafits`), separable
penalty ``h`` (:class:`jaxreg.penalties.SeparablePenalty`) and design ``X``
(:mod:`jaxreg.solvers.design`),

    P(w, b) = F(Xw + b) + Σⱼ hⱼ(wⱼ),

which covers the Lasso, the elastic net, ridge, weighted / non-negative
variants and L1 / L2 / elastic-net logistic regression. It only calls the
three contracts' methods. The intercept ``b`` is never penalized: for a
datafit fitted by centring (least squares) it is eliminated, as scikit-learn
does; otherwise it is an extra, always-active coordinate.

The algorithm is the one that makes celer and skglm fast, compiled end to end:

1. **Outer loop** (``lax.while_loop``): compute ``v = Xᵀ(-∇F(Xw + b))``, the
   duality gap at the rescaled dual point (:func:`~jaxreg.solvers.datafits.
   duality_gap`; for a non-convex penalty the stationarity measure
   :func:`optimality_gap`) and stop when ``gap <= tol · P(0)``; for a datafit
   whose Hessian is not constant (logistic), only after one more prox-Newton
   step once that holds (or at ``gap <= tol/100 · P(0)``): a gap ``g``
   leaves an ``O(sqrt(g))`` coefficient error that the quadratically
   convergent step mostly removes.
2. **Gap-safe screening and ranking**: with ``mⱼ = penalty.zero_margin(vⱼ)``
   (``l1ⱼ - |vⱼ|`` for the elastic net) and ``||xⱼ||_a² = colsqⱼ``, a feature
   with ``mⱼ / ||xⱼ||_a > sqrt(2·gap / c)`` is provably zero at the optimum
   of a convex problem (Fercoq, Gramfort & Salmon, 2015) and never enters the
   working set; the others are ranked by ``-mⱼ / ||xⱼ||_a`` (celer's score),
   nonzero coefficients first. The top ``K`` form the working set.
3. **Inner prox-Newton loop on the working set**: cyclic coordinate
   descent on the quadratic model ``½ δᵀHδ``, ``H = X_Wᵀ diag(∇²F) X_W``
   (each coordinate a ``penalty.coord_prox`` step). The design builds the
   model (``design.ws_block`` / ``design.ws_model``): a dense design gathers
   the ``K`` columns once and forms ``H`` with one matrix product, so a
   coordinate step costs ``O(K)`` instead of ``O(n)``
   (:class:`~jaxreg.solvers.design.GramModel`); a sparse design with a large
   working set keeps the residual ``X_Wδ`` instead, so a step touches only
   its column's nonzeros and an epoch costs ``nnz(X_W)``, never ``K²`` or
   ``K·n`` (:class:`~jaxreg.solvers.design.ResidualModel`, curvature weights
   and a free intercept included). For the
   quadratic datafit the model is exact (no line search, ``H`` built once per
   working set); for the logistic one a backtracking line search on the true
   objective follows each model solve (an IRLS / prox-Newton step, like
   skglm's ``ProxNewton`` and glmnet). ``datafit.constant_hessian`` selects
   the first form. Every 6 epochs the last iterates are combined by
   Anderson extrapolation (skglm); after 60 epochs (an ill-conditioned
   working set: correlated features, where CD alone needs thousands of
   epochs) a model that forms ``H`` also tries a Newton step on the support
   whose signs held over those 6 epochs and their extrapolation, by
   conjugate gradients, stopped where the first coordinate reaches 0 and
   kept when ``q`` decreases (diabetes with degree-3 features, 442 x 285:
   LassoCV 31 s -> 5 s; with the inner target below, 4 s). For the quadratic
   datafit, the working-set gap is checked at a dual point extrapolated from
   the residuals (celer). The inner loop stops when that gap is ``<= 0.3 ×``
   the outer gap (celer's rule); for least squares, at half the final
   tolerance during its first epochs, as many as cost one pass over ``X``
   (:func:`tight_epochs`, from ``design.ws_epoch_cost`` /
   ``design.pass_cost`` and the latency of a loop trip): on a small working
   set of a large ``X`` (1000 x 5000) the fit then ends in two outer
   iterations, while on a correlated design whose epochs cost more than a
   pass (diabetes, degree-3 features) no epoch is spent polishing a working
   set that is about to change.

``K`` is a power of two (a *bucket*), so only a handful of shapes ever
compile; the compiled executables live in jax's module-level jit cache and are
reused across calls, estimators, ``clone()`` and CV folds. When the support
outgrows ``7K/8`` the compiled loop exits and the host restarts it, warm, with
the next bucket: one host round trip per bucket, never per iteration.

References:
  Massias, Gramfort & Salmon, "Celer: a fast solver for the Lasso with dual
  extrapolation", ICML 2018. Bertrand et al., "Beyond L1: faster and better
  sparse models with skglm", NeurIPS 2022. Bertrand & Massias, "Anderson
  acceleration of coordinate descent", AISTATS 2021. Fercoq, Gramfort &
  Salmon, "Mind the duality gap: safer rules for the Lasso", ICML 2015.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxreg._programs import stored_jit
from jaxreg.solvers.datafits import duality_gap

RUNNING, CONVERGED, GROW, BUDGET = 0, 1, 2, 3
_INNER_RATIO = 0.3  # inner (working-set) gap target relative to the outer gap
MODEL_RATIO = 0.1  # model CD stops when its largest update is <= this x the KKT
UNROLL = 4  # coordinates per loop trip (1.3-1.8x faster epochs on CPU)
ANDERSON = 5  # extrapolate from the last ANDERSON + 1 iterates
NEWTON_AFTER = 60  # model epochs before a Newton step on the support is tried
STEP_COST = 2048  # a coordinate step's loop-trip latency, in multiply-adds (CPU)


class CDState(NamedTuple):
    """Carry of the compiled outer loop (all device arrays)."""

    w: jax.Array  # (d,)
    b: jax.Array  # () intercept when it is a free coordinate
    u: jax.Array  # (n,) linear predictor X_c w + b
    gap: jax.Array
    primal: jax.Array
    n_outer: jax.Array  # int32
    n_epochs: jax.Array  # int32
    status: jax.Array  # int32: RUNNING / CONVERGED / GROW / BUDGET
    v: jax.Array  # (d,) Xᵀ(-∇F(u)) at the current u, when v_fresh
    v_fresh: jax.Array  # bool: v matches u (a path's next λ reuses it)


class WSCache(NamedTuple):
    """Working set of a constant-Hessian datafit kept across outer iterations
    and path steps, with its centred columns and Gram matrix ``X_Wᵀ A X_W``
    (``A = diag(a)``, the Hessian: ``X_Wᵀ X_W / n`` without weights).

    Formed once per bucket (:func:`prime_cache`). Between two outer
    iterations (or two ``λ`` of a path) the working set mostly stays: at
    most ``R`` of its lowest-ranked features are swapped for better-ranked
    outsiders, and only their ``R`` Gram rows are recomputed (``O(R·K·n)``
    instead of ``O(K²·n)``; nothing when none is swapped).
    """

    ws: jax.Array  # (K,) int32 feature indices
    cols: jax.Array  # (K, n) centred columns
    gram: jax.Array  # (K, K)


def _uses_cache(datafit, design, K, fit_intercept):
    """The working set's Gram matrix is cached across outer iterations: a
    constant Hessian, a Gram model, and no free intercept row."""
    return datafit.constant_hessian and design.ws_gram(K) and not fit_intercept


def prime_cache(K, fit_intercept, design, datafit, penalty, st):
    """The state with its gradient ``v`` fresh and the cache of bucket ``K``
    (empty unless :func:`_uses_cache`): the top ``K`` features at ``st``
    and their Gram matrix (traceable; once per bucket, before its loops).

    The cache is formed here rather than on the first outer iteration, so
    that the loops never carry it through a ``lax.cond`` branch that returns
    it unchanged: XLA copies a buffer there (``K·n`` floats per outer
    iteration)."""
    n, dtype = design.n_samples, design.dtype
    if not _uses_cache(datafit, design, K, fit_intercept):
        empty = WSCache(
            jnp.zeros((0,), jnp.int32),
            jnp.zeros((0, n), dtype),
            jnp.zeros((0, 0), dtype),
        )
        return st, empty
    v = _fresh_gradient(design, datafit, st)
    gap = optimality_gap(datafit, penalty, st.u, st.w, v, design.colsq)[0]
    ws = _top_k(_priority(design, datafit, penalty, st.w, v, gap), K)[1]
    cols = design.columns(ws)
    gram = (cols * datafit.weights[None, :]) @ cols.T
    return st._replace(v=v, v_fresh=jnp.ones((), bool)), WSCache(ws, cols, gram)


def _swap_rows(K):
    return min(K, 32)


def _top_k(priority, k):
    """``lax.top_k`` on a float32 copy: ranking needs no more precision, and
    XLA:CPU has a fast float32 kernel (5000 float64 entries: 0.8 ms, as much
    as the full gradient; float32: 0.02 ms). Finite entries are clipped so
    that none overflows into a tie with the ``±inf`` of forced or screened
    features."""
    p32 = priority.astype(jnp.float32)
    big = jnp.finfo(jnp.float32).max  # finite values stay below +-inf
    return lax.top_k(jnp.where(jnp.isinf(priority), p32, jnp.clip(p32, -big, big)), k)


def _select_cached(design, a, priority, cache):
    """``<= R`` swaps into the cached working set."""
    R = _swap_rows(cache.ws.shape[0])
    c = cache
    in_ws = jnp.zeros(priority.shape, bool).at[c.ws].set(True)
    cand_p, cand = _top_k(jnp.where(in_ws, -jnp.inf, priority), R)
    neg_slot_p, slot = _top_k(-priority[c.ws], R)
    swap = cand_p > -neg_slot_p  # best outsider vs worst insider, pairwise
    new_idx = jnp.where(swap, cand, c.ws[slot])
    new_cols = design.columns(new_idx)
    cols = c.cols.at[slot].set(new_cols)

    def new_rows(_):
        return (new_cols * a[None, :]) @ cols.T  # (R, K)

    # a stable working set (along a path; one holding every feature) costs
    # no Gram rows; only (R, K) rows pass through the cond, and the cached
    # blocks are updated in place
    rows = lax.cond(jnp.any(swap), new_rows, lambda _: c.gram[slot], None)
    gram = c.gram.at[slot, :].set(rows).at[:, slot].set(rows.T)
    return WSCache(c.ws.at[slot].set(new_idx), cols, gram)


def init_state(design, w, b):
    """State for warm start ``(w, b)`` on a prepared design (``w=None``: 0)."""
    d, n = design.n_features, design.n_samples
    dtype = design.dtype
    b = jnp.asarray(b, dtype)
    if w is None:  # a cold start needs no product with X
        w, u = jnp.zeros((d,), dtype), jnp.full((n,), b)
    else:
        u = design.matvec(w) + b
    z = jnp.zeros((), dtype)
    i = jnp.zeros((), jnp.int32)
    v = jnp.zeros_like(w)
    return CDState(w, b, u, z, z, i, i, i, v, jnp.zeros((), bool))


def _anderson_weights(C):
    """Weights ``c`` (summing to 1) minimizing ``cᵀCc``: ``c ∝ C⁻¹1``, for the
    Gram matrix ``C`` (``M x M``) of successive differences of iterates.

    ``M`` is tiny, so the system is solved by Gauss-Jordan elimination in a
    ``fori_loop`` (no ``linalg`` call, which some backends lack); a singular
    system gives non-finite weights, which the caller rejects.
    """
    M = C.shape[0]
    C = C + 1e-12 * jnp.trace(C) * jnp.eye(M, dtype=C.dtype)
    A = jnp.concatenate([C, jnp.ones((M, 1), C.dtype)], axis=1)

    def pivot(i, A):
        row = A[i] / A[i, i]
        A = A - jnp.outer(A[:, i], row)
        return A.at[i].set(row)

    z = lax.fori_loop(0, M, pivot, A)[:, M]
    return z / jnp.sum(z)


def sweep(step, carry, active, unroll):
    """``carry = step(j, carry)`` for every ``j`` where ``active`` (a bool
    vector over coordinates or blocks), in order, in loop trips of
    ``unroll`` steps: the number of trips follows the active count, so an
    inactive coordinate costs nothing. The last trip is padded with inactive
    coordinates, or with the last one again: any coordinate step is a CD
    step, and a repeated one changes nothing. Returns the carry."""
    k = active.shape[0]
    pad = -k % unroll
    rank = jnp.where(active, jnp.cumsum(active), k + jnp.cumsum(~active)) - 1
    order = jnp.full((k + pad,), k - 1, jnp.int32)
    order = order.at[rank].set(jnp.arange(k, dtype=jnp.int32))

    def trip(i, carry):
        for u in range(unroll):
            carry = step(order[i * unroll + u], carry)
        return carry

    return lax.fori_loop(0, (jnp.sum(active) + unroll - 1) // unroll, trip, carry)


def after_sweep(active, change, eps, block_end):
    """``(change, full)`` after a :func:`sweep` over ``active``: the largest
    change as the stopping test sees it (``inf`` after a partial sweep, so
    that only a full sweep may stop the loop) and whether the next sweep is
    full (at the start of each block, and after a partial sweep that met
    ``eps``: the coordinates it skipped must be checked)."""
    swept = jnp.all(active)
    full = block_end | ((change <= eps) & ~swept)
    return jnp.where(swept, change, jnp.inf).astype(change.dtype), full


def _model_cd(model, g, x, penalty, eps, max_epochs, certify=None, tol=None):
    """Cyclic CD on ``q(δ) = -gᵀδ + ½ δᵀHδ + Σⱼ hⱼ(xⱼ + δⱼ)`` from ``δ = 0``,
    with Anderson extrapolation and optional gap checks.

    ``model`` is the design's working-set model (``H`` and how ``Hδ`` is
    kept: :class:`~jaxreg.solvers.design.GramModel` carries ``Hδ`` itself,
    :class:`~jaxreg.solvers.design.ResidualModel` the residual ``X̃_Wδ``);
    the loop carries ``model.start(x)``.
    ``penalty`` covers the first ``len(penalty's coordinates)`` entries of
    ``x``: with ``K`` coordinates of ``x`` and a penalty taken on ``K - 1``
    of them (``penalty.take``), the last coordinate is a free intercept. Each
    coordinate step is ``xⱼ ← prox_{hⱼ/Hⱼⱼ}(zⱼ / Hⱼⱼ)`` with ``zⱼ = Hⱼⱼ xⱼ +
    gⱼ - (Hδ)ⱼ`` (``soft(zⱼ, l1ⱼ)/(Hⱼⱼ + l2ⱼ)`` for the elastic net).
    A penalized coordinate with ``Hⱼⱼ = 0`` goes to 0, the minimizer of its
    penalty: its gradient is then roundoff, and it used to stay frozen (an
    L1 logistic fit on near-separable sparse counts, whose saturated rows'
    curvature underflows, kept such weights and ran its whole budget:
    121 s instead of 0.26 s).

    An epoch sweeps every coordinate only at the start of a block (below)
    and after a partial epoch that met ``eps``; the others sweep the
    *active* ones (nonzero, free, or moved in the last epoch), as glmnet
    iterates on its active set: a zero coordinate that stayed zero costs
    nothing until the next full sweep checks it (diabetes with degree-3
    features, λ_max/100: 26 -> 20 ms). Only a full sweep may stop the loop
    on ``eps``.

    Every ``ANDERSON + 1`` epochs (a *block*) the block's iterates are
    combined into an extrapolated point (skglm's ``AndersonCD``, Bertrand &
    Massias 2021), kept only if it lowers ``q``. The whole carries are
    combined (they are linear in ``δ``), so the test costs one
    ``model.quad``, not a ``K x K`` product. After ``NEWTON_AFTER`` epochs a
    model with ``model.newton`` also tries a Newton step on the support
    (:func:`try_newton`).

    When ``q`` is the objective itself (least squares), ``certify(carry,
    carry_d)`` returns the duality gap at ``x`` with the dual point built
    from ``x_d``: the block's iterates extrapolated in the metric of ``H``,
    which is extrapolation of the residuals ``r = r₀ - X_W δ`` (celer's dual
    extrapolation, Massias et al. 2018). Its dual point converges much
    faster than the plain residual's, so the gap certifies ``tol`` many
    epochs earlier on ill-conditioned working sets.

    Stops after the first full epoch whose largest ``Hⱼⱼ |Δxⱼ|`` is ``<= eps``, or
    the first block whose gap is ``<= tol(ep)`` (``tol``: the target after
    ``ep`` epochs, see :class:`InnerTarget`). Returns the new point, its carry,
    the number of epochs run and the gap at the returned point (``inf`` when
    unknown).
    """
    k = x.shape[0]
    m1 = ANDERSON + 1
    hdiag = model.hdiag
    x0 = x
    inf = jnp.asarray(jnp.inf, x.dtype)
    n_pen = _n_coords(penalty, k)
    tmap = jax.tree.map

    def coord(j, carry):
        mc, change = carry
        old, hd = model.coord_read(mc, j)
        h = jnp.where(hdiag[j] > 0, hdiag[j], 1.0)
        z = (hdiag[j] * old + g[j] - hd) / h
        pen_j = penalty.take(jnp.minimum(j, n_pen - 1))
        new = pen_j.coord_prox(z, 1.0 / h)
        # no curvature (a constant column; rows whose σ(u)σ(-u) underflows,
        # margins past 88 in float32): the gradient there is roundoff, and
        # the model along j is the penalty alone, minimal at 0
        flat = jnp.where(pen_j.unpenalized(old), old, jnp.zeros_like(old))
        new = jnp.where(hdiag[j] > 0, new, flat)
        if n_pen < k:  # the free intercept, last
            new = jnp.where(j >= n_pen, jnp.where(hdiag[j] > 0, z, old), new)
        delta = new - old
        return (
            model.coord_set(mc, j, new, delta),
            jnp.maximum(change, hdiag[j] * jnp.abs(delta)),
        )

    def q(mc):
        x = model.coefs(mc)
        delta = x - x0
        return model_value(
            0.5 * model.quad(mc, delta),
            -jnp.dot(delta, g),
            jnp.sum(penalty.coord_value(x[:n_pen])),
        )

    def combine(c, hist):
        return tmap(lambda a: c @ a[1:], hist)

    def pen_value(x):
        return jnp.sum(penalty.coord_value(x[:n_pen]))

    # smooth at 0: a free intercept, and unpenalized features without a sign
    # constraint (no face to stop at, no sign to hold)
    smooth = penalty.unpenalized(jnp.zeros((n_pen,), x.dtype))
    if penalty.positive:
        smooth = jnp.zeros_like(smooth)
    free = jnp.concatenate([smooth, jnp.ones((k - n_pen,), bool)])

    def signs_of(x):
        return jnp.where(free, 0, jnp.sign(x)).astype(jnp.int8)

    def end_of_block(mc, hist, tried, ep):
        dmc = tmap(lambda a: jnp.diff(a, axis=0), hist)
        dx = model.coefs(dmc)
        c = _anderson_weights(dx @ dx.T)
        mc_acc = combine(c, hist)
        better = lower(q(mc_acc), q(mc))  # False when c is not finite
        mc = tmap(lambda u, v: jnp.where(better, u, v), mc_acc, mc)
        if model.newton is not None:
            x = model.coefs(mc)
            signs = signs_of(x)
            stable = jnp.all(signs_of(model.coefs(hist)) == signs[None])
            support = ((x != 0) | free) & (model.hdiag > 0)
            mc, tried = try_newton(
                model,
                mc,
                signs,
                stable,
                support,
                tried,
                ep,
                g,
                pen_value,
                q,
                _to_sign_face(free),
            )
        if certify is None:
            return mc, inf, tried
        c = _anderson_weights(model.metric(dmc))
        gap = certify(mc, combine(c, hist))
        return mc, jnp.where(jnp.isfinite(gap), gap, inf), tried

    def epoch(carry):
        mc, ep, _, _, hist, tried, full, moved = carry
        zero = jnp.zeros((), x.dtype)
        x_old = model.coefs(mc)
        active = full | (x_old != 0) | free | moved
        mc, change = sweep(coord, (mc, zero), active, UNROLL)
        moved = model.coefs(mc) != x_old
        slot = ep % m1
        hist = tmap(lambda h, a: h.at[slot].set(a), hist, mc)
        mc, gap, tried = lax.cond(
            slot == m1 - 1,
            lambda: end_of_block(mc, hist, tried, ep),
            lambda: (mc, inf, tried),
        )
        change, full = after_sweep(active, change, eps, slot == m1 - 1)
        return mc, ep + 1, change, gap, hist, tried, full, moved

    def cond(carry):
        _, ep, change, gap, _, _, _, _ = carry
        done = change <= eps
        if tol is not None:
            done = done | (gap <= tol(ep))
        return ~done & (ep < max_epochs)

    mc0 = model.start(x)
    hist = tmap(lambda a: jnp.zeros((m1,) + a.shape, a.dtype), mc0)
    # the signs of the last failed try; 2 (no sign) before the first, so that
    # an all-free model (every coordinate unpenalized: pattern 0) tries too
    tried = jnp.full(x.shape, 2, jnp.int8)
    true, none = jnp.ones((), bool), jnp.zeros(x.shape, bool)
    carry = (mc0, 0, inf, inf, hist, tried, true, none)
    mc, ep, _, gap, _, _, _, _ = lax.while_loop(cond, epoch, carry)
    return model.coefs(mc), mc, ep, gap


def model_value(quadratic, linear, penalty):
    """``(value, scale)`` of the model ``½δᵀHδ - gᵀδ + h(x)`` from its three
    terms, with the scale of the roundoff that :func:`lower` allows for:
    that of the two terms in ``δ``, which a long step makes large and nearly
    cancelling (the penalty's value is of the same size at both points
    compared, and its roundoff did not mislead: a 1e-15 path needs those
    comparisons)."""
    return quadratic + linear + penalty, jnp.abs(quadratic) + jnp.abs(linear)


def lower(new, old):
    """Whether the model value ``new`` (a :func:`model_value` pair) is below
    ``old`` by more than the roundoff of either (``16 ε`` of its scale). A
    Newton step along a near-null direction of the model's Hessian makes
    ``½δᵀHδ`` and ``gᵀδ`` large and nearly cancelling: a "decrease" inside
    their roundoff was accepted, and a point far from the optimum with it (a
    multi-task Lasso path at ``tol=1e-8`` in float32: coefficients off by
    8.7, a gap of 741)."""
    eps = jnp.finfo(jnp.result_type(new[0])).eps
    return new[0] < old[0] - 16 * eps * jnp.maximum(new[1], old[1])


def try_newton(
    model, mc, signs, stable, support, tried, ep, g, pen_value, q, to_face=None
):
    """``model.newton`` on ``support``, tried only after ``NEWTON_AFTER``
    epochs (a well-conditioned model has converged by then, and never pays
    the conjugate gradients) when the sign pattern ``signs`` (int8 per
    coordinate) held over the last block (``stable``) and differs from that
    of the last failed try (``tried``), on a nonempty ``support``.
    ``to_face(x, step)``: the point reached along the step (default ``x +
    step``). Of the points ``x + 2⁻ʲ(x_new - x)``, ``j < 10``, the one with
    the lowest ``q(carry)`` (a :func:`model_value` pair) is kept if
    :func:`lower` than ``q`` at ``x`` (the model's
    carry is linear in ``x``, so the ten cost one product with ``H``).
    Returns ``(mc, tried)`` (shared by CD and block CD)."""
    new_pattern = jnp.any(signs != tried)
    attempt = (ep >= NEWTON_AFTER) & stable & new_pattern & jnp.any(support)
    tmap = jax.tree.map

    def newton(mc):
        x = model.coefs(mc)
        # CG steps (each a k x k product): no more than the CD epochs so far,
        # nor than |S| (exact arithmetic's count) plus a few for roundoff
        max_cg = jnp.minimum(ep, jnp.sum(support) + 8)
        step = model.newton(mc, g, pen_value, support, max_cg)
        new_x = x + step if to_face is None else to_face(x, step)
        full = model.move(mc, new_x - x)

        def at(t):
            return tmap(lambda a, b: a + t * (b - a), mc, full)

        ts = 0.5 ** jnp.arange(10, dtype=x.dtype)
        qs, scales = jax.vmap(lambda t: q(at(t)))(ts)
        best = jnp.argmin(jnp.where(jnp.isfinite(qs), qs, jnp.inf))
        better = lower((qs[best], scales[best]), q(mc))  # False: none finite
        mc = tmap(lambda u, v: jnp.where(better, u, v), at(ts[best]), mc)
        return mc, jnp.where(better, tried, signs)

    return lax.cond(attempt, newton, lambda mc: (mc, tried), mc)


def _to_sign_face(free):
    """Stops a step on the face of the current signs: at the first coordinate
    (not ``free``) to reach 0 (``q`` is convex along the step up to there;
    those reaching 0 leave the support, and CD takes over). No coordinate
    changes sign, roundoff included."""

    def to_face(x, step):
        crosses = ~free & (x * step < 0)
        frac = jnp.where(crosses, -x / jnp.where(crosses, step, 1.0), 1.0)
        t = jnp.minimum(1.0, jnp.min(frac))
        new = x + t * step
        return jnp.where(crosses & ((frac <= t) | (new * x < 0)), 0.0, new)

    return to_face


def _n_coords(penalty, k):
    """Number of penalized coordinates: the length of the penalty's weights,
    or all ``k`` when it has none (then there is no free intercept)."""
    return k if penalty.weights is None else jnp.shape(penalty.weights)[0]


def optimality_gap(datafit, penalty, u, w, v, colsq, r=None):
    """The stopping measure: the duality gap for a convex penalty and a
    datafit with a conjugate (``has_dual``); otherwise (a non-convex
    penalty, or the Tweedie family) ``Σⱼ distⱼ² / (2c·colsqⱼ)`` with
    ``distⱼ = penalty.subdiff_distance(wⱼ, vⱼ)`` and ``c =
    datafit.curvature_at(u)`` (about the decrease one coordinate step would
    give, 0 exactly at a stationary point). Returns ``(gap, P(w))``."""
    if penalty.convex and datafit.has_dual:
        return duality_gap(datafit, penalty, u, w, v, r, colsq)
    primal = datafit.value(u) + jnp.sum(penalty.coord_value(w))
    dist = penalty.subdiff_distance(w, v)
    step = jnp.where(colsq > 0, 2 * datafit.curvature_at(u) * colsq, 1.0)
    # a stationary coordinate counts 0 even where the curvature underflows
    # (an all-zero Poisson y: μ = e⁻⁸⁷ gave 0/0 = nan and a false warning);
    # a NaN distance still reads NaN (`!=`, not `>`)
    return jnp.sum(
        jnp.where((colsq > 0) & (dist != 0), dist * dist / step, 0.0)
    ), primal


def _priority(design, datafit, penalty, w, v, gap):
    """Working-set ranking: ``inf`` for the nonzero coefficients, ``-inf``
    for the features screened out at ``gap`` (gap-safe) and ``-mⱼ/||xⱼ||``
    (celer's score) for the others."""
    radius = jnp.sqrt(2.0 * gap / datafit.curvature)
    norm = jnp.sqrt(design.colsq)
    dist = penalty.zero_margin(v) / jnp.where(norm > 0, norm, 1.0)
    screened = norm == 0
    if penalty.convex and datafit.has_dual:
        screened = screened | (dist > radius)
    priority = jnp.where(screened, -jnp.inf, -dist)
    return jnp.where(w != 0, jnp.inf, priority)


def _fresh_gradient(design, datafit, st):
    """``v = Xᵀ(-∇F(u))`` at the state, or its stored copy when fresh."""

    def gradient(u):
        return design.rmatvec(datafit.neg_grad(u))

    return lax.cond(st.v_fresh, lambda _: st.v, gradient, st.u)


def _working_set_step(
    K, fit_intercept, design, datafit, penalty, st, cache, v, tol_in, max_epochs
):
    """Screens, picks ``K`` features, runs prox-Newton CD on them."""
    dtype = design.dtype
    a = datafit.weights
    priority = _priority(design, datafit, penalty, st.w, v, st.gap)
    constant = datafit.constant_hessian
    if _uses_cache(datafit, design, K, fit_intercept):
        cache = _select_cached(design, a, priority, cache)
        ws = cache.ws
        model0 = design.ws_model(cache.cols, a, cache.gram)
    else:
        ws = _top_k(priority, K)[1]
        block = design.ws_block(ws, fit_intercept)
        model0 = design.ws_model(block, a) if constant else None
    pen = _with_weights(penalty, design.n_features).take(ws)
    colsq_w = design.colsq[ws]
    xw, gw = st.w[ws], v[ws]
    if fit_intercept:
        r0 = datafit.neg_grad(st.u)
        xw = jnp.concatenate([xw, st.b[None]])
        gw = jnp.concatenate([gw, jnp.sum(r0)[None]])

    def penalty_value(x):
        return jnp.sum(pen.coord_value(x[:K]))

    def objective(u, x):
        return datafit.value(u) + penalty_value(x)

    def ws_gap(u, x, g, r=None):
        return optimality_gap(datafit, pen, u, x[:K], g[:K], colsq_w, r)[0]

    def newton_cond(c):
        _, _, _, ws_gap, k, ep, moved = c
        target = tol_in.at(ep - st.n_epochs)
        return (ws_gap > target) & (ep < max_epochs) & (k < 10_000) & moved

    def newton_step(c):
        x0, u0, g, _, k, ep, _ = c
        x, u = x0, u0
        elapsed = ep - st.n_epochs
        if constant:
            model = model0
        else:
            model = design.ws_model(block, datafit.hessian_diag(u))
        kkt = jnp.max(pen.subdiff_distance(x[:K], g[:K]))
        if fit_intercept:
            kkt = jnp.maximum(kkt, jnp.abs(g[K]))
        eps = MODEL_RATIO * kkt
        if constant and penalty.convex:

            def certify(mc, mc_d):
                x_new, x_d = model.coefs(mc), model.coefs(mc_d)
                u_new = u + model.predictor(mc, x_new - x)
                r_d = a * (datafit.y - u - model.predictor(mc_d, x_d - x))
                return ws_gap(u_new, x_new, g - model.hdelta(mc_d), r_d)

            x_new, acc, n_ep, cd_gap = _model_cd(
                model, g, x, pen, eps, 1000, certify, lambda e: tol_in.at(elapsed + e)
            )
        else:
            x_new, acc, n_ep, cd_gap = _model_cd(model, g, x, pen, eps, 1000)
        du = model.predictor(acc, x_new - x)
        x, u = prox_newton_update(
            objective, penalty_value, constant, u, x, x_new, du, g
        )
        g = model.rmatvec(datafit.neg_grad(u))
        gap = jnp.minimum(ws_gap(u, x, g), cd_gap)  # both certify the new x
        return x, u, g, gap, k + 1, ep + n_ep, step_moved(x0, x, u0, u)

    inf = jnp.asarray(jnp.inf, dtype)
    true = jnp.ones((), bool)
    x, u, _, _, _, ep, _ = lax.while_loop(
        newton_cond, newton_step, (xw, st.u, gw, inf, 0, st.n_epochs, true)
    )
    if fit_intercept:
        b, x = x[K], x[:K]
    else:
        b = st.b
    w = st.w.at[ws].set(x)
    return st._replace(w=w, b=b, u=u, n_epochs=ep), cache


def step_moved(x0, x, u0, u):
    """Whether a prox-Newton step from ``(x0, u0)`` to ``(x, u)`` changed
    anything. One that did not would repeat itself exactly (its model and
    CD are deterministic): the inner loops (CD and block CD) stop there, and
    an outer step that moved nothing ends its loop (:func:`stop_if_unmoved`).
    In float32 the gap may lie above every target: on raw breast cancer
    (features from 1e-3 to 4e3) L1 logistic at ``C = 2.78`` ran 10⁵ such
    steps (its epochs budget, 11 s; now 6 outer steps, the same objective),
    LogisticRegressionCV's folds there 109 s -> 39 s."""
    return jnp.any(x != x0) | jnp.any(u != u0)


def stop_if_unmoved(old, new):
    """``new`` with status ``BUDGET`` when the outer step from ``old`` moved
    nothing (CD and block CD): the next check would see the same point and
    pick the same working set, so the loop ends there rather than run its
    budget (reported converged only where that point's gap meets the
    tolerance, as at any other end of the loop)."""
    moved = step_moved(old.w, new.w, old.u, new.u) | jnp.any(old.b != new.b)
    return new._replace(status=jnp.where(moved, new.status, BUDGET))


def prox_newton_update(objective, penalty_value, exact, u, x, x_new, du, g):
    """The prox-Newton step from ``(u, x)`` towards the model's minimizer
    ``x_new`` (``du = X(x_new - x)``, ``g`` the negative gradient at ``x``):
    the full step when the model is exact (``exact``: a constant Hessian),
    else the :func:`armijo_step` along it with the model's decrease ``-gᵀδ +
    pen(x_new) - pen(x)``. Returns the new ``(x, u)`` (shared by CD and block
    CD)."""
    delta = x_new - x
    if exact:
        return x_new, u + du
    decrease = -jnp.dot(g, delta) + penalty_value(x_new) - penalty_value(x)
    step = armijo_step(objective, u, x, du, delta, decrease)
    return x + step * delta, u + step * du


def armijo_step(objective, u, x, du, delta, decrease):
    """Backtracking (halving, at most 30 times) from step 1 along ``(du,
    delta)`` until ``objective(u + t·du, x + t·delta) <= f0 + 1e-4·t·decrease``;
    0 when no step passes (the prox-Newton line search of CD and block CD).

    The test has a slack of a few ulps of ``f0``: near the optimum the
    decrease falls below the resolution of ``f``, and the Newton step is then
    safe.
    """
    dtype = u.dtype
    f0 = objective(u, x)
    slack = 16 * jnp.finfo(dtype).eps * jnp.abs(f0)

    def not_yet(c):
        t, i = c
        f_t = objective(u + t * du, x + t * delta)
        return ~(f_t <= f0 + 1e-4 * t * decrease + slack) & (i < 30)

    step, i = lax.while_loop(
        not_yet, lambda c: (0.5 * c[0], c[1] + 1), (jnp.ones((), dtype), 0)
    )
    return jnp.where(i < 30, step, 0.0)


def _with_weights(penalty, d):
    """The penalty with explicit per-coordinate weights (ones by default), so
    that a working set can be taken from it."""
    if penalty.weights is not None:
        return penalty
    return dataclasses.replace(penalty, weights=jnp.ones((d,)))


class InnerTarget(NamedTuple):
    """The working-set gap at which an inner solve stops, after ``e`` of its
    epochs: ``tight`` (half the final tolerance) for the first ``epochs``,
    ``loose`` (``0.3 ×`` the outer gap, celer's rule) after them."""

    tight: jax.Array
    loose: jax.Array
    epochs: int

    def at(self, e):
        return jnp.where(e < self.epochs, self.tight, self.loose)


def tight_epochs(datafit, pass_cost, epoch_cost, steps):
    """Epochs an inner solve may spend past celer's target towards the final
    tolerance: as many as cost one pass over ``X`` (``pass_cost``
    multiply-adds; the outer iteration they may save), for least squares
    (an exact model); none otherwise. An epoch costs its ``epoch_cost``
    multiply-adds plus ``STEP_COST`` per coordinate (or block) step: the
    latency of one trip of a compiled loop (about 0.4 µs on a CPU, the time
    of ~2000 multiply-adds), which dominates small working sets. 1000 x 5000
    Lasso: about as many epochs as a tight target (fits solved in 2 outer
    iterations); diabetes with degree-3 features (442 x 285): none, as
    there an epoch costs more than a pass (λ_max/100: 49 -> 31 ms)."""
    if not datafit.constant_hessian:
        return 0
    return int(pass_cost / (epoch_cost + steps * STEP_COST))


class Budget(NamedTuple):
    """Stopping rule and budgets of the outer loop (device scalars)."""

    tol_abs: jax.Array  # stop when gap <= tol_abs
    max_outer: jax.Array
    max_epochs: jax.Array
    grow_at: jax.Array  # hand back for a bigger bucket when nnz > grow_at


def outer_done(datafit, penalty, st, gap, primal, tol_abs):
    """The outer loops' stopping rule (CD and block CD), at a point whose
    measure is ``gap`` and objective ``primal``; ``st`` holds those of the
    previous check (``st.n_outer`` steps since the start or the last new
    strength): ``gap <= tol_abs``. For least squares (a constant Hessian)
    also ``gap <=`` the datafit's value at ``w``, or a last step that lowered
    the objective by no more than ``gap``: at high signal-to-noise
    ``tol·P(0) = tol·Var(y)/2`` exceeds the loss left at the optimum by
    orders of magnitude (500 x 50, coefficients ~1000, noise 1: one outer
    step stopped at gap 621 <= 1492 with a training RMSE of 26.7 where the
    optimum's is 0.962; now 3 steps, 0.962), and :func:`run_outer`'s inner
    solves aim at half the smaller of the two. For a datafit without a
    constant Hessian

    - one more prox-Newton step once it is met (unless ``gap <=
      tol_abs/100``): a gap ``g`` leaves an ``O(√g)`` error in ``w``, which
      that step, converging quadratically, mostly removes (breast cancer,
      ``tol=1e-4``: error 9e-3 -> 6e-4);
    - with unpenalized coordinates (``penalty.unpenalized``), a last step
      that lowered the objective by ``<= tol_abs``. Their part of the gap,
      ``Σⱼ vⱼ²/(2c·colsqⱼ)``, is what single coordinate steps would gain,
      which underestimates what remains by up to the condition number of
      their Hessian (an unpenalized logistic regression, 120 x 5: 600x,
      stopping at 2.7e-3 above the optimum for ``tol_abs = 7e-5``); a
      prox-Newton step's decrease, once it converges, exceeds what remains
      after it (there: 6 -> 9 steps, 3e-10 above the optimum).

    Least squares is exempt from the second rule: its steps are CD on the
    exact objective, converging linearly, so on an ill-conditioned design
    the rule bought little (diabetes, degree-2 features, ``alpha=0``: 0.9
    -> 0.6 % above the optimum, where scikit-learn's CD also falls short and
    warns, as the estimators do) and cost every strength of a path one more
    outer step, e.g. for the multi-task models on a sparse ``X``, whose free
    intercept is an unpenalized group (``MultiTaskLassoCV`` 2.7x slower).
    """
    done = gap <= tol_abs
    if datafit.constant_hessian:
        # high signal-to-noise: tol·P(0) may exceed the loss left at w
        certain = gap <= datafit.value(st.u)
        settled = (st.n_outer > 0) & (st.primal - primal <= gap)
        return done & (certain | settled)
    polished = (st.n_outer > 0) & (st.gap <= tol_abs)
    stalled = (st.n_outer > 0) & (st.primal - primal <= tol_abs)
    return (
        done
        & (polished | (gap <= 0.01 * tol_abs))
        & (stalled | ~jnp.any(penalty.unpenalized(st.w)))
    )


def stepped_from(primal, status):
    """``st.primal`` after a check: the objective a step starts from, or
    ``inf`` when no step follows (a GROW hands the same point to the next
    bucket, whose first check must not read a zero decrease there)."""
    return jnp.where(status == RUNNING, primal, jnp.inf).astype(primal.dtype)


def run_outer(K, fit_intercept, design, datafit, penalty, st, cache, budget):
    """The compiled outer working-set loop (traceable; used by paths too)."""
    tol_abs, max_outer, max_epochs, grow_at = budget
    st = st._replace(status=jnp.zeros((), jnp.int32))

    def body(carry):
        st, cache = carry

        # the gradient at the previous λ's solution serves the next λ as is
        v = _fresh_gradient(design, datafit, st)
        gap, primal = optimality_gap(datafit, penalty, st.u, st.w, v, design.colsq)
        nnz = jnp.sum(st.w != 0)
        done = outer_done(datafit, penalty, st, gap, primal, tol_abs)
        status = jnp.where(
            done,
            CONVERGED,
            jnp.where(
                nnz > grow_at,
                GROW,
                jnp.where(
                    (st.n_outer >= max_outer) | (st.n_epochs >= max_epochs),
                    BUDGET,
                    RUNNING,
                ),
            ),
        ).astype(jnp.int32)
        primal = stepped_from(primal, status)
        st = st._replace(gap=gap, primal=primal, status=status, v=v, v_fresh=True)
        tight = 0.5 * tol_abs
        if datafit.constant_hessian:  # the loss left, at high signal-to-noise
            tight = jnp.minimum(tight, 0.5 * datafit.value(st.u))
        tol_in = InnerTarget(
            tight,
            jnp.maximum(_INNER_RATIO * gap, tight),
            tight_epochs(datafit, design.pass_cost, design.ws_epoch_cost(K), K),
        )

        def step(c):
            s, cache = c
            s, cache = _working_set_step(
                K,
                fit_intercept,
                design,
                datafit,
                penalty,
                s,
                cache,
                v,
                tol_in,
                max_epochs,
            )
            s = stop_if_unmoved(c[0], s)
            return s._replace(n_outer=s.n_outer + 1, v_fresh=False), cache

        return lax.cond(status == RUNNING, step, lambda c: c, (st, cache))

    return lax.while_loop(lambda c: c[0].status == RUNNING, body, (st, cache))


STATIC = ("K", "fit_intercept")


class Algorithm(NamedTuple):
    """A working-set solver as the path and fold drivers of :mod:`.path`
    run it: ``prime_cache(K, fit_intercept, design, datafit, penalty, st)
    -> (st, cache)`` once per bucket, then ``run_outer(K, fit_intercept,
    design, datafit, penalty, st, cache, budget) -> (st, cache)`` per
    strength; the state has ``w``, ``b``, ``gap``, ``n_outer``, ``n_epochs``
    and ``status``. :data:`CD` here, :data:`jaxreg.solvers.bcd.BCD` for block
    penalties."""

    prime_cache: Callable
    run_outer: Callable


CD = Algorithm(prime_cache, run_outer)


@stored_jit(static_argnames=STATIC)
def _solve_bucket(K, fit_intercept, design, datafit, penalty, st, budget):
    st, cache = prime_cache(K, fit_intercept, design, datafit, penalty, st)
    return run_outer(K, fit_intercept, design, datafit, penalty, st, cache, budget)[0]


def bucket(n_features: int, size: int, p0: int) -> int:
    """Smallest power of two ``>= max(p0, size)``, capped at ``n_features``."""
    k = max(p0, size, 1)
    return int(min(1 << (k - 1).bit_length(), n_features))


GRAM_BUDGET = 1 << 31  # multiply-adds of a path's first Gram matrix, K²·n


def path_bucket(n_samples: int, n_features: int) -> int:
    """The smallest working set of a path or of cross-validation folds
    (their ``p0=None``): a bucket that holds the whole path where its Gram
    matrix is cheap.

    The last strengths of a path (``eps·λ_max``, ``eps = 1e-3``) reach a
    support near ``min(n, d)`` (a Lasso's at most ``n``; an elastic net's
    may exceed it), so the bucket is the power of two ``>= 8/7·min(n, d)``
    (a support above ``7/8`` of a bucket asks for the next; at most ``d``).
    Growing from 64 compiles one working-set program per doubling, 2–3 s of
    XLA compilation each on a 2-core CPU: a first 100-λ path of 1000 x 5000
    compiled five (15 s in a fresh process, 3.8 s with one; 1.2 s and 0.6 s
    where the compilation cache holds them, as each is loaded). A larger
    bucket costs a larger Gram matrix and longer Gram rows per coordinate
    step (the same path repeated in one process: 0.11 s -> 0.26 s), so it
    is capped where ``K²·n`` exceeds :data:`GRAM_BUDGET` (about 0.1 s of
    multiply-adds), and is never below 64 (or ``d``).
    """
    cap = 64
    while 4 * cap * cap * max(n_samples, 1) <= GRAM_BUDGET:
        cap *= 2
    # above 7/8 of a bucket the loop hands back for the next (grow_threshold)
    size = -(-8 * min(n_samples, n_features) // 7)
    return min(bucket(n_features, size, 64), cap)


def next_bucket(n_features: int, w, K: int) -> int:
    """Bucket after a GROW: ``>= 2·nnz`` and at least ``2K``.

    Growing by 4x would compile fewer shapes, but epochs cost ``O(K²)``: on a
    100-λ path (1000 x 5000) doubling was 9% faster once compiled.
    """
    return bucket(n_features, 2 * _nnz(w), 2 * K)


def _nnz(w) -> int:
    # on the host: an eager jnp count would compile two programs per process
    return int(np.count_nonzero(np.asarray(w)))


def grow_threshold(K: int, n_features: int) -> int:
    """Support size at which the compiled loop hands back for a bigger bucket."""
    return n_features if K >= n_features else (7 * K) // 8


def run_buckets(run, carry, w, d, p0):
    """The host driver shared by fits and paths: ``run(K, grow_at, carry) ->
    (done, w, carry)`` is one compiled call on bucket ``K``; after each GROW
    the bucket doubles (at least ``2·nnz(w)``) until ``done``. One host round
    trip per bucket, never per iteration.

    The first bucket holds a warm start's support ``w`` with a quarter to
    spare (``>= 4/3·nnz``, under the ``7/8`` growth threshold), not twice it:
    a warm start's support is near final, and the Gram matrix of a bucket
    costs ``O(K²·n)`` (tune's warm-started folds: 2x faster than ``2·nnz``).
    """
    K = bucket(d, -(-4 * _nnz(w) // 3), p0)
    while True:
        done, w, carry = run(K, grow_threshold(K, d), carry)
        if done:
            return carry
        K = next_bucket(d, w, K)


def solve(
    design, datafit, penalty, st, tol_abs, *, fit_intercept, max_iter, max_epochs, p0
):
    """Runs :func:`run_outer` bucket by bucket until done; the final state."""

    def run(K, grow_at, st):
        budget = Budget(tol_abs, max_iter, max_epochs, grow_at)
        st = _solve_bucket(K, fit_intercept, design, datafit, penalty, st, budget)
        return int(st.status) != GROW, st.w, st

    return run_buckets(run, st, st.w, design.n_features, p0)
