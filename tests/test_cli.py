"""The ``jaxreg`` command's ``info`` and ``bench`` subcommands and ``python -m jaxreg``.

``bench`` is exercised with stand-in suites written to a temporary ``bench/``
folder, so these tests check the command (discovery, skipping, failure status,
the table, JSON and markdown) and not the real suites' timings.
"""

import json
import subprocess
import sys
import textwrap

import jax
import pytest

from jaxreg import cli


def _write_suites(root, **sources):
    bench = root / "bench"
    bench.mkdir()
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
            def run(quick):
                return [
                    {"case": "adamw", "impl": "optax", "step_ms": 2.0, "ratio": 1.0},
                    {"case": "adamw", "impl": "jaxreg", "step_ms": 2.2,
                     "ratio": 1.1, "quick": quick},
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
    header = next(line for line in printed.splitlines() if line.startswith("suite"))
    assert header.split() == ["suite", "case", "impl", "step_ms", "ratio", "quick"]

    report = json.loads((out_dir / "bench-all-quick.json").read_text())
    assert report["quick"] is True
    assert [row["ratio"] for row in report["rows"]] == [1.0, 1.1]
    assert all(row["suite"] == "transforms" for row in report["rows"])
    assert len(report["notes"]) == 2
    markdown = (out_dir / "bench-all-quick.md").read_text()
    assert "| suite | case | impl | step_ms | ratio | quick |" in markdown
    assert "| transforms | adamw | jaxreg | 2.2 | 1.1 | True |" in markdown


def test_bench_reports_a_failing_suite_and_runs_the_others(tmp_path, capsys):
    bench = _write_suites(
        tmp_path,
        muon="""
            def run(quick):
                raise RuntimeError("diverged")
        """,
        solvers="""
            def run(quick):
                return [{"case": "lasso", "ratio": 0.5}]
        """,
    )
    status = cli.main(["bench", "--bench-dir", str(bench), "--out", str(tmp_path)])
    assert status == 1
    printed = capsys.readouterr().out
    assert "muon: failed, RuntimeError: diverged" in printed
    rows = json.loads((tmp_path / "bench-all.json").read_text())["rows"]
    assert rows == [{"suite": "solvers", "case": "lasso", "ratio": 0.5}]


def test_bench_runs_only_the_requested_suite(tmp_path):
    bench = _write_suites(
        tmp_path,
        transforms="def run(quick):\n    raise AssertionError('not requested')\n",
        solvers="def run(quick):\n    return [{'case': 'path', 'ratio': 0.4}]\n",
    )
    args = ["bench", "--suite", "solvers", "--bench-dir", str(bench)]
    assert cli.main([*args, "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "bench-solvers.json").read_text())["rows"]
    assert [row["case"] for row in rows] == ["path"]


def test_bench_without_a_bench_folder_is_a_clear_error(tmp_path, capsys):
    status = cli.main(["bench", "--bench-dir", str(tmp_path / "missing")])
    assert status == 2
    assert "no bench/ folder" in capsys.readouterr().err


def test_bench_rejects_an_unknown_suite():
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "--suite", "everything"])
    assert exc.value.code == 2
