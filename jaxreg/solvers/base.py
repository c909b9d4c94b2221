"""Result type, input checks and data preparation shared by the solvers."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg._validation import check_nonnegative, check_unit_interval, warn_caller
from jaxreg.solvers.datafits import normalized_weights
from jaxreg.solvers.design import as_design, exact_mean, is_sparse


class SolverResult(NamedTuple):
    """What every solver returns.

    Attributes:
      coef: coefficients ``w``, shape ``(n_features,)`` (or ``(n_lambdas,
        n_features)`` for a path).
      intercept: unpenalized intercept ``b`` (0 when ``fit_intercept=False``).
      gap: duality gap reached, in the units of the objective (not relative).
      n_iter: outer iterations (working-set iterations for coordinate descent,
        gradient steps for FISTA, CG iterations for ridge).
      converged: whether ``gap <= tol · P(0)`` (a fit by
        :func:`jaxreg.solvers.fit` and the functions built on it, ``lasso``,
        ``enet``, ``logistic_regression`` and the GLMs: or, where that lies
        below float precision and the gap is a duality gap, within the
        objective's finite roundoff ``16·eps·|P(w)|``).
    """

    coef: jax.Array
    intercept: jax.Array
    gap: jax.Array
    n_iter: jax.Array
    converged: jax.Array


class Problem(NamedTuple):
    """A prepared problem: the design, the datafit and the centring offset.

    With an intercept the design is centred (``X̃ = X - 1 xbarᵀ``, implicitly),
    whatever the datafit. ``fit_col`` says whether the intercept is then a
    free coordinate ``b̃`` of the solver (``fit_intercept`` for a datafit
    that is not centred: logistic, Poisson...), the model ``X̃w + b̃``; with
    a centred datafit the targets are centred too and ``b̃ = y_offset``.
    Either way the intercept is ``b̃ - xbarᵀw``. The centred columns are
    orthogonal to the intercept's column of ones: a free intercept beside
    features far from 0 (standardized breast cancer + 1000) made the
    logistic prox-Newton steps diverge in float32 (intercept 3e16, every
    coefficient 0)."""

    design: Any
    datafit: Any
    y_offset: jax.Array
    fit_col: bool


def default_dtype(*arrays):
    """float64 when x64 is enabled and an input is float64, else float32."""
    if jax.config.jax_enable_x64 and any(
        np.dtype(getattr(a, "dtype", np.float64)) == np.float64 for a in arrays
    ):
        return jnp.float64
    return jnp.float32


def check_X_y(X, y):
    """Validates shapes, dtypes and the finiteness of y (X: in :func:`prepare`);
    returns numpy, jax or sparse ``X`` (2-D) and a 1-D ``y`` (a column
    ``(n, 1)`` is flattened)."""
    if not isinstance(X, jax.Array) and not is_sparse(X):
        X = np.asarray(X)
    if not isinstance(y, jax.Array):
        y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if len(X.shape) != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (n_samples,), got shape {y.shape}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"X and y have inconsistent numbers of samples: X has {X.shape[0]}, "
            f"y has {y.shape[0]}"
        )
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must have at least one sample and feature, got {X.shape}")
    for name, a in (("X", X), ("y", y)):
        mod = jnp if isinstance(a, jax.Array) else np
        if is_sparse(a):
            a, mod = a.data, np
        real = mod.issubdtype(a.dtype, mod.number) and not mod.issubdtype(
            a.dtype, mod.complexfloating
        )
        # boolean targets are labels (or 0/1 values), as scikit-learn reads them
        if not (real or (name == "y" and a.dtype == bool)):
            raise ValueError(f"{name} must be real-valued, got dtype {a.dtype}")
    # X is checked by prepare, on the device, in the pass over it that it
    # makes anyway
    _check_finite("y", y)
    return X, y


def _check_finite(name, a):
    # a sum is finite iff every entry is, barring overflow: one cheap pass,
    # and the full elementwise test only to confirm a suspicious sum
    mod = jnp if isinstance(a, jax.Array) else np
    if not bool(mod.isfinite(mod.sum(a))) and not bool(mod.all(mod.isfinite(a))):
        raise ValueError(f"{name} contains NaN or Inf")


def check_coef_init(coef_init, shape) -> None:
    """Raises ``ValueError`` unless the warm start ``coef_init`` has ``shape``
    and finite entries (a NaN in it ran every iteration and came back as a
    NaN coefficient with a ConvergenceWarning)."""
    shape = tuple(shape)
    if np.shape(coef_init) != shape:
        raise ValueError(
            f"coef_init must have shape {shape}, got {np.shape(coef_init)}"
        )
    _check_finite("coef_init", coef_init)


def check_strength(name, lam):
    """Raises ``ValueError`` unless ``lam`` is one finite number ``>= 0`` (an
    array of strengths failed deep inside the solver, in a broadcast)."""
    if np.ndim(lam) != 0:
        raise ValueError(
            f"{name} must be a single strength, got shape {np.shape(lam)}: for "
            f"several, solve a path (lambdas=...) or jax.vmap over {name}"
        )
    check_nonnegative(name, lam)


def check_l1_ratio(l1_ratio):
    check_unit_interval("l1_ratio", l1_ratio)


def prepare(X, y, datafit_cls, *, fit_intercept, sample_weight=None, dtype=None):
    """Builds a :class:`Problem` (``X``, ``y`` checked by :func:`check_X_y`).

    The weights are normalized (``a = s/Σs``); with an intercept the design
    is centred with the weighted means, and the datafit's targets too when
    it is fitted by centring (:class:`Problem`).
    """
    dtype = dtype or default_dtype(X, y)
    n = X.shape[0]
    a64 = normalized_weights(sample_weight, n, np.float64)
    a = a64.astype(dtype)
    center = fit_intercept and datafit_cls.centre
    design = as_design(X, a, center=fit_intercept, dtype=dtype, to_device=to_device)
    shift = 0.0
    if center and not isinstance(y, jax.Array):
        # centred on the host in float64 before the cast: float32 targets far
        # from 0 (y + 1e6) kept only their ulp, 0.06, of their spread, and
        # the coefficients were 5e-3 off with the fit marked converged
        y = np.asarray(y, np.float64)
        shift = float(np.dot(a64, y))
        y = y - shift
    datafit, y_offset = _centred(datafit_cls.from_targets(y, a), center, dtype)
    return Problem(design, datafit, y_offset + shift, fit_intercept and not center)


@functools.partial(jax.jit, static_argnames=("center", "dtype"))
def _centred(datafit, center, dtype):
    """The datafit in ``dtype`` with its targets centred (weighted mean) if
    ``center``, and the mean: one compiled call."""
    y, a = datafit.y.astype(dtype), datafit.weights.astype(dtype)
    y_offset = exact_mean(a, y)[0] if center else jnp.zeros((), dtype)
    return type(datafit)(y - y_offset, a), y_offset


_ALIGN = 64  # bytes; XLA:CPU aliases host buffers aligned to this


def to_device(a, dtype):
    """A numpy array as a device array of ``dtype``, copied at most once.

    On the CPU backend XLA *aliases* a C-contiguous host buffer aligned to 64
    bytes instead of copying it. numpy's allocator gives 16-byte alignment, so
    an arbitrary array is first copied (and cast) by numpy into an aligned
    buffer, about 2x faster than XLA's own copy: for a 1000 x 5000 float64
    design the transfer fell from 20 ms to 7-10 ms (to nothing when the
    caller's buffer is already aligned). Other backends get a plain
    ``device_put``. The aliased buffer is only read.
    """
    a = np.asarray(a)
    if jax.default_backend() != "cpu":
        return jax.device_put(a if a.dtype == dtype else a.astype(dtype))
    if a.dtype == dtype and a.flags.c_contiguous and a.ctypes.data % _ALIGN == 0:
        return jax.device_put(a)
    dtype = np.dtype(dtype)
    raw = np.empty(a.size * dtype.itemsize + _ALIGN, np.uint8)
    start = -raw.ctypes.data % _ALIGN
    out = raw[start : start + a.size * dtype.itemsize].view(dtype).reshape(a.shape)
    np.copyto(out, a, casting="unsafe")
    return jax.device_put(out)


_STOPPED_ADVICE = {
    "max_iter": "raise max_iter or loosen tol",
    "max_epochs": "its inner coordinate-descent epochs (max_epochs) ran out: "
    "loosen tol (a target below the objective's float precision is never "
    "reached) or raise max_epochs",
    "unmoved": "it stopped before max_iter, where its steps no longer move "
    "the coefficients: loosen tol",
}


def warn_not_converged(
    gap,
    tol_abs,
    what="solver",
    *,
    measure="duality gap",
    bound="tol·P(0)",
    stopped="max_iter",
):
    """The :class:`ConvergenceWarning` of a fit whose ``measure`` (the
    duality gap, or the stationarity measure of a fit without one) is above
    ``tol_abs`` (named ``bound`` in the message), with advice for what
    ended the loop (``stopped``: its outer budget ``"max_iter"``, its inner
    epochs ``"max_epochs"``, or ``"unmoved"``: a step moved nothing, where
    raising ``max_iter`` would not help). In float32 it also says that more
    iterations may not help: with badly scaled, nearly collinear features
    (breast cancer unscaled, L1 logistic at C = 1000) the predictor ``Xw``
    sums terms ~1e3 times its value, and the gap is resolved only to ~1e-2
    against a tol of 7e-5, while float64 reaches 1e-8."""
    advice = _STOPPED_ADVICE[stopped]
    if np.asarray(tol_abs).dtype == np.float32:
        advice += (
            " (in float32, the gap of badly scaled or nearly collinear "
            "features may not resolve tol at all: standardize X with "
            "sklearn.preprocessing.StandardScaler or solve in float64, "
            "jax.config.update('jax_enable_x64', True))"
        )
    warn_caller(
        f"{what} did not converge: {measure} {float(gap):.3e} > {bound} = "
        f"{float(tol_abs):.3e}; {advice}",
        _emitted_warning(),
    )


RESOLVED_RCOND = 1000  # in units of eps: a system below it is not resolved


def warn_ill_conditioned(rcond, dtype, what):
    """A ``scipy.linalg.LinAlgWarning`` (scikit-learn's ``Ridge`` emits it
    too) when the reciprocal condition number ``rcond`` of a system solved
    in ``dtype`` is below ``1000·eps`` of that dtype: the solution's
    relative error, up to ``eps/rcond``, may then pass 0.1 % (float32:
    polynomial features of degree 6 on [0, 10] gave a negative R²)."""
    eps = float(np.finfo(dtype).eps)
    if rcond >= RESOLVED_RCOND * eps:
        return
    from scipy.linalg import LinAlgWarning

    warn_caller(
        f"{what}: the system is ill-conditioned in {np.dtype(dtype).name} "
        f"(reciprocal condition number {rcond:.1e} < 1000·eps = {1000 * eps:.1e}):"
        " the directions it does not resolve are solved as exact zeros (right "
        "for exactly collinear features, e.g. every one-hot column beside an "
        "intercept), the solution may be inaccurate along nearly collinear "
        "ones. Drop nearly collinear features, "
        "standardize them (sklearn.preprocessing.StandardScaler: large offsets "
        "lose precision in float32), raise the penalty, or solve in float64 "
        "(jax.config.update('jax_enable_x64', True))",
        LinAlgWarning,
    )


class ConvergenceWarning(UserWarning):
    """The iteration budget ran out before the duality gap reached tol·P(0).

    What is emitted is a subclass of both this class and scikit-learn's
    ``ConvergenceWarning`` when scikit-learn is installed, so filters written
    for either catch it (``import jaxreg`` itself does not import
    scikit-learn; the subclass is made at the first warning).
    """


@functools.cache
def _emitted_warning():
    try:
        from sklearn.exceptions import ConvergenceWarning as SklearnWarning
    except ImportError:
        return ConvergenceWarning
    return type("ConvergenceWarning", (ConvergenceWarning, SklearnWarning), {})
