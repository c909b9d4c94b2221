"""Multi-task Lasso and elastic net: the row-wise group norm across tasks.

scikit-learn's ``MultiTaskElasticNet(alpha, l1_ratio=ρ)`` minimizes, for
targets ``Y`` ``(n, T)``, coefficients ``W`` ``(T, d)`` and intercepts ``b``
``(T,)``,

    1/(2n) ||Y - XWᵀ - 1bᵀ||_F² + αρ Σⱼ ||W[:, j]||₂ + α(1-ρ)/2 ||W||_F²

(``MultiTaskLasso`` is ``ρ = 1``): feature ``j`` is kept or dropped for all
tasks at once. It is solved as the group lasso of
:func:`jaxreg.solvers.bcd.group_lasso` (working-set block CD, gap-safe
screening) on the stacked single-output problem ``vec(Y) ≈ (X ⊗ I_T)
vec(W)``: row ``i·T + t`` holds sample ``i`` of task ``t``, column ``j·T +
t`` coefficient ``W[t, j]``, and the ``T`` columns of feature ``j`` form a
group. A dense ``X`` is the :class:`~jaxreg.solvers.design.MultiTaskDesign`
(``X ⊗ I_T`` never formed: its products are ``(n, d) x (d, T)`` matrix
products); a sparse one is stacked as ``scipy.sparse`` (``T·nnz(X)``
entries). The data rows weigh ``sᵢ/n`` (``s`` the sample weights scaled
to sum to ``n``) and the ridge term is ``d·T`` extra rows of the identity
with target 0 and weight ``α(1-ρ)`` each, the group strength ``αρ``: the
stacked objective is the one above, and ``alpha`` changes only the ridge
rows' weight and the strength, so a path or a fold builds the stacked
problem once and solves its grid in one compiled loop
(:func:`jaxreg.solvers.bcd.solve_folds_prepared`). The intercept is eliminated
by (weighted) centring for dense ``X`` and is an unpenalized group of ``T``
indicator columns for sparse ``X`` (which is never densified). At ``ρ = 0``
no group is penalized, and the problem is each task's ridge: it is solved
directly, by one thin SVD per fold (:func:`_ridge_folds`).

scikit-learn's path functions :func:`enet_path` and :func:`lasso_path` live
here too: for a 2-D ``y`` their problem is this one (without intercept).
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array
from sklearn.utils.validation import check_consistent_length

from jaxreg._estimator_base import (
    _check_params,
    _check_precompute,
    _feature_order,
    _LinearRegressor,
    _SparseCoef,
    _validate_X_and_y,
    _warm_coef,
    _weights_array,
    alpha_grid,
)
from jaxreg._validation import (
    check_nonnegative,
    check_positive,
    check_unit_interval,
    warn_caller,
)
from jaxreg.solvers.base import (
    Problem,
    SolverResult,
    check_coef_init,
    default_dtype,
    to_device,
    warn_not_converged,
)
from jaxreg.solvers.bcd import Layout, group_layout, solve_folds_prepared
from jaxreg.solvers.datafits import Quadratic, normalized_weights
from jaxreg.solvers.design import MultiTaskDesign, as_design
from jaxreg.solvers.path import path
from jaxreg.solvers.ridge import ridge_folds

__all__ = [
    "MultiTaskElasticNet",
    "MultiTaskLasso",
    "enet_path",
    "lasso_path",
    "multitask_enet",
]


class _Stacked(NamedTuple):
    """The stacked group-lasso problem of ``X`` for ``T`` tasks, built once
    for every fold and ``alpha`` (the folds are sample weights with zeros on
    held-out rows; ``alpha`` only sets the strength and the ridge rows'
    weight)."""

    design: Any  # MultiTaskDesign (dense X) or SparseDesign (stacked)
    layout: Layout
    group_weights: np.ndarray
    shape: tuple  # (n, d, T)
    ridge: bool  # d·T identity rows follow (l1_ratio < 1)
    center: bool  # dense X with an intercept: centred with each fold's means
    free: bool  # sparse X with an intercept: a group of T indicator columns


def _stack(X, T, ridge, fit_intercept) -> _Stacked:
    n, d = X.shape
    sparse = sp.issparse(X)
    dtype = default_dtype(X)
    labels = [np.repeat(np.arange(d), T)]
    group_weights = [np.ones(d)]
    free = fit_intercept and sparse
    if free:  # one unpenalized group of T intercept columns
        labels.append(np.full(T, d))
        group_weights.append(np.zeros(1))
    n_rows = n * T + (d * T if ridge else 0)
    a = np.full(n_rows, 1.0 / n_rows)  # placeholder weights: each fold's own
    if sparse:
        eye = sp.identity(T, format="csr")
        blocks = [sp.kron(sp.csr_matrix(X), eye, format="csc")]
        if free:
            blocks.append(sp.kron(np.ones((n, 1)), eye, format="csc"))
        stacked = sp.hstack(blocks, format="csc")
        if ridge:
            unit = sp.hstack(
                [sp.identity(d * T), sp.csc_matrix((d * T, T * free))], format="csc"
            )
            stacked = sp.vstack([stacked, unit], format="csc")
        design = as_design(stacked, a, center=False, dtype=dtype, to_device=to_device)
    else:
        design = MultiTaskDesign.of(
            to_device(X.T, dtype), T, ridge, jnp.asarray(a, dtype)
        )
    labels = np.concatenate(labels)
    return _Stacked(
        design,
        group_layout(labels, labels.shape[0]),
        np.concatenate(group_weights),
        (n, d, T),
        ridge,
        fit_intercept and not sparse,
        free,
    )


def _solve_folds(
    X, Y, S, alphas, l1_ratio, *, fit_intercept, tol, max_iter, coef_init=None
):
    """The multi-task elastic net at each of ``alphas`` (decreasing, warm
    started) for each fold: the rows of ``S`` (``(F, n)``, sample weights
    normalized to sum to 1, zero on held-out rows), all folds in one
    compiled program per working-set bucket
    (:func:`jaxreg.solvers.bcd.solve_folds_prepared`). Fold ``f``'s data
    rows weigh ``S[f]`` (repeated per task), its targets are centred with
    its own means for a dense ``X`` with an intercept (:func:`_stack`), and
    the ridge rows weigh ``α(1-ρ)`` at each ``alpha``. ``coef_init``:
    ``(T, d)`` for every fold, or None.

    Returns ``(W, b, gaps, n_iter, converged, tol_abs)`` of shapes ``(F, L,
    T, d)``, ``(F, L, T)``, ``(F, L)`` ×3 and ``(F,)``, gaps in the units
    of the objective (the module docstring's).

    ``l1_ratio == 0`` (no group penalty: one ridge per task) is solved
    directly (:func:`_ridge_folds`): the stacked problem's gap at zero
    strength has no dual point, and its estimate stopped the block solver
    1.6 % from the solution, reported converged."""
    if l1_ratio == 0:
        return _ridge_folds(X, Y, S, alphas, tol, fit_intercept)
    st = _stack(X, np.shape(Y)[1], l1_ratio < 1, fit_intercept)
    n, d, T = st.shape
    F = S.shape[0]
    alphas = np.asarray(alphas, np.float64).reshape(-1)
    dtype = st.design.dtype
    Y = np.asarray(Y, np.float64)
    n_ridge = d * T if st.ridge else 0
    y_off = S @ Y if st.center else np.zeros((F, T))  # (F, T)
    x_off = np.asarray(S @ X) if st.center else np.zeros((F, d))  # (F, d)
    A = np.concatenate([np.repeat(S, T, axis=1), np.zeros((F, n_ridge))], axis=1)
    targets = np.concatenate(
        [(Y[None] - y_off[:, None, :]).reshape(F, n * T), np.zeros((F, n_ridge))],
        axis=1,
    )
    extra = None
    if st.ridge:  # the ridge rows weigh α(1-ρ)
        e = np.concatenate([np.zeros(n * T), np.ones(n_ridge)])
        extra = (e, alphas * (1.0 - l1_ratio))
    datafit = Quadratic(jnp.asarray(targets[0], dtype), jnp.asarray(A[0], dtype))
    problem = Problem(st.design, datafit, jnp.zeros((), dtype), False)
    W0 = None
    if coef_init is not None:
        W0 = np.zeros((F, st.layout.pos.shape[0]))
        W0[:, : d * T] = np.asarray(coef_init, float).T.ravel()
    flat, _, gaps, iters, converged, tol_abs = solve_folds_prepared(
        problem,
        st.layout,
        alphas * l1_ratio,
        st.group_weights,
        A,
        targets,
        center=st.center,
        extra=extra,
        tol=tol,
        max_iter=max_iter,
        max_epochs=100_000,
        p0=16,
        coef_init=W0,
    )
    flat = np.asarray(flat, np.float64)[:, :, st.layout.pos]
    W = flat[:, :, : d * T].reshape(F, -1, d, T).transpose(0, 1, 3, 2)
    # the intercepts: free coordinates (sparse X), else from the centring
    # offsets (zero without an intercept)
    if st.free:
        b = flat[:, :, d * T :]
    else:
        b = y_off[:, None, :] - np.einsum("fltd,fd->flt", W, x_off)
    return W, b, np.asarray(gaps), np.asarray(iters), np.asarray(converged), tol_abs


def _ridge_folds(X, Y, S, alphas, tol, fit_intercept):
    """:func:`_solve_folds` at ``l1_ratio == 0``: each task's ridge, for every
    fold and ``alpha`` by one thin SVD per fold
    (:func:`~jaxreg.solvers.ridge.ridge_folds`). The gap is the ridge's,
    ``‖∇P(W)‖²/(2α)`` (``P`` is ``α``-strongly convex; computed in float64),
    and 0 at ``alpha = 0``, where the SVD gives the least-squares solution
    itself; ``n_iter`` is 1."""
    alphas = np.asarray(alphas, np.float64).reshape(-1)
    Y = np.asarray(Y, np.float64)
    W, b = ridge_folds(X, Y, S, alphas, fit_intercept=fit_intercept)
    F, L, T, d = W.shape
    flat = W.transpose(3, 0, 1, 2).reshape(d, F * L * T)
    fitted = (X @ flat).reshape(-1, F, L, T) + b[None]
    weighted = S.T[:, :, None, None] * (Y[:, None, None, :] - fitted)
    grad = (X.T @ weighted.reshape(-1, F * L * T)).reshape(d, F, L, T)
    grad = grad.transpose(1, 2, 3, 0) - alphas[None, :, None, None] * W
    sq = np.sum(grad * grad, axis=(2, 3))
    safe = np.where(alphas > 0, alphas, 1.0)[None]
    gaps = np.where(alphas[None] > 0, sq / (2 * safe), 0.0)
    y_off = S @ Y if fit_intercept else np.zeros((F, T))
    resid = Y[None] - y_off[:, None, :]
    tol_abs = tol * 0.5 * np.einsum("fn,fnt->f", S, resid * resid)
    ones = np.ones((F, L), np.int32)
    return W, b, gaps, ones, gaps <= tol_abs[:, None], tol_abs


def multitask_enet(
    X,
    Y,
    alpha,
    l1_ratio,
    *,
    sample_weight=None,
    fit_intercept=True,
    tol=1e-4,
    max_iter=100,
    coef_init=None,
    what="MultiTaskElasticNet",
) -> SolverResult:
    """Multi-task elastic net (objective in the module docstring).

    Args:
      X: ``(n, d)`` numpy array or ``scipy.sparse`` matrix.
      Y: ``(n, T)`` targets.
      alpha, l1_ratio: scikit-learn's ``alpha >= 0`` and ``ρ`` in ``[0, 1]``.
      sample_weight: ``(n,)`` weights ``>= 0`` or None (the loss is their
        weighted mean, as scikit-learn ≥ 1.9 rescales them to sum to ``n``).
      fit_intercept, tol, max_iter: as in :func:`~jaxreg.solvers.bcd.
        group_lasso` (``tol`` relative to the stacked objective at 0).
      coef_init: warm start ``W`` ``(T, d)``.
      what: the name a ``ConvergenceWarning`` gives.

    Returns:
      A :class:`~jaxreg.solvers.base.SolverResult` with ``coef`` ``(T, d)``,
      ``intercept`` ``(T,)`` and ``gap`` in the units of the objective above.
    """
    n = X.shape[0]
    S = normalized_weights(sample_weight, n, np.float64)[None]
    W, b, gaps, iters, converged, tol_abs = _solve_folds(
        X,
        Y,
        S,
        [alpha],
        l1_ratio,
        fit_intercept=fit_intercept,
        tol=tol,
        max_iter=max_iter,
        coef_init=coef_init,
    )
    if not bool(converged[0, 0]):
        warn_not_converged(gaps[0, 0], tol_abs[0], what)
    return SolverResult(
        W[0, 0], b[0, 0], float(gaps[0, 0]), iters[0, 0], converged[0, 0]
    )


def _path_alphas(n_alphas, alphas):
    """scikit-learn 1.9's reading of ``enet_path``'s ``n_alphas`` / ``alphas``
    (an int or an array), with its ``FutureWarning`` messages."""
    if n_alphas == "deprecated":
        n_alphas = 100
    else:
        warn_caller(
            "'n_alphas' was deprecated in 1.9 and will be removed in 1.11. "
            "'alphas' now accepts an integer value which removes the need to pass "
            "'n_alphas'. The default value of 'alphas' will change from None to "
            "100 in 1.11. Pass an explicit value to 'alphas' and leave 'n_alphas' "
            "to its default value to silence this warning.",
            FutureWarning,
        )
    if isinstance(alphas, str) and alphas == "warn":
        return n_alphas
    if alphas is None:
        warn_caller(
            "'alphas=None' is deprecated and will be removed in 1.11, at which "
            "point the default value will be set to 100. Set 'alphas=100' "
            "to silence this warning.",
            FutureWarning,
        )
        return n_alphas
    return alphas


def enet_path(
    X,
    y,
    *,
    l1_ratio=0.5,
    eps=1e-3,
    n_alphas="deprecated",
    alphas="warn",
    precompute="auto",
    Xy=None,
    copy_X=True,
    coef_init=None,
    verbose=False,
    return_n_iter=False,
    positive=False,
    check_input=True,
    **params,
):
    r"""scikit-learn 1.9's ``enet_path``: the elastic net at each alpha, no
    intercept.

    Minimizes, for each ``alpha`` (strongest first, warm-started),

    - one target ``y`` ``(n,)``: ``1/(2n)||y - Xw||² + αρ||w||₁ +
      α(1-ρ)/2 ||w||²`` (:func:`jaxreg.solvers.path.path` with
      ``fit_intercept=False``, working-set CD);
    - targets ``Y`` ``(n, T)``, even ``T = 1``: ``1/(2n)||Y - XWᵀ||_F² +
      αρ Σⱼ ||W[:, j]||₂ + α(1-ρ)/2 ||W||_F²``, the multi-task problem of
      :class:`MultiTaskElasticNet` (block CD),

    with ``ρ = l1_ratio``. As in scikit-learn, neither ``X`` nor ``y`` is
    centred: with an intercept in the model, centre them first (or use the
    estimators or :func:`jaxreg.solvers.path.path`, which fit it).

    Args:
      X: ``(n, d)``, dense or ``scipy.sparse``.
      y: ``(n,)`` or ``(n, T)``.
      l1_ratio: ``ρ`` in ``[0, 1]`` (``ρ = 0`` needs explicit ``alphas``).
      eps, alphas, n_alphas: an int ``alphas`` (default 100; the deprecated
        ``n_alphas`` as in scikit-learn 1.9, with its ``FutureWarning``)
        gives that many values from ``α_max = maxⱼ||(XᵀY)ⱼ||₂/(nρ)`` (the
        smallest alpha with ``w = 0``; for ``positive``, ``max(0,
        max(Xᵀy))/(nρ)``) down to ``eps·α_max``, geometric; an array is
        solved sorted decreasing (an empty one gives empty results).
      precompute: ``"auto"``, a bool or a Gram array ``(d, d)`` (shape
        checked): accepted; the CD forms its working set's Gram matrix
        itself, so it does not change the result.
      Xy: ``XᵀY`` ``(d,)`` or ``(d, T)``, used for ``α_max`` as scikit-learn
        does.
      copy_X, verbose, check_input: accepted; ``X`` is never modified.
      coef_init: the first alpha's starting point, ``(d,)`` (or ``(T, d)``).
      return_n_iter: also return the iterations per alpha.
      positive: constrain ``w >= 0`` (one target only).
      **params: ``tol`` (default 1e-4: ``gap <= tol·P(0)`` with ``P(0) =
        ||y||²/(2n)``; scikit-learn stops at ``gap <= tol·||y||²/n``, twice
        that), ``max_iter`` (outer working-set iterations per alpha, default
        100; scikit-learn's are epochs, default 1000), ``random_state`` and
        ``selection`` (``"random"`` permutes the features, as in
        :class:`~jaxreg.linear_model.Lasso`; the optimum is unchanged) and
        ``do_screening`` (accepted: gap-safe screening always runs). The
        parameters scikit-learn's ``ElasticNet.fit`` passes internally
        (``X_offset``, ``X_scale``, ``sample_weight``, which recentre a
        sparse ``X`` there) raise ``ValueError``: for a weighted path with
        an intercept use :func:`jaxreg.solvers.path.path`.

    Returns:
      ``(alphas, coefs, dual_gaps)``, and ``n_iters`` (a list) when
      ``return_n_iter``: ``coefs`` ``(d, n_alphas)``, or ``(T, d,
      n_alphas)`` for 2-D ``y``, in ``X``'s dtype (computed in float32
      unless x64 is enabled); ``dual_gaps`` in the objective's units, as
      scikit-learn's; ``n_iters`` counts outer working-set iterations
      (scikit-learn: epochs).
    """
    for internal in ("X_offset", "X_scale", "sample_weight"):
        if internal in params:
            raise ValueError(
                f"{internal} is an internal parameter of scikit-learn's "
                "ElasticNet.fit (it recentres a sparse X there and does not weight "
                "the loss); for a weighted path with an intercept use "
                "jaxreg.solvers.path.path(X, y, sample_weight=...)"
            )
    tol = params.pop("tol", 1e-4)
    max_iter = params.pop("max_iter", 100)
    random_state = params.pop("random_state", None)
    selection = params.pop("selection", "cyclic")
    params.pop("do_screening", None)
    if params:
        raise ValueError("Unexpected parameters in params", params.keys())
    check_unit_interval("l1_ratio", l1_ratio)
    check_positive("eps", eps)
    check_nonnegative("tol", tol)
    alphas = _path_alphas(n_alphas, alphas)
    X = check_array(X, accept_sparse="csc", dtype=[np.float64, np.float32])
    y = check_array(y, dtype=X.dtype.type, ensure_2d=False)
    check_consistent_length(X, y)
    n, d = X.shape
    multi_output = y.ndim > 1
    if multi_output and positive:
        raise ValueError("positive=True is not allowed for multi-output (y.ndim != 1)")
    _check_precompute(precompute, d, allow_auto=True)
    if isinstance(alphas, Integral) and not isinstance(alphas, bool):
        check_positive("alphas", alphas)
        alphas = alpha_grid(
            X,
            y,
            l1_ratio,
            fit_intercept=False,
            eps=eps,
            n_alphas=int(alphas),
            sample_weight=None,
            positive=positive,
            Xy=Xy,
        )
    else:
        check_nonnegative("alphas", alphas)
        alphas = np.sort(np.asarray(alphas, np.float64).reshape(-1))[::-1]
    perm = _feature_order(selection, random_state, d)
    if coef_init is not None:
        check_coef_init(coef_init, (y.shape[1], d) if multi_output else (d,))
        coef_init = np.asarray(coef_init, np.float64)
    if alphas.size == 0:  # scikit-learn returns empty results
        shape = (y.shape[1], d, 0) if multi_output else (d, 0)
        out = (alphas, np.zeros(shape, X.dtype), np.zeros(0))
        return (*out, []) if return_n_iter else out
    if perm is not None:
        X = X[:, perm]
        coef_init = None if coef_init is None else coef_init[..., perm]
    if multi_output:
        W, _, gaps, n_iter, converged, tol_abs = _solve_folds(
            X,
            y,
            np.full((1, n), 1.0 / n),
            alphas,
            l1_ratio,
            fit_intercept=False,
            tol=tol,
            max_iter=max_iter,
            coef_init=coef_init,
        )
        if not bool(np.all(converged)):
            warn_not_converged(float(np.max(gaps)), tol_abs[0], "enet_path")
        coefs, gaps, n_iter = W[0].transpose(1, 2, 0), gaps[0], n_iter[0]
    else:
        res = path(
            X,
            y,
            lambdas=alphas,
            l1_ratio=l1_ratio,
            positive=positive,
            fit_intercept=False,
            tol=tol,
            max_iter=max_iter,
            coef_init=coef_init,
        )
        coefs, gaps, n_iter = np.asarray(res.coef).T, res.gap, res.n_iter
    if perm is not None:
        coefs = coefs[..., np.argsort(perm), :]
    out = (alphas, np.asarray(coefs, X.dtype), np.asarray(gaps, np.float64))
    if return_n_iter:
        return (*out, [int(k) for k in np.asarray(n_iter)])
    return out


def lasso_path(
    X,
    y,
    *,
    eps=1e-3,
    n_alphas="deprecated",
    alphas="warn",
    precompute="auto",
    Xy=None,
    copy_X=True,
    coef_init=None,
    verbose=False,
    return_n_iter=False,
    positive=False,
    **params,
):
    """scikit-learn 1.9's ``lasso_path``: :func:`enet_path` with
    ``l1_ratio=1``, i.e. ``1/(2n)||y - Xw||² + α||w||₁`` at each alpha (no
    intercept; for 2-D ``y`` the multi-task Lasso). Same arguments and
    returns."""
    return enet_path(
        X,
        y,
        l1_ratio=1.0,
        eps=eps,
        n_alphas=n_alphas,
        alphas=alphas,
        precompute=precompute,
        Xy=Xy,
        copy_X=copy_X,
        coef_init=coef_init,
        verbose=verbose,
        return_n_iter=return_n_iter,
        positive=positive,
        **params,
    )


def _scaled_tol(tol, Y, sample_weight, fit_intercept):
    """scikit-learn's ``eps_``: ``tol · ||Y - Ȳ||²_F`` (the rows weighted by
    ``sample_weight`` rescaled to sum to ``n``, as scikit-learn rescales
    them; ``Ȳ`` their weighted mean, 0 without intercept)."""
    Y = np.asarray(Y, np.float64)
    s = np.ones(len(Y)) if sample_weight is None else np.asarray(sample_weight)
    s = s * (len(Y) / np.sum(s))
    if fit_intercept:
        Y = Y - np.average(Y, axis=0, weights=s)
    return float(tol * np.sum(s[:, None] * Y * Y))


class MultiTaskElasticNet(_SparseCoef, _LinearRegressor):
    """Multi-task elastic net (scikit-learn 1.9's ``MultiTaskElasticNet``).

    Minimizes ``1/(2n)||Y - XWᵀ - 1bᵀ||_F² + αρ Σⱼ ||W[:, j]||₂ +
    α(1-ρ)/2 ||W||_F²`` (``ρ = l1_ratio``; the ``sample_weight``-weighted mean
    loss when given) by working-set block CD on the stacked group-lasso
    problem (see :mod:`jaxreg._multitask`). Takes every constructor parameter
    of scikit-learn's class.

    Args:
      alpha, l1_ratio: as above.
      fit_intercept: unpenalized intercepts ``b``, one per task.
      copy_X: accepted; the caller's ``X`` is never modified.
      max_iter: outer working-set iterations (scikit-learn: epochs).
      tol: duality-gap target relative to the (stacked) objective at 0.
      warm_start: start from the previous ``coef_`` (``ValueError`` when its
        shape does not fit: other features or tasks).
      random_state, selection: ``"random"`` permutes the features (hence the
        groups) with ``random_state`` before the fit, as in
        :class:`jaxreg.linear_model.Lasso`; the optimum is unchanged.

    Fitted attributes:
      ``coef_`` ``(n_tasks, n_features)``, ``intercept_`` ``(n_tasks,)``, ``dual_gap_``
      (in the objective's units, as scikit-learn's), ``eps_`` (scikit-learn's
      ``tol · ||Y - Ȳ||²_F``), ``n_iter_``.

    A 1-D ``y`` raises ``ValueError`` ("For mono-task outputs, use
    ElasticNet"), as in scikit-learn.
    """

    _mono = "ElasticNet"
    path = staticmethod(enet_path)

    def __init__(
        self,
        alpha=1.0,
        *,
        l1_ratio=0.5,
        fit_intercept=True,
        copy_X=True,
        max_iter=100,
        tol=1e-4,
        warm_start=False,
        random_state=None,
        selection="cyclic",
    ):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.copy_X = copy_X
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.random_state = random_state
        self.selection = selection

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        return tags

    def _rho(self):
        rho = self.l1_ratio
        if not (isinstance(rho, Real) and 0 <= rho <= 1):
            raise ValueError(f"l1_ratio must lie in [0, 1], got {rho!r}")
        return float(rho)

    def _check_data(self, X, y):
        X, y = _validate_X_and_y(self, X, y)
        if y.ndim == 1:
            raise ValueError(f"For mono-task outputs, use {self._mono}")
        _check_params(self)
        return X, y

    def fit(self, X, y, sample_weight=None):
        """Fits the model; returns ``self``."""
        X, y = self._check_data(X, y)
        rho = self._rho()
        sample_weight = _weights_array(sample_weight, X)
        d = X.shape[1]
        perm = _feature_order(self.selection, self.random_state, d)
        w0 = _warm_coef(self, (y.shape[1], d))
        if perm is not None:
            X = X[:, perm]
            w0 = None if w0 is None else w0[:, perm]
        res = multitask_enet(
            X,
            y,
            float(self.alpha),
            rho,
            sample_weight=sample_weight,
            fit_intercept=self.fit_intercept,
            tol=self.tol,
            max_iter=self.max_iter,
            coef_init=w0,
            what=type(self).__name__,
        )
        coef = res.coef if perm is None else res.coef[:, np.argsort(perm)]
        self.coef_ = np.asarray(coef, X.dtype)
        self.intercept_ = (
            np.asarray(res.intercept, X.dtype) if self.fit_intercept else 0.0
        )
        self.dual_gap_ = float(res.gap)
        self.eps_ = _scaled_tol(self.tol, y, sample_weight, self.fit_intercept)
        self.n_iter_ = int(res.n_iter)
        return self


class MultiTaskLasso(MultiTaskElasticNet):
    """Multi-task Lasso: ``1/(2n)||Y - XWᵀ - 1bᵀ||_F² + α Σⱼ ||W[:, j]||₂``
    (:class:`MultiTaskElasticNet` with ``l1_ratio=1``; scikit-learn 1.9's
    ``MultiTaskLasso`` parameters)."""

    _mono = "Lasso"

    def __init__(
        self,
        alpha=1.0,
        *,
        fit_intercept=True,
        copy_X=True,
        max_iter=100,
        tol=1e-4,
        warm_start=False,
        random_state=None,
        selection="cyclic",
    ):
        super().__init__(
            alpha,
            l1_ratio=1.0,
            fit_intercept=fit_intercept,
            copy_X=copy_X,
            max_iter=max_iter,
            tol=tol,
            warm_start=warm_start,
            random_state=random_state,
            selection=selection,
        )
        del self.l1_ratio

    def _rho(self):
        return 1.0
