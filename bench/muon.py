"""Benchmark: jaxreg.muon against optax.contrib.muon, same run, same params.

Three parts. (1) Quality per time: on real momenta (the Nesterov directions
``β·m + (1 − β)·g`` of a width-512 residual MLP trained by Muon for a few dozen
steps on the character data of ``examples/char_transformer.py``), each
Newton–Schulz variant's output ``O`` is compared with the float64 SVD polar
factor ``UVᵀ`` of its input ``G = UΣVᵀ``: ``max|σᵢ − 1|`` where ``σᵢ =
uᵢᵀ O vᵢ`` (NS keeps the singular vectors, so these are the output's singular
values paired with the input's) over the input singular values ``σᵢ(G) ≥
τ·σ_max(G)`` for τ = 1e-2 (the bulk) and τ = 1e-3, and the relative distance
``‖O − UVᵀ‖_F / ‖UVᵀ‖_F`` over all of them; each the worst over the
matrices. Beside them, the time of that variant on the matrices of a
4-block transformer at d = 512 (q, k, v, o of d × d, up d × 4d, down 4d × d).
(2) Step time of both optimizers at their defaults, with the quality of each,
and at equal Newton–Schulz coefficients (Keller's), steps (5), momentum form
(bias-corrected Nesterov), NS eps and routing, with compile time and the
scratch memory XLA reserves (``memory_analysis()``'s ``temp_size_in_bytes``).
(3) Newton–Schulz throughput on a stack of same-shape matrices against a plain
batched matmul of the same shape.

Times are the best of interleaved rounds (see ``_best_times``); on a shared
CPU they are noisy, ratios from one run less so.

Run ``python bench/muon.py [--quick]``; results go to ``bench/results/muon.{json,md}``.
``run(quick)`` returns the rows for the ``jaxreg bench`` command.
"""

from __future__ import annotations

import functools
import inspect
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
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


def _real_momenta(width: int, steps: int, batch: int = 128, context: int = 8):
    """Nesterov directions ``β·m + (1 − β)·g`` that Muon orthogonalizes.

    A residual GELU MLP (64-wide character embeddings of ``context`` tokens ->
    ``width``, two ``width²`` layers, an up ``width × 4·width`` / down
    ``4·width × width`` pair, a head) predicts the next character of the text
    of ``examples/char_transformer.py``, trained by ``jaxreg.muon`` for
    ``steps`` steps; returns its four Muon matrices' directions, float32.
    """
    from jaxreg.examples import char_transformer as ct

    tokens = jnp.asarray(ct.encode(ct.load_text()))
    rng = np.random.default_rng(0)

    def w(shape):
        return jnp.asarray(rng.normal(size=shape) / np.sqrt(shape[0]), jnp.float32)

    params = {
        "embed": w((ct.VOCAB, 64)),
        "in": w((context * 64, width)),
        "h0": w((width, width)),
        "h1": w((width, width)),
        "up": w((width, 4 * width)),
        "down": w((4 * width, width)),
        "head": w((width, ct.VOCAB)),
    }
    labels = {k: "adam" if k in ("embed", "head") else "muon" for k in params}

    def loss(p, windows):
        x = p["embed"][windows[:, :-1]].reshape(windows.shape[0], -1)
        z = jax.nn.gelu(x @ p["in"])
        z = z + jax.nn.gelu(z @ p["h0"])
        z = z + jax.nn.gelu(z @ p["h1"])
        z = z + jax.nn.gelu(z @ p["up"]) @ p["down"]
        logits = z @ p["head"]
        return optax.softmax_cross_entropy_with_integer_labels(
            logits, windows[:, -1]
        ).mean()

    beta = 0.95
    tx = jaxreg.muon(0.02, beta=beta, adam_learning_rate=3e-3, labels=labels)

    def step(carry, key):
        p, state, _ = carry
        starts = jax.random.randint(key, (batch,), 0, tokens.shape[0] - context - 1)
        windows = jax.vmap(
            lambda i: jax.lax.dynamic_slice(tokens, (i,), (context + 1,))
        )(starts)
        g = jax.grad(loss)(p, windows)
        updates, state = tx.update(g, state, p)
        return (optax.apply_updates(p, updates), state, g), None

    keys = jax.random.split(jax.random.key(0), steps)
    init = (params, tx.init(params), params)
    (_, state, g), _ = jax.jit(lambda c: jax.lax.scan(step, c, keys))(init)
    mu = state.inner_states["muon"].inner_state[0].mu
    return [beta * mu[k] + (1 - beta) * g[k] for k in ("in", "h0", "up", "down")]


def _quality(orthogonalize, matrices) -> dict[str, float]:
    """Worst over ``matrices`` of max|σᵢ − 1| (σᵢ(G) ≥ τ·σ_max, τ = 1e-2 and
    1e-3) and of ‖O − UVᵀ‖_F/‖UVᵀ‖_F, against float64 SVDs."""
    out = {"max|σ−1|, σ ≥ 1e-2σmax": 0.0, "max|σ−1|, σ ≥ 1e-3σmax": 0.0}
    out["polar distance"] = 0.0
    for G in matrices:
        U, s, Vt = np.linalg.svd(np.asarray(G, np.float64), full_matrices=False)
        ortho = np.asarray(orthogonalize(G), np.float64)
        sigma = np.einsum("ij,ik,kj->j", U, ortho, Vt.T)  # diag(Uᵀ O V)
        for tau, key in (
            (1e-2, "max|σ−1|, σ ≥ 1e-2σmax"),
            (1e-3, "max|σ−1|, σ ≥ 1e-3σmax"),
        ):
            err = float(np.max(np.abs(sigma[s >= tau * s[0]] - 1.0)))
            out[key] = max(out[key], err)
        dist = np.linalg.norm(ortho - U @ Vt) / np.sqrt(len(s))
        out["polar distance"] = max(out["polar distance"], float(dist))
    return out


def _optax_ns(ns_coeffs=KELLER, ns_steps=NS_STEPS):
    """optax.contrib's NS (frobenius preconditioning, eps 1e-8), one leaf."""
    return lambda x: optax_muon.orthogonalize_via_newton_schulz(
        x, jnp.asarray(ns_coeffs), ns_steps, eps=1e-8
    )


def _variants() -> dict[str, object]:
    """Label -> orthogonalizer of one matrix; the first is optax's default."""
    variants = {"optax default (keller, 5)": _optax_ns()}
    default_label, default_ns = _default_ns()
    variants[default_label] = default_ns
    plain, bf16 = {"gram": False}, {"dtype": jnp.bfloat16}
    for coeffs, steps, options, note in (
        ("keller", 5, plain, ", plain loop"),
        ("keller", 5, {}, ""),
        ("keller", 4, {}, ""),
        ("you", 5, {}, ""),
        ("polar_express", 3, {}, ""),
        ("polar_express", 4, {}, ""),
        ("polar_express", 5, plain, ", plain loop"),
        ("polar_express", 5, {}, ""),
        ("polar_express", 6, {}, ""),
        ("polar_express", 5, bf16, ", bf16 operands"),
    ):
        if not options and default_ns.keywords == {"steps": steps, "coeffs": coeffs}:
            continue  # the default itself
        variants[f"jaxreg {coeffs}, {steps}{note}"] = functools.partial(
            jaxreg.newton_schulz, steps=steps, coeffs=coeffs, **options
        )
    return variants


def _tree_stacks(d: int, layers: int):
    """The transformer tree's Muon matrices as our optimizer groups them."""
    keys = jax.random.split(jax.random.key(3), 2)
    square = jax.random.normal(keys[0], (4 * layers, d, d)) / d**0.5
    wide = jax.random.normal(keys[1], (2 * layers, d, 4 * d)) / d**0.5
    return square, wide


def _quality_rows(d: int, layers: int, width: int, steps: int, repeats: int):
    matrices = _real_momenta(width, steps)
    square, wide = _tree_stacks(d, layers)
    variants = _variants()
    calls = []
    for label, ns in variants.items():
        if label.startswith("optax"):  # per leaf, as optax.contrib.muon does
            fn = jax.jit(lambda sq, wd, ns=ns: [ns(x) for x in (*sq, *wd)])
        else:  # one batched call per shape, as jaxreg.muon does
            fn = jax.jit(lambda sq, wd, ns=ns: (ns(sq), ns(wd)))
        calls.append((fn, (square, wide)))
    times = dict(zip(variants, _best_times(calls, repeats), strict=True))
    quality = {label: _quality(jax.jit(ns), matrices) for label, ns in variants.items()}
    peer_label = next(iter(variants))
    case = f"NS on real momenta (width {width}) vs time on d={d} L={layers} matrices"
    print(f"\n{case}; best of {repeats} interleaved rounds, shared CPU (noisy)")
    keys = list(quality[peer_label])
    print("| variant | " + " | ".join(keys) + " | NS time (ms) |")
    print("|---" * (len(keys) + 2) + "|")
    rows = []
    for label in variants:
        q = quality[label]
        cells = " | ".join(f"{q[k]:.3f}" for k in keys)
        print(f"| {label} | {cells} | {1e3 * times[label]:.1f} |")
        if label == peer_label:
            continue
        for k in keys:
            rows.append(
                row(
                    SUITE, case, f"{label}: {k}", q[k], PEER, quality[peer_label][k], ""
                )
            )
        rows.append(
            row(
                SUITE,
                case,
                f"{label}: NS time",
                1e3 * times[label],
                PEER,
                1e3 * times[peer_label],
                "ms",
            )
        )
    return rows, quality


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


def _default_ns():
    """jaxreg.muon's default Newton–Schulz (its ns_steps and coeffs)."""
    defaults = inspect.signature(jaxreg.muon).parameters
    steps, coeffs = defaults["ns_steps"].default, defaults["coeffs"].default
    return f"jaxreg default ({coeffs}, {steps})", functools.partial(
        jaxreg.newton_schulz, steps=steps, coeffs=coeffs
    )


def _dimension_numbers(labels):
    return jax.tree.map(
        lambda label: MuonDimensionNumbers() if label == "muon" else None, labels
    )


def _default_optimizers(labels):
    """Both at their defaults; only the learning rates and routing are given."""
    ours = jaxreg.muon(0.02, adam_learning_rate=3e-4, labels=labels)
    peer = optax.contrib.muon(
        0.02,
        adam_learning_rate=3e-4,
        muon_weight_dimension_numbers=_dimension_numbers(labels),
    )
    return ours, peer


def _equal_optimizers(labels):
    ours = jaxreg.muon(
        0.02,
        coeffs=KELLER,
        ns_steps=NS_STEPS,
        eps=1e-8,
        bias_correction=True,
        adam_learning_rate=3e-4,
        labels=labels,
    )
    peer = optax.contrib.muon(
        0.02,
        ns_coeffs=KELLER,
        ns_steps=NS_STEPS,
        eps=1e-8,
        adam_learning_rate=3e-4,
        muon_weight_dimension_numbers=_dimension_numbers(labels),
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


def _step_rows(
    case: str, ours, peer, params, repeats: int, label: str = "step time"
) -> list[dict]:
    call_a, a = _compiled_step(ours, params)
    call_b, b = _compiled_step(peer, params)
    ta, tb = _best_times([call_a, call_b], repeats)
    rows = [row(SUITE, case, label, 1e3 * ta, PEER, 1e3 * tb, "ms")]
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
    width, train_steps = (128, 20) if quick else (512, 40)
    repeats = 3 if quick else 5
    rows, quality = _quality_rows(d, layers, width, train_steps, 3)
    transformer = f"transformer d={d} L={layers} V={vocab}"
    params, labels = _transformer_tree(d, layers, vocab)
    ours_label = _default_ns()[0]
    peer_label = next(iter(quality))
    rows += _step_rows(
        transformer,
        *_default_optimizers(labels),
        params,
        repeats,
        label=f"step time, both at defaults ({ours_label} vs {peer_label})",
    )[:1]
    rows += [
        row(
            SUITE,
            transformer,
            f"at defaults: {key} (real momenta)",
            quality[ours_label][key],
            PEER,
            quality[peer_label][key],
            "",
        )
        for key in quality[peer_label]
    ]
    trees = {f"8x{n}^2 + 8 biases": _matrices_tree(n), transformer: (params, labels)}
    for case, (params, labels) in trees.items():
        rows += _step_rows(
            case,
            *_equal_optimizers(labels),
            params,
            repeats,
            label="step time, equal NS (keller, 5)",
        )
    rows += _throughput_rows(n, repeats)
    return rows


if __name__ == "__main__":
    main(run, SUITE, __doc__)
