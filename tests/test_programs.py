"""Solver programs stored across processes (jaxreg._programs).

A new ``stored_jit`` wrapper of the same function stands for a new process:
its in-memory table is empty, so a call either loads the stored program (the
Python function is not traced: its body does not run) or exports it.
"""

import dataclasses
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxreg import _programs
from jaxreg._programs import stored_jit
from jaxreg._pytree import register_dataclass

TRACES = []


def _affine(x, scale, shift, *, power):
    TRACES.append(power)
    return {"y": scale * x**power + shift, "sum": jnp.sum(x)}


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXREG_COMPILATION_CACHE", str(tmp_path))
    # only jaxreg's own functions, found again by their names, are stored
    # (their source is in the key): these test functions pose as a module
    module = types.ModuleType("jaxreg._test_programs")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for fun in (_affine, _uses_node, _with_callback):
        monkeypatch.setattr(fun, "__module__", module.__name__)
        setattr(module, fun.__name__, fun)
    TRACES.clear()
    return tmp_path / "programs"


def _programs_in(store):
    return sorted(store.glob("*.jaxprog"))


def _without_executables(store):
    """The stored programs, their executables deleted (as on another
    machine), so that a new process reads the programs."""
    for path in store.glob("*.jaxexe"):
        path.unlink()
    return _programs_in(store)


def _new_process():
    return stored_jit(_affine, static_argnames="power")


def _reference(x, scale, shift, power):
    return scale * np.asarray(x, np.float64) ** power + shift


def test_second_process_loads_without_tracing(store):
    x = np.linspace(0.0, 1.0, 5, dtype=np.float32)
    first = _new_process()(x, 2.0, 1.0, power=2)
    assert TRACES == [2] and len(_programs_in(store)) == 1
    again = _new_process()(x, 2.0, 1.0, power=2)
    assert TRACES == [2]  # loaded: the function did not run
    for out in (first, again):
        np.testing.assert_allclose(out["y"], _reference(x, 2.0, 1.0, 2), rtol=1e-6)
        assert out["y"].dtype == jnp.float32
    np.testing.assert_array_equal(first["y"], again["y"])


@pytest.mark.parametrize(
    "change",
    [
        {"power": 3},  # a static argument
        {"x": np.ones(6, np.float32)},  # a shape
        {"x": np.ones(5, np.int32)},  # a dtype
        {"scale": np.float32(2.0)},  # strong instead of weak type
        {"scale": (2.0, 1.0)},  # a tree structure
    ],
)
def test_anything_that_shapes_the_program_changes_the_key(store, change):
    args = {"x": np.ones(5, np.float32), "scale": 2.0, "shift": 1.0, "power": 2}
    _new_process()(**args)
    f = _new_process()
    if isinstance(change.get("scale"), tuple):
        with pytest.raises(TypeError):  # the function's own error surfaces
            f(**{**args, **change})
        return
    f(**{**args, **change})
    assert len(TRACES) == 2 and len(_programs_in(store)) == 2


@pytest.mark.parametrize(
    "change",
    [
        {"power": 3},
        {"power": 2.0},  # equal to 2 and of equal hash, but a float
        {"x": np.ones(6, np.float32)},
        {"x": np.ones(5, np.int32)},
        {"scale": np.float32(2.0)},
    ],
)
def test_one_process_remembers_keys_per_signature(store, change):
    """Within a process the key is remembered for what the call looks like
    to jax.jit (static values and their types, tree, abstract leaves): the
    same call finds its program again, and any change that shapes the
    program gets a new key."""
    args = {"x": np.ones(5, np.float32), "scale": 2.0, "shift": 1.0, "power": 2}
    f = _new_process()
    f(**args)
    f(**{**args, "shift": 3.0})  # another value: the same program
    assert len(TRACES) == 1 and len(f._keys) == 1
    out = f(**{**args, **change})
    assert len(TRACES) == 2 and len(_programs_in(store)) == 2
    expected = {**args, **change}
    np.testing.assert_allclose(
        out["y"],
        _reference(
            expected["x"], expected["scale"], expected["shift"], expected["power"]
        ),
        rtol=1e-6,
    )


def test_source_change_is_a_new_program(store, monkeypatch):
    x = np.ones(3, np.float32)
    _new_process()(x, 1.0, 0.0, power=1)
    monkeypatch.setattr(_programs, "_source_digest", lambda: "edited")
    _new_process()(x, 1.0, 0.0, power=1)
    assert len(TRACES) == 2


@dataclasses.dataclass(frozen=True)
class _UsersOwn:  # a class outside jaxreg: its code is not in the key
    a: jax.Array
    b: float


register_dataclass(_UsersOwn, ["a"], ["b"])


def _uses_node(node):
    TRACES.append(node.b)
    return node.a * node.b


def test_users_classes_tracers_and_jax_default_device_run_jitted(store):
    f = stored_jit(_uses_node)
    out = f(_UsersOwn(jnp.ones(3), 3.0))
    np.testing.assert_allclose(out, 3.0)
    assert not store.exists()

    g = stored_jit(_affine, static_argnames="power")
    xs = np.arange(6, dtype=np.float32).reshape(2, 3)
    out = jax.vmap(lambda x: g(x, 2.0, 0.0, power=2)["y"])(xs)
    np.testing.assert_allclose(out, _reference(xs, 2.0, 0.0, 2), rtol=1e-6)
    with jax.default_device(jax.devices()[0]):
        g(xs[0], 1.0, 0.0, power=1)
    assert not store.exists()


def test_unreadable_file_is_replaced(store):
    x = np.ones(4, np.float32)
    _new_process()(x, 1.0, 1.0, power=1)
    (path,) = _without_executables(store)
    path.write_bytes(b"not a program")
    out = _new_process()(x, 1.0, 1.0, power=1)
    np.testing.assert_allclose(out["y"], 2.0)
    assert len(TRACES) == 2 and path.read_bytes() != b"not a program"
    _new_process()(x, 1.0, 1.0, power=1)
    assert len(TRACES) == 2


def _with_callback(x):
    TRACES.append("callback")
    jax.debug.callback(lambda v: None, x)
    return x + 1


def test_unexportable_program_runs_jitted_and_is_not_retried(store):
    x = np.zeros(2, np.float32)
    np.testing.assert_allclose(stored_jit(_with_callback)(x), 1.0)
    (path,) = store.iterdir()  # and no executable
    assert path.read_bytes() == b""  # the marker
    traces = len(TRACES)
    np.testing.assert_allclose(stored_jit(_with_callback)(x), 1.0)
    # no second export (it would trace); jit reuses this process's trace
    assert len(TRACES) == traces


def test_least_recently_used_programs_are_evicted(store, monkeypatch):
    monkeypatch.setattr(_programs, "MAX_PROGRAMS", 2)
    monkeypatch.setattr(_programs, "MAX_EXECUTABLES", 2)
    for n in (1, 2, 3):
        _new_process()(np.ones(n, np.float32), 1.0, 0.0, power=1)
    assert len(_programs_in(store)) == 2 and len(list(store.glob("*.jaxexe"))) == 2
    _new_process()(np.ones(1, np.float32), 1.0, 0.0, power=1)
    assert TRACES == [1, 1, 1, 1]  # the oldest (n = 1) was exported again


def test_switched_off_stores_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXREG_COMPILATION_CACHE", "0")
    out = _new_process()(np.ones(2, np.float32), 1.0, 0.0, power=1)
    np.testing.assert_allclose(out["y"], 1.0)
    assert _programs.program_directory() is None


def test_unreadable_source_stores_nothing(store, monkeypatch):
    # jaxreg imported from an archive: no source text to key the programs by
    monkeypatch.setattr(_programs, "_source_digest", lambda: None)
    out = _new_process()(np.ones(2, np.float32), 1.0, 0.0, power=1)
    np.testing.assert_allclose(out["y"], 1.0)
    assert not store.exists()


def test_damaged_file_is_detected_and_replaced(store):
    x = np.arange(4, dtype=np.float32)
    _new_process()(x, 2.0, 1.0, power=1)
    (path,) = _without_executables(store)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # one flipped byte inside the program
    path.write_bytes(bytes(blob))
    out = _new_process()(x, 2.0, 1.0, power=1)
    np.testing.assert_allclose(out["y"], _reference(x, 2.0, 1.0, 1))
    assert len(TRACES) == 2 and path.read_bytes() != bytes(blob)


def test_classes_made_at_run_time_are_not_named():
    from jaxreg.solvers.datafits import Tweedie

    # one class per power, named with 6 digits: two powers can share a name
    for power in (1.3, 1.3000004):
        with pytest.raises(_programs._Unnamed):
            _programs._name(Tweedie.with_power(power))
    made = type("Quadratic", (), {"__module__": "jaxreg.solvers.datafits"})
    with pytest.raises(_programs._Unnamed):
        _programs._name(made)  # its name finds another class
    assert _programs._name(Tweedie) == "jaxreg.solvers.datafits.Tweedie"


def test_jit_settings_are_honoured(store):
    x = np.ones(3, np.float32)
    with jax.disable_jit():
        _new_process()(x, 1.0, 0.0, power=1)
        _new_process()(x, 1.0, 0.0, power=1)
    assert len(TRACES) == 2 and not store.exists()  # ran op by op, twice
    with jax.numpy_rank_promotion("allow"):
        _new_process()(x, 1.0, 0.0, power=1)
    _new_process()(x, 1.0, 0.0, power=1)  # the suite's "raise": another key
    assert len(_programs_in(store)) == 2


def test_a_stored_program_that_does_not_fit_its_call_is_exported_afresh(store):
    # a valid file under another call's name (copied by hand): its program
    # expects other shapes; the call exports its own instead of failing
    _new_process()(np.ones(3, np.float32), 1.0, 0.0, power=1)
    (three,) = _programs_in(store)
    x = np.arange(5, dtype=np.float32)
    _new_process()(x, 1.0, 0.0, power=1)
    (five,) = set(_without_executables(store)) - {three}
    five.write_bytes(three.read_bytes())
    out = _new_process()(x, 2.0, 1.0, power=1)
    np.testing.assert_allclose(out["y"], _reference(x, 2.0, 1.0, 1))
    assert len(TRACES) == 3 and five.read_bytes() != three.read_bytes()


@pytest.mark.parametrize("stored", [True, False])
def test_cpu_compiler_options_apply_at_top_level_only(store, monkeypatch, stored):
    # an option XLA rejects shows where they are tried: a call nested in a
    # trace (JAX refuses compiler options there) runs without them; a
    # top-level call, stored or not (cache switched off), tries them and,
    # rejected, drops them for the process
    if not stored:
        monkeypatch.setenv("JAXREG_COMPILATION_CACHE", "0")
    monkeypatch.setattr(_programs, "CPU_COMPILER_OPTIONS", {"xla_no_such_option": 1})
    f = stored_jit(_affine, static_argnames="power")
    x = np.arange(3, dtype=np.float32)
    nested = jax.jit(lambda s: f(x, s, 1.0, power=2)["y"])(2.0)
    constants = jax.jit(lambda: f(x, 3.0, 0.0, power=1)["y"])()  # no tracer
    assert _programs.CPU_COMPILER_OPTIONS  # not tried
    out = f(x, 2.0, 1.0, power=2)
    assert _programs.CPU_COMPILER_OPTIONS == {}  # tried, rejected, dropped
    np.testing.assert_allclose(nested, _reference(x, 2.0, 1.0, 2), rtol=1e-6)
    np.testing.assert_allclose(constants, _reference(x, 3.0, 0.0, 1), rtol=1e-6)
    np.testing.assert_allclose(out["y"], _reference(x, 2.0, 1.0, 2), rtol=1e-6)
    with pytest.raises(jax.errors.JaxRuntimeError, match="No such compile option"):
        jax.jit(lambda x: x, compiler_options={"xla_no_such_option": 1})(x)


def test_this_xla_knows_the_cpu_compiler_options(store):
    x = np.arange(3, dtype=np.float32)
    out = stored_jit(_affine, static_argnames="power")(x, 2.0, 1.0, power=2)
    np.testing.assert_allclose(out["y"], _reference(x, 2.0, 1.0, 2), rtol=1e-6)
    assert _programs.CPU_COMPILER_OPTIONS == {"xla_cpu_use_fusion_emitters": False}


def test_second_process_runs_the_stored_executable(store, monkeypatch):
    x = np.linspace(0.0, 1.0, 5, dtype=np.float32)
    first = _new_process()(x, 2.0, 1.0, power=2)
    (program,) = _programs_in(store)
    (executable,) = store.glob("*.jaxexe")
    program.unlink()  # the executable alone serves: no lowering, no export

    def refuse(*args, **kwargs):
        raise AssertionError("the program was lowered")

    monkeypatch.setattr(jax.export, "deserialize", refuse)
    monkeypatch.setattr(jax.stages.Traced, "lower", refuse)
    again = _new_process()(x, 2.0, 1.0, power=2)
    assert TRACES == [2]
    np.testing.assert_array_equal(first["y"], again["y"])
    np.testing.assert_array_equal(first["sum"], again["sum"])
    assert again["y"].dtype == jnp.float32


def test_executable_of_another_host_is_not_loaded(store, monkeypatch):
    x = np.arange(4, dtype=np.float32)
    _new_process()(x, 2.0, 1.0, power=1)
    (mine,) = store.glob("*.jaxexe")
    monkeypatch.setattr(_programs, "_host", lambda: "0" * 16)  # other CPU features
    loaded = []
    real = _programs.serialize_executable.deserialize_and_load
    monkeypatch.setattr(
        _programs.serialize_executable,
        "deserialize_and_load",
        lambda *a, **k: loaded.append(1) or real(*a, **k),
    )
    out = _new_process()(x, 2.0, 1.0, power=1)
    np.testing.assert_allclose(out["y"], _reference(x, 2.0, 1.0, 1))
    assert loaded == [] and TRACES == [1]  # compiled from the stored program
    assert len(list(store.glob("*.jaxexe"))) == 2 and mine.exists()


@pytest.mark.parametrize("cache_hit", [False, True])
def test_damaged_executable_is_replaced_or_deleted(store, monkeypatch, cache_hit):
    x = np.arange(4, dtype=np.float32)
    _new_process()(x, 2.0, 1.0, power=1)
    (path,) = store.glob("*.jaxexe")
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    if cache_hit:  # the recompilation comes from JAX's cache: nothing stored
        monkeypatch.setattr(_programs, "_store_executable", lambda *args: None)
    out = _new_process()(x, 2.0, 1.0, power=1)
    np.testing.assert_allclose(out["y"], _reference(x, 2.0, 1.0, 1))
    assert TRACES == [1]  # compiled from the stored program
    if cache_hit:
        assert not path.exists()
    else:
        assert path.read_bytes() != bytes(blob)


def test_arrays_on_another_device_run_jitted(store):
    # a stored executable runs on the default device only
    x = jax.device_put(np.arange(3, dtype=np.float32), jax.devices()[-1])
    out = _new_process()(x, 2.0, 1.0, power=1)
    np.testing.assert_allclose(out["y"], _reference(x, 2.0, 1.0, 1))
    assert out["y"].devices() == {jax.devices()[-1]} and not store.exists()


class _FakeCompiled:
    def __init__(self, text):
        self.text = text

    def as_text(self):
        return self.text


def test_executables_calling_other_kernels_are_not_stored(store, monkeypatch):
    # a stored executable skips the lowering that registers the kernels it
    # calls: only XLA's own TopK and LAPACK (registered on load) are known
    monkeypatch.setattr(
        _programs.serialize_executable, "serialize", lambda c: ("exe", None, None)
    )
    store.mkdir(parents=True)
    path = store / "key.jaxprog"
    for targets, stored in [
        ([], True),
        (["TopK", "lapack_sgesdd_ffi"], True),
        (["TopK", "cusolver_getrf_ffi"], False),
        (["my_kernel"], False),
    ]:
        text = " ".join(f'custom_call_target="{t}"' for t in targets)
        _programs._store_executable(path, _FakeCompiled(text), out_tree=None)
        files = list(store.glob("*.jaxexe"))
        assert bool(files) == stored, targets
        for f in files:
            f.unlink()


def test_renamed_files_fail_their_checksum(store):
    # a file copied under another key's name (static arguments differ, shapes
    # alike) would run the other program: its checksum covers its name
    x = np.arange(4, dtype=np.float32)
    _new_process()(x, 2.0, 1.0, power=1)
    _new_process()(x, 2.0, 1.0, power=2)
    for pattern in ("*.jaxexe", "*.jaxprog"):
        one, two = sorted(store.glob(pattern), key=lambda p: p.stat().st_mtime)
        one.write_bytes(two.read_bytes())
    out = _new_process()(x, 2.0, 1.0, power=1)
    np.testing.assert_allclose(out["y"], _reference(x, 2.0, 1.0, 1))
    assert TRACES == [1, 2, 1]  # exported afresh
