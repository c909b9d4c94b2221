"""Shared benchmark plumbing: timing, result rows, output files.

Every suite exposes ``run(quick: bool) -> list[dict]`` returning rows made by
:func:`row`. Times are medians of repeated calls after a separate compile call,
each ended with ``block_until_ready``. The persistent compilation cache is off
in-process, so compile times are real.
"""

from __future__ import annotations

import argparse
import inspect
import json
import pathlib
import time

import jax
import numpy as np

# Compile times are measured here: programs must not come from the persistent
# compilation cache that importing jaxreg turns on (bench/first_call.py times
# cold and warm caches explicitly, in fresh processes). JAX reads the setting
# at the first compilation, which no suite has done when it imports this.
jax.config.update("jax_enable_compilation_cache", False)

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def row(suite, case, metric, jaxreg_value, peer, peer_value, unit="s"):
    """One comparison: ``ratio = jaxreg / peer`` (below 1 means jaxreg is ahead
    for times and memory)."""
    ratio = (
        jaxreg_value / peer_value
        if peer_value not in (None, 0) and jaxreg_value is not None
        else None
    )
    return {
        "suite": suite,
        "case": case,
        "metric": metric,
        "unit": unit,
        "jaxreg": jaxreg_value,
        "peer": peer,
        "peer_value": peer_value,
        "ratio": ratio,
        "device": jax.devices()[0].device_kind,
    }


def time_call(fn, *args, repeats=10):
    """(first-call seconds, median steady-state seconds) of ``fn(*args)``."""
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return first, float(np.median(times))


def format_table(rows) -> str:
    """A markdown table of rows."""
    head = "| suite | case | metric | jaxreg | peer | peer value | ratio |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    for r in rows:
        fmt = lambda v: "—" if v is None else f"{v:.4g}"  # noqa: E731
        lines.append(
            f"| {r['suite']} | {r['case']} | {r['metric']} ({r['unit']}) | "
            f"{fmt(r['jaxreg'])} | {r['peer']} | {fmt(r['peer_value'])} | "
            f"{fmt(r['ratio'])} |"
        )
    return "\n".join(lines)


def save(rows, name: str, directory=RESULTS) -> pathlib.Path:
    """Writes ``name.json`` and ``name.md`` in ``directory``; returns the .md."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.json").write_text(json.dumps(rows, indent=1))
    md = directory / f"{name}.md"
    md.write_text(format_table(rows) + "\n")
    return md


def main(run, suite: str, doc: str, argv=None) -> None:
    """Command line of a suite: ``python bench/<suite>.py [--quick]``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument(
        "--only",
        default=None,
        help="run only these cases, e.g. 'ef' (suites whose run() takes `only`)",
    )
    args = parser.parse_args(argv)
    if args.only is None:
        rows = run(args.quick)
    elif "only" in inspect.signature(run).parameters:
        rows = run(args.quick, only=args.only)
    else:
        parser.error(f"--only: the {suite} suite runs all its cases")
    print(f"device: {jax.devices()[0].device_kind}")
    print(format_table(rows))
    print(f"\nwritten: {save(rows, suite)}")
