"""The ``jaxreg`` command: ``jaxreg examples | bench | info``.

``jaxreg examples [--out DIR] [--quick] [--only NAME]`` runs the examples in
:mod:`jaxreg.examples` on the default JAX device, prints each claim with its
measured number and PASS/FAIL, writes the figures and an ``index.html`` gallery
into ``DIR``, and exits with status 1 if any claim fails.

``jaxreg bench [--quick] [--suite NAME]`` (``NAME`` in ``BENCH_SUITES``)
runs the benchmark suites of a source checkout (``bench/<suite>.py``, each with
``run(quick) -> list[dict]`` of rows made by ``bench.common.row``), prints
their rows as one table of ratios (jaxreg / peer, measured in the same run) and
writes JSON and markdown to ``bench/results/``.

``jaxreg info`` prints the versions, the JAX backend and its devices.
"""

import argparse
import importlib
import importlib.metadata
import json
import pathlib
import sys
import time
import traceback

BENCH_SUITES = (
    "transforms",
    "muon",
    "solvers",
    "composite",
    "group_lasso",
    "first_call",
    "hypergradients",
    "estimators_cv",
)
_OPTIONAL = (
    "optax",
    "matplotlib",
    "scikit-learn",
    "scipy",
    "celer",
    "skglm",
    "jaxopt",
)


def _device_line() -> str:
    import jax

    return (
        f"jax {jax.__version__} · backend {jax.default_backend()} · "
        f"{len(jax.devices())} device(s), first: {jax.devices()[0].device_kind}"
    )


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# --------------------------------------------------------------------------- info
def _info(_args) -> int:
    import jax

    import jaxreg

    print(f"jaxreg {jaxreg.__version__}")
    print(f"jax {jax.__version__}, jaxlib {_version('jaxlib')}")
    for dist in _OPTIONAL:
        print(f"{dist} {_version(dist)}")
    print(f"backend: {jax.default_backend()}")
    print(f"x64 enabled: {jax.config.jax_enable_x64}")
    for device in jax.devices():
        print(f"device {device.id}: {device.platform} {device.device_kind}")
    return 0


# ----------------------------------------------------------------------- examples
def _examples(args) -> int:
    import jax

    from jaxreg.examples import NAMES, _gallery, load

    names = args.only or list(NAMES)
    out_dir = pathlib.Path(args.out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a file of that name, no permission: not a traceback
        print(f"jaxreg examples: cannot use --out {args.out}: {err}", file=sys.stderr)
        return 2
    header = _device_line() + (" · quick run" if args.quick else "")
    print(f"jaxreg examples -> {out_dir} ({header})", flush=True)

    entries, start = [], time.perf_counter()
    for i, name in enumerate(names, 1):
        t0 = time.perf_counter()
        print(f"[{i}/{len(names)}] {name}", end="", flush=True)
        title, paragraphs = name, []
        try:
            module = load(name)
            title, paragraphs = _gallery.title_and_text(module)
            print(f": {title} ...", flush=True)
            # Full float32 matmuls: the claims are about float32 arithmetic, and
            # GPUs/TPUs default to TF32/bf16 passes.
            with jax.default_matmul_precision("highest"):
                result, error = module.run(out_dir, args.quick), ""
        except Exception as exc:  # one broken example must not hide the others
            print(flush=True)
            traceback.print_exc()
            result, error = None, f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - t0
        entries.append(_gallery.Entry(name, title, paragraphs, result, error, seconds))
        if result is None:
            print(f"    FAIL  raised {error}", flush=True)
            continue
        for claim in result.claims:
            status = "PASS" if claim.passed else "FAIL"
            print(f"    {status}  {claim.statement}  [{claim.measured}]", flush=True)
        print(f"    ({seconds:.1f} s)", flush=True)

    gallery = _gallery.write_gallery(out_dir, entries, header)
    report = {
        e.name: {
            "seconds": round(e.seconds, 3),
            "error": e.error,
            "claims": [vars(c) for c in e.result.claims] if e.result else [],
            "figures": [str(p) for p in e.result.figures] if e.result else [],
            "numbers": dict(e.result.numbers) if e.result else {},
        }
        for e in entries
    }
    (out_dir / "claims.json").write_text(json.dumps(report, indent=2) + "\n")

    claims = [c for e in entries if e.result for c in e.result.claims]
    n_passed = sum(c.passed for c in claims)
    n_raised = sum(e.result is None for e in entries)
    print(
        f"{n_passed}/{len(claims)} claims passed, {n_raised} example(s) raised, "
        f"in {time.perf_counter() - start:.1f} s. Gallery: {gallery}",
        flush=True,
    )
    return 0 if n_passed == len(claims) and not n_raised else 1


# -------------------------------------------------------------------------- bench
def _find_bench_dir(explicit: str | None) -> pathlib.Path | None:
    """The ``bench/`` folder of a source checkout.

    Benchmarks compare jaxreg with its peers and live beside the package in the
    repository, not inside it; a pip-installed ``jaxreg`` finds them in the
    current directory or next to the ``jaxreg`` package (a checkout or an
    editable install), or wherever ``--bench-dir`` points.
    """
    if explicit:
        return pathlib.Path(explicit)
    for candidate in (
        pathlib.Path.cwd() / "bench",
        pathlib.Path(__file__).resolve().parents[1] / "bench",
    ):
        if (candidate / "common.py").is_file():
            return candidate
    return None


def _bench(args) -> int:
    bench_dir = _find_bench_dir(args.bench_dir)
    if bench_dir is None or not (bench_dir / "common.py").is_file():
        print(
            "jaxreg bench: no bench/ folder (with common.py) found. The benchmark "
            "suites ship with the source checkout: run this from the repository "
            "root, or pass --bench-dir PATH/TO/bench.",
            file=sys.stderr,
        )
        return 2
    # Suites import as the package ``bench`` (``from bench import _timing``) or as
    # scripts (``import _timing``); both work with these two entries first on the
    # path, and with no ``bench`` package cached from another folder.
    for entry in (bench_dir, bench_dir.parent):
        sys.path.insert(0, str(entry))
    for name in [m for m in sys.modules if m == "bench" or m.startswith("bench.")]:
        del sys.modules[name]

    suites = [args.suite] if args.suite else list(BENCH_SUITES)
    out_dir = pathlib.Path(args.out) if args.out else bench_dir / "results"
    header = _device_line() + (" · quick run" if args.quick else "")
    print(f"jaxreg bench ({header})", flush=True)

    rows, notes, failed = [], [], False  # rows made by bench.common.row
    for i, suite in enumerate(suites, 1):
        print(f"[{i}/{len(suites)}] {suite} ...", flush=True)
        t0 = time.perf_counter()
        if not (bench_dir / f"{suite}.py").is_file():
            notes.append(f"{suite}: skipped, {bench_dir / suite}.py not found")
            print(f"    {notes[-1]}", flush=True)
            continue
        try:
            suite_rows = importlib.import_module(f"bench.{suite}").run(args.quick)
        except ModuleNotFoundError as exc:
            notes.append(f"{suite}: skipped, optional dependency missing ({exc.name})")
            print(f"    {notes[-1]}", flush=True)
            continue
        except Exception as exc:  # report the other suites all the same
            traceback.print_exc()
            notes.append(f"{suite}: failed, {type(exc).__name__}: {exc}")
            print(f"    {notes[-1]}", flush=True)
            failed = True
            continue
        rows.extend(suite_rows)
        print(
            f"    {len(suite_rows)} rows in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )

    common = importlib.import_module("bench.common")
    print()
    print(common.format_table(rows) if rows else "(no rows)")
    for note in notes:
        print(f"note: {note}")
    stem = f"bench-{args.suite or 'all'}{'-quick' if args.quick else ''}"
    markdown = common.save(rows, stem, out_dir)
    with markdown.open("a") as f:
        f.write(f"\n{header}\n" + "".join(f"\n- {note}" for note in notes) + "\n")
    print(f"wrote {markdown.with_suffix('.json')} and {markdown}")
    return 1 if failed else 0


# --------------------------------------------------------------------------- main
def _parser() -> argparse.ArgumentParser:
    from jaxreg.examples import NAMES

    parser = argparse.ArgumentParser(
        prog="jaxreg", description="jaxreg: examples, benchmarks and device info."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    examples = commands.add_parser(
        "examples", help="run the examples, check their claims, write a gallery"
    )
    examples.add_argument(
        "--out", default="out/examples", help="folder for figures and index.html"
    )
    examples.add_argument(
        "--quick",
        action="store_true",
        help="smaller problems (under 2 minutes on a 2-core CPU)",
    )
    examples.add_argument(
        "--only",
        action="append",
        choices=NAMES,
        metavar="NAME",
        help=f"run only this example (repeatable): {', '.join(NAMES)}",
    )
    examples.set_defaults(func=_examples)

    bench = commands.add_parser("bench", help="run the benchmark suites in bench/")
    bench.add_argument("--quick", action="store_true", help="smaller problems")
    bench.add_argument("--suite", choices=BENCH_SUITES, help="run one suite")
    bench.add_argument("--out", help="output folder (default: bench/results)")
    bench.add_argument("--bench-dir", help="the bench/ folder (default: found)")
    bench.set_defaults(func=_bench)

    info = commands.add_parser("info", help="print versions, backend and devices")
    info.set_defaults(func=_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the ``jaxreg`` command with ``argv`` (default ``sys.argv[1:]``).

    Returns:
      The exit status: 0 on success, 1 if a claim or suite failed, 2 on a usage
      error.
    """
    args = _parser().parse_args(argv)
    return args.func(args)
