r"""Hyperparameter search by hypergradient descent: ``jaxreg.tune``.

Minimizes a validation loss over the penalty's hyperparameters,

.. math::

    \min_t\ \mathcal{L}(t) = \frac1K \sum_{k=1}^K
        F^{\text{test}}_k\big(X w_k(t) + b_k(t)\big),

    (w_k, b_k)(t) = \arg\min_{w, b}\ F^{\text{train}}_k(Xw + b) + h_t(w),

with :math:`F_k` the datafit on the rows of fold :math:`k` (its ``value``:
``½·MSE`` for least squares — :func:`~jaxreg.solvers.path.cross_validate`
reports the MSE, twice this — and the mean log-loss for the logistic
datafit), or one held-out set instead of folds. Two parametrizations, both in
log space (so the hyperparameters stay positive and the search is
scale-free):

- ``per_feature=False``: :math:`h_t = e^{t}\,(\rho\|w\|_1 +
  \tfrac{1-\rho}{2}\|w\|^2)`, one strength :math:`\lambda = e^t` (the Lasso
  for :math:`\rho = 1`);
- ``per_feature=True``: :math:`h_t = \sum_j e^{t_j}(\rho|w_j| +
  \tfrac{1-\rho}{2}w_j^2)`, one weight per feature (the weighted Lasso:
  ``n_features`` hyperparameters, which no grid can search).

**Gradient.** :math:`\nabla_t\mathcal{L}` is implicit
(:func:`jaxreg.solvers.implicit.support_argmin_vjp`): per fold, conjugate
gradients on the support's Hessian-vector products, all folds in one
``vmap``-ed, compiled call. The systems are posed on the columns of ``X``
that hold the folds' supports (a power of two of them, at least 64 and a
quarter of the features, or all of them, so that one compiled program
usually serves a whole search): a product costs ``O(n·|S|)`` instead of
``O(n·d)``. The inner problems are solved by the working-set coordinate
descent, likewise all folds in one compiled call
(:func:`~jaxreg.solvers.path.solve_folds`), each warm-started from the
fold's previous solution.

**Method.** One strength (``per_feature=False``) is a line search on the
scalar :math:`t`: it walks downhill by moves of 1 (a factor :math:`e` in
:math:`\lambda`, cheap solves while :math:`\lambda` is large) until the slope
turns or the loss rises, which brackets a minimum; inside the bracket each
trial is the minimizer of the cubic through the two ends' losses and slopes
(Nocedal & Wright, eq. 3.59), kept at least 10 % of the width from either
end, and the bracket shrinks to the best point and the nearer end where the
slope is uphill. It stops when the cubic predicts a decrease below ``tol``
(relative), when an accepted step decreases :math:`\mathcal{L}` by less than
that, when the bracket is narrower than 0.001 in :math:`t`, after
``max_backtrack + 1`` trials in a row that do not decrease it, or after
``max_steps`` evaluations. On the 500 × 1000 problem of
``bench/hypergradients.py`` that is 5 evaluations where gradient descent
took 13.

Per-feature weights (``per_feature=True``) use gradient descent with an
Armijo backtracking line search, as sparse-ho does: the first trial step
moves :math:`t` by at most 1 (``alpha₀ = 1/‖∇‖_∞``), each later step first
tries the Barzilai-Borwein step (twice the last one where the secant
curvature is not positive), halving it (at most ``max_backtrack`` times)
until :math:`\mathcal{L}(t - \alpha g) \le \mathcal{L}(t) - 10^{-4}\alpha
\|g\|^2`. It stops when an accepted step decreases :math:`\mathcal{L}` by
less than ``tol`` relative, when no step size decreases it, or after
``max_steps`` steps.

Either way the losses along the returned path decrease, and the last point
is the best. The validation loss is piecewise smooth in :math:`t` (it kinks
where the support changes), and not convex: the result is a local minimum
near ``lam_init``.

References:
  Bertrand et al., "Implicit differentiation for fast hyperparameter
  selection in non-smooth convex learning", JMLR 2022 (sparse-ho).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxreg._programs import stored_jit
from jaxreg._validation import check_nonnegative, check_positive, check_positive_int
from jaxreg.solvers.base import (
    check_X_y,
    default_dtype,
    prepare,
    warn_not_converged,
)
from jaxreg.solvers.cd import bucket
from jaxreg.solvers.datafits import normalized_weights
from jaxreg.solvers.design import is_sparse
from jaxreg.solvers.glm import (
    datafit_class,
    elastic_net_penalty,
    penalty_as_dtype,
)
from jaxreg.solvers.hypergrad import (
    cg_tol,
    linear_objective,
    raw_design,
    support_of,
)
from jaxreg.solvers.implicit import support_argmin_vjp
from jaxreg.solvers.path import default_grid, fold_splits, fold_weights, solve_folds

__all__ = ["TuneResult", "tune"]

_ARMIJO = 1e-4
_XTOL = 1e-3  # a bracket this narrow in log-strength (0.1 %) ends the search


class TuneResult(NamedTuple):
    """What :func:`tune` returns.

    Attributes:
      hyperparameters: the accepted iterates ``exp(t)``: strengths, shape
        ``(n_steps + 1,)``, or per-feature weights, ``(n_steps + 1,
        n_features)``; the first row is the starting point.
      losses: the validation loss at each of them (decreasing).
      best: ``hyperparameters[-1]``, the point with the smallest loss.
      best_loss: ``losses[-1]``.
      n_solves: inner problems solved (one per fold per evaluation,
        line-search trials included).
      converged: a stopping rule of the search was met (module docstring);
        ``False`` when ``max_steps`` ran out first.
    """

    hyperparameters: np.ndarray
    losses: np.ndarray
    best: np.ndarray
    best_loss: float
    n_solves: int
    converged: bool


class _Folds(NamedTuple):
    X: jax.Array  # (n, d), every row the folds use
    y: jax.Array  # (n,), encoded targets
    train: jax.Array  # (K, n) normalized training weights (0 off the fold)
    test: jax.Array  # (K, n) normalized test weights


def _penalty(t, l1_ratio, per_feature):
    lam = jnp.exp(t)
    if per_feature:
        return elastic_net_penalty(1.0, l1_ratio, penalty_factor=lam)
    return elastic_net_penalty(lam, l1_ratio)


@functools.partial(jax.jit, static_argnames="cls")
def _loss(W, B, folds, cls):
    U = W @ folds.X.T + B[:, None]
    losses = jax.vmap(lambda u, a: cls(folds.y, a).value(u))(U, folds.test)
    return jnp.mean(losses)


@stored_jit(
    static_argnames=(
        "cls",
        "fit_intercept",
        "l1_ratio",
        "per_feature",
        "cg_iter",
        "n_columns",
    )
)
def _loss_and_grad(
    t, W, B, folds, cls, fit_intercept, l1_ratio, per_feature, cg_iter, n_columns
):
    """The validation loss and its hypergradient. The folds' adjoint systems
    are posed on ``n_columns`` columns of ``X`` that hold the union of their
    supports (the top ``n_columns`` of ``any(W != 0)``, gathered once and
    shared, so that the folds' products stay one matrix product; the others
    are zeros of every ``w``, masked out as every zero is): a
    conjugate-gradient step costs ``O(n · n_columns)`` per fold instead of
    ``O(n · d)``, and the solution is the same, the system being the
    identity off the support. ``n_columns`` must hold that union (the
    gradient is wrong otherwise); ``n_columns >= d`` gathers nothing."""
    support = support_of(fit_intercept)
    cols = None
    if n_columns < folds.X.shape[1]:
        cols = lax.top_k(jnp.any(W != 0, axis=0).astype(jnp.float32), n_columns)[1]

    def take(v):  # a vector's entries at the columns
        return v if cols is None else v[cols]

    design = raw_design(folds.X if cols is None else folds.X[:, cols], W.dtype)

    def one(w, b, a_train, a_test):
        def held_out(x):
            return cls(folds.y, a_test).value(folds.X @ x[0] + x[1])

        loss, (ct_w, ct_b) = jax.value_and_grad(held_out)((w, b))

        def objective(x, t_):
            pen = _penalty(take(t_) if per_feature else t_, l1_ratio, per_feature)
            return linear_objective(x, (design, cls(folds.y, a_train), pen))

        x = (take(w), b)
        g = support_argmin_vjp(
            objective,
            x,
            t,
            (take(ct_w), ct_b),
            support(x),
            tol=cg_tol(W.dtype),
            max_iter=cg_iter,
        )
        return loss, g

    losses, grads = jax.vmap(one)(W, B, folds.train, folds.test)
    return jnp.mean(losses), jnp.mean(grads, axis=0)


def _folds(X, y, cls, cv, groups, validation, sample_weight, dtype):
    n = X.shape[0]
    if sample_weight is not None:
        normalized_weights(sample_weight, n, np.float64)  # raises where invalid
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    if validation is not None:
        X_val, y_val = check_X_y(*validation)
        if X_val.shape[1] != X.shape[1]:
            raise ValueError(
                f"validation X must have {X.shape[1]} features, got {X_val.shape[1]}"
            )
        splits = [(np.arange(n), np.arange(n, n + X_val.shape[0]))]
        X = np.concatenate([np.asarray(X), np.asarray(X_val)])
        y = np.concatenate([np.asarray(y), np.asarray(y_val)])
        sw = np.concatenate([sw, np.ones(X_val.shape[0])])
    else:
        splits = fold_splits(cv, X, y, groups)
    N = X.shape[0]
    train, test = fold_weights(splits, sw, N, dtype)
    y_enc = np.asarray(cls.from_targets(np.asarray(y), np.ones(N)).y)
    folds = _Folds(
        jnp.asarray(X, dtype),
        jnp.asarray(y_enc, dtype),
        jnp.asarray(train),
        jnp.asarray(test),
    )
    return folds, splits, X, y, sw


def tune(
    X,
    y,
    *,
    datafit="quadratic",
    l1_ratio=1.0,
    cv=5,
    groups=None,
    validation=None,
    per_feature=False,
    lam_init=None,
    sample_weight=None,
    fit_intercept=True,
    max_steps=50,
    max_backtrack=6,
    tol=1e-4,
    solver_tol=1e-5,
    cg_max_iter=200,
) -> TuneResult:
    r"""Tunes the penalty strength (or per-feature weights) by hypergradient descent.

    See the module docstring for the objective, the gradient and the method.

    Args:
      X, y: dense data (``y`` binary labels for ``datafit="logistic"``).
      datafit: ``"quadratic"``, ``"logistic"`` or a ``Datafit`` subclass.
      l1_ratio: :math:`\rho \in (0, 1]` of the elastic-net penalty.
      cv: number of contiguous folds, a scikit-learn splitter (its
        ``split(X, y, groups)``), or a list of ``(train, test)`` index arrays.
      groups: group labels of the samples for a group splitter
        (``GroupKFold``, ``LeaveOneGroupOut``).
      validation: ``(X_val, y_val)``: fit on all of ``X, y`` and score on
        this held-out set instead of folds.
      per_feature: tune one weight per feature (strength fixed at 1) instead
        of one strength.
      lam_init: starting strength (or weights; a scalar is broadcast);
        default ``λ_max / 10``, ``λ_max`` the smallest strength with ``w = 0``
        on the full data.
      sample_weight: per-sample weights (training and test losses are
        weighted means).
      fit_intercept: unpenalized intercept.
      max_steps, max_backtrack, tol: the outer search (module docstring):
        ``max_steps`` counts evaluations for one strength, accepted steps for
        per-feature weights.
      solver_tol: the inner solves' duality-gap tolerance (``gap <=
        solver_tol · P(0)``); the hypergradient is only as accurate as they.
      cg_max_iter: conjugate-gradient budget per hypergradient.

    Inner solves that stop before ``solver_tol`` are counted and reported by
    one ``ConvergenceWarning`` at the end (with the largest gap reached). In
    float32, ``solver_tol`` below ~1e-6 is not reliably reachable. The
    default ``1e-5`` is as accurate for the search as ``1e-6``: on twelve
    problems (Gaussian 200 × 50 to 1000 × 300 and 500 × 1000, diabetes with
    degree-2 and degree-3 features, breast cancer with the logistic datafit)
    the best losses agreed to ``1e-5`` relative, ten times inside ``tol``,
    with the same number of solves, in 6-10 % less time; with many small
    per-feature weights it is much faster (the 500 × 1000 weighted-Lasso
    search of the example: 0.5 s against 35 s at ``1e-6``).

    Returns:
      A :class:`TuneResult`; ``best`` is the strength (or weights) to refit
      with.

    Examples:
      >>> import numpy as np, jaxreg as jr
      >>> X = np.random.default_rng(0).normal(size=(80, 30))
      >>> y = X[:, :3] @ np.ones(3) + np.random.default_rng(1).normal(size=80)
      >>> res = jr.tune(X, y, cv=4)
      >>> bool(res.best_loss < res.losses[0])
      True
    """
    cls = datafit_class(datafit)
    X, y = check_X_y(X, y)
    if is_sparse(X):
        raise ValueError("tune takes a dense X; convert it with X.toarray()")
    X = np.asarray(X)
    check_positive("l1_ratio", l1_ratio)
    elastic_net_penalty(1.0, l1_ratio)  # validates l1_ratio <= 1
    check_positive_int("max_steps", max_steps)
    check_positive_int("max_backtrack", max_backtrack)
    check_positive_int("cg_max_iter", cg_max_iter)
    check_nonnegative("tol", tol)
    check_nonnegative("solver_tol", solver_tol)
    dtype = default_dtype(X, y)
    folds, splits, X_all, y_all, sw = _folds(
        X, y, cls, cv, groups, validation, sample_weight, dtype
    )
    # one problem on every row the folds use; a fold is its training weights
    problem = prepare(
        X_all, y_all, cls, fit_intercept=fit_intercept, sample_weight=sw, dtype=dtype
    )
    d = X.shape[1]
    if lam_init is None:
        full = problem  # the folds' rows are all of X, y
        if validation is not None:
            full = prepare(
                X, y, cls, fit_intercept=fit_intercept, sample_weight=sample_weight
            )
        pen = penalty_as_dtype(elastic_net_penalty(1.0, l1_ratio), full.design.dtype)
        lam_max = float(default_grid(full, pen, 1, 1.0, solver_tol)[0])
        # λ_max at roundoff (X centred in dtype): X's centred columns or the
        # centred targets carry nothing to fit. The targets' spread, not their
        # size: y + 1e5 has the λ_max of y
        y_enc = np.asarray(folds.y, np.float64)
        if fit_intercept:
            y_enc = y_enc - y_enc.mean()
        resolution = 16 * np.finfo(dtype).eps * np.abs(X).max() * np.abs(y_enc).max()
        if not lam_max > resolution:
            raise ValueError(
                f"λ_max = {lam_max:.3g}: every coefficient is 0 at any strength "
                "(y or every column of X is constant, after centring if "
                "fit_intercept), so there is nothing to tune"
            )
        lam_init = lam_max / 10
    check_positive("lam_init", lam_init)
    shape = (d,) if per_feature else ()
    t = np.log(np.broadcast_to(np.asarray(lam_init, np.float64), shape)).astype(dtype)
    static = dict(cls=cls, fit_intercept=fit_intercept)
    n_folds = len(splits)

    unconverged = []

    def solve(t, W):
        pen = _penalty(np.asarray(t, np.float64), l1_ratio, per_feature)
        W, B, gaps, _, converged, tol_abs = solve_folds(
            problem,
            pen,
            [pen.strength],
            folds.train,
            fit_intercept=fit_intercept,
            tol=solver_tol,
            max_iter=100,
            p0=64,
            coef_init=W,
        )
        gaps, tol_abs = np.asarray(gaps)[:, 0], np.asarray(tol_abs)
        unconverged.extend(  # numpy scalars: the warning sees their dtype
            (gap, t_abs)
            for gap, t_abs, ok in zip(
                gaps, tol_abs, np.asarray(converged)[:, 0], strict=True
            )
            if not ok
        )
        return W[:, 0], B[:, 0]

    def loss_and_grad(t, W, B):
        # every fold's support; a quarter of the features at least: one
        # compiled program per call unless the supports outgrow it
        union = int(np.count_nonzero(np.any(np.asarray(W) != 0, axis=0)))
        loss, g = _loss_and_grad(
            jnp.asarray(t),
            W,
            B,
            folds,
            l1_ratio=float(l1_ratio),
            per_feature=per_feature,
            cg_iter=cg_max_iter,
            n_columns=bucket(d, union, max(64, d // 4)),
            **static,
        )
        return float(loss), np.asarray(g, np.float64)

    oracle = _Oracle(
        solve,
        lambda W, B: float(_loss(W, B, folds, cls)),
        lambda t, W, B: _Point(t, *loss_and_grad(t, W, B), W, B),
    )
    start = oracle.evaluate(t, jnp.zeros((n_folds, d), dtype))
    if not np.any(start.g) and not bool(jnp.any(start.W != 0)):
        # every fold's solution is 0: the loss is flat in λ there, and the
        # search would stop at once and call the null model converged
        raise ValueError(
            f"lam_init={lam_init!r} is at or above λ_max: every coefficient is 0 "
            "and the hypergradient is 0 there; start below it (the default is "
            "λ_max/10)"
        )
    search = _descend if per_feature else _bracket
    points, n_evals, converged = search(oracle, start, max_steps, max_backtrack, tol)
    n_solves = n_folds * n_evals
    if unconverged:
        gap, tol_abs = max(unconverged)
        warn_not_converged(
            gap,
            tol_abs,
            f"{len(unconverged)} of {n_solves} inner solves of tune "
            "(the hypergradients may be inaccurate; loosen solver_tol)",
        )
    hyper = np.stack([np.exp(p.t.astype(np.float64)) for p in points])
    losses = np.asarray([p.loss for p in points])
    return TuneResult(hyper, losses, hyper[-1], losses[-1], n_solves, converged)


class _Point(NamedTuple):
    t: np.ndarray  # log-hyperparameters
    loss: float
    g: np.ndarray  # gradient of the loss in t (float64)
    W: jax.Array  # (K, d) the folds' coefficients
    B: jax.Array  # (K,) their intercepts


class _Oracle(NamedTuple):
    solve: object  # (t, W) -> (W, B): the folds' inner solves, warm-started at W
    value: object  # (W, B) -> the validation loss
    point: object  # (t, W, B) -> _Point: the loss and its hypergradient

    def evaluate(self, t, W):
        return self.point(t, *self.solve(t, W))


def _descend(oracle, x, max_steps, max_backtrack, tol):
    """Gradient descent on ``t`` with Armijo backtracking and Barzilai-Borwein
    steps (``per_feature=True``; module docstring). Returns the accepted
    points, the number of evaluations (one inner solve per fold each) and
    whether it converged."""
    points, n_evals = [x], 1
    alpha = 1.0 / max(float(np.max(np.abs(x.g))), np.finfo(np.float64).tiny)
    for _ in range(max_steps):
        gg = float(np.sum(x.g * x.g))
        if gg == 0.0:
            return points, n_evals, True
        for _ in range(max_backtrack + 1):
            t_new = (x.t - alpha * x.g).astype(x.t.dtype)
            W_new, B_new = oracle.solve(t_new, x.W)
            n_evals += 1
            loss_new = oracle.value(W_new, B_new)
            if loss_new <= x.loss - _ARMIJO * alpha * gg:
                break
            if bool(jnp.all(W_new == x.W)):
                break  # the inner solves, at solver_tol, no longer move: stop
            alpha /= 2.0
        else:
            loss_new = np.inf
        if not loss_new <= x.loss - _ARMIJO * alpha * gg:
            return points, n_evals, True  # no step size decreases the loss
        x_old, x = x, oracle.point(t_new, W_new, B_new)
        points.append(x)
        step = (x.t - x_old.t).astype(np.float64)
        curvature = float(np.sum(step * (x.g - x_old.g)))
        # Barzilai-Borwein (secant) step; doubling when the curvature is not
        # positive (across a kink of the piecewise-smooth loss)
        alpha = float(np.sum(step * step)) / curvature if curvature > 0 else 2 * alpha
        if x_old.loss - x.loss <= tol * abs(x_old.loss):
            return points, n_evals, True
    return points, n_evals, False


def _bracket(oracle, x, max_steps, max_backtrack, tol):
    """Bracketing line search on a scalar ``t`` (``per_feature=False``;
    module docstring). Same returns as :func:`_descend`."""
    points, n_evals = [x], 1
    lo, hi = x, None  # the best point, and the far end of a bracket
    failures = 0
    for _ in range(max_steps):
        if float(lo.g) == 0.0:
            return points, n_evals, True
        if hi is None:  # walk downhill by a factor e in the strength
            direction = -np.sign(float(lo.g))
            t_new = lo.t + direction
        else:
            width = float(hi.t - lo.t)
            fraction, predicted = _cubic_minimizer(lo, hi)
            if abs(width) <= _XTOL or predicted <= tol * abs(lo.loss):
                return points, n_evals, True
            direction = np.sign(width)
            t_new = lo.t + width * np.clip(fraction, 0.1, 0.9)
        new = oracle.evaluate(np.asarray(t_new, lo.t.dtype), lo.W)
        n_evals += 1
        if new.loss < lo.loss:
            if float(new.g) * direction >= 0:  # the slope turned: bracketed
                hi = lo
            decrease, lo, failures = lo.loss - new.loss, new, 0
            points.append(lo)
            if decrease <= tol * abs(points[-2].loss):
                return points, n_evals, True
        else:
            hi, failures = new, failures + 1
            if failures > max_backtrack or bool(jnp.all(new.W == lo.W)):
                return points, n_evals, True
    return points, n_evals, False


def _cubic_minimizer(a, b):
    """The minimum of the cubic with the losses and slopes of ``a`` and ``b``
    (Nocedal & Wright, eq. 3.59): where, as a fraction ``s`` of the way from
    ``a`` to ``b``, and how far below ``a.loss``. When the cubic has no
    minimum in between: the midpoint, and an infinite decrease."""
    h = float(b.t - a.t)
    ga, gb = float(a.g) * h, float(b.g) * h  # slopes on the unit interval
    d1 = ga + gb - 3 * (b.loss - a.loss)
    disc = d1 * d1 - ga * gb
    denom = gb - ga + 2 * np.sqrt(max(disc, 0.0))
    if disc < 0 or denom == 0:
        return 0.5, np.inf
    s = 1 - (gb + np.sqrt(disc) - d1) / denom
    if not 0 <= s <= 1:
        return 0.5, np.inf
    # the cubic c(s) = a.loss + ga s + (3Δ - 2ga - gb) s² + (ga + gb - 2Δ) s³
    delta = b.loss - a.loss
    c = ga * s + (3 * delta - 2 * ga - gb) * s**2 + (ga + gb - 2 * delta) * s**3
    return s, -c
