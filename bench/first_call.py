"""Fresh-process first-call times: what a user pays on every new process.

Run: ``python bench/first_call.py [--quick]``. Every figure comes from a new
interpreter (``subprocess``), so compilation (XLA for jaxreg, numba for skglm)
is included:

* ``import jaxreg`` vs ``import optax`` (goal ≤ 1.2×);
* the first Lasso fit (1000 × 5000, ``λ = λ_max/10``) and the first 100-λ
  Lasso path, with an empty persistent compilation cache (*cold*, goal ≤ 1.0 s
  and ≤ 2.0 s) and with the cache the cold run filled (*warm*, goal ≤ 0.3 s),
  against scikit-learn's and skglm's first fit / path in a fresh process.

Times are the median over ``repeats`` fresh processes each; data generation
and imports are outside the timed region except for the import rows.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))

from bench.common import main, row

SUITE = "first_call"

_IMPORT = """
import time
t = time.perf_counter()
import {module}
print(time.perf_counter() - t)
"""

_DATA = """
import time
import numpy as np
n, d = {n}, {d}
rng = np.random.default_rng(0)
X = rng.standard_normal((n, d)).astype(np.float32)
w = np.zeros(d, np.float32)
w[:20] = rng.standard_normal(20)
y = (X @ w + 0.1 * rng.standard_normal(n)).astype(np.float32)
alpha = np.abs(X.T @ (y - y.mean())).max() / n / 10
"""

_CALLS = {
    ("jaxreg", "fit"): (
        "import jax, jaxreg as jr",
        "jax.block_until_ready(jr.solvers.lasso(X, y, alpha).coef)",
    ),
    ("jaxreg", "path"): (
        "import jax, jaxreg as jr",
        "jax.block_until_ready(jr.solvers.lasso_path(X, y, n_lambdas=100).coef)",
    ),
    ("scikit-learn", "fit"): (
        "from sklearn.linear_model import Lasso",
        "Lasso(alpha=alpha, tol=1e-4).fit(X, y)",
    ),
    ("scikit-learn", "path"): (
        "from sklearn.linear_model import lasso_path",
        "lasso_path(X - X.mean(0), y - y.mean(), n_alphas=100)",
    ),
    ("skglm", "fit"): (
        "from skglm import Lasso",
        "Lasso(alpha=alpha, tol=1e-4).fit(X, y)",
    ),
}

_TIMED = """
{setup}
t = time.perf_counter()
{call}
print(time.perf_counter() - t)
"""


def _seconds(code: str, env: dict | None = None) -> float:
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def _median(codes, repeats, env_for=lambda i: None) -> float:
    return float(np.median([_seconds(codes, env_for(i)) for i in range(repeats)]))


def _first_call(lib, what, n, d, env_for, repeats):
    setup, call = _CALLS[(lib, what)]
    code = _DATA.format(n=n, d=d) + _TIMED.format(setup=setup, call=call)
    return _median(code, repeats, env_for)


def run(quick: bool = False) -> list[dict]:
    repeats = 1 if quick else 3
    n, d = (200, 1000) if quick else (1000, 5000)
    case = f"{n}x{d}"
    rows = []
    imports = {
        m: _median(_IMPORT.format(module=m), repeats) for m in ("jaxreg", "optax")
    }
    rows.append(
        row(SUITE, "import", "wall", imports["jaxreg"], "optax", imports["optax"])
    )
    with tempfile.TemporaryDirectory() as tmp:
        for what in ("fit", "path"):
            # cold: a new empty cache directory per process; warm: one shared
            # directory, filled by an untimed first run
            cold = _first_call(
                "jaxreg",
                what,
                n,
                d,
                lambda i, w=what: {"JAXREG_COMPILATION_CACHE": f"{tmp}/cold-{w}-{i}"},
                repeats,
            )
            warm_env = {"JAXREG_COMPILATION_CACHE": f"{tmp}/warm-{what}"}
            _first_call("jaxreg", what, n, d, lambda i, e=warm_env: e, 1)
            warm = _first_call("jaxreg", what, n, d, lambda i, e=warm_env: e, repeats)
            for peer in ("scikit-learn", "skglm"):
                if (peer, what) not in _CALLS:
                    continue
                try:
                    theirs = _first_call(peer, what, n, d, lambda i: None, repeats)
                except subprocess.CalledProcessError:
                    continue  # peer not installed
                label = f"first Lasso {what} {case}"
                rows.append(
                    row(SUITE, f"{label}, cold cache", "wall", cold, peer, theirs)
                )
                rows.append(
                    row(SUITE, f"{label}, warm cache", "wall", warm, peer, theirs)
                )
    return rows


if __name__ == "__main__":
    main(run, SUITE, __doc__)
