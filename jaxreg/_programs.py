"""Solver programs stored across processes, traced and lowered once per user.

JAX's persistent compilation cache (:mod:`jaxreg._cache`) saves the XLA
compilation of a program, but every new process still traces the Python
function and lowers it to StableHLO to compute the cache key: for one
working-set bucket of the coordinate-descent solver that is 0.3–0.4 s of the
0.6 s a warm-cache first fit took on a 2-core CPU. :func:`stored_jit` is
:func:`jax.jit` for the solvers' large programs that also keeps, in
``<cache directory>/programs``, the program :func:`jax.export` lowered, so a
later process with the same inputs deserializes it (about 1 ms) instead of
tracing. Beside it goes the executable XLA compiled from it
(``<key>.<host>.jaxexe``, compressed, where ``<host>`` hashes the machine's
name, architecture, CPU model and features), so that a later process on the
same machine loads that (about 0.1 s per working-set program) and skips
lowering and JAX's cache look-up as well: another 0.1 s per program, and
about 0.1 s once per process that JAX's exported calls spend initialising
LAPACK on CPU. Where no executable is stored (another machine, a backend that
cannot serialize it, a program calling kernels other than XLA's TopK and
LAPACK, which JAX registers only when it lowers a call to them), the program
compiles through JAX's cache.

A program is stored only when everything that shapes it is known exactly:

- the key is a SHA-256 of the function's name, its static arguments, the
  pytree structure of the others (with the classes and static fields of every
  node), their shapes, dtypes and weak types, the backend and device kind, the
  JAX configuration that changes tracing (x64, matmul precision, dtype and
  rank promotion), the jax and jaxlib versions and the text of every jaxreg
  source file, so editing jaxreg or upgrading JAX never reuses an old program;
- a static value or node class that is not jaxreg's, JAX's containers or a
  plain Python constant (a user's own penalty class, a closure, a class made
  at run time, which its name does not find again) cannot be named across
  processes: that call runs through :func:`jax.jit` as before; so do calls
  under a transformation (tracer arguments), with arrays sharded over several
  devices or placed on another than the default device, under
  ``jax.default_device``,
  ``jax.disable_jit`` or the NaN/Inf debugging and checking modes, and when
  the cache is switched off (``JAXREG_COMPILATION_CACHE=0``);
- a program that :func:`jax.export` refuses (a custom call without a stability
  guarantee, a host callback) runs through :func:`jax.jit`, and an empty file
  spares later processes the attempt.

On the CPU backend the programs compile with :data:`CPU_COMPILER_OPTIONS`:
XLA's loop emitters instead of its newer fusion emitters, which compile a
1000 × 5000 Lasso's working-set program in 1.2 s instead of 1.8 s (jaxlib
0.10.2, 2-core CPU) and run it as fast. They apply to top-level calls only
(JAX refuses compiler options on a jit nested in a trace: there the plain
program runs), and an XLA that does not know them drops them for the rest of
the process. JAX's cache keys include them.

Files are written atomically with a SHA-256 checksum of their name and
content; one that is unreadable, fails its checksum (a damaged or a renamed
file), or holds a program that does not run for its call is exported again
and replaced, and the least recently used beyond :data:`MAX_PROGRAMS`
programs and :data:`MAX_EXECUTABLES` executables are deleted. An executable
is stored only when XLA compiled it afresh: XLA:CPU cannot serialize one it
loaded from JAX's cache (the file lacks its kernels), and the first run of a
loaded executable waits for its result, so that such a failure is caught and
the file deleted. The checksum guards against damage, not against
tampering: like JAX's own cache, the
directory must be writable only by its user. Warnings raised while tracing
are raised only by the process that exports (the solvers raise none there;
their convergence warnings come after the compiled call).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import inspect
import os
import pathlib
import pickle
import platform
import re
import sys
import tempfile
import types
import zlib

import jax
import jaxlib
import numpy as np
from jax._src import core as jax_core
from jax._src.lax import linalg as jax_linalg
from jax.experimental import serialize_executable

from jaxreg._cache import cache_directory

__all__ = [
    "CPU_COMPILER_OPTIONS",
    "MAX_EXECUTABLES",
    "MAX_PROGRAMS",
    "program_directory",
    "stored_jit",
    "tuned_jit",
]

MAX_PROGRAMS = 2048  # about 75 KB each: 150 MB at most
MAX_EXECUTABLES = 512  # about 250 KB each (compressed): 125 MB at most
_SUFFIX = ".jaxprog"
_EXECUTABLE_SUFFIX = ".jaxexe"
_PLAIN = (str, int, float, complex, bool, type(None))
_OUR_MODULES = ("jaxreg", "builtins", "collections")
_CONFIG = (  # settings that change what tracing produces, or raises
    "jax_enable_x64",
    "jax_default_matmul_precision",
    "jax_numpy_dtype_promotion",
    "jax_numpy_rank_promotion",
)
# settings under which jax.jit itself behaves differently: calls run through it
_JIT_ONLY = ("jax_disable_jit", "jax_debug_nans", "jax_debug_infs", "jax_enable_checks")


# XLA:CPU compiles the solvers' loops 30-40 % faster with its loop emitters
# (module docstring); emptied when XLA rejects them
CPU_COMPILER_OPTIONS = {"xla_cpu_use_fusion_emitters": False}

_CACHE_HITS = [0]  # JAX's persistent-cache hits in this process


def _count_cache_hit(event: str, **kwargs) -> None:
    if event == "/jax/compilation_cache/cache_hits":
        _CACHE_HITS[0] += 1


jax.monitoring.register_event_listener(_count_cache_hit)

# registers LAPACK's kernels, which JAX does when it lowers a call to them
_initialize_lapack = getattr(jax_linalg, "initialize_lapack", None)

_SERIALIZABLE = importlib.util.find_spec("flatbuffers") is not None


class _Unnamed(Exception):
    """A static value that cannot be named the same way in another process."""


def program_directory() -> pathlib.Path | None:
    """Where stored programs live (``None``: the cache is switched off, or
    ``flatbuffers``, which :mod:`jax.export` serializes with, is missing)."""
    base = cache_directory()
    return None if base is None or not _SERIALIZABLE else base / "programs"


@functools.cache
def _source_digest() -> str | None:
    """jaxreg's source text and the jax / jaxlib versions, hashed (``None``
    when the source cannot be read, e.g. from a zip archive)."""
    root = pathlib.Path(__file__).parent
    files = sorted(root.rglob("*.py"))
    if not files:
        return None
    h = hashlib.sha256(f"{jax.__version__} {jaxlib.__version__}".encode())
    for path in files:
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _name(obj) -> str:
    """``module.qualname`` of a jaxreg (or builtin) class or function that
    this name finds again (not one made at run time, e.g. a class per
    parameter value, whose name may be shared)."""
    module = getattr(obj, "__module__", None) or ""
    qualname = getattr(obj, "__qualname__", None) or ""
    if module.split(".")[0] not in _OUR_MODULES or "<" in qualname or not qualname:
        raise _Unnamed(obj)
    if module == "builtins":  # NoneType is no attribute of builtins
        return f"builtins.{qualname}"
    found = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if obj is not found and obj is not getattr(found, "__wrapped__", None):
        raise _Unnamed(obj)  # (a decorated function's name finds the wrapper)
    return f"{module}.{qualname}"


def _describe(value) -> str:
    """A canonical text for a static value or a node's static fields."""
    if type(value) in _PLAIN:
        return f"{type(value).__name__}:{value!r}"
    if isinstance(value, np.dtype) or (
        isinstance(value, type) and issubclass(value, np.generic)
    ):
        return f"dtype:{np.dtype(value)}"
    if type(value) in (tuple, list, frozenset):
        items = sorted(value, key=repr) if type(value) is frozenset else value
        return f"{type(value).__name__}({','.join(map(_describe, items))})"
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple
        return f"{_name(type(value))}{_describe(tuple(value))}"
    if isinstance(value, (type, types.FunctionType)):
        return _name(value)
    raise _Unnamed(value)


def _describe_tree(treedef) -> str:
    node = treedef.node_data()
    if node is None:
        return "*"
    cls, aux = node
    children = ",".join(map(_describe_tree, treedef.children()))
    return f"{_name(cls)}[{_describe(aux)}]({children})"


def _leaf_type(leaf, device):
    """The abstract value (shape, dtype, weak type) of an argument leaf, which
    must be on ``device`` (the default one), where stored executables run."""
    if isinstance(leaf, jax.core.Tracer):
        raise _Unnamed(leaf)
    if isinstance(leaf, jax.Array) and leaf.sharding.device_set != {device}:
        raise _Unnamed(leaf)  # sharded, or placed on another device
    return jax.typeof(leaf)


def _describe_aval(aval) -> str:
    return f"{aval.dtype}{list(aval.shape)}{'~' if aval.weak_type else ''}"


def _top_level() -> bool:
    """Whether a call happens outside any trace (``False`` if this JAX cannot
    tell)."""
    clean = getattr(jax_core, "trace_state_clean", None)
    return clean is not None and clean()


def tuned_jit(fun=None, **kwargs):
    """``jax.jit(fun, **kwargs)``, compiled with :data:`CPU_COMPILER_OPTIONS`
    where they apply (module docstring): for the solvers' large programs
    that are not stored (a user's function is static in them); usable as
    ``@tuned_jit(static_argnames=...)``."""
    if fun is None:
        return functools.partial(tuned_jit, **kwargs)
    return _Jit(fun, **kwargs)


class _Jit:
    """:func:`tuned_jit`; ``lower``, ``trace`` and ``eval_shape`` are the plain
    :func:`jax.jit`'s."""

    def __init__(self, fun, **kwargs):
        self.plain = jax.jit(fun, **kwargs)
        self._tuned = jax.jit(fun, compiler_options=CPU_COMPILER_OPTIONS, **kwargs)
        functools.update_wrapper(self, fun)

    def __getattr__(self, name):
        if name in ("plain", "_tuned"):
            raise AttributeError(name)
        return getattr(self.plain, name)

    def _cache_size(self) -> int:
        """Programs compiled in this process, with and without the options."""
        return self.plain._cache_size() + self._tuned._cache_size()

    def __call__(self, *args, **kwargs):
        return _tuned(
            lambda: self._tuned(*args, **kwargs), lambda: self.plain(*args, **kwargs)
        )


def _tuned(tuned, plain):
    """``tuned()``, which compiles with :data:`CPU_COMPILER_OPTIONS`, where they
    apply (module docstring), else ``plain()``."""
    if CPU_COMPILER_OPTIONS and jax.default_backend() == "cpu" and _top_level():
        try:
            return tuned()
        except RuntimeError as error:  # JAX's runtime error, in every version
            if "No such compile option" not in str(error):
                raise
            CPU_COMPILER_OPTIONS.clear()  # this XLA does not know them
    return plain()


class _Program:
    """A stored program: its executable (``compiled``: read from its file, or
    compiled from ``exported`` on the first call and then written there),
    its output tree, and whether it came from files (``loaded``)."""

    def __init__(self, out_tree, loaded, *, exported=None, compiled=None):
        self.out_tree = out_tree
        self.loaded = loaded
        self.exported = exported
        self.compiled = compiled
        self._unchecked = compiled is not None  # a loaded executable

    def __call__(self, leaves, path):
        if self.compiled is None:
            lowered = jax.jit(self.exported.call).lower(*leaves)
            hits = _CACHE_HITS[0]
            self.compiled = _tuned(
                lambda: lowered.compile(compiler_options=CPU_COMPILER_OPTIONS),
                lowered.compile,
            )
            # XLA:CPU cannot serialize an executable that it loaded from
            # JAX's cache: the file would lack its kernels (jax 0.10.2)
            if _CACHE_HITS[0] == hits:
                _store_executable(path, self.compiled, self.out_tree)
        out = self.compiled(*leaves)
        if self._unchecked:  # its first run: an error (a kernel the file
            jax.block_until_ready(out)  # lacks) surfaces here, not later
            self._unchecked = False
        return out


def stored_jit(fun=None, *, static_argnames=()):
    """:func:`jax.jit` whose programs are also stored across processes (module
    docstring); usable as ``@stored_jit(static_argnames=...)``."""
    if isinstance(static_argnames, str):
        static_argnames = (static_argnames,)
    if fun is None:
        return functools.partial(stored_jit, static_argnames=static_argnames)
    return _StoredJit(fun, tuple(static_argnames))


class _StoredJit:
    def __init__(self, fun, static_argnames):
        self._fun = fun
        self._jit = tuned_jit(fun, static_argnames=static_argnames)
        self._signature = inspect.signature(fun)
        self._static = static_argnames
        self._programs: dict[str, _Program | None] = {}  # None: run self._jit
        self._keys: dict[tuple, str] = {}  # what jax.jit would hash -> key
        functools.update_wrapper(self, fun)

    def __getattr__(self, name):  # lower, trace, eval_shape: jax.jit's
        if name == "_jit":
            raise AttributeError(name)
        return getattr(self._jit, name)

    def __call__(self, *args, **kwargs):
        directory = program_directory()
        if (
            directory is None
            or jax.config.jax_default_device is not None
            or any(getattr(jax.config, name) for name in _JIT_ONLY)
        ):
            return self._jit(*args, **kwargs)
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        static = {k: v for k, v in bound.arguments.items() if k in self._static}
        dynamic = {k: v for k, v in bound.arguments.items() if k not in static}
        leaves, treedef = jax.tree.flatten(dynamic)
        try:
            key = self._key(static, treedef, leaves)
        except _Unnamed:
            return self._jit(*args, **kwargs)
        path = directory / f"{key}{_SUFFIX}"
        if key not in self._programs:
            program = _load_executable(path) or _load(path)
            if program is _ABSENT:
                program = self._export(path, static, treedef, leaves)
            self._programs[key] = program
        program = self._programs[key]
        if program is None:
            return self._jit(*args, **kwargs)
        try:
            out = program(leaves, path)
        except Exception:
            if not program.loaded:
                raise
            # a stored program or executable this process cannot run (a file
            # copied by hand, an executable without its kernels): exported
            # afresh, as jax.jit would have
            _discard(_executable_path(path))
            program = self._export(path, static, treedef, leaves)
            self._programs[key] = program
            if program is None:
                return self._jit(*args, **kwargs)
            out = program(leaves, path)
        return program.out_tree.unflatten(out)

    def _key(self, static, treedef, leaves) -> str:
        """The program's key (module docstring), remembered for what
        :func:`jax.jit` would hash for the call (the static values and their
        types, the tree structure, the leaves' abstract values and the
        configuration): describing them costs about 0.3 ms per call."""
        device = jax.devices()[0]
        avals = tuple(_leaf_type(leaf, device) for leaf in leaves)
        config = tuple(getattr(jax.config, name) for name in _CONFIG)
        static_types = tuple(map(type, static.values()))
        seen = (tuple(static.items()), static_types, treedef, avals, config)
        try:
            return self._keys[seen]
        except KeyError:
            key = self._keys[seen] = self._describe_key(static, treedef, avals)
            return key
        except TypeError as error:  # an unhashable static value: jax.jit's
            raise _Unnamed(static) from error

    def _describe_key(self, static, treedef, avals) -> str:
        source = _source_digest()
        if source is None:
            raise _Unnamed(self._fun)
        device = jax.devices()[0]
        text = "\n".join(
            [
                source,
                _name(self._fun),
                _describe(tuple(static.items())),
                _describe_tree(treedef),
                ";".join(map(_describe_aval, avals)),
                f"{device.platform}:{device.device_kind}",
                *(f"{name}={getattr(jax.config, name)}" for name in _CONFIG),
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def _export(self, path, static, treedef, leaves) -> _Program | None:
        """Traces, lowers and stores the program; ``None`` (and an empty file,
        so that later processes do not try again) when it cannot be exported."""
        out_trees, raised = [], []

        def flat(*leaves):
            try:
                out = self._fun(**static, **treedef.unflatten(leaves))
            except BaseException:
                raised.append(True)
                raise
            out_leaves, out_tree = jax.tree.flatten(out)
            out_trees.append(out_tree)
            return out_leaves

        try:
            exported = jax.export.export(jax.jit(flat))(*leaves)
            payload = pickle.dumps((out_trees[0], exported.serialize()))
        except Exception:
            if raised:  # the function's own error (bad input): the user's
                raise
            _write(path, b"")  # not exportable (a custom call without
            return None  # a stability guarantee, a host callback)
        _write(path, payload)
        return _Program(out_trees[0], loaded=False, exported=exported)


_ABSENT = object()  # no usable file: the program is exported


def _checksum(path: pathlib.Path, payload: bytes) -> bytes:
    """The SHA-256 of a file's name and content: a file copied under another
    key's name (a program for other static arguments, with the same shapes)
    fails it."""
    return hashlib.sha256(path.name.encode() + b"\0" + payload).digest()


def _unsealed(path: pathlib.Path) -> bytes | None:
    """A file's payload (``None`` when unreadable or when its checksum fails:
    a damaged disk block, a broken write, a file renamed); marks it recently
    used."""
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    digest, payload = blob[:32], blob[32:]
    if blob and _checksum(path, payload) != digest:
        return None
    try:
        os.utime(path)  # recently used
    except OSError:  # a read-only directory still serves its programs
        pass
    return payload


def _load(path: pathlib.Path) -> _Program | None:
    """The exported program (``None``: an empty file, "not exportable"), or
    ``_ABSENT`` where no file is usable, so that it is exported and the file
    replaced."""
    payload = _unsealed(path)
    if payload is None:
        return _ABSENT
    if not payload:
        return None
    try:
        out_tree, exported = pickle.loads(payload)
        exported = jax.export.deserialize(bytearray(exported))
    except Exception:  # from another version's writer
        return _ABSENT
    return _Program(out_tree, loaded=True, exported=exported)


def _executable_path(path: pathlib.Path) -> pathlib.Path:
    return path.with_suffix(f".{_host()}{_EXECUTABLE_SUFFIX}")


def _store_executable(path, compiled, out_tree) -> None:
    """Writes a program's executable beside it, with whether it calls LAPACK
    (whose kernels JAX registers when it lowers a call to them, a step the
    stored executable skips); nothing where this backend cannot serialize it
    or where it calls another library's kernels."""
    try:
        targets = set(re.findall(r'custom_call_target="([^"]*)"', compiled.as_text()))
        lapack = {target for target in targets if target.startswith("lapack_")}
        if targets - lapack - {"TopK"} or (lapack and _initialize_lapack is None):
            return
        executable = serialize_executable.serialize(compiled)
        blob = pickle.dumps((executable, out_tree, bool(lapack)))
    except Exception:
        return
    _write(_executable_path(path), zlib.compress(blob))


def _load_executable(path: pathlib.Path) -> _Program | None:
    """The program's stored executable, which skips lowering and JAX's cache
    look-up (0.1 s per program); ``None`` where there is none, or none that
    loads (the file is deleted: it would only be read and rejected again,
    as its program's next compilation, from JAX's cache, stores nothing)."""
    path = _executable_path(path)
    payload = _unsealed(path)
    if payload is None and path.exists():  # damaged
        _discard(path)
    if not payload:
        return None
    try:
        (executable, in_tree, flat_tree), out_tree, lapack = pickle.loads(
            zlib.decompress(payload)
        )
        if lapack:
            _initialize_lapack()
        compiled = serialize_executable.deserialize_and_load(
            executable, in_tree, flat_tree, execution_devices=jax.devices()[:1]
        )
    except Exception:  # damaged beyond its checksum
        _discard(path)
        return None
    return _Program(out_tree, loaded=True, compiled=compiled)


def _discard(path: pathlib.Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:  # a read-only directory
        pass


@functools.cache
def _host() -> str:
    """The machine's name, architecture and CPU model and features, hashed: a
    CPU executable is compiled for the instructions of the machine that
    compiled it, and a cache directory may be shared by several machines."""
    lines = []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "flags")) and line not in lines:
                    lines.append(line)
                if len(lines) == 2:
                    break
    except OSError:  # not Linux: the name and architecture alone
        pass
    text = " ".join([platform.node(), platform.machine(), platform.processor(), *lines])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _write(path: pathlib.Path, payload: bytes) -> None:
    """Atomic write of the payload after its checksum (an empty payload
    alone); then the least recently used files of its kind beyond their
    limit (:data:`MAX_PROGRAMS`, :data:`MAX_EXECUTABLES`) go."""
    blob = _checksum(path, payload) + payload if payload else b""
    directory = path.parent
    tmp = None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
        suffix, limit = (
            (_EXECUTABLE_SUFFIX, MAX_EXECUTABLES)
            if path.name.endswith(_EXECUTABLE_SUFFIX)
            else (_SUFFIX, MAX_PROGRAMS)
        )
        files = sorted(directory.glob(f"*{suffix}"), key=lambda p: p.stat().st_mtime)
        for old in files[: max(0, len(files) - limit)]:
            old.unlink(missing_ok=True)
    except OSError:  # a read-only or full disk: the program still runs
        if tmp is not None:
            pathlib.Path(tmp).unlink(missing_ok=True)
