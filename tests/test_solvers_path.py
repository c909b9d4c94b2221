"""Paths and cross-validation (jaxreg.solvers.path) against scikit-learn."""

import jax
import numpy as np
import pytest
from sklearn import linear_model as sk
from sklearn.datasets import load_diabetes, make_regression
from sklearn.model_selection import KFold

import jaxreg as jr
from jaxreg.solvers.glm import logistic_regression
from jaxreg.solvers.path import (
    cross_validate,
    enet_path,
    lasso_path,
    logistic_path,
    path,
)


@pytest.fixture(scope="module")
def data():
    X, y = make_regression(80, 150, n_informative=10, noise=5.0, random_state=0)
    return X, y


@pytest.mark.parametrize("l1_ratio", [1.0, 0.7])
def test_path_matches_sklearn_all_lambdas_x64(data, l1_ratio):
    X, y = data
    Xc, yc = X - X.mean(0), y - y.mean()  # sklearn's paths do not centre
    alphas, coefs, _ = sk.enet_path(
        Xc, yc, l1_ratio=l1_ratio, eps=1e-3, alphas=30, tol=1e-13, max_iter=100_000
    )
    with jax.enable_x64(True):
        fn = lasso_path if l1_ratio == 1.0 else enet_path
        kw = {} if l1_ratio == 1.0 else {"l1_ratio": l1_ratio}
        res = fn(X, y, n_lambdas=30, eps=1e-3, tol=1e-15, **kw)
        np.testing.assert_allclose(np.asarray(res.lambdas), alphas, rtol=1e-12)
        ours = np.asarray(res.coef)
    scale = np.abs(coefs).max()
    np.testing.assert_allclose(ours, coefs.T, atol=1e-6 * scale)
    assert bool(np.all(res.converged))
    # intercepts: y mean minus x mean · w, as sklearn's Lasso computes it
    np.testing.assert_allclose(
        np.asarray(res.intercept), y.mean() - ours @ X.mean(0), rtol=1e-10
    )


def test_path_float32_and_bucket_growth():
    """d > n with a support that outgrows the first working-set bucket."""
    X, y = make_regression(100, 300, n_informative=40, noise=1.0, random_state=1)
    alphas, coefs, _ = sk.lasso_path(
        X - X.mean(0), y - y.mean(), alphas=20, tol=1e-12, max_iter=100_000
    )
    res = lasso_path(X, y, n_lambdas=20, tol=1e-6, p0=32)
    assert np.asarray(res.coef).dtype == np.float32
    assert (coefs[:, -1] != 0).sum() > 32  # the support did outgrow p0
    np.testing.assert_allclose(
        np.asarray(res.coef), coefs.T, atol=2e-3 * np.abs(coefs).max()
    )


@pytest.mark.parametrize(
    ("n", "d", "K"),
    [
        (200, 1000, 256),
        (1000, 5000, 1024),
        (100_000, 5000, 128),
        (10**7, 500, 64),
        (500, 40, 40),
        (60, 200, 128),  # 60 > 7/8·64: 64 would grow
        (120, 1000, 256),
        (120, 130, 130),
    ],
)
def test_path_bucket_holds_min_n_d_within_the_gram_budget(n, d, K):
    """The documented rule: the power of two >= 8/7·min(n, d) (a support
    above 7/8 of a bucket grows it; at most d), capped at the largest K with
    K²·n <= 2³¹, never below 64 (or d)."""
    from jaxreg.solvers import cd

    assert cd.path_bucket(n, d) == K
    assert K * K * n <= cd.GRAM_BUDGET or K == 64


def test_default_path_and_folds_compile_one_bucket(monkeypatch):
    """A path (and each CV fold's) starts with a working set that holds its
    whole support: one compiled working-set program, not one per doubling
    (p0=32 here grows through three), and the same solutions."""
    import jaxreg.solvers.path as jpath

    X, y = make_regression(100, 300, n_informative=40, noise=1.0, random_state=1)
    alphas, coefs, _ = sk.lasso_path(
        X - X.mean(0), y - y.mean(), alphas=20, tol=1e-12, max_iter=100_000
    )
    seen = []
    for name in ("_path_bucket", "_folds_bucket"):
        original = getattr(jpath, name)

        def spy(K, *args, _original=original):
            seen.append(K)
            return _original(K, *args)

        monkeypatch.setattr(jpath, name, spy)
    res = lasso_path(X, y, n_lambdas=20, tol=1e-6)
    assert seen == [128]  # min(n, d) = 100 -> 128
    np.testing.assert_allclose(
        np.asarray(res.coef), coefs.T, atol=2e-3 * np.abs(coefs).max()
    )
    seen.clear()
    lasso_path(X, y, n_lambdas=20, tol=1e-6, p0=32)
    assert len(set(seen)) == 3
    seen.clear()
    cv = cross_validate(X, y, lambdas=alphas, cv=3, tol=1e-6)
    assert seen == [128]
    ref = sk.LassoCV(alphas=alphas, cv=KFold(3), tol=1e-12, max_iter=100_000)
    ref.fit(X, y)
    assert float(cv.best_lambda) == pytest.approx(ref.alpha_, rel=1e-6)


def test_batched_path_equals_sequential_x64(data):
    X, y = data
    with jax.enable_x64(True):
        seq = lasso_path(X, y, n_lambdas=8, eps=1e-1, tol=1e-10)
        bat = lasso_path(
            X, y, n_lambdas=8, eps=1e-1, tol=1e-10, batched=True, max_iter=2000
        )
        a, b = np.asarray(seq.coef), np.asarray(bat.coef)
    assert bool(np.all(bat.converged))
    np.testing.assert_allclose(b, a, atol=1e-5 * np.abs(a).max())
    np.testing.assert_allclose(
        np.asarray(bat.intercept), np.asarray(seq.intercept), rtol=1e-6
    )


def test_logistic_path_matches_single_fits_x64():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 30))
    y = (X[:, 0] - X[:, 1] + rng.logistic(size=120) > 0).astype(float)
    with jax.enable_x64(True):
        res = logistic_path(X, y, n_lambdas=6, eps=1e-2, tol=1e-12)
        bat = logistic_path(
            X, y, n_lambdas=6, eps=1e-2, tol=1e-9, batched=True, max_iter=5000
        )
        for k, lam in enumerate(np.asarray(res.lambdas)):
            single = logistic_regression(X, y, float(lam), tol=1e-12)
            np.testing.assert_allclose(
                np.asarray(res.coef[k]), np.asarray(single.coef), atol=1e-5
            )
        np.testing.assert_allclose(
            np.asarray(bat.coef), np.asarray(res.coef), atol=1e-4
        )
    # at lambda_max the solution is exactly zero
    assert np.all(np.asarray(res.coef[0]) == 0)


def test_cv_picks_same_lambda_as_lassocv_x64():
    X, y = load_diabetes(return_X_y=True)
    folds = list(KFold(5).split(X))
    ref = sk.LassoCV(alphas=30, cv=folds, tol=1e-12, max_iter=100_000).fit(X, y)
    with jax.enable_x64(True):
        res = cross_validate(X, y, n_lambdas=30, cv=folds, tol=1e-11)
        # the folds by vmapped FISTA (it raised: a traced max_iter was static)
        bat = cross_validate(
            X, y, n_lambdas=30, cv=folds, tol=1e-9, batched=True, max_iter=2000
        )
    np.testing.assert_allclose(res.lambdas, ref.alphas_, rtol=1e-10)
    for scores in (res.scores, bat.scores):
        np.testing.assert_allclose(scores, ref.mse_path_, rtol=1e-6)
    assert res.best_lambda == pytest.approx(ref.alpha_, rel=1e-12)
    assert bat.best_lambda == res.best_lambda


def test_cv_sparse_weighted_logistic_folds_x64():
    """Folds are the full X with zero weights on held-out rows: sparse X
    (each fold's nnz differs), sample weights, unequal folds and the
    logistic datafit, each fold equal to a fit on its own rows alone."""
    import scipy.sparse as sps

    rng = np.random.default_rng(3)
    X = sps.random(103, 40, density=0.2, random_state=3, format="csr")
    y = (X @ rng.standard_normal(40) + 0.3 * rng.standard_normal(103) > 0) * 1.0
    sw = rng.uniform(0.5, 2.0, size=103)
    folds = list(KFold(4).split(np.zeros(103)))
    with jax.enable_x64(True):
        res = cross_validate(
            X,
            y,
            datafit="logistic",
            n_lambdas=5,
            eps=0.05,
            cv=folds,
            sample_weight=sw,
            tol=1e-12,
        )
        for k, (tr, te) in enumerate(folds):
            ref = logistic_path(
                X[tr], y[tr], lambdas=res.lambdas, sample_weight=sw[tr], tol=1e-12
            )
            u = X[te] @ np.asarray(ref.coef).T + np.asarray(ref.intercept)
            p = 1 / (1 + np.exp(-u))
            loss = -(y[te, None] * np.log(p) + (1 - y[te, None]) * np.log(1 - p))
            np.testing.assert_allclose(
                res.scores[:, k], np.average(loss, axis=0, weights=sw[te]), rtol=1e-8
            )


def test_fold_weights_count_repeated_rows_and_take_masks():
    from jaxreg.solvers.path import fold_weights

    # a bootstrap split lists row 0 twice: it weighs twice, as in X[train]
    splits = [([0, 0, 1, 2], [3]), (np.array([False, True, True, True]), [0])]
    train, test = fold_weights(splits, None, 4, np.float64)
    np.testing.assert_allclose(train, [[0.5, 0.25, 0.25, 0], [0, 1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(test, [[0, 0, 0, 1], [1, 0, 0, 0]])
    sw = np.array([1.0, 2.0, 3.0, 4.0])
    train, _ = fold_weights(splits[:1], sw, 4, np.float64)
    np.testing.assert_allclose(train, [[2 / 7, 2 / 7, 3 / 7, 0]])
    with pytest.raises(ValueError, match="empty"):
        fold_weights([([], [0])], None, 4, np.float64)


def test_cv_contiguous_folds_match_kfold():
    from jaxreg.solvers.path import kfold

    for (tr, te), (tr2, te2) in zip(
        kfold(23, 4), KFold(4).split(np.zeros(23)), strict=True
    ):
        np.testing.assert_array_equal(tr, tr2)
        np.testing.assert_array_equal(te, te2)


def test_cv_takes_splitters_and_numpy_integers(data):
    # cross_validate(cv=KFold(4)) raised TypeError ('KFold' is not iterable),
    # as did cv=np.int64(4); scikit-learn users pass both
    X, y = data
    ref = cross_validate(X, y, cv=4, n_lambdas=10)
    splitter = KFold(4, shuffle=True, random_state=0)
    listed = cross_validate(X, y, cv=list(splitter.split(X)), n_lambdas=10)
    for cv, expect in ((np.int64(4), ref), (splitter, listed)):
        res = cross_validate(X, y, cv=cv, n_lambdas=10)
        np.testing.assert_array_equal(res.scores, expect.scores)
    # a group splitter takes groups= (GroupKFold raised: groups is required)
    from sklearn.model_selection import GroupKFold

    groups = np.arange(len(y)) % 7
    grouped = list(GroupKFold(3).split(X, y, groups))
    res = cross_validate(X, y, cv=GroupKFold(3), groups=groups, n_lambdas=10)
    expect = cross_validate(X, y, cv=grouped, n_lambdas=10)
    np.testing.assert_array_equal(res.scores, expect.scores)
    tuned = jr.tune(X, y, cv=GroupKFold(3), groups=groups, max_steps=3)

    class OwnSplitter:  # a user's splitter whose split takes no groups
        def split(self, X, y):
            return iter(grouped)

    own = cross_validate(X, y, cv=OwnSplitter(), n_lambdas=10)
    np.testing.assert_array_equal(own.scores, res.scores)
    expect = jr.tune(X, y, cv=grouped, max_steps=3)
    np.testing.assert_array_equal(tuned.losses, expect.losses)


def test_unsorted_lambdas_are_solved_and_returned_decreasing(data):
    # as scikit-learn's lasso_path sorts its alphas: the result was in the
    # given order, which PathResult documents as decreasing
    X, y = data
    res = lasso_path(X, y, lambdas=[0.5, 5.0, 0.05])
    ref = lasso_path(X, y, lambdas=[5.0, 0.5, 0.05])
    np.testing.assert_array_equal(res.lambdas, ref.lambdas)
    np.testing.assert_array_equal(res.coef, ref.coef)


def test_path_bad_input(data):
    X, y = data
    with pytest.raises(ValueError, match="l1_ratio"):
        enet_path(X, y, l1_ratio=2.0)
    with pytest.raises(ValueError, match="lambdas"):
        lasso_path(X, y, lambdas=[1.0, -1.0])
    with pytest.raises(ValueError, match="datafit"):
        from jaxreg.solvers.path import path

        path(X, y, datafit="hinge")
    with pytest.raises(ValueError, match="cv"):
        cross_validate(X, y, cv=1)
    # an IndexError, a broadcast error, "'bool' object is not iterable" and
    # an increasing grid (eps > 1) before
    for kw, name in [
        (dict(lambdas=[]), "lambdas"),
        (dict(lambdas=[[1.0, 0.1]]), "lambdas"),
        (dict(eps=0.0), "eps"),
        (dict(eps=2.0), "eps"),
    ]:
        with pytest.raises(ValueError, match=f"^{name} must"):
            lasso_path(X, y, **kw)
    with pytest.raises(ValueError, match="^cv must"):
        cross_validate(X, y, cv=True)
    # one class: a grid of 1e-13 and an intercept of -27.6, silently
    with pytest.raises(ValueError, match="one class"):
        logistic_path(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="one class"):
        logistic_regression(X, y > 0, 0.1, sample_weight=(y > 0).astype(float))


def test_per_strength_weights_refused_by_the_cd():
    """The path driver's per-strength weights are for the block solver: the
    CD's Gram cache would silently keep the first strength's weights."""
    import jax.numpy as jnp

    from jaxreg.solvers import cd
    from jaxreg.solvers.path import _bucket

    weights = (jnp.ones(4), jnp.zeros(4), jnp.ones(2))
    with pytest.raises(ValueError, match="need the block solver"):
        _bucket(
            8,
            True,
            cd.CD,
            True,
            None,
            None,
            None,
            jnp.ones(2),
            weights,
            0,
            None,
            None,
            None,
        )


@pytest.mark.parametrize("datafit", ["quadratic", "logistic"])
def test_lambda_max_fits_unpenalized_features_first(datafit):
    """With a penalty factor of 0 (glmnet's ``penalty.factor``) the path starts
    where the penalized coefficients leave 0: ``λ_max`` is read at the fit of
    the intercept and the unpenalized feature (scipy's, independently), not
    at ``w = 0`` (which gave 0.97 for 1.10 here: the path started with a
    penalized feature in). Sparse ``X`` and sample weights on the way."""
    import scipy.optimize
    import scipy.sparse

    rng = np.random.default_rng(0)
    n, d = 200, 12
    X = rng.standard_normal((n, d))
    y = 3 * X[:, 0] + X[:, 1] + 0.5 * rng.standard_normal(n)
    if datafit == "logistic":
        y = (y > 0).astype(float)
    s = rng.uniform(0.5, 2.0, n)
    a = s / s.sum()
    pf = np.ones(d)
    pf[0] = 0.0
    A = np.c_[np.ones(n), X[:, 0]]
    if datafit == "quadratic":
        theta = np.linalg.lstsq(A * np.sqrt(a)[:, None], y * np.sqrt(a), rcond=None)[0]
        residual = A @ theta - y
    else:

        def nll(t):
            z = A @ t
            return a @ (np.logaddexp(0, z) - y * z)

        theta = scipy.optimize.minimize(nll, np.zeros(2), tol=1e-12).x
        residual = 1 / (1 + np.exp(-A @ theta)) - y
    expected = np.abs(X[:, 1:].T @ (a * residual)).max()
    with jax.enable_x64():
        res = path(
            scipy.sparse.csc_matrix(X),
            y,
            datafit=datafit,
            sample_weight=s,
            penalty_factor=pf,
            n_lambdas=5,
            eps=0.5,
            tol=1e-8,
        )
    lambdas, coef = np.asarray(res.lambdas), np.asarray(res.coef)
    np.testing.assert_allclose(lambdas[0], expected, rtol=1e-6)
    assert np.all(np.abs(coef[0, 1:]) < 1e-8) and abs(coef[0, 0]) > 0.5
    assert np.any(coef[1, 1:] != 0)


def test_lambda_max_where_the_intercept_alone_gives_roundoff():
    """A penalized feature orthogonal to y but not to the unpenalized one:
    at the intercept alone λ₀ is roundoff (1e-16), the true λ_max is not
    (a search from 2·λ₀ by tens gave up with a ValueError)."""
    rng = np.random.default_rng(0)
    n = 50
    x0 = rng.normal(size=n)
    y = x0 + rng.normal(size=n)
    yc, x0c = y - y.mean(), x0 - x0.mean()
    x1 = x0c - (x0c @ yc) / (yc @ yc) * yc
    A = np.c_[np.ones(n), x0]
    residual = y - A @ np.linalg.lstsq(A, y, rcond=None)[0]
    expected = abs(x1 @ residual) / n
    res = path(np.c_[x0, x1], y, penalty_factor=[0.0, 1.0], n_lambdas=3)
    np.testing.assert_allclose(np.asarray(res.lambdas)[0], expected, rtol=1e-4)
