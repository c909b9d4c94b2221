"""Result type, input checks and data preparation shared by the solvers."""

from __future__ import annotations

import functools
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg._validation import check_nonnegative, check_unit_interval


class SolverResult(NamedTuple):
    """What every solver returns.

    Attributes:
      coef: coefficients ``w``, shape ``(n_features,)`` (or ``(n_lambdas,
        n_features)`` for a path).
      intercept: unpenalized intercept ``b`` (0 when ``fit_intercept=False``).
      gap: duality gap reached, in the units of the objective (not relative).
      n_iter: outer iterations (working-set iterations for coordinate descent,
        gradient steps for FISTA, CG iterations for ridge).
      converged: whether ``gap <= tol · P(0)``.
    """

    coef: jax.Array
    intercept: jax.Array
    gap: jax.Array
    n_iter: jax.Array
    converged: jax.Array


class Design(NamedTuple):
    """A prepared design: ``X`` transposed, centring offsets and targets.

    ``XT`` has shape ``(n_features, n_samples)`` so that ``Xᵀr`` is a row-major
    matrix-vector product and a working set is a contiguous row gather. With a
    quadratic datafit and an intercept the columns are centred implicitly:
    ``xbar`` holds the column means (never subtracted from ``XT`` itself) and
    ``y`` is centred, which is exactly how scikit-learn fits the intercept.
    """

    XT: jax.Array
    xbar: jax.Array
    colnorm: jax.Array
    y: jax.Array
    y_offset: jax.Array


def default_dtype(*arrays):
    """float64 when x64 is enabled and an input is float64, else float32."""
    if jax.config.jax_enable_x64 and any(
        np.dtype(getattr(a, "dtype", np.float64)) == np.float64 for a in arrays
    ):
        return jnp.float64
    return jnp.float32


def check_X_y(X, y):
    """Validates shapes, dtypes and the finiteness of y (X: in :func:`prepare`);
    returns numpy or jax arrays (2-D, 1-D)."""
    if not isinstance(X, jax.Array):
        X = np.asarray(X)
    if not isinstance(y, jax.Array):
        y = np.asarray(y)
    if X.ndim != 2:
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


def check_strength(name, lam):
    """Raises ``ValueError`` unless ``lam`` is a finite number (or array) ``>= 0``."""
    check_nonnegative(name, lam)


def check_l1_ratio(l1_ratio):
    check_unit_interval("l1_ratio", l1_ratio)


def binary_labels(y):
    """Maps labels in ``{0, 1}`` or ``{-1, +1}`` to ``±1``; anything else raises."""
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


def prepare(X, y, *, center: bool, dtype=None) -> Design:
    """Builds a :class:`Design` (checks done by the caller)."""
    dtype = dtype or default_dtype(X, y)
    if isinstance(X, jax.Array):
        XT = X.astype(dtype).T
    else:
        XT = to_device(np.asarray(X).T, dtype)
    xbar, colnorm, yc, y_offset = _center(XT, jnp.asarray(y, dtype=dtype), center)
    # a column norm is finite iff the column is, barring overflow
    if not bool(jnp.all(jnp.isfinite(colnorm))):
        _check_finite("X", XT)
    return Design(XT, xbar, colnorm, yc, y_offset)


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


@functools.partial(jax.jit, static_argnames="center")
def _center(XT, y, center):
    n = XT.shape[1]
    sq = jnp.sum(XT * XT, axis=1)
    if center:
        xbar = jnp.mean(XT, axis=1)
        y_offset = jnp.mean(y)
        sq = jnp.maximum(sq - n * xbar * xbar, 0.0)
    else:
        xbar = jnp.zeros(XT.shape[0], XT.dtype)
        y_offset = jnp.zeros((), XT.dtype)
    # XT itself is not returned: a jit output aliasing an input is a copy
    return xbar, jnp.sqrt(sq), y - y_offset, y_offset


def warn_not_converged(gap, tol_abs, what="solver"):
    warnings.warn(
        f"{what} did not converge: duality gap {float(gap):.3e} > tol·P(0) = "
        f"{float(tol_abs):.3e}; raise max_iter or loosen tol",
        ConvergenceWarning,
        stacklevel=3,
    )


class ConvergenceWarning(UserWarning):
    """The iteration budget ran out before the duality gap reached tol·P(0).

    A plain ``UserWarning`` subclass (``import jaxreg`` does not import
    scikit-learn), so filters on scikit-learn's own ``ConvergenceWarning`` do
    not catch it; filter this class, or ``UserWarning``.
    """
