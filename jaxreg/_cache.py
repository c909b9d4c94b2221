"""JAX's persistent compilation cache, on by default for jaxreg's solvers.

A solver's first call in a new process spends most of its time compiling (about
1.2 s per working-set bucket on a 2-core CPU); the compiled programs do not
change between processes. Importing jaxreg therefore points JAX's persistent
compilation cache (``jax_compilation_cache_dir``) at a per-user directory, so
that later processes load the programs instead of compiling them:

- the directory is ``$JAXREG_COMPILATION_CACHE`` if set to a path, else
  ``$XDG_CACHE_HOME/jaxreg/xla`` (``~/.cache/jaxreg/xla``); never the working
  directory;
- ``JAXREG_COMPILATION_CACHE=0`` (or ``off``) leaves JAX's configuration alone;
- so does a cache directory the user configured before importing jaxreg
  (``jax.config.update("jax_compilation_cache_dir", ...)`` or
  ``JAX_COMPILATION_CACHE_DIR``): theirs wins, with their thresholds;
- every program is stored, however fast it compiled (JAX's default threshold is
  1 s, which a fast machine's solver programs fall under), and the cache is
  capped at 1 GiB, least recently used entries evicted first.

JAX's cache is process-wide: the user's own programs are cached too. It takes
effect only if jaxreg is imported before the process's first compilation (JAX
reads the setting once). Beside it, :mod:`jaxreg._programs` stores the
solvers' lowered programs and their executables, so that later processes
also skip tracing and lowering.
"""

from __future__ import annotations

import os
import pathlib

import jax

__all__ = ["DIRECTORY", "ENV_VAR", "cache_directory", "enable_persistent_cache"]

ENV_VAR = "JAXREG_COMPILATION_CACHE"
_OFF = ("0", "off", "false", "no")
MIN_COMPILE_SECONDS = 0.0
MAX_BYTES = 1 << 30


def cache_directory() -> pathlib.Path | None:
    """Where jaxreg keeps compiled programs, or ``None`` when switched off."""
    setting = os.environ.get(ENV_VAR, "").strip()
    if setting.lower() in _OFF:
        return None
    if setting:
        return pathlib.Path(setting).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "jaxreg" / "xla"


def enable_persistent_cache() -> pathlib.Path | None:
    """Turns on JAX's persistent cache in :func:`cache_directory` unless the
    user configured one or opted out; returns the directory in use by jaxreg
    (``None`` when jaxreg left the configuration alone)."""
    path = cache_directory()
    if path is None or jax.config.jax_compilation_cache_dir is not None:
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    return path


#: the directory jaxreg set at import (``None``: left to the user or off)
DIRECTORY = enable_persistent_cache()
