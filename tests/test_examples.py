"""The examples: ``jaxreg examples --quick`` runs them all and every claim holds.

The command runs once per test session (module-scoped fixture) into a temporary
folder; the tests then read what it wrote: the exit status, ``claims.json``, the
PNG figures and ``index.html``. Each claim is itself checked against an
independent reference inside its example (scikit-learn, optax, numpy float64,
closed forms), so a PASS here is a statement about jaxreg, not about the
example's own output.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from jaxreg import cli
from jaxreg.examples import NAMES, load

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    # CI points JAXREG_DOCS_FIGURES at a folder: the docs' gallery is then
    # built from this very run (its figures and measured claims)
    shared = os.environ.get("JAXREG_DOCS_FIGURES")
    out = pathlib.Path(shared) if shared else tmp_path_factory.mktemp("examples")
    out.mkdir(parents=True, exist_ok=True)
    status = cli.main(["examples", "--quick", "--out", str(out)])
    report = json.loads((out / "claims.json").read_text())
    return status, report, out


def test_command_exits_zero(quick_run):
    status, report, _ = quick_run
    failed = [
        f"{name}: {c['statement']} [{c['measured']}]"
        for name, r in report.items()
        for c in r["claims"]
        if not c["passed"]
    ] + [f"{name}: {r['error']}" for name, r in report.items() if r["error"]]
    assert status == 0, failed


@pytest.mark.parametrize("name", NAMES)
def test_every_claim_passes(quick_run, name):
    _, report, _ = quick_run
    result = report[name]
    assert result["error"] == ""
    assert len(result["claims"]) >= 3
    for claim in result["claims"]:
        assert claim["passed"], f"{claim['statement']} [{claim['measured']}]"
        assert claim["measured"]


@pytest.mark.parametrize("name", NAMES)
def test_every_figure_is_a_png_in_the_output_folder(quick_run, name):
    _, report, out = quick_run
    figures = report[name]["figures"]
    assert figures
    for path in map(pathlib.Path, figures):
        assert path.parent == out
        data = path.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 10_000


def test_gallery_shows_every_figure_title_and_claim(quick_run):
    _, report, out = quick_run
    page = (out / "index.html").read_text(encoding="utf-8")
    for name, result in report.items():
        assert f'id="{name}"' in page
        for figure in result["figures"]:
            assert f'src="{pathlib.Path(figure).name}"' in page
    assert page.count('<td class="PASS">PASS</td>') == sum(
        len(r["claims"]) for r in report.values()
    )


@pytest.mark.parametrize("name", NAMES)
def test_every_example_has_a_title_an_explanation_and_a_script(name):
    module = load(name)
    title, _, body = module.__doc__.partition("\n\n")
    assert title and len(body.split()) > 60
    script = pathlib.Path(__file__).parents[1] / "examples" / f"{name}.py"
    assert f'"--only", "{name}"' in script.read_text()


def test_unknown_example_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["examples", "--only", "no_such_example"])
    assert exc.value.code == 2
    assert "no_such_example" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no_such_example"):
        load("no_such_example")


def test_importing_jaxreg_does_not_import_matplotlib():
    code = (
        "import sys, jaxreg, jaxreg.cli, jaxreg.examples; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'; "
        "assert 'sklearn' not in sys.modules, 'sklearn imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=".")
