"""The ``jaxreg`` command's ``info`` and ``bench`` subcommands and ``python -m jaxreg``.

``bench`` is exercised with stand-in suites, next to the repository's real
``bench/common.py``, in a temporary ``bench/`` folder: these tests check the
command (discovery, skipping, failure status, the table, JSON and markdown),
not the real suites' timings.
"""

import json
import pathlib
import shutil
import subprocess
import sys
import textwrap

import jax
import pytest

from jaxreg import cli

REPO = pathlib.Path(__file__).resolve().parents[1]


def _write_suites(root, **sources):
    bench = root / "bench"
    bench.mkdir()
    for name in ("__init__.py", "common.py"):
        shutil.copy(REPO / "bench" / name, bench / name)
    for name, source in sources.items():
        (bench / f"{name}.py").write_text(textwrap.dedent(source))
    return bench


def test_info_prints_versions_backend_and_every_device(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"jax {jax.__version__}" in out
    assert f"backend: {jax.default_backend()}" in out
    assert out.count("device ") == len(jax.devices())


def test_python_dash_m_jaxreg_runs_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "jaxreg", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for command in ("examples", "bench", "info"):
        assert command in done.stdout


def test_bench_tabulates_rows_and_skips_missing_suites(tmp_path, capsys):
    bench = _write_suites(
        tmp_path,
        transforms="""
            from bench.common import row

            def run(quick):
                return [
                    row("transforms", "adamw", "step", 2.2e-3, "optax.adamw", 2e-3),
                    row("transforms", "adamw", "state", 8.0, "optax.adamw", 8.0, "B"),
                ]
        """,
        muon="""
            import a_peer_that_is_not_installed  # noqa: F401

            def run(quick):
                return []
        """,
    )
    out_dir = tmp_path / "results"
    status = cli.main(
        ["bench", "--quick", "--bench-dir", str(bench), "--out", str(out_dir)]
    )
    assert status == 0
    printed = capsys.readouterr().out
    assert "a_peer_that_is_not_installed" in printed  # muon skipped with a note
    assert "solvers: skipped" in printed  # no bench/solvers.py
    table_row = "| transforms | adamw | step (s) | 0.0022 | optax.adamw | 0.002 | 1.1 |"
    assert table_row in printed

    rows = json.loads((out_dir / "bench-all-quick.json").read_text())
    assert [row["ratio"] for row in rows] == pytest.approx([1.1, 1.0])
    markdown = (out_dir / "bench-all-quick.md").read_text()
    assert table_row in markdown
    assert "a_peer_that_is_not_installed" in markdown and "quick run" in markdown


def test_bench_reports_a_failing_suite_and_runs_the_others(tmp_path, capsys):
    bench = _write_suites(
        tmp_path,
        muon="""
            def run(quick):
                raise RuntimeError("diverged")
        """,
        solvers="""
            from bench.common import row

            def run(quick):
                return [row("solvers", "lasso", "solve", 1.0, "celer", 2.0)]
        """,
    )
    status = cli.main(["bench", "--bench-dir", str(bench), "--out", str(tmp_path)])
    assert status == 1
    printed = capsys.readouterr().out
    assert "muon: failed, RuntimeError: diverged" in printed
    rows = json.loads((tmp_path / "bench-all.json").read_text())
    assert [(row["suite"], row["ratio"]) for row in rows] == [("solvers", 0.5)]


def test_bench_runs_only_the_requested_suite(tmp_path):
    bench = _write_suites(
        tmp_path,
        transforms="def run(quick):\n    raise AssertionError('not requested')\n",
        solvers=(
            "from bench.common import row\n"
            "def run(quick):\n"
            "    return [row('solvers', 'path', 'solve', 2.0, 'sklearn', 5.0)]\n"
        ),
    )
    args = ["bench", "--suite", "solvers", "--bench-dir", str(bench)]
    assert cli.main([*args, "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "bench-solvers.json").read_text())
    assert [(row["case"], row["ratio"]) for row in rows] == [("path", 0.4)]


def test_bench_without_a_bench_folder_is_a_clear_error(tmp_path, capsys):
    status = cli.main(["bench", "--bench-dir", str(tmp_path / "missing")])
    assert status == 2
    assert "no bench/ folder" in capsys.readouterr().err


def test_bench_rejects_an_unknown_suite():
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "--suite", "everything"])
    assert exc.value.code == 2


def test_examples_with_an_out_that_is_a_file_is_a_clear_error(tmp_path, capsys):
    # it was a FileExistsError traceback
    taken = tmp_path / "figures"
    taken.write_text("not a folder")
    status = cli.main(["examples", "--out", str(taken), "--only", "worked_example"])
    assert status == 2
    assert f"cannot use --out {taken}" in capsys.readouterr().err
