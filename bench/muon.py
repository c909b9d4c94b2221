"""Benchmark: jaxreg.muon against optax.contrib.muon, same run, same params.

Both optimizers run with equal Newton–Schulz coefficients (Keller's), steps (5),
momentum form (bias-corrected Nesterov), NS eps and routing. Per tree we time a
jitted ``update + apply_updates`` step (best of the repeats), its compile time
and the scratch memory XLA reserves for it (``memory_analysis()``'s
``temp_size_in_bytes``, the peak beyond arguments and outputs). Separately we
measure the Newton–Schulz throughput on a stack of same-shape matrices against
a plain batched matmul of the same shape.

Run ``python bench/muon.py [--quick]``; results go to ``bench/results/muon.{json,md}``.
``run(quick)`` returns the rows for the ``jaxreg bench`` command.
"""

from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
import optax
from optax.contrib import MuonDimensionNumbers
from optax.contrib import _muon as optax_muon

if __package__ in (None, ""):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))

import jaxreg
from bench.common import main, row

SUITE = "muon"
PEER = "optax.contrib.muon"
KELLER = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5


def _best_times(calls, repeats: int) -> list[float]:
    """Best wall time of each ``(fn, args)`` over ``repeats``, timed round-robin.

    On a shared CPU other processes steal cycles at random; the minimum is the
    least disturbed run, and interleaving exposes every contender to the same
    load (a median of back-to-back runs can favour whichever ran in a lull).
    """
    for fn, args in calls:
        jax.block_until_ready(fn(*args))
    times = [[] for _ in calls]
    for _ in range(repeats):
        for t, (fn, args) in zip(times, calls, strict=True):
            start = time.perf_counter()
            jax.block_until_ready(fn(*args))
            t.append(time.perf_counter() - start)
    return [min(t) for t in times]


def _matrices_tree(n: int, k: int = 8):
    keys = jax.random.split(jax.random.key(0), k)
    tree = {f"w{i}": jax.random.normal(keys[i], (n, n)) / n**0.5 for i in range(k)}
    tree.update({f"b{i}": jnp.zeros(n) for i in range(k)})
    labels = {name: "muon" if name[0] == "w" else "adam" for name in tree}
    return tree, labels


def _transformer_tree(d: int, layers: int, vocab: int):
    """Embedding, head and `layers` blocks of q, k, v, o, up, down + norms."""
    keys = iter(jax.random.split(jax.random.key(1), 8 * layers + 2))

    def w(shape):
        return jax.random.normal(next(keys), shape) / shape[0] ** 0.5

    tree = {"embed": w((vocab, d)), "head": w((d, vocab))}
    for i in range(layers):
        tree[f"block{i}"] = {
            "q": w((d, d)),
            "k": w((d, d)),
            "v": w((d, d)),
            "o": w((d, d)),
            "up": w((d, 4 * d)),
            "down": w((4 * d, d)),
            "norm1": jnp.ones(d),
            "norm2": jnp.ones(d),
            "up_bias": jnp.zeros(4 * d),
        }
    labels = jax.tree_util.tree_map_with_path(
        lambda path, x: (
            "adam" if x.ndim < 2 or path[0].key in ("embed", "head") else "muon"
        ),
        tree,
    )
    return tree, labels


def _optimizers(labels):
    ours = jaxreg.muon(
        0.02,
        coeffs=KELLER,
        ns_steps=NS_STEPS,
        eps=1e-8,
        bias_correction=True,
        adam_learning_rate=3e-4,
        labels=labels,
    )
    dims = jax.tree.map(
        lambda label: MuonDimensionNumbers() if label == "muon" else None, labels
    )
    peer = optax.contrib.muon(
        0.02,
        ns_coeffs=KELLER,
        ns_steps=NS_STEPS,
        eps=1e-8,
        adam_learning_rate=3e-4,
        muon_weight_dimension_numbers=dims,
    )
    return ours, peer


def _compiled_step(tx, params):
    grads = jax.tree.map(lambda p: jnp.full_like(p, 0.01) + p, params)
    state = tx.init(params)

    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    start = time.perf_counter()
    compiled = jax.jit(step).lower(params, state, grads).compile()
    compile_s = time.perf_counter() - start
    memory = compiled.memory_analysis()
    scratch = float(memory.temp_size_in_bytes) if memory else float("nan")
    metrics = {"compile time": compile_s, "scratch memory": scratch / 2**20}
    return (compiled, (params, state, grads)), metrics


def _step_rows(case: str, ours, peer, params, repeats: int) -> list[dict]:
    call_a, a = _compiled_step(ours, params)
    call_b, b = _compiled_step(peer, params)
    ta, tb = _best_times([call_a, call_b], repeats)
    rows = [row(SUITE, case, "step time", 1e3 * ta, PEER, 1e3 * tb, "ms")]
    return rows + [
        row(SUITE, case, metric, a[metric], PEER, b[metric], unit)
        for metric, unit in (("compile time", "s"), ("scratch memory", "MiB"))
    ]


def _ns_flops(k: int, m: int, n: int) -> float:
    m, n = min(m, n), max(m, n)
    return NS_STEPS * k * (4 * m * m * n + 2 * m**3)


def _throughput_rows(n: int, repeats: int) -> list[dict]:
    k = 8
    stack = jax.random.normal(jax.random.key(2), (k, n, n))
    leaves = list(stack)
    ours = jax.jit(lambda x: jaxreg.newton_schulz(x, NS_STEPS, KELLER, eps=1e-8))
    peer = jax.jit(
        lambda xs: [
            optax_muon.orthogonalize_via_newton_schulz(
                x, jnp.asarray(KELLER), NS_STEPS, eps=1e-8
            )
            for x in xs
        ]
    )
    matmul = jax.jit(lambda x: x @ x)
    t_ours, t_peer, t_matmul = _best_times(
        [(ours, (stack,)), (peer, (leaves,)), (matmul, (stack,))], repeats
    )
    flops = _ns_flops(k, n, n)
    ours_gflops, peer_gflops = flops / t_ours / 1e9, flops / t_peer / 1e9
    matmul_gflops = 2 * k * n**3 / t_matmul / 1e9
    case = f"NS on {k}x{n}^2"
    return [
        row(SUITE, case, "NS throughput", ours_gflops, PEER, peer_gflops, "GFLOP/s"),
        row(
            SUITE,
            case,
            "NS throughput vs plain matmul",
            ours_gflops,
            "batched matmul",
            matmul_gflops,
            "GFLOP/s",
        ),
    ]


def run(quick: bool = False) -> list[dict]:
    """Runs the suite; each row compares jaxreg with optax in the same process.

    Args:
      quick: small shapes and few repeats (seconds instead of minutes).

    Returns:
      Rows of :func:`bench.common.row`, ``ratio = jaxreg / peer`` (below 1 is
      better for times and memory, above 1 for throughput; against the plain
      matmul it is the fraction of matmul throughput NS achieves).
    """
    n = 256 if quick else 1024
    d, layers, vocab = (128, 2, 512) if quick else (512, 4, 4096)
    repeats = 3 if quick else 5
    trees = {
        f"8x{n}^2 + 8 biases": _matrices_tree(n),
        f"transformer d={d} L={layers} V={vocab}": _transformer_tree(d, layers, vocab),
    }
    rows = []
    for case, (params, labels) in trees.items():
        rows += _step_rows(case, *_optimizers(labels), params, repeats)
    rows += _throughput_rows(n, repeats)
    return rows


if __name__ == "__main__":
    main(run, SUITE, __doc__)
