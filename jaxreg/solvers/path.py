"""Regularization paths and K-fold cross-validation.

A path solves the same problem for a decreasing grid of strengths
``λ_max = λ₀ > λ₁ > … > λ_{L-1} = eps·λ_max`` (geometric, like scikit-learn's
``lasso_path`` and glmnet), where ``λ_max`` is the smallest strength with
``w = 0`` optimal: ``||Xᵀ(-∇F(b₀))||_∞ / ρ`` (``b₀`` the optimal intercept at
``w = 0``; for the Lasso ``||Xᵀ(y - ȳ)||_∞ / n``). With unpenalized
coordinates (``penalty_factor`` 0) the gradient is read where they are
fitted, as glmnet does (:func:`default_grid`).

Two modes:

- **sequential** (default): working-set coordinate descent (:mod:`.cd`) with
  warm starts, the loop over ``λ`` inside the compiled code
  (``lax.while_loop``), so the whole path is one device call per working-set
  bucket; the host only steps in when the support outgrows the bucket.
- **batched** (``batched=True``): every ``λ`` solved independently and at once
  by FISTA vmapped over ``λ`` (:mod:`.fista`), matrix-matrix products instead
  of coordinate updates: the mode for accelerators.

The compiled loops over ``λ`` and folds run either working-set solver (a
:class:`~jaxreg.solvers.cd.Algorithm`): coordinate descent, or block
coordinate descent for a group penalty (:mod:`.bcd`, whose
:func:`~jaxreg.solvers.bcd.solve_folds_prepared` drives the multi-task
estimators' folds); both keep a least-squares working set's Gram matrix
across strengths.

Cross-validation (:func:`cross_validate`, the CV estimators) solves all folds
in one compiled program per working-set bucket (:func:`solve_folds`): a fold
is the full ``X`` with zero sample weights on its held-out rows, so every
fold has the same shapes and ``X`` goes to the device once; the folds run one
after another inside the program on the CPU and vmapped on accelerators.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxreg._programs import stored_jit
from jaxreg._validation import check_nonnegative, check_positive_int, warn_caller
from jaxreg.solvers import cd, fista
from jaxreg.solvers.base import (
    Problem,
    _centred,
    check_coef_init,
    check_X_y,
    prepare,
    warn_not_converged,
)
from jaxreg.solvers.datafits import normalized_weights
from jaxreg.solvers.design import is_sparse
from jaxreg.solvers.glm import (
    _intercepts_converged,
    check_penalty,
    datafit_class,
    elastic_net_penalty,
    intercepts_converged,
    penalty_as_dtype,
    setup,
)


class PathResult(NamedTuple):
    """A regularization path.

    Attributes:
      lambdas: strengths, decreasing, shape ``(L,)``.
      coef: coefficients, shape ``(L, n_features)`` (scikit-learn's
        ``lasso_path`` returns the transpose).
      intercept: shape ``(L,)``.
      gap: duality gap at each ``λ``, shape ``(L,)``.
      n_iter: outer iterations at each ``λ``, shape ``(L,)``.
      converged: shape ``(L,)``.
    """

    lambdas: jax.Array
    coef: jax.Array
    intercept: jax.Array
    gap: jax.Array
    n_iter: jax.Array
    converged: jax.Array


def lambda_max(problem, penalty, u0=None):
    """Smallest strength whose solution has every penalized coefficient at 0:
    ``penalty.alpha_max(∇F(u₀))`` at that solution's linear predictor ``u₀``
    (default: the optimal intercept ``b₀`` alone, the solution when no
    coordinate is unpenalized)."""
    datafit, design = problem.datafit, problem.design
    if u0 is None:
        b0 = datafit.intercept_at_zero() if problem.fit_col else 0.0
        u0 = jnp.full((design.n_samples,), b0, design.dtype)
    return penalty.alpha_max(-design.rmatvec(datafit.neg_grad(u0)))


def default_grid(problem, penalty, n_lambdas, eps, tol):
    """``n_lambdas`` values from ``λ_max`` down to ``eps·λ_max``, geometric;
    ``ValueError`` when ``λ_max`` is not finite (e.g. ``l1_ratio=0``).

    With unpenalized coordinates (weight 0: glmnet's ``penalty.factor``) the
    solution at ``λ_max`` fits them, so ``λ_max`` is read at that fit
    (:func:`null_predictor`), as glmnet does: at ``w = 0`` it could lie
    below the true value (the path would start with nonzero penalized
    coefficients) or above it (repeated all-zero solutions); that fit stops
    at the path's ``tol``."""
    design, datafit, fit_col = problem.design, problem.datafit, problem.fit_col
    u0 = null_predictor(problem, penalty, tol)
    grid = _grid(design, datafit, penalty, eps, n_lambdas, fit_col, u0)
    if not np.isfinite(np.asarray(grid)[0]):
        raise ValueError(
            f"{penalty!r} has no finite λ_max (l1_ratio=0?): pass explicit lambdas"
        )
    return grid


@functools.partial(jax.jit, static_argnames=("n_lambdas", "fit_col"))
def _grid(design, datafit, penalty, eps, n_lambdas, fit_col, u0):
    lam_max = lambda_max(Problem(design, datafit, None, fit_col), penalty, u0)
    return lam_max * jnp.geomspace(1.0, eps, n_lambdas)


def null_predictor(problem, penalty, tol, tries=24):
    """The linear predictor of the solution with every penalized coefficient
    at 0 (the intercept and the unpenalized coordinates fitted), or None when
    no coordinate or every coordinate is unpenalized (then ``λ_max`` is read
    at the intercept alone, or has no meaning).

    It solves the problem at ``2·λ₀`` (``λ₀``: :func:`lambda_max` at the
    intercept alone; 1 when that is 0), a hundred times larger until the
    penalized coefficients are all 0: the solution is then the same for
    every larger strength. ``λ₀`` may be roundoff (penalized features
    orthogonal to ``y`` but not to an unpenalized one) where the true
    ``λ_max`` is not: the tries span 48 decades."""
    design, datafit = problem.design, problem.datafit
    if penalty.weights is None:  # every coordinate penalized alike
        return None
    unit = dataclasses.replace(penalty, strength=np.asarray(1.0, design.dtype))
    free = np.asarray(unit.unpenalized(np.zeros(design.n_features, design.dtype)))
    if free.all() or not free.any():
        return None
    lam = float(lambda_max(problem, unit))
    if not np.isfinite(lam):
        return None
    lam = 2 * lam if lam > 0 else 1.0
    st, tol_abs = setup(design, datafit, None, tol, problem.fit_col)
    for _ in range(tries):
        st = cd.solve(
            design,
            datafit,
            dataclasses.replace(penalty, strength=np.asarray(lam, design.dtype)),
            st,
            tol_abs,
            fit_intercept=problem.fit_col,
            max_iter=100,
            max_epochs=100_000,
            p0=64,
        )
        if not np.any(np.asarray(st.w)[~free]):
            if not bool(st.gap <= tol_abs):
                warn_not_converged(
                    st.gap, tol_abs, "λ_max's fit of the unpenalized coordinates"
                )
            return design.matvec(st.w) + st.b
        lam *= 100
    raise ValueError(
        f"no strength up to {lam / 100:.3g} zeroes the penalized coefficients of "
        f"{penalty!r}: pass explicit lambdas"
    )


def _bucket(
    K,
    fit_intercept,
    algo,
    center,
    design,
    datafit,
    penalty,
    lams,
    weights,
    start,
    st,
    out,
    budget,
):
    """Solves ``lams[start:]`` with bucket ``K`` until done or GROW
    (traceable). ``algo`` is the solver, a :class:`~jaxreg.solvers.cd.
    Algorithm` (:data:`~jaxreg.solvers.cd.CD`, or :data:`~jaxreg.solvers.
    bcd.BCD` for a block penalty).
    ``weights``: None (the problem's own sample weights at every strength)
    or ``(a, e, c)``, the weights ``a + c[i]·e`` at strength ``i`` (the
    multi-task elastic net's ridge rows weigh ``α(1-ρ)``), for the datafit
    and the design's moments (centred when ``center``); only for the block
    solver, whose Gram cache checks the weights (the CD's assumes them
    fixed)."""
    if weights is not None and algo == cd.CD:
        raise ValueError(
            "per-strength weights need the block solver (bcd.BCD): the CD's "
            "Gram cache assumes the sample weights fixed along the path"
        )
    n_lam = lams.shape[0]

    def cond(c):
        i, st, _, _ = c
        return (i < n_lam) & (st.status != cd.GROW)

    def body(c):
        i, st, cache, (coefs, ints, gaps, iters) = c
        zero = jnp.zeros((), jnp.int32)
        st = st._replace(n_outer=zero, n_epochs=zero)
        pen = dataclasses.replace(penalty, strength=lams[i])
        design_i, datafit_i = design, datafit
        if weights is not None:
            a, e, c = weights
            a = a + c[i] * e
            design_i = design.reweighted(a, center)
            datafit_i = type(datafit)(datafit.y, a)
        st, cache = algo.run_outer(
            K, fit_intercept, design_i, datafit_i, pen, st, cache, budget
        )
        keep = st.status != cd.GROW
        coefs = coefs.at[i].set(jnp.where(keep, st.w, coefs[i]))
        ints = ints.at[i].set(st.b)
        gaps = gaps.at[i].set(st.gap)
        iters = iters.at[i].set(st.n_outer)
        st = st._replace(status=jnp.where(keep, cd.RUNNING, cd.GROW).astype(jnp.int32))
        return jnp.where(keep, i + 1, i), st, cache, (coefs, ints, gaps, iters)

    st = st._replace(status=jnp.zeros((), jnp.int32))
    pen = dataclasses.replace(penalty, strength=lams[jnp.minimum(start, n_lam - 1)])
    st, cache = algo.prime_cache(K, fit_intercept, design, datafit, pen, st)
    start, st, _, out = lax.while_loop(cond, body, (start, st, cache, out))
    return start, st, out


_path_bucket = stored_jit(_bucket, static_argnames=(*cd.STATIC, "algo", "center"))


def _check_path_args(lambdas, n_lambdas, eps, tol, max_iter):
    if lambdas is not None:
        check_nonnegative("lambdas", lambdas)
        if np.ndim(lambdas) != 1 or np.size(lambdas) == 0:
            raise ValueError(
                f"lambdas must be a non-empty 1-D sequence, got shape "
                f"{np.shape(lambdas)}"
            )
    check_positive_int("n_lambdas", n_lambdas)
    check_nonnegative("eps", eps)
    if not 0 < eps <= 1:  # eps·λ_max is the grid's smallest value
        raise ValueError(f"eps must lie in (0, 1], got {eps!r}")
    check_nonnegative("tol", tol)
    check_positive_int("max_iter", max_iter)


def solve_path(
    problem,
    penalty,
    lambdas,
    *,
    tol_abs,
    max_iter,
    max_epochs,
    p0,
    batched,
    coef_init=None,
):
    """Path of ``penalty`` at strengths ``lambdas`` on a prepared problem,
    warm-started at ``coef_init`` (``(d,)``; None: 0, the only start of
    ``batched``); returns ``(coefs, intercepts, gaps, n_iter)``."""
    design, datafit, fit_col = problem.design, problem.datafit, problem.fit_col
    d = design.n_features
    dtype = design.dtype
    lambdas = jnp.asarray(lambdas, dtype)
    penalty = penalty_as_dtype(penalty, dtype)
    if batched:
        W, B, gaps, iters = fista.solve_batched(
            design,
            datafit,
            penalty,
            lambdas,
            tol_abs,
            fit_intercept=fit_col,
            max_iter=max_iter * 100,
        )
        return W, B, gaps, iters
    n_lam = lambdas.shape[0]
    if p0 is None:
        p0 = cd.path_bucket(design.n_samples, d)
    # host zeros and the shared setup program: no compiled jnp.zeros
    out = (
        np.zeros((n_lam, d), dtype),
        np.zeros((n_lam,), dtype),
        np.zeros((n_lam,), dtype),
        np.zeros((n_lam,), np.int32),
    )
    st, _ = setup(design, datafit, coef_init, 0.0, fit_col)

    def run(K, grow_at, carry):
        start, st, out = carry
        budget = cd.Budget(tol_abs, max_iter, max_epochs, grow_at)
        carry = _path_bucket(
            K,
            fit_col,
            cd.CD,
            False,
            design,
            datafit,
            penalty,
            lambdas,
            None,
            start,
            st,
            out,
            budget,
        )
        return int(carry[0]) >= n_lam, carry[1].w, carry

    start = np.zeros((), np.int32)
    return cd.run_buckets(run, (start, st, out), st.w, d, p0)[2]


def path(
    X,
    y,
    *,
    datafit="quadratic",
    lambdas=None,
    n_lambdas=100,
    eps=1e-3,
    l1_ratio=1.0,
    penalty=None,
    sample_weight=None,
    penalty_factor=None,
    positive=False,
    fit_intercept=True,
    tol=1e-4,
    max_iter=100,
    max_epochs=100_000,
    p0=None,
    batched=False,
    coef_init=None,
) -> PathResult:
    """Regularization path for the Lasso / elastic net / sparse logistic model.

    Minimizes, for each ``λ`` in the grid, ``F(Xw + b) + λ Σⱼ cⱼ(ρ|wⱼ| +
    (1 - ρ)/2 wⱼ²)`` with ``F`` the (weighted) quadratic ``½Σᵢaᵢ(yᵢ - uᵢ)²``
    or log-loss, ``ρ = l1_ratio`` and ``c`` the ``penalty_factor``; or any
    separable ``penalty`` whose ``strength`` runs over the grid.

    Args:
      X, y: data, dense or sparse (labels ``{0, 1}``, ``±1`` or boolean for
        ``datafit="logistic"``).
      datafit: ``"quadratic"``, ``"logistic"`` or a ``Datafit`` subclass.
      lambdas: explicit strengths, solved (and returned) sorted decreasing
        for warm starts, as scikit-learn's ``lasso_path`` sorts its
        ``alphas``; default ``n_lambdas`` values from ``λ_max =
        penalty.alpha_max(∇F(b₀))`` to ``eps·λ_max`` (``∇F`` read where the
        unpenalized coordinates are fitted, if any: see
        :func:`default_grid`).
      n_lambdas, eps: grid size and ratio (scikit-learn's defaults 100, 1e-3).
      l1_ratio: ``ρ`` in ``[0, 1]`` (``ρ = 0`` needs explicit ``lambdas``).
      penalty: a separable penalty to use instead of ``l1_ratio``,
        ``penalty_factor`` and ``positive`` (its ``strength`` is replaced).
      sample_weight, penalty_factor, positive: as in :func:`~.glm.lasso`.
      fit_intercept: unpenalized intercept.
      tol: per-``λ`` stopping rule ``gap <= tol · P(0)``.
      max_iter, max_epochs: per-``λ`` budgets, as in :func:`~.glm.lasso`.
      p0: smallest working-set size; default ``None``: large enough for the
        whole path where that is cheap (:func:`~.cd.path_bucket`: the power
        of two ``>= 8/7·min(n, d)``, at most ``d`` and the largest ``K``
        with ``K²·n <= 2³¹``, at least 64), so that a path compiles one
        working-set program rather than one per doubling from 64. On a 1000
        x 5000 Lasso (2-core CPU) that makes the first path of a fresh
        process 4x faster (15 s -> 3.8 s; 1.2 s -> 0.6 s with a filled
        compilation cache) and a repeated call in the same process 2.3x
        slower (0.11 s -> 0.26 s: longer Gram rows per coordinate step);
        ``p0=64``, :func:`~.glm.lasso`'s start, restores the doubling.
      batched: solve all ``λ`` at once with vmapped FISTA instead.
      coef_init: ``(n_features,)`` coefficients to start the first ``λ``
        from (default 0; not with ``batched``, whose FISTA starts every
        ``λ`` at 0).

    Returns:
      A :class:`PathResult`.
    """
    datafit_cls = datafit_class(datafit)
    X, y = check_X_y(X, y)
    if penalty is None:
        penalty = elastic_net_penalty(1.0, l1_ratio, penalty_factor, positive)
    elif l1_ratio != 1.0 or penalty_factor is not None or positive:
        raise ValueError(
            "l1_ratio, penalty_factor and positive describe the default elastic-net "
            "penalty; with penalty= set them on the penalty object instead "
            f"(got {penalty!r} with l1_ratio={l1_ratio!r})"
        )
    check_penalty(penalty, X.shape[1])
    _check_path_args(lambdas, n_lambdas, eps, tol, max_iter)
    problem = prepare(
        X, y, datafit_cls, fit_intercept=fit_intercept, sample_weight=sample_weight
    )
    design, datafit = problem.design, problem.datafit
    penalty = penalty_as_dtype(penalty, design.dtype)
    if coef_init is not None:
        if batched:
            raise ValueError(
                "coef_init needs the working-set CD path (batched=False): batched "
                "FISTA starts every strength at 0"
            )
        check_coef_init(coef_init, (design.n_features,))
        coef_init = jnp.asarray(coef_init, design.dtype)
    if lambdas is None:
        lambdas = default_grid(problem, penalty, n_lambdas, eps, tol)
    else:
        lambdas = decreasing(lambdas)
    _, tol_abs = setup(design, datafit, None, tol, problem.fit_col)
    coefs, ints, gaps, iters = solve_path(
        problem,
        penalty,
        lambdas,
        tol_abs=tol_abs,
        max_iter=max_iter,
        max_epochs=max_epochs,
        p0=p0,
        batched=batched,
        coef_init=coef_init,
    )
    ints, converged, all_converged = intercepts_converged(
        problem, coefs, ints, gaps, tol_abs
    )
    if not bool(all_converged):
        warn_not_converged(jnp.max(gaps), tol_abs, "path")
    return PathResult(jnp.asarray(lambdas), coefs, ints, gaps, iters, converged)


def lasso_path(X, y, **kwargs) -> PathResult:
    """Lasso path: :func:`path` with the quadratic datafit and ``l1_ratio=1``."""
    return path(X, y, datafit="quadratic", l1_ratio=1.0, **kwargs)


def enet_path(X, y, l1_ratio=0.5, **kwargs) -> PathResult:
    """Elastic-net path: :func:`path` with the quadratic datafit."""
    return path(X, y, datafit="quadratic", l1_ratio=l1_ratio, **kwargs)


def logistic_path(X, y, l1_ratio=1.0, **kwargs) -> PathResult:
    """Sparse logistic path: :func:`path` with the logistic datafit."""
    return path(X, y, datafit="logistic", l1_ratio=l1_ratio, **kwargs)


class CVResult(NamedTuple):
    """K-fold cross-validation of a path.

    Attributes:
      lambdas: the common grid, shape ``(L,)``.
      scores: held-out loss per ``λ`` and fold, shape ``(L, n_folds)`` (mean
        squared error, or mean log-loss for the logistic datafit).
      best_index: index of the smallest mean held-out loss (first on ties).
      best_lambda: ``lambdas[best_index]``.
    """

    lambdas: np.ndarray
    scores: np.ndarray
    best_index: int
    best_lambda: float


def decreasing(lambdas):
    """Explicit strengths as a numpy array sorted decreasing (warm starts run
    from large to small)."""
    return np.sort(np.asarray(lambdas))[::-1]


def fold_splits(cv, X, y, groups=None):
    """``cv`` as a list of ``(train, test)`` index arrays: contiguous folds
    for an integer (numpy's too), a scikit-learn splitter's ``split(X, y,
    groups)`` (``GroupKFold`` needs ``groups``), or the pairs given."""
    if isinstance(cv, bool):
        raise ValueError(
            f"cv must be an int, a splitter or (train, test) pairs, got {cv!r}"
        )
    if isinstance(cv, numbers.Integral):
        return kfold(X.shape[0], int(cv))
    if hasattr(cv, "split"):
        # a splitter of the user's may not take groups
        parts = cv.split(X, y) if groups is None else cv.split(X, y, groups)
        return listed_folds(tuple(s) for s in parts)
    try:
        return listed_folds(tuple(s) for s in cv)
    except TypeError:
        raise ValueError(
            f"cv must be an int, a splitter or (train, test) pairs, got {cv!r}"
        ) from None


def listed_folds(splits) -> list:
    """The ``(train, test)`` pairs of a split as a list; a ``ValueError`` when
    there are none (LogisticRegressionCV fitted zero folds and chose the
    first C, silently)."""
    folds = list(splits)
    if not folds:
        raise ValueError(
            "No fits were performed. Was the CV iterator empty? (cv gave no "
            "(train, test) splits: an empty list, or a generator that an "
            "earlier fit used up; pass a splitter such as KFold(5), or a list)"
        )
    return folds


def kfold(n_samples, n_folds):
    """Contiguous folds, like scikit-learn's ``KFold(n_folds)`` (no shuffle)."""
    check_positive_int("cv", n_folds)
    if n_folds < 2 or n_folds > n_samples:
        raise ValueError(f"cv must lie in [2, n_samples={n_samples}], got {n_folds}")
    sizes = np.full(n_folds, n_samples // n_folds)
    sizes[: n_samples % n_folds] += 1
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    idx = np.arange(n_samples)
    return [
        (np.concatenate([idx[:a], idx[b:]]), idx[a:b])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]


def fold_weights(splits, sample_weight, n, dtype):
    """``(train, test)``, each ``(n_folds, n)``: per fold the normalized
    sample weights of its training (held-out) rows and 0 on the others, so
    that a fold is the full ``X`` with weights, the same shapes for every fold.
    Raises ``ValueError`` for an empty part, one with zero total weight or
    indices outside ``[0, n)``; warns where a row is in both parts."""
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)

    def indices(k, name, part):
        part = np.asarray(part)
        if part.dtype == bool:
            part = np.flatnonzero(part)
        if part.size and (
            part.dtype.kind not in "iu" or part.min() < 0 or part.max() >= n
        ):
            raise ValueError(
                f"cv fold {k}: the {name} part must be row indices in [0, {n}), "
                f"got {part.dtype} values in [{part.min()}, {part.max()}]"
            )
        return part

    def rows(part):  # the weight of each row; a row listed twice counts twice
        if part.size == 0:
            return 0, None
        return part.size, np.bincount(part, sw[part], n)

    train = np.zeros((len(splits), n), dtype)
    test = np.zeros((len(splits), n), dtype)
    for k, (tr, te) in enumerate(splits):
        tr, te = indices(k, "training", tr), indices(k, "held-out", te)
        both = np.intersect1d(tr, te)
        if both.size:
            warn_caller(
                f"cv fold {k}: {both.size} rows are in both its training and "
                "held-out parts, so the held-out loss scores rows the fit saw "
                "(it favours the weakest penalty)"
            )
        (n_tr, s_tr), (n_te, s_te) = rows(tr), rows(te)
        if n_tr == 0 or n_te == 0:
            raise ValueError(f"fold {k} has an empty training or held-out part")
        train[k] = normalized_weights(s_tr, n, dtype)
        test[k] = normalized_weights(s_te, n, dtype)
    return train, test


def fold_moments(design, a, center):
    """A fold's ``(xbar, colsq)``: what ``design.reweighted(a, center)``
    changes. The fold drivers compute them once per call (a pass over ``X``
    per fold) and reattach them with :func:`at_moments` in every compiled
    bucket, rather than recompute them there."""
    design_f = design.reweighted(a, center)
    return design_f.xbar, design_f.colsq


def at_moments(design, moments):
    """``design`` with a fold's :func:`fold_moments`."""
    xbar, colsq = moments
    return dataclasses.replace(design, xbar=xbar, colsq=colsq)


@functools.partial(jax.jit, static_argnames=("center", "fit_col"))
def _fold_setup(design, datafit, y_offset, A, W0, tol, center, fit_col):
    """Per fold (row of ``A``): its :func:`fold_moments` (centred when
    ``center``), targets centred with the fold's weights (when ``center``
    and the intercept is not a free coordinate, ``fit_col``), the offset to
    add back, the starting state (from ``W0``'s row, or 0 when ``W0`` is
    ``None``) and ``tol · P_fold(0)``."""

    def one(a, w0):
        datafit_f, offset = _centred(
            type(datafit)(datafit.y, a), center and not fit_col, a.dtype
        )
        moments = fold_moments(design, a, center)
        st, tol_abs = setup(at_moments(design, moments), datafit_f, w0, tol, fit_col)
        return moments, datafit_f.y, y_offset + offset, st, tol_abs

    return jax.vmap(one)(A, W0)


@stored_jit(static_argnames=(*cd.STATIC, "algo", "center", "batch_size", "batched"))
def _folds_bucket(
    K,
    fit_intercept,
    algo,
    design,
    datafit,
    penalty,
    folds,
    extra,
    limits,
    center,
    batch_size,
    batched,
):
    """The paths of all folds on bucket ``K`` (or by batched FISTA): one
    compiled program, folds mapped ``batch_size`` at a time. ``algo`` as in
    :func:`_bucket`; ``extra``: None or ``(e, c)``, each fold's weights
    ``a`` becoming ``a + c[i]·e`` at strength ``i``."""
    max_iter, max_epochs, grow_at = limits

    def one(fold):
        a, moments, y, tol_abs, lams, start, st, out = fold
        design_f = at_moments(design, moments)
        datafit_f = type(datafit)(y, a)
        if batched:
            W, B, gaps, iters = fista.solve_batched(
                design_f,
                datafit_f,
                penalty,
                lams,
                tol_abs,
                fit_intercept=fit_intercept,
                max_iter=max_iter * 100,
            )
            return jnp.full_like(start, lams.shape[0]), st, (W, B, gaps, iters)
        budget = cd.Budget(tol_abs, max_iter, max_epochs, grow_at)
        weights = None if extra is None else (a, *extra)
        args = (design_f, datafit_f, penalty, lams, weights, start, st, out, budget)
        return _bucket(K, fit_intercept, algo, center, *args)

    if batch_size == 1:  # a plain scan: no batching of the solver's loops
        return lax.map(one, folds)
    return lax.map(one, folds, batch_size=batch_size)


@functools.partial(jax.jit, static_argnames="fit_col")
def _fold_intercepts(xbars, coefs, ints, gaps, y_offsets, tol_abs, fit_col):
    def one(xbar, w, b, gap, y_offset, tol_f):
        return _intercepts_converged(w, b, gap, y_offset, xbar, tol_f, fit_col)[:2]

    return jax.vmap(one)(xbars, coefs, ints, gaps, y_offsets, tol_abs)


def _widest(W):
    """The row of ``W`` (``(F, d)``) with the most nonzeros: the working-set
    bucket must hold every fold's support."""
    W = np.asarray(W)
    return W[np.argmax(np.count_nonzero(W, axis=1))]


def warn_folds_not_converged(gaps, converged, tol_abs, what):
    """One ``ConvergenceWarning`` for :func:`solve_folds`' outputs: the fold
    and strength whose gap exceeds its fold's ``tol_abs`` the most."""
    if bool(np.all(converged)):
        return
    gaps, tol_abs = np.asarray(gaps), np.asarray(tol_abs)
    excess = np.where(np.asarray(converged), -np.inf, gaps - tol_abs[:, None])
    k, i = np.unravel_index(np.argmax(excess), gaps.shape)
    warn_not_converged(gaps[k, i], tol_abs[k], what)


def solve_folds(
    problem,
    penalty,
    lambdas,
    A,
    *,
    fit_intercept,
    tol,
    max_iter,
    max_epochs=100_000,
    p0=None,
    batched=False,
    batch_size=None,
    coef_init=None,
):
    """Paths of ``penalty`` at strengths ``lambdas`` for every fold at once.

    ``lambdas``: one grid ``(L,)`` for every fold, or one per fold
    ``(n_folds, L)`` (``LogisticRegressionCV``: ``λ = 1/(C·Σ_train s)``
    differs by fold), each decreasing for warm starts.

    A fold is the full problem's ``X`` and targets with the sample weights
    of a row of ``A`` (``(n_folds, n)``, normalized, zero on held-out rows):
    all folds share one design on the device and one compiled program per
    working-set bucket, whatever the fold sizes (scikit-learn's folds differ
    by a row, and a sparse fold's ``nnz`` always differs). With an intercept
    each fold centres its design with its own weighted means, as a fit on
    its rows alone does (:func:`~jaxreg.solvers.base.prepare`), and its
    targets too where the datafit is fitted by centring.

    Folds run ``batch_size`` at a time (``lax.map``): ``None`` maps them one
    after another on the CPU and vmaps all of them on accelerators. Each
    fold's path starts from 0, or from its row of ``coef_init`` (``(F, d)``).
    ``p0`` is the smallest working set (``None``: :func:`~.cd.path_bucket`,
    as for :func:`path`).

    Returns ``(coefs, intercepts, gaps, n_iter, converged, tol_abs)`` of
    shapes ``(F, L, d)``, ``(F, L)``, ``(F, L)``, ``(F, L)``, ``(F, L)``,
    ``(F,)`` (``tol_abs = tol · P_fold(0)``, each fold's stopping level).
    """
    design, datafit = problem.design, problem.datafit
    dtype = design.dtype
    center = fit_intercept  # every fold's design, as prepare() centres
    fit_col = problem.fit_col
    A = jnp.asarray(A, dtype)
    F, d = A.shape[0], design.n_features
    lambdas = jnp.asarray(lambdas, dtype)
    n_lam = lambdas.shape[-1]
    if lambdas.ndim not in (1, 2) or lambdas.shape[:-1] not in ((), (F,)):
        raise ValueError(
            f"lambdas must have shape (L,) or ({F}, L), got {lambdas.shape}"
        )
    lambdas = jnp.broadcast_to(lambdas, (F, n_lam))
    penalty = penalty_as_dtype(penalty, dtype)
    if batch_size is None:
        batch_size = 1 if jax.default_backend() == "cpu" else F
    if coef_init is not None:
        coef_init = jnp.asarray(coef_init, dtype)
        if coef_init.shape != (F, d):
            raise ValueError(
                f"coef_init must have shape ({F}, {d}), got {coef_init.shape}"
            )
    moments, Y, y_offsets, st, tol_abs = _fold_setup(
        design, datafit, problem.y_offset, A, coef_init, tol, center, fit_col
    )
    out = (
        np.zeros((F, n_lam, d), dtype),
        np.zeros((F, n_lam), dtype),
        np.zeros((F, n_lam), dtype),
        np.zeros((F, n_lam), np.int32),
    )
    start = np.zeros((F,), np.int32)

    def run(K, grow_at, carry):
        start, st, out = carry
        folds = (A, moments, Y, tol_abs, lambdas, start, st, out)
        carry = _folds_bucket(
            K,
            fit_col,
            cd.CD,
            design,
            datafit,
            penalty,
            folds,
            None,
            (max_iter, max_epochs, grow_at),
            center,
            batch_size,
            batched,
        )
        return bool(np.all(np.asarray(carry[0]) >= n_lam)), _widest(carry[1].w), carry

    carry = (start, st, out)
    if p0 is None:
        p0 = cd.path_bucket(design.n_samples, d)
    if batched:
        _, _, carry = run(0, 0, carry)
    else:
        carry = cd.run_buckets(run, carry, _widest(st.w), d, p0)
    coefs, ints, gaps, iters = carry[2]
    ints, converged = _fold_intercepts(
        moments[0], coefs, ints, gaps, y_offsets, tol_abs, fit_col
    )
    return coefs, ints, gaps, iters, converged, tol_abs


def cross_validate(
    X,
    y,
    *,
    datafit="quadratic",
    lambdas=None,
    n_lambdas=100,
    eps=1e-3,
    l1_ratio=1.0,
    sample_weight=None,
    penalty_factor=None,
    positive=False,
    cv=5,
    groups=None,
    fit_intercept=True,
    tol=1e-4,
    max_iter=100,
    batched=False,
) -> CVResult:
    """K-fold selection of ``λ`` on a path, as scikit-learn's ``LassoCV``.

    The grid is computed once on the full data (as ``LassoCV`` does); each
    fold fits a warm-started path on its training part (centred with the
    training means) and scores every ``λ`` on its held-out part: the
    (``sample_weight``-weighted) mean squared error, or mean log-loss.
    All folds are solved together by :func:`solve_folds`: ``X`` goes to the
    device once and one compiled program serves every fold.

    Args:
      X: as in :func:`path`, and so are ``y``, ``datafit``, ``lambdas``,
        ``n_lambdas``, ``eps``, ``l1_ratio``, ``sample_weight``,
        ``penalty_factor``, ``positive``, ``fit_intercept``, ``tol``,
        ``max_iter`` and ``batched``.
      cv: number of contiguous folds, a scikit-learn splitter (its
        ``split(X, y, groups)``), or a list of ``(train, test)`` index arrays.
      groups: group labels of the samples for a group splitter
        (``GroupKFold``, ``LeaveOneGroupOut``).
      lambdas: as in :func:`path` (sorted decreasing).

    Returns:
      A :class:`CVResult`. Nothing is refitted: fit the full data at
      ``best_lambda`` (e.g. ``lasso(X, y, result.best_lambda)``), or use
      :class:`jaxreg.linear_model.LassoCV`, which does.
    """
    datafit_cls = datafit_class(datafit)
    X, y = check_X_y(X, y)
    penalty = elastic_net_penalty(1.0, l1_ratio, penalty_factor, positive)
    check_penalty(penalty, X.shape[1])
    _check_path_args(lambdas, n_lambdas, eps, tol, max_iter)
    n = X.shape[0]
    folds = fold_splits(cv, X, y, groups)
    problem = prepare(
        X, y, datafit_cls, fit_intercept=fit_intercept, sample_weight=sample_weight
    )
    dtype = problem.design.dtype
    if lambdas is None:
        lambdas = default_grid(
            problem, penalty_as_dtype(penalty, dtype), n_lambdas, eps, tol
        )
    lambdas = decreasing(lambdas)
    train, test = fold_weights(folds, sample_weight, n, dtype)
    coefs, ints, gaps, _, converged, tol_abs = solve_folds(
        problem,
        penalty,
        lambdas,
        train,
        fit_intercept=fit_intercept,
        tol=tol,
        max_iter=max_iter,
        batched=batched,
    )
    warn_folds_not_converged(gaps, converged, tol_abs, "cross_validate")
    if is_sparse(X):
        import scipy.sparse as sp

        X = sp.csr_matrix(X)
    else:
        X = np.asarray(X)
    y_enc = np.asarray(datafit_cls.from_targets(np.asarray(y), np.ones(n)).y, float)
    coefs, ints = np.asarray(coefs, np.float64), np.asarray(ints, np.float64)
    scores = np.empty((len(lambdas), len(folds)))
    for k in range(len(folds)):
        te = np.flatnonzero(test[k])  # each row once, weighted by its count
        pred = X[te] @ coefs[k].T + ints[k]
        loss = datafit_cls.loss(y_enc[te][:, None], pred)
        scores[:, k] = np.average(loss, axis=0, weights=test[k, te])
    best = int(np.argmin(scores.mean(axis=1)))
    return CVResult(lambdas, scores, best, float(lambdas[best]))
