"""The persistent compilation cache jaxreg turns on at import (jaxreg._cache).

Each case runs in a fresh interpreter: JAX reads the cache setting once per
process, and the test session itself runs with the cache off (conftest).
"""

import json
import os
import subprocess
import sys

import pytest

_REPORT = """
import json, jax
import jaxreg
print(json.dumps({"dir": jax.config.jax_compilation_cache_dir,
                  "jaxreg_dir": None if jaxreg._cache.DIRECTORY is None
                  else str(jaxreg._cache.DIRECTORY)}))
"""

_FIT = """
import json, jax, numpy as np
hits = []
jax.monitoring.register_event_listener(
    lambda name, **kw: hits.append(name) if name.endswith("cache_hits") else None)
import jaxreg as jr
rng = np.random.default_rng(0)
X = rng.standard_normal((40, 30)).astype(np.float32)
y = X[:, :3].sum(1).astype(np.float32)
jr.solvers.lasso(X, y, 0.1)
print(json.dumps({"hits": len(hits)}))
"""


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
    cache = tmp_path / "cache"
    first = _run(_FIT, tmp_path, JAXREG_COMPILATION_CACHE=str(cache))
    assert first["hits"] == 0
    assert any(p.name.startswith("jit__solve_bucket") for p in cache.iterdir())
    second = _run(_FIT, tmp_path, JAXREG_COMPILATION_CACHE=str(cache))
    assert second["hits"] >= 4  # the bucket and the setup programs at least
