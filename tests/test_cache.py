"""The persistent compilation cache jaxreg turns on at import (jaxreg._cache).

Each case runs in a fresh interpreter: JAX reads the cache setting once per
process, and the test session itself runs with the cache off (conftest).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

_REPORT = """
import json, jax
import jaxreg
print(json.dumps({"dir": jax.config.jax_compilation_cache_dir,
                  "jaxreg_dir": None if jaxreg._cache.DIRECTORY is None
                  else str(jaxreg._cache.DIRECTORY)}))
"""

# the programs stored_jit keeps: the CD and BCD buckets, the path bucket,
# the folds bucket, the ridge folds, tune's and the multinomial folds' programs
_SOLVES = """
rng = np.random.default_rng(0)
X = rng.standard_normal((40, 30)).astype(np.float32)
y = X[:, :3].sum(1).astype(np.float32)
out = {
    "fit": jr.solvers.lasso(X, y, 0.1).coef.tolist(),
    "path": jr.solvers.lasso_path(X, y, n_lambdas=5).coef.tolist(),
    "group": jr.solvers.group_lasso(X, y, 0.1, np.arange(30) // 3).coef.tolist(),
    "lassocv": LassoCV(cv=3, alphas=5).fit(X, y).coef_.tolist(),
    "ridgecv": RidgeCV(alphas=[0.1, 1.0], cv=3).fit(X, y).coef_.tolist(),
    "tune": jr.tune(X, y, cv=3, max_steps=3).best.tolist(),
    "multinomial": jr.solvers.multinomial.multinomial_folds_path(
        X, (y > 0).astype(int) + (y > 1), 3, [[0.1, 0.1]], 0.5,
        np.arange(80).reshape(2, 40) % 2, tol=1e-4, max_iter=500,
    )[0].tolist(),
}
"""

_FIT = (
    """
import json, jax, numpy as np
hits = []
jax.monitoring.register_event_listener(
    lambda name, **kw: hits.append(name) if name.endswith("cache_hits") else None)
import jaxreg as jr
from jaxreg import _programs
from jaxreg.linear_model import LassoCV, RidgeCV
exports = []
export = _programs._StoredJit._export
def counted(self, *args):
    exports.append(self.__name__)
    return export(self, *args)
_programs._StoredJit._export = counted
"""
    + _SOLVES
    + """
print(json.dumps({"hits": len(hits), "exports": exports, "out": out}))
"""
)


def _run(code, tmp_path, **env):
    base = {k: v for k, v in os.environ.items() if not k.startswith("JAX")}
    base.pop("JAXREG_COMPILATION_CACHE", None)
    base["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    base.update(env)
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=base,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_default_directory_is_per_user_not_cwd(tmp_path):
    got = _run(_REPORT, tmp_path)
    expected = str(tmp_path / "xdg" / "jaxreg" / "xla")
    assert got["dir"] == expected == got["jaxreg_dir"]
    assert not got["dir"].startswith(os.getcwd())


@pytest.mark.parametrize("value", ["0", "off"])
def test_opt_out_leaves_jax_alone(tmp_path, value):
    got = _run(_REPORT, tmp_path, JAXREG_COMPILATION_CACHE=value)
    assert got == {"dir": None, "jaxreg_dir": None}


def test_explicit_directory_and_users_own_setting(tmp_path):
    mine = str(tmp_path / "mine")
    got = _run(_REPORT, tmp_path, JAXREG_COMPILATION_CACHE=mine)
    assert got == {"dir": mine, "jaxreg_dir": mine}
    # a cache the user configured for JAX wins over ours
    theirs = str(tmp_path / "theirs")
    got = _run(_REPORT, tmp_path, JAX_COMPILATION_CACHE_DIR=theirs)
    assert got == {"dir": theirs, "jaxreg_dir": None}


def test_second_process_loads_the_solver_programs(tmp_path):
    """The first process compiles and stores; the second loads both the
    compilations (JAX's cache) and the lowered programs (jaxreg._programs:
    no solver is traced again), with the results of an uncached run."""
    cache = tmp_path / "cache"
    first = _run(_FIT, tmp_path, JAXREG_COMPILATION_CACHE=str(cache))
    assert first["hits"] == 0
    assert sorted(set(first["exports"])) == [
        "_bucket",
        "_folds_at",
        "_folds_bucket",
        "_loss_and_grad",
        "_solve_bucket",
        "_spectral_folds",
    ]
    assert len(list((cache / "programs").glob("*.jaxprog"))) == len(first["exports"])
    second = _run(_FIT, tmp_path, JAXREG_COMPILATION_CACHE=str(cache))
    assert second["exports"] == []
    assert second["hits"] >= 9  # the stored programs and setups at least
    import jax.numpy as jnp  # noqa: F401  (the script's names, cache off)

    import jaxreg as jr
    from jaxreg.linear_model import LassoCV, RidgeCV  # noqa: F401

    scope = {"np": np, "jr": jr, "LassoCV": LassoCV, "RidgeCV": RidgeCV}
    exec(_SOLVES, scope)
    for name, expected in scope["out"].items():
        np.testing.assert_array_equal(first["out"][name], expected, err_msg=name)
        np.testing.assert_array_equal(second["out"][name], expected, err_msg=name)


_BLIND = """
from jaxreg import _programs
class _Blind(list):  # misses JAX's cache hits: stores what it should not
    def __setitem__(self, i, v):
        pass
_programs._CACHE_HITS = _Blind([0])
"""


def test_executables_from_jax_cache_hits_are_not_stored_or_are_recovered(tmp_path):
    """XLA:CPU cannot serialize an executable it loaded from JAX's cache (the
    file lacks its kernels): a program compiled from a cache hit (its files
    deleted, JAX's cache kept) stores no executable, and one stored anyway
    fails its first run, is deleted, and the call still returns the right
    result."""
    cache = tmp_path / "cache"
    programs = cache / "programs"
    first = _run(_FIT, tmp_path, JAXREG_COMPILATION_CACHE=str(cache))
    assert list(programs.glob("*.jaxexe"))  # compiled afresh: stored

    for path in programs.iterdir():
        path.unlink()
    second = _run(_FIT, tmp_path, JAXREG_COMPILATION_CACHE=str(cache))
    assert second["exports"] and second["hits"] >= 9
    assert not list(programs.glob("*.jaxexe"))

    for path in programs.iterdir():
        path.unlink()
    _run(_BLIND + _FIT, tmp_path, JAXREG_COMPILATION_CACHE=str(cache))
    broken = list(programs.glob("*.jaxexe"))
    assert broken  # stored from cache hits: without their kernels
    third = _run(_FIT, tmp_path, JAXREG_COMPILATION_CACHE=str(cache))
    assert not any(path.exists() for path in broken)
    fourth = _run(_FIT, tmp_path, JAXREG_COMPILATION_CACHE=str(cache))
    assert fourth["exports"] == []
    for run in (second, third, fourth):
        for name, expected in first["out"].items():
            np.testing.assert_array_equal(run["out"][name], expected, err_msg=name)
