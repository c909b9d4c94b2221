"""``LogisticRegressionCV``: scikit-learn 1.9's procedure on jaxreg's solvers.

The steps of scikit-learn's ``LogisticRegressionCV.fit``, in its order (so
that the same folds give the same grid, the same scores and the same ``C_``):

1. ``Cs``: an int gives ``np.logspace(-4, 4, Cs)``; an array is kept as
   given (``Cs_``, same order and dtype).
2. The penalty: ``l1_ratios`` alone selects it (all 0 or ``None``: L2; all
   1: L1; else elastic net over the listed ``ρ``); ``penalty=`` (deprecated
   in scikit-learn 1.8) still overrides it, with scikit-learn's
   ``FutureWarning``.
3. The folds: ``check_cv(cv, y, classifier=True)`` (``None``: 5-fold
   ``StratifiedKFold``; an int: ``StratifiedKFold(int)``; any splitter or
   iterable of ``(train, test)``), ``split(X, y, **params)``.
4. Per fold, ``ρ`` and ``C``: the fit on the training rows with weights
   ``sᵢ·class_weight[yᵢ]`` (``"balanced"`` computed once on all of ``y``),
   minimizing ``C Σᵢ sᵢ ℓᵢ + ρ||W||₁ + (1-ρ)/2 ||W||²``; its score on the
   held-out rows (``scoring``, default accuracy, weighted by
   ``sample_weight`` alone).
5. ``refit=True``: the ``(C, ρ)`` with the largest score summed over folds
   (the first on ties, ``C`` before ``ρ``), refit on all data; ``refit=False``:
   per fold its best ``(C, ρ)``, and ``coef_`` the mean of those folds'
   coefficients, ``C_`` the mean of their ``C`` (``l1_ratio_`` the mean of
   their ``ρ`` for the elastic net, else 0, as scikit-learn).

How the folds run here: every fold is the full ``X`` with the held-out rows
weighted 0, so all folds have the same shapes and share one compiled
program. With ``refit=True`` the fit on all data is one more such fold (all
rows weighted), along the whole ``C`` path, from which the best ``C`` is
taken (scikit-learn refits once, started from the folds' mean at the best
``C``: the same optimum, and no other program to compile).

The objective above divided by ``C Σ_train s`` is jaxreg's
``Σᵢ aᵢ ℓᵢ + λ(ρ||W||₁ + (1-ρ)/2 ||W||²)`` with ``a = s/Σ_train s`` and
``λ = 1/(C Σ_train s)``, one ``λ`` per fold and ``C``. Binary problems run
:func:`jaxreg.solvers.path.solve_folds` (prox-Newton working-set coordinate
descent, the loop over ``λ`` compiled, warm-started from one ``C`` to the
next, every fold in one program with its own ``λ`` grid); multiclass
problems run
:func:`jaxreg.solvers.multinomial.multinomial_folds_path` (the folds in
lockstep: L-BFGS for L2, FISTA with L1 in the penalty; warm-started along
``C``). Both visit ``C`` in increasing order
(decreasing ``λ``) and return the results in ``Cs_``'s order.
"""

from __future__ import annotations

import inspect
import numbers

import numpy as np
from scipy.special import expit, softmax
from sklearn.metrics import get_scorer, make_scorer
from sklearn.model_selection import check_cv
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from jaxreg._estimator_base import (
    _check_flags,
    _scorer_weights,
    _split_params,
    _weights_array,
)
from jaxreg._validation import warn_caller
from jaxreg.solvers.base import _emitted_warning, prepare
from jaxreg.solvers.datafits import Logistic
from jaxreg.solvers.glm import elastic_net_penalty
from jaxreg.solvers.multinomial import multinomial_folds_path
from jaxreg.solvers.path import listed_folds, solve_folds, warn_folds_not_converged

__all__: list[str] = []

_PENALTIES = ("deprecated", "l1", "l2", "elasticnet")


def _resolve_penalty(est):
    """``(penalty, l1_ratios, l1_ratios_)`` with scikit-learn's warnings:
    ``l1_ratios`` the argument (``None`` for ``"warn"``), ``l1_ratios_`` the
    list cross-validated (``[None]`` when none was given)."""
    if est.penalty not in _PENALTIES:
        raise ValueError(
            f"penalty must be one of {_PENALTIES[1:]} (deprecated; use l1_ratios), "
            f"got {est.penalty!r}"
        )
    l1_ratios = est.l1_ratios
    if isinstance(l1_ratios, str):
        if l1_ratios != "warn":
            raise ValueError(
                f"l1_ratios must be an array-like of numbers in [0, 1], got "
                f"{l1_ratios!r}"
            )
        l1_ratios = None
        warn_caller(
            "The default value for l1_ratios will change from None to (0.0,) "
            "in version 1.10. From version 1.10 onwards, only array-like "
            "with values in [0, 1] will be allowed, None will be forbidden. "
            "To avoid this warning, explicitly set a value, "
            "e.g. l1_ratios=(0,).",
            FutureWarning,
        )
    if est.penalty == "deprecated":
        if est.l1_ratios is None:
            warn_caller(
                "'l1_ratios=None' was deprecated in version 1.8 and will "
                "trigger an error in 1.10. Use an array-like with values"
                "in [0, 1] instead.",
                FutureWarning,
            )
        if l1_ratios is None or np.all(np.asarray(l1_ratios) == 0):
            penalty = "l2"
        elif np.all(np.asarray(l1_ratios) == 1):
            penalty = "l1"
        else:
            penalty = "elasticnet"
    else:
        penalty = est.penalty
        warn_caller(
            "'penalty' was deprecated in version 1.8 and will be removed in"
            " 1.10. To avoid this warning, leave 'penalty' set to its default"
            " value and use 'l1_ratios' and 'Cs' instead."
            " Use l1_ratios=(0,) instead of penalty='l2',"
            " l1_ratios=(1,) instead of penalty='l1',"
            " l1_ratios set to floats between 0 and 1 instead of"
            " penalty='elasticnet', and Cs=(np.inf,) instead of penalty=None.",
            FutureWarning,
        )
    if l1_ratios is not None:
        l1_ratios = list(np.atleast_1d(np.asarray(l1_ratios)).tolist())
        bad = len(l1_ratios) == 0 or any(
            not isinstance(r, numbers.Number) or isinstance(r, bool) or not 0 <= r <= 1
            for r in l1_ratios
        )
        if bad and (penalty == "elasticnet" or len(l1_ratios) == 0):
            raise ValueError(
                "l1_ratios must be an array-like of numbers between 0 and 1; got "
                f"(l1_ratios={est.l1_ratios!r})"
            )
    if penalty == "elasticnet":
        if l1_ratios is None:
            raise ValueError(
                "l1_ratios must be an array-like of numbers between 0 and 1; got "
                f"(l1_ratios={est.l1_ratios!r})"
            )
        return penalty, l1_ratios, l1_ratios
    if l1_ratios is not None and est.penalty != "deprecated":
        warn_caller(
            "l1_ratios parameter is only used when penalty is 'elasticnet'. Got "
            f"(penalty={penalty})",
            UserWarning,
        )
    return penalty, l1_ratios, [None] if l1_ratios is None else l1_ratios


def _scoring(est):
    """The ``scoring`` argument as scikit-learn reads it (``"warn"``: None,
    i.e. accuracy, with its ``FutureWarning``)."""
    if isinstance(est.scoring, str) and est.scoring == "warn":
        warn_caller(
            "The default value of the parameter 'scoring' will change from None, "
            "i.e. accuracy, to 'neg_log_loss' in version 1.11. To silence this "
            "warning, explicitly set the scoring parameter: "
            "scoring='neg_log_loss' for the new, scoring='accuracy' or "
            "scoring=None for the old default.",
            FutureWarning,
        )
        return None
    return est.scoring


def _legacy(est):
    if isinstance(est.use_legacy_attributes, str):
        if est.use_legacy_attributes != "warn":
            raise ValueError(
                "use_legacy_attributes must be True or False, got "
                f"{est.use_legacy_attributes!r}"
            )
        warn_caller(
            f"The fitted attributes of {type(est).__name__} will be "
            "simplified in scikit-learn 1.10 to remove redundancy. Set"
            "`use_legacy_attributes=False` to enable the new behavior now, or "
            "set it to `True` to silence this warning during the transition period "
            "while keeping the deprecated behavior for the time being. The default "
            "value of use_legacy_attributes will change from True to False in "
            f"scikit-learn 1.10. See the docstring of {type(est).__name__} "
            "for more details.",
            FutureWarning,
        )
        return True
    return bool(est.use_legacy_attributes)


def _check_params(est):
    """``Cs_`` (``np.logspace(-4, 4, Cs)`` or the array given)."""
    _check_flags(est)  # fit_intercept="yes" read as true
    Cs = est.Cs
    if isinstance(Cs, numbers.Integral) and not isinstance(Cs, bool):
        if Cs < 1:
            raise ValueError(f"Cs must be an int >= 1 or an array-like, got {Cs!r}")
        Cs_ = np.logspace(-4, 4, int(Cs))
    else:
        Cs_ = np.asarray(Cs)
        if (
            Cs_.ndim != 1
            or Cs_.size == 0
            or not np.issubdtype(Cs_.dtype, np.number)
            or np.any(np.isnan(Cs_))
            or np.any(Cs_ <= 0)
        ):
            raise ValueError(
                f"Cs must be an int >= 1 or a 1-D array-like of values > 0, got {Cs!r}"
            )
    if not (isinstance(est.tol, numbers.Real) and est.tol >= 0):
        raise ValueError(f"tol must be a number >= 0, got {est.tol!r}")
    if isinstance(est.max_iter, bool) or not (
        isinstance(est.max_iter, numbers.Integral) and est.max_iter >= 1
    ):
        raise ValueError(f"max_iter must be an int >= 1, got {est.max_iter!r}")
    if not isinstance(est.refit, bool | np.bool_):
        raise ValueError(f"refit must be a bool, got {est.refit!r}")
    return Cs_


def _class_weight_dict(class_weight, classes, y, sample_weight):
    """``class_weight`` as scikit-learn's CV passes it to every fold: a dict
    (``"balanced"`` computed once on all of ``y``), or None."""
    if isinstance(class_weight, dict):
        if not set(class_weight) <= set(classes):
            raise ValueError(
                "The given class_weight dict must have the class labels as keys; "
                f"classes={classes} but key={class_weight.keys()}"
            )
        return class_weight
    if class_weight is None:
        return None
    if class_weight != "balanced":
        raise ValueError(
            f"class_weight must be None, a dict or 'balanced', got {class_weight!r}"
        )
    cw = compute_class_weight(
        "balanced", classes=classes, y=y, sample_weight=sample_weight
    )
    return dict(zip(classes, cw, strict=True))


def _fold_paths(X, y_idx, n_classes, fold_weights, Cs, rho, est):
    """Coefficients ``(F, L, K', d + fit_intercept)`` (``K' = 1`` binary) and
    ``n_iter`` ``(F, L)``, ``L`` in ``Cs``'s order (module docstring)."""
    order = np.argsort(Cs, kind="stable")  # C increasing: λ decreasing
    totals = fold_weights.sum(axis=1)
    with np.errstate(divide="ignore"):
        lams = 1.0 / (np.asarray(Cs, np.float64)[order][:, None] * totals[None, :])
    d = X.shape[1]
    fit_intercept = est.fit_intercept
    if not np.all(totals > 0):
        raise ValueError(
            "Sample weights must contain at least one non-zero number: the "
            f"training part of fold {int(np.argmin(totals > 0))} weighs 0"
        )
    if n_classes == 2:
        problem = prepare(
            X, (y_idx == 1).astype(np.float64), Logistic, fit_intercept=fit_intercept
        )
        W, B, gaps, iters, converged, tol_abs = solve_folds(
            problem,
            elastic_net_penalty(1.0, rho),
            lams.T,
            fold_weights / totals[:, None],
            fit_intercept=fit_intercept,
            tol=est.tol,
            max_iter=est.max_iter,
        )
        warn_folds_not_converged(gaps, converged, tol_abs, "LogisticRegressionCV")
        coefs = np.asarray(W, np.float64)
        if fit_intercept:
            coefs = np.concatenate([coefs, np.asarray(B, np.float64)[..., None]], -1)
        coefs, iters = coefs[:, :, None, :], np.asarray(iters)
    else:
        theta, iters, converged = multinomial_folds_path(
            X,
            y_idx,
            n_classes,
            lams,
            rho,
            fold_weights,
            fit_intercept=fit_intercept,
            tol=est.tol / 100,
            max_iter=100 * est.max_iter,
        )
        if not converged.all():
            budget = 100 * est.max_iter
            spent = int((~converged & (iters >= budget)).sum())
            stuck = int((~converged).sum()) - spent
            warn_caller(
                f"{spent + stuck} of {converged.size} multinomial fits (folds x "
                f"Cs) did not reach tol/100 = {est.tol / 100:.1e} (L-BFGS for "
                f"L2, else FISTA): {spent} ran their {budget} steps (raise "
                f"max_iter or loosen tol), {stuck} stopped earlier, where the "
                "line search found no step that lowers the objective at float "
                "precision (standardize X, loosen tol or solve in float64: "
                "jax.config.update('jax_enable_x64', True))",
                _emitted_warning(),
            )
        # (L, F, d[+1], K) -> (F, L, K, d[+1])
        coefs = np.transpose(np.asarray(theta, np.float64), (1, 0, 3, 2))
        iters = iters.T
        assert coefs.shape[-1] == d + fit_intercept
    inverse = np.argsort(order)
    return coefs[:, inverse], iters[:, inverse].astype(np.int32)


def _fold_scorer(scoring, classes):
    """``calc(model, X_test, y_test, sw_test)`` as scikit-learn's
    ``_log_reg_scoring_path`` builds it (scorers taking ``labels`` get all
    classes, since a held-out part may lack some)."""
    scorer = get_scorer(scoring)
    if scorer is None:
        return lambda m, X, y, sw: m.score(X, y, sample_weight=sw)
    func = getattr(scorer, "_score_func", None)
    sig = inspect.signature(func).parameters if func is not None else {}
    if "labels" in sig:
        pos = {}
        if len(classes) <= 2 and "pos_label" in sig:
            pos["pos_label"] = classes[-1]
        scorer = make_scorer(
            func,
            greater_is_better=scorer._sign == 1,
            response_method=scorer._response_method,
            labels=classes,
            **pos,
            **getattr(scorer, "_kwargs", {}),
        )

    def calc(m, X, y, sw):
        return scorer(m, X, y) if sw is None else scorer(m, X, y, sample_weight=sw)

    return calc


def _scores(coefs, X, y, folds, sample_weight, classes, scoring, fit_intercept):
    """Held-out scores ``(F, L)`` of the coefficients ``(F, L, K', n_dof)``.

    Accuracy (``scoring=None`` or ``"accuracy"``) and ``"neg_log_loss"`` are
    computed here for all ``C`` of a fold at once, as scikit-learn's scorers
    compute them on ``LogisticRegression``'s ``predict`` / ``predict_proba``
    (probabilities clipped to ``[ε, 1 - ε]``); scikit-learn's scorer calls,
    one per fold and ``C`` with their input validation, took two thirds of
    a warm fit on breast_cancer. Any other scorer is called as scikit-learn
    calls it (:func:`_scorer_scores`).
    """
    if scoring is not None and scoring not in ("accuracy", "neg_log_loss"):
        return _scorer_scores(
            coefs, X, y, folds, sample_weight, classes, scoring, fit_intercept
        )
    d = X.shape[1]
    y_idx = np.searchsorted(classes, y)  # classes: np.unique(y), sorted
    out = np.empty((len(folds), coefs.shape[1]))
    for f, (_, test) in enumerate(folds):
        W = coefs[f]  # (L, K', n_dof)
        L, k = W.shape[:2]
        S = np.asarray(X[test] @ W[..., :d].reshape(L * k, d).T).reshape(-1, L, k)
        if fit_intercept:
            S = S + W[..., d]
        true = y_idx[test][:, None]  # (n_test, 1)
        if k == 1:  # binary: classes_[s > 0]; probabilities [1 - σ(s), σ(s)]
            s = S[..., 0]
            if scoring == "neg_log_loss":
                p = expit(s)
                values = np.where(true == 1, p, 1.0 - p)
            else:
                values = (s > 0) == (true == 1)
        elif scoring == "neg_log_loss":
            values = np.take_along_axis(softmax(S, axis=-1), true[..., None], -1)
            values = values[..., 0]
        else:
            values = S.argmax(axis=-1) == true
        if scoring == "neg_log_loss":
            eps = np.finfo(values.dtype).eps
            values = np.log(np.clip(values, eps, 1 - eps))
        sw = None if sample_weight is None else sample_weight[test]
        if sw is not None and not np.any(sw):  # scikit-learn's scorers raise it
            raise ValueError(
                "Sample weights must contain at least one non-zero number: the "
                f"held-out part of fold {f} weighs 0"
            )
        out[f] = np.average(values, axis=0, weights=sw)
    return out


def _scorer_scores(coefs, X, y, folds, sample_weight, classes, scoring, fit_intercept):
    """:func:`_scores` by scikit-learn's scorer ``scoring``, one call per fold
    and ``C`` on a ``LogisticRegression`` holding the coefficients."""
    from jaxreg.linear_model import LogisticRegression  # imports this module

    calc = _fold_scorer(scoring, classes)
    model = LogisticRegression()
    model.classes_ = classes
    d = X.shape[1]
    out = np.empty((len(folds), coefs.shape[1]))
    for f, (_, test) in enumerate(folds):
        sw = None if sample_weight is None else sample_weight[test]
        X_test, y_test = X[test], y[test]
        for i, w in enumerate(coefs[f]):
            model.coef_ = w[:, :d]
            model.intercept_ = w[:, d] if fit_intercept else np.zeros(len(w))
            out[f, i] = calc(model, X_test, y_test, sw)
    return out


def fit(est, X, y, sample_weight, params):
    """``LogisticRegressionCV.fit`` (module docstring); sets the fitted
    attributes on ``est`` with scikit-learn 1.9's shapes."""
    from jaxreg.linear_model import _class_weighted  # imports this module

    Cs_ = _check_params(est)  # before _resolve_penalty's warnings, as there
    penalty, l1_ratios, l1_ratios_ = _resolve_penalty(est)
    scoring = _scoring(est)
    legacy = _legacy(est)
    X, y = validate_data(est, X, y, accept_sparse="csr", dtype=np.float64, order="C")
    n_features = X.shape[1]
    check_classification_targets(y)
    classes, y_idx = np.unique(y, return_inverse=True)
    est.classes_ = classes
    n_classes = len(classes)
    if n_classes < 2:
        raise ValueError(
            "This solver needs samples of at least 2 classes in the data, but the "
            f"data contains only one class: {classes[0]}."
        )
    rhos = [
        1.0 if penalty == "l1" else 0.0 if penalty == "l2" else float(r)
        for r in l1_ratios_
    ]
    for rho in rhos:
        est._check_solver(rho, n_classes)
    # >= 0, as LogisticRegression (scikit-learn fits negative weights, to a
    # maximized loss)
    sample_weight = _weights_array(sample_weight, X)
    splitter = check_cv(est.cv, y, classifier=True)
    folds = listed_folds(splitter.split(X, y, **_split_params(est, params, splitter)))
    class_weight = _class_weight_dict(est.class_weight, classes, y, sample_weight)
    base = _class_weighted(class_weight, classes, y, y_idx, sample_weight)
    if base is None:
        base = np.ones(len(y))
    # the refit on all data is one more "fold" (every row weighted): the
    # same shapes, so the same compiled program
    n_folds = len(folds)
    fold_weights = np.zeros((n_folds + bool(est.refit), len(y)))
    for f, (train, _) in enumerate(folds):
        if np.asarray(train).dtype == bool:
            train = np.flatnonzero(train)
        np.add.at(fold_weights[f], train, base[train])  # a repeated row counts
    fold_weights[n_folds:] = base

    scorer = get_scorer("accuracy" if scoring is None else scoring)
    score_weight = _scorer_weights(est, scorer, sample_weight)
    coefs, scores, n_iter = [], [], []
    done = {}  # penalty="l1"/"l2" with a list of l1_ratios: one ρ repeated
    for rho in rhos:
        if rho not in done:
            c, it = _fold_paths(X, y_idx, n_classes, fold_weights, Cs_, rho, est)
            sc = _scores(
                c, X, y, folds, score_weight, classes, scoring, est.fit_intercept
            )
            done[rho] = c, it[:n_folds], sc
        c, it, sc = done[rho]
        coefs.append(c)
        n_iter.append(it)
        scores.append(sc)
    # (F [+ 1], n_l1, n_cs, K', n_dof), (F, n_l1, n_cs)
    coefs = np.stack(coefs, axis=1)
    scores, n_iter = np.stack(scores, axis=1), np.stack(n_iter, axis=1)
    _set_attributes(
        est,
        Cs_,
        (penalty, l1_ratios, l1_ratios_, legacy),
        coefs[:n_folds],
        coefs[n_folds:],
        scores,
        n_iter,
        n_features,
    )
    return est


def _set_attributes(est, Cs_, pen, coefs, refits, scores, n_iter, d):
    """scikit-learn's post-processing of the fold results, step by step;
    ``refits`` ``(1, n_l1, n_cs, K', n_dof)`` the paths on all data (empty
    for ``refit=False``)."""
    penalty, l1_ratios, l1_ratios_, legacy = pen
    classes = est.classes_
    n_folds = coefs.shape[0]
    is_binary = len(classes) == 2
    n_classes = 1 if is_binary else len(classes)
    labels = classes[1:] if is_binary else classes
    est.Cs_ = Cs_
    # coefs_paths (K', n_folds, n_cs, n_l1, n_dof); scores (K', n_folds, n_cs, n_l1)
    paths = np.moveaxis(coefs, (0, 1, 3), (1, 3, 0))
    n_iter_ = np.swapaxes(n_iter, 1, 2)[None, ...]
    scores = np.tile(np.swapaxes(scores, 1, 2)[None, ...], (n_classes, 1, 1, 1))
    est.scores_ = dict(zip(labels, scores, strict=True))
    est.coefs_paths_ = dict(zip(labels, paths, strict=True))
    scores = scores[0]
    if est.refit:
        total = scores.sum(axis=0)
        best = np.unravel_index(np.argmax(total), total.shape)
        C_list, l1_list = [Cs_[best[0]]], [l1_ratios_[best[1]]]
        # scikit-learn starts its refit from the folds' mean there; the
        # path on all data reaches the same optimum
        w = refits[0, best[1], best[0]]
    else:
        flat = scores.reshape(n_folds, -1)
        best = np.unravel_index(np.argmax(flat, axis=1), scores.shape[1:])
        w = np.mean(paths[:, np.arange(n_folds), best[0], best[1]], axis=1)
        C_list = [np.mean(Cs_[best[0]])]
        if penalty == "elasticnet":
            l1_list = [np.mean(np.asarray(l1_ratios_, np.float64)[best[1]])]
        else:
            l1_list = [0.0]
    est.intercept_ = np.zeros(n_classes)
    if is_binary:
        w = w[0]
        est.coef_ = w[:d][None, :]
        if est.fit_intercept:
            est.intercept_[0] = w[-1]
        est.C_, est.l1_ratio_ = np.asarray(C_list), np.asarray(l1_list)
    else:
        est.coef_ = w[:, :d]
        if est.fit_intercept:
            est.intercept_ = w[:, -1]
        est.C_ = np.asarray(np.tile(C_list, n_classes))
        est.l1_ratio_ = np.asarray(np.tile(l1_list, n_classes))
    est.l1_ratios_ = np.asarray(l1_ratios_)
    if l1_ratios is None:
        est.coefs_paths_ = {k: v[:, :, 0, :] for k, v in est.coefs_paths_.items()}
        est.scores_ = {k: v[:, :, 0] for k, v in est.scores_.items()}
        n_iter_ = n_iter_[:, :, :, 0]
    est.n_iter_ = n_iter_
    if legacy:
        return
    # the simplified attributes of use_legacy_attributes=False
    est.C_ = float(est.C_[0])
    if l1_ratios is None:
        est.l1_ratio_ = 1.0 if est.penalty == "l1" else 0.0
    else:
        est.l1_ratio_ = float(est.l1_ratio_[0])
    est.coefs_paths_ = np.moveaxis(paths, (0, 1, 3), (3, 0, 1))
    est.scores_ = np.swapaxes(scores, 1, 2)
    est.n_iter_ = n_iter


DOC = """Logistic regression with ``C`` (and ``l1_ratio``) chosen by
    cross-validation: scikit-learn 1.9's ``LogisticRegressionCV``.

    Objective, per ``C`` in ``Cs_`` and ``ρ`` in ``l1_ratios_`` (scikit-learn's
    scaling, the loss summed): ``C Σᵢ sᵢ ℓᵢ + ρ||W||₁ + (1-ρ)/2 ||W||²_F``,
    ``ℓᵢ`` the log-loss (binary, ``W`` of shape ``(1, n_features)``) or the
    softmax cross-entropy (``K > 2`` classes, multinomial), ``sᵢ`` the
    ``sample_weight`` times ``class_weight``; the intercept is never
    penalized. jaxreg solves the same problem divided by ``C Σᵢ sᵢ``: the
    weighted-mean loss plus ``λ (ρ||W||₁ + (1-ρ)/2 ||W||²)`` with ``λ = 1/(C
    Σ_train sᵢ)``. ``C = np.inf`` is unpenalized. The procedure (grid, folds,
    scores, choice of ``C_``, ``refit``) is scikit-learn's step by step, see
    :mod:`jaxreg._logistic_cv`; same folds give the same ``Cs_`` and, up to
    the solvers' tolerance, the same scores and ``C_``.

    Args:
      Cs: an int ``n`` (default 10): ``np.logspace(-4, 4, n)``; or the values.
      l1_ratios: the ``ρ`` to cross-validate (all 0: L2; all 1: L1; else
        elastic net). Default ``"warn"``: ``None`` (L2) with scikit-learn's
        ``FutureWarning`` (its default becomes ``(0.0,)`` in 1.10).
      fit_intercept: unpenalized intercept.
      cv: ``None`` (5-fold ``StratifiedKFold``), an int (stratified), any
        scikit-learn splitter or iterable of ``(train, test)``.
      dual: only ``False`` (or ``True`` with ``solver="liblinear"`` and L2).
      penalty: ``"deprecated"`` (use ``l1_ratios``); ``"l1"``, ``"l2"``,
        ``"elasticnet"`` still work, with scikit-learn's ``FutureWarning``.
      scoring: a scorer name or callable, scored on each held-out part
        (``sample_weight``-weighted, with all classes as ``labels``); ``None``
        is accuracy. Default ``"warn"``: accuracy with scikit-learn's
        ``FutureWarning`` (its default becomes ``"neg_log_loss"`` in 1.11).
      solver: scikit-learn's names, all reaching the same optimum. What runs:
        binary problems, prox-Newton working-set coordinate descent along
        the ``C`` path (:func:`jaxreg.solvers.path.path`); multiclass, the
        folds in lockstep (:func:`jaxreg.solvers.multinomial.
        multinomial_folds_path`: L-BFGS for L2, as scikit-learn's ``"lbfgs"``,
        FISTA with L1 in the penalty); the refit runs as one more fold.
        ``"liblinear"`` penalizes the intercept (another objective): it is
        accepted only with ``fit_intercept=False`` and two classes
        (``ValueError`` otherwise). Unlike scikit-learn, ``"lbfgs"``,
        ``"newton-cg"``, ``"newton-cholesky"`` and ``"sag"`` also take L1
        and the elastic net (scikit-learn raises ``ValueError``).
      tol: binary: duality gap relative to ``P(0)``; multinomial: the
        (prox-)gradient norm must reach ``tol/100`` of its value at 0 (the
        cold start of :class:`LogisticRegression`, also for the warm-started
        ``C``; scikit-learn: its solvers' gradient tolerances).
      max_iter: binary: outer working-set iterations per ``C``; multinomial:
        ``100 × max_iter`` L-BFGS or FISTA steps per ``C``.
      class_weight: ``None``, a dict ``{class: weight}`` or ``"balanced"``
        (computed once on all of ``y``, weighted by ``sample_weight``);
        multiplies the training weights, not the scoring weights.
      n_jobs, verbose, intercept_scaling, random_state: accepted, no effect
        (the folds run on the device; our solvers are deterministic).
      refit: ``True``: refit on all data at the best ``(C, ρ)`` (largest
        score summed over folds); ``False``: average the folds' best
        coefficients (and their ``C``, and ``ρ`` for the elastic net).
      use_legacy_attributes: ``True`` (scikit-learn 1.9's dict attributes),
        ``False`` (its 1.10 arrays); default ``"warn"``: ``True`` with its
        ``FutureWarning``.

    ``fit(X, y, sample_weight=None, **params)``: ``params`` go to the
    splitter's ``split`` (e.g. ``groups``); ``score`` uses ``scoring``.

    Fitted attributes:
      (``K' = 1`` for two classes, else ``K``; ``n_dof = n_features +
      fit_intercept``; float64 as scikit-learn) ``classes_``, ``coef_``
      ``(K', n_features)``, ``intercept_`` ``(K',)``,
      ``Cs_`` ``(n_cs,)``, ``l1_ratios_`` (``[None]`` without ``l1_ratios``),
      ``n_features_in_``, ``feature_names_in_``. Legacy: ``C_`` and
      ``l1_ratio_`` ``(K',)``; ``coefs_paths_`` and ``scores_`` dicts keyed by
      ``classes_`` (the positive class for two), ``(n_folds, n_cs[, n_l1],
      n_dof)`` and ``(n_folds, n_cs[, n_l1])``; ``n_iter_`` ``(1, n_folds,
      n_cs[, n_l1])`` (the ``n_l1`` axis only when ``l1_ratios`` is given).
      ``use_legacy_attributes=False``: ``C_``, ``l1_ratio_`` floats,
      ``coefs_paths_`` ``(n_folds, n_l1, n_cs, K', n_dof)``, ``scores_`` and
      ``n_iter_`` ``(n_folds, n_l1, n_cs)``. ``n_iter_`` counts outer
      working-set iterations (binary) or L-BFGS / FISTA steps
      (multinomial).

    Differences from scikit-learn: the solvers and ``tol`` above; the folds
    run on the whole ``X`` with the held-out rows weighted 0 (the same
    optimum, one compiled program for all folds); computations run in
    float32 unless x64 is enabled in JAX, so a score tie between two ``C``
    may break the other way. ``check_estimator`` passes
    (tests/test_linear_model_logistic_cv.py; the array-API check is left out
    as for every estimator, see :mod:`jaxreg.linear_model`).
    """
