"""Step time, compile time and state size of jaxreg transforms vs optax.

Run: ``python bench/transforms.py [--quick]``. Pairs compared in one process on
the same params:

* ``optax.chain(optax.adamw(lr, weight_decay=0.1), jr.proximal(jr.l1(λ), lr))``
  — the chain as users write it — vs ``optax.adamw`` alone: target ≤ 1.05×
  step time, the same number of fused kernels in the compiled HLO (the prox
  fuses into AdamW's elementwise loop instead of adding a pass over the
  parameters) and no more temporary memory (``memory_analysis``);
* ``jr.prox_adamw(l1)`` (the same chain, our alias) vs ``optax.adamw``;
* ``chain(adam, decoupled(l2))`` vs ``optax.adamw`` (the same math);
* ``jr.lion`` vs ``optax.lion`` at equal weight decay.

Trees: 8 matrices of 1024² plus 8 biases, and 500 leaves of 32×32.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import optax

if __package__ in (None, ""):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))

import jaxreg as jr
from bench.common import main, row, time_call

SUITE = "transforms"


def _trees(quick: bool):
    n, size = (4, 512) if quick else (8, 1024)
    big = {f"w{i}": jnp.ones((size, size)) for i in range(n)}
    big.update({f"b{i}": jnp.ones((size,)) for i in range(n)})
    small = {f"w{i}": jnp.ones((32, 32)) for i in range(100 if quick else 500)}
    return {f"{n}x{size}^2+{n} biases": big, f"{len(small)} leaves of 32x32": small}


def _pairs():
    lr, wd, lam = 1e-3, 1e-4, 1e-4
    return [
        (
            "chain(adamw, proximal(l1))",
            optax.chain(optax.adamw(lr, weight_decay=0.1), jr.proximal(jr.l1(lam), lr)),
            "optax.adamw",
            optax.adamw(lr, weight_decay=0.1),
        ),
        (
            "prox_adamw(l1)",
            jr.prox_adamw(lr, jr.l1(lam), weight_decay=wd),
            "optax.adamw",
            optax.adamw(lr, weight_decay=wd),
        ),
        (
            "adam+decoupled(l2)",
            optax.chain(optax.adam(lr), jr.decoupled(jr.l2(wd), lr)),
            "optax.adamw",
            optax.adamw(lr, weight_decay=wd),
        ),
        (
            "lion",
            jr.lion(lr, weight_decay=wd),
            "optax.lion",
            optax.lion(lr, weight_decay=wd),
        ),
    ]


def _measure(tx, params, repeats):
    def step(p, state):
        updates, state = tx.update(p, state, p)
        return optax.apply_updates(p, updates), state

    state = tx.init(params)
    compiled = jax.jit(step)
    compile_s, step_s = time_call(compiled, params, state, repeats=repeats)
    size = sum(x.size for x in jax.tree.leaves(params))
    state_bytes = sum(x.nbytes for x in jax.tree.leaves(state))
    executable = compiled.lower(params, state).compile()
    temp = executable.memory_analysis().temp_size_in_bytes
    return compile_s, step_s, state_bytes / size, _kernels(executable), temp / size


def _kernels(executable) -> int:
    """Fused kernels (passes over memory) in the entry computation."""
    text = executable.as_text()
    entry = text[text.index("ENTRY") :]
    return sum(" fusion(" in line for line in entry.splitlines())


def run(quick: bool = False) -> list[dict]:
    repeats = 5 if quick else 20
    rows = []
    for case, params in _trees(quick).items():
        for name, tx, peer, peer_tx in _pairs():
            ours = _measure(tx, params, repeats)
            theirs = _measure(peer_tx, params, repeats)
            label = f"{name} @ {case}"
            rows.append(row(SUITE, label, "step", ours[1], peer, theirs[1]))
            rows.append(row(SUITE, label, "compile", ours[0], peer, theirs[0]))
            rows.append(
                row(SUITE, label, "state bytes/param", ours[2], peer, theirs[2], "B")
            )
            rows.append(
                row(SUITE, label, "fused kernels", ours[3], peer, theirs[3], "")
            )
            rows.append(
                row(SUITE, label, "temp bytes/param", ours[4], peer, theirs[4], "B")
            )
    return rows


if __name__ == "__main__":
    main(run, SUITE, __doc__)
