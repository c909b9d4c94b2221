"""Hyperparameter search by hypergradient descent (jaxreg/tune.py).

References are computed independently: validation losses from plain numpy on
``jaxreg.lasso`` fits, a brute-force grid of strengths, and central finite
differences of the K-fold loss.
"""

import importlib

import jax
import numpy as np
import pytest
import scipy.sparse as sp

import jaxreg as jr
from jaxreg.solvers.datafits import Quadratic

# ``jaxreg.tune`` is the function; the module is reached through sys.modules
tune_module = importlib.import_module("jaxreg.tune")


def _data(seed=0, n=90, d=30):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w = np.zeros(d)
    w[:5] = rng.normal(size=5)
    return X, X @ w + 0.8 * rng.normal(size=n) + 1.0


def _cv_loss(X, y, folds, lam, penalty_factor=None, tol=1e-6):
    """½·MSE averaged over folds, from independent lasso fits."""
    losses = []
    for tr, te in folds:
        res = jr.lasso(X[tr], y[tr], lam, penalty_factor=penalty_factor, tol=tol)
        pred = X[te] @ np.asarray(res.coef, np.float64) + float(res.intercept)
        losses.append(0.5 * np.mean((y[te] - pred) ** 2))
    return float(np.mean(losses))


def test_held_out_search_reaches_the_best_grid_loss():
    X, y = _data()
    Xt, yt, Xv, yv = X[:60], y[:60], X[60:], y[60:]
    res = jr.tune(Xt, yt, validation=(Xv, yv))
    lam_max = np.max(np.abs((Xt - Xt.mean(0)).T @ (yt - yt.mean()))) / len(yt)
    grid = lam_max * np.geomspace(1, 1e-3, 120)
    grid_losses = [
        _cv_loss(X, y, [(np.arange(60), np.arange(60, 90))], g) for g in grid
    ]
    assert res.best_loss <= 1.01 * min(grid_losses)
    np.testing.assert_allclose(res.hyperparameters[0], lam_max / 10, rtol=1e-5)
    assert np.all(np.diff(res.losses) < 0)
    assert res.best == res.hyperparameters[-1] and res.converged
    # the reported loss is the loss of a refit at the reported strength
    ref = _cv_loss(X, y, [(np.arange(60), np.arange(60, 90))], float(res.best))
    np.testing.assert_allclose(res.best_loss, ref, rtol=1e-4)


def _hypergradient(t, W, B, fo, per_feature):
    """tune's loss and hypergradient for the Lasso at the folds' solutions
    ``W, B``, its adjoint systems on the union of their supports alone."""
    return tune_module._loss_and_grad(
        t,
        W,
        B,
        fo,
        cls=Quadratic,
        fit_intercept=True,
        l1_ratio=1.0,
        per_feature=per_feature,
        cg_iter=200,
        n_columns=int(np.count_nonzero(np.any(W != 0, axis=0))),
    )


def test_kfold_hypergradient_matches_finite_differences_of_the_cv_loss():
    X, y = _data(1)
    folds = jr.solvers.path.kfold(len(y), 3)
    with jax.enable_x64(True):
        fo, splits, *_ = tune_module._folds(
            X, y, Quadratic, folds, None, None, None, np.float64
        )
        t = np.log(0.15)
        W = np.stack([jr.lasso(X[tr], y[tr], 0.15, tol=1e-13).coef for tr, _ in folds])
        B = np.stack(
            [jr.lasso(X[tr], y[tr], 0.15, tol=1e-13).intercept for tr, _ in folds]
        )
        loss, g = _hypergradient(t, W, B, fo, per_feature=False)
        h = 1e-5
        fd = (
            _cv_loss(X, y, folds, np.exp(t + h), tol=1e-13)
            - _cv_loss(X, y, folds, np.exp(t - h), tol=1e-13)
        ) / (2 * h)
        ref = _cv_loss(X, y, folds, 0.15, tol=1e-13)
    np.testing.assert_allclose(loss, ref, rtol=1e-8)
    np.testing.assert_allclose(g, fd, rtol=1e-5)


def test_per_feature_hypergradient_matches_finite_differences():
    # one weight per feature: the gradient in each log-weight, restricted to
    # the support's columns and scattered back, against central differences
    # of the K-fold loss of independent weighted-lasso fits; a feature off
    # every fold's support has a zero gradient
    X, y = _data(2)
    d = X.shape[1]
    folds = jr.solvers.path.kfold(len(y), 3)
    c = np.random.default_rng(3).uniform(0.5, 2.0, size=d)
    lam = 0.12
    with jax.enable_x64(True):
        fo, *_ = tune_module._folds(
            X, y, Quadratic, folds, None, None, None, np.float64
        )
        fits = [
            jr.lasso(X[tr], y[tr], 1.0, penalty_factor=lam * c, tol=1e-13)
            for tr, _ in folds
        ]
        W = np.stack([f.coef for f in fits])
        B = np.stack([f.intercept for f in fits])
        _, g = _hypergradient(np.log(lam * c), W, B, fo, per_feature=True)
        on = np.flatnonzero(np.all(W != 0, axis=0))[:3]
        off = np.flatnonzero(np.all(W == 0, axis=0))[:2]
        assert on.size == 3 and off.size == 2
        h = 1e-5
        fd = []
        for j in np.concatenate([on, off]):
            e = np.zeros(d)
            e[j] = h
            up = _cv_loss(X, y, folds, 1.0, lam * c * np.exp(e), tol=1e-13)
            down = _cv_loss(X, y, folds, 1.0, lam * c * np.exp(-e), tol=1e-13)
            fd.append((up - down) / (2 * h))
    np.testing.assert_allclose(g[on], fd[:3], rtol=1e-5)
    np.testing.assert_array_equal(g[off], 0.0)
    np.testing.assert_allclose(fd[3:], 0.0, atol=1e-12)


@pytest.mark.parametrize("start", [3.0, 1 / 300])
def test_strength_search_from_either_side_reaches_the_grid_minimum(start):
    # starts above the optimum (the walk lowers λ) and below it (it raises
    # λ); reference: a fine grid of independent fits
    X, y = _data(4)
    folds = jr.solvers.path.kfold(len(y), 3)
    lam_max = np.max(np.abs((X - X.mean(0)).T @ (y - y.mean()))) / len(y)
    lam_init = lam_max * start / 10
    res = jr.tune(X, y, cv=folds, lam_init=lam_init)
    grid = lam_max * np.geomspace(1, 1e-3, 80)
    grid_losses = [_cv_loss(X, y, folds, g) for g in grid]
    best = grid[int(np.argmin(grid_losses))]
    assert (lam_init > best) == (start > 1)
    assert res.converged and np.all(np.diff(res.losses) < 0)
    assert res.best_loss <= 1.002 * min(grid_losses)


def test_cubic_step_is_the_minimum_of_the_cubic():
    rng = np.random.default_rng(5)
    for _ in range(20):
        # a cubic with a local minimum at m inside [a, b]
        a, b = np.sort(rng.uniform(-2, 2, size=2))
        m = rng.uniform(a + 0.1 * (b - a), b - 0.1 * (b - a))
        other = m - rng.uniform(0.5, 3) * (b - a)  # the local maximum, left
        cubic = np.polynomial.Polynomial.fromroots([m, other]).integ() * 3
        slope = cubic.deriv()
        ends = [
            tune_module._Point(np.float64(t), float(cubic(t)), slope(t), None, None)
            for t in (a, b)
        ]
        for lo, hi in (ends, ends[::-1]):
            fraction, decrease = tune_module._cubic_minimizer(lo, hi)
            np.testing.assert_allclose(lo.t + fraction * (hi.t - lo.t), m, atol=1e-9)
            np.testing.assert_allclose(decrease, lo.loss - cubic(m), atol=1e-9)


def test_per_feature_weights_improve_on_the_tuned_strength():
    X, y = _data(2)
    folds = jr.solvers.path.kfold(len(y), 3)
    scalar = jr.tune(X, y, cv=folds)
    weighted = jr.tune(
        X, y, cv=folds, per_feature=True, lam_init=scalar.best, max_steps=15
    )
    assert weighted.best.shape == (X.shape[1],)
    np.testing.assert_allclose(weighted.losses[0], scalar.best_loss, rtol=1e-4)
    assert weighted.best_loss < scalar.best_loss
    ref = _cv_loss(X, y, folds, 1.0, penalty_factor=weighted.best)
    np.testing.assert_allclose(weighted.best_loss, ref, rtol=1e-3)


def test_logistic_search_decreases_the_held_out_log_loss():
    X, y = _data(3)
    labels = y > np.median(y)
    res = jr.tune(X, labels, datafit="logistic", cv=3, max_steps=10)
    assert res.best_loss < res.losses[0]
    assert np.all(np.isfinite(res.losses))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(l1_ratio=0.0), "l1_ratio"),
        (dict(l1_ratio=1.5), "l1_ratio"),
        (dict(lam_init=-1.0), "lam_init"),
        (dict(max_steps=0), "max_steps"),
        (dict(cv=1), "cv"),
        # a start where every solution is 0 returned the null model converged
        (dict(lam_init=1e6), "lam_init=.* above λ_max"),
        (dict(lam_init=1e6, per_feature=True), "lam_init=.* above λ_max"),
        # an IndexError, a TypeError and an IndexError before
        (dict(sample_weight=np.ones(89)), r"sample_weight must have shape \(90,\)"),
        (dict(cv=2.5), "cv must be an int"),
        (dict(cv=[(np.arange(60), np.arange(60, 95))]), r"held-out part .*\[0, 90\)"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    X, y = _data()
    with pytest.raises(ValueError, match=match):
        jr.tune(X, y, **kwargs)


@pytest.mark.parametrize("constant", ["y", "X"])
def test_nothing_to_tune_says_why(constant):
    # constant y raised 'lam_init must be > 0, got 0.0' (never passed); a
    # constant X 'lam_init=9.3e-11 is at or above λ_max' (roundoff)
    X, y = _data()
    if constant == "y":
        y = np.full_like(y, 3.0)
    else:
        X = np.ones_like(X)
    with pytest.raises(ValueError, match=r"λ_max = .*nothing to tune"):
        jr.tune(X, y)


def test_targets_far_from_zero_are_tuned_as_centred_ones():
    # the roundoff test scaled with max|y|: y + 1e5 raised 'nothing to tune'
    X, y = _data()
    shifted = jr.tune(X, y + 1e5, max_steps=3)
    plain = jr.tune(X, y, max_steps=3)
    np.testing.assert_allclose(shifted.best, plain.best, rtol=1e-3)


def test_overlapping_folds_warn():
    # the held-out rows inside the training rows: the loss favours a weak
    # penalty, and tune reported that choice converged, silently
    X, y = _data()
    with pytest.warns(UserWarning, match="30 rows are in both"):
        jr.tune(X, y, cv=[(np.arange(90), np.arange(30))], max_steps=2)


def test_sparse_X_raises():
    X, y = _data()
    with pytest.raises(ValueError, match="dense"):
        jr.tune(sp.csr_matrix(X), y)


def test_unconverged_inner_solves_warn_with_the_float32_advice():
    """An inner tolerance float32 cannot reach: one ConvergenceWarning that
    counts the solves and, as a fit's, says that in float32 more iterations
    may not help (it lost the dtype and never said so)."""
    from jaxreg.solvers.base import ConvergenceWarning

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 20))
    y = X[:, :3] @ np.ones(3) + rng.normal(size=60)
    with pytest.warns(ConvergenceWarning, match="inner solves of tune.*float32"):
        jr.tune(X, y, cv=3, solver_tol=1e-13, max_steps=2)
