"""Argument checks shared by the public API.

Each check raises ``ValueError`` naming the argument and the offending value. A
traced value (inside ``jit``/``vmap``/``grad``) cannot be inspected, so it passes
unchecked; the check then runs at the Python boundary where users call us.
"""

from __future__ import annotations

import numbers
import os
import pathlib
import sys
import warnings

import jax
import numpy as np

# packages whose frames a warning about the user's input skips, so that it
# names the user's line (``muon(...).init(params)`` runs in optax's chain)
_LIBRARIES = ("jaxreg", "jax", "jaxlib", "optax", "flax", "equinox")


def warn_caller(message: str, category=UserWarning) -> None:
    """``warnings.warn`` at the first frame outside jaxreg and the libraries
    that call it (JAX, optax, Flax, Equinox): the line of the user's code that
    passed the input warned about, whatever the depth of the call."""
    roots = tuple(
        str(pathlib.Path(sys.modules[name].__file__).parent) + os.sep
        for name in _LIBRARIES
        if getattr(sys.modules.get(name), "__file__", None)
    )
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(roots):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level + 1)


def _concrete(value, wait=True):
    """Returns ``value`` as a numpy array, or None when it is traced, a
    schedule, held in part by another process, or (``wait=False``) any
    ``jax.Array``: reading one waits for it to be computed, which costs an
    eager (un-jitted) optimizer step its asynchronous dispatch."""
    if callable(value) or isinstance(value, jax.core.Tracer):
        return None
    if isinstance(value, jax.Array) and not (wait and value.is_fully_addressable):
        return None
    try:
        return np.asarray(value)
    except (TypeError, ValueError, jax.errors.ConcretizationTypeError):
        return None


def _real(arr) -> bool:
    """A real number type, bfloat16 and the other ml_dtypes included."""
    return jax.numpy.issubdtype(arr.dtype, jax.numpy.number) and not (
        jax.numpy.issubdtype(arr.dtype, jax.numpy.complexfloating)
    )


def _shown(value, arr, ok) -> str:
    """``value`` for a message: its repr, or for a long array the first
    entry that fails (``ok`` False) and how many do (a repr of 10⁵ weights
    buried the culprit)."""
    if arr.size <= 8:
        return repr(value)
    bad = np.argwhere(~ok)
    index = tuple(int(i) for i in bad[0])
    where = index[0] if arr.ndim == 1 else index
    return (
        f"an array of shape {arr.shape} with {len(bad)} "
        f"{'entry that fails' if len(bad) == 1 else 'entries that fail'} "
        f"(the first at index {where}: {arr[index].item()!r})"
    )


def check_nonnegative(
    name: str, value, *, allow_inf: bool = False, wait: bool = True
) -> None:
    """Raises unless every entry of ``value`` is finite (or ``+inf`` with
    ``allow_inf``) and ``>= 0``; ``wait=False`` (operators called on every
    step) checks Python and numpy values only (:func:`_concrete`)."""
    arr = _concrete(value, wait)
    if arr is None:
        return
    if not _real(arr):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    if allow_inf:
        ok = ~np.isnan(arr) & (arr >= 0)
        if not np.all(ok):
            shown = _shown(value, arr, ok)
            raise ValueError(f"{name} must be >= 0 (inf allowed), got {shown}")
    else:
        ok = np.isfinite(arr) & (arr >= 0)
        if not np.all(ok):
            raise ValueError(
                f"{name} must be finite and >= 0, got {_shown(value, arr, ok)}"
            )


def check_unit_interval(
    name: str, value, *, wait: bool = True, below_one: bool = False
) -> None:
    """Raises unless every entry of ``value`` lies in ``[0, 1]`` (``[0, 1)``
    with ``below_one``: a decay rate that must forget, e.g. Adam's betas,
    whose bias correction divides by ``1 - β^t``)."""
    arr = _concrete(value, wait)
    if arr is None:
        return
    interval = "[0, 1)" if below_one else "[0, 1]"
    if not _real(arr):
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")
    high = ~(arr < 1) if below_one else ~(arr <= 1)
    if np.any(~(arr >= 0) | high):
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")


def check_positive_int(name: str, value) -> None:
    """Raises unless ``value`` is a Python/numpy integer ``>= 1``."""
    if isinstance(value, jax.Array | np.ndarray):
        # a loop length is static: optax.inject_hyperparams hands it over as
        # an array unless told otherwise
        raise ValueError(
            f"{name} must be a Python integer >= 1, got the array {value!r} (a "
            "loop length is static: under optax.inject_hyperparams pass "
            f"static_args=({name!r},))"
        )
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def check_float_array(name: str, x) -> None:
    """Raises unless ``x`` has a floating dtype (prox operators are real-valued)."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        dtype = np.asarray(x).dtype
    if np.dtype(dtype).kind in "OUS":  # a Python object, string or bytes
        # (not "V": bfloat16 and float8 are ml_dtypes, numpy kind "V")
        raise ValueError(
            f"{name} has a leaf that is not an array ({x!r}); pass only the "
            "arrays, e.g. eqx.filter(model, eqx.is_inexact_array) or "
            "nnx.state(model, nnx.Param)"
        )
    if jax.numpy.issubdtype(dtype, jax.numpy.complexfloating):
        raise ValueError(
            f"{name} must have a real floating dtype, got {dtype}: the penalties "
            "and their prox are defined on real values; hold the real and "
            "imaginary parts as two real leaves, or leave it out with mask="
        )
    if not jax.numpy.issubdtype(dtype, jax.numpy.floating):
        raise ValueError(
            f"{name} must have a floating dtype, got {dtype}; cast it first "
            "(integers cannot hold a shrunk value), or leave it out with mask="
        )


def check_positive(name: str, value) -> None:
    """Raises unless every entry of ``value`` is finite and ``> 0``."""
    arr = _concrete(value)
    if arr is None:
        return
    if not _real(arr):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    ok = np.isfinite(arr) & (arr > 0)
    if not np.all(ok):
        raise ValueError(f"{name} must be finite and > 0, got {_shown(value, arr, ok)}")


def check_bounds(lower, upper) -> None:
    """Raises unless ``lower <= upper`` everywhere (traced bounds pass)."""
    lo, hi = _concrete(lower), _concrete(upper)
    if lo is None or hi is None:
        return
    if np.any(np.isnan(lo)) or np.any(np.isnan(hi)) or np.any(lo > hi):
        raise ValueError(
            f"lower must be <= upper everywhere (else the box is empty), got "
            f"lower={lower!r}, upper={upper!r}"
        )
