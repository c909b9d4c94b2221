"""The documentation: every public name has an API page, every docstring
example and every guide snippet runs.

The docs build itself (``python -m sphinx -W ...``, in ``.ci/run``) fails on any
warning; these tests catch what a build cannot: a public name that no page
documents, and code in the docs that no longer runs.
"""

import doctest
import importlib
import inspect
import pathlib
import pkgutil
import re
import sys
import types

import pytest

import jaxreg

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))
import apigen  # noqa: E402

# ----------------------------------------------------------------------------
# every public name has a page


def _public_modules():
    """Public modules walked independently of apigen: every jaxreg module
    whose dotted path has no ``_`` part, but the command line and the
    experiments (the gallery documents those)."""
    mods = {"jaxreg": jaxreg}
    for info in pkgutil.walk_packages(jaxreg.__path__, "jaxreg."):
        name = info.name
        if any(p.startswith("_") for p in name.split(".")):
            continue
        if name == "jaxreg.cli" or name.startswith("jaxreg.examples."):
            continue
        mods[name] = importlib.import_module(name)
    return mods


def _exports(name, module):
    if hasattr(module, "__all__"):
        return list(module.__all__)
    if name.count(".") > 1:
        return []
    # a direct child without __all__ (jaxreg.linear_model): what it defines
    return [
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and (inspect.isclass(v) or inspect.isfunction(v))
        and v.__module__ == name
    ]


_DIRECTIVE = re.compile(
    r"^\.\. (?:auto(?:class|function|data)|py:data)::\s+(\S+)", re.M
)
_CURRENT = re.compile(r"^\.\. currentmodule::\s+(\S+)", re.M)


def _resolve(dotted):
    """The object an autoclass/autofunction/autodata target names: an
    attribute of its parent (``jaxreg.sam`` is the function, not the module),
    the parent being the longest importable module prefix, then attributes."""
    parent, attr = dotted.rsplit(".", 1)
    return getattr(_resolve_path(parent), attr)


def _resolve_path(dotted):
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for p in parts[i:]:
            obj = getattr(obj, p)
        return obj
    raise ImportError(dotted)


def test_every_public_name_has_an_api_page(tmp_path):
    assert apigen.write_api(tmp_path) == []
    documented = {}
    for page in tmp_path.glob("*.rst"):
        text = page.read_text()
        current = _CURRENT.findall(text)
        for target in _DIRECTIVE.findall(text):
            if "." not in target:  # py:data NAME under currentmodule
                target = f"{current[0]}.{target}"
            documented[id(_resolve(target))] = page.stem
    # each object page is listed in a section page's toctree
    in_toc = set()
    for group in tmp_path.glob("group-*.rst"):
        in_toc |= set(re.findall(r"^   (\S+)$", group.read_text(), re.M))
    missing, orphans = [], []
    for modname, module in _public_modules().items():
        for name in _exports(modname, module):
            obj = getattr(module, name)
            if isinstance(obj, types.ModuleType):
                page = f"module-{obj.__name__}"
                if not (tmp_path / f"{page}.rst").exists():
                    missing.append(f"{modname}.{name}")
                elif page not in in_toc:
                    orphans.append(page)
            elif id(obj) not in documented:
                missing.append(f"{modname}.{name}")
            elif documented[id(obj)] not in in_toc:
                orphans.append(documented[id(obj)])
    assert not missing, f"public names without an API page: {missing}"
    assert not orphans, f"API pages in no section: {orphans}"


def test_unknown_module_is_reported(monkeypatch):
    """A module no section claims is a problem apigen reports by name (conf.py
    turns it into a warning, an error under ``-W``)."""
    assert apigen.group_of("jaxreg.solvers.datafits") == "Solvers"
    groups = {t: p for t, p in apigen.GROUPS.items() if "jaxreg.pruning" not in p}
    monkeypatch.setattr(apigen, "GROUPS", groups)
    found = apigen.problems()
    assert any(p.startswith("module jaxreg.pruning matches no section") for p in found)
    assert any(p.startswith("jaxreg.prune_units (defined in") for p in found)


def test_gallery_has_a_page_per_example(tmp_path):
    from jaxreg.examples import NAMES

    apigen.write_gallery(tmp_path, None)
    for name in NAMES:
        text = (tmp_path / f"{name}.rst").read_text()
        assert f"jaxreg examples --only {name}" in text
        claims = text.split("Claims it asserts")[1]
        assert claims.count("\n* ") >= 1, name  # at least one claim listed
        assert "{" not in claims, name  # f-string fields are not shown raw


def test_gallery_shows_a_runs_figure_and_measured_claims(tmp_path):
    """With ``JAXREG_DOCS_FIGURES`` (a ``jaxreg examples`` output folder) a
    page shows the run's figure and each claim's measured value."""
    import json

    from jaxreg.examples import NAMES

    name = NAMES[0]
    figures = tmp_path / "run"
    figures.mkdir()
    (figures / f"{name}.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    claim = {"statement": "loss falls by 3.5x", "measured": "3.51", "passed": True}
    report = {name: {"claims": [claim], "figures": [], "error": ""}}
    (figures / "claims.json").write_text(json.dumps(report))
    apigen.write_gallery(tmp_path / "gallery", str(figures))
    text = (tmp_path / "gallery" / f"{name}.rst").read_text()
    assert f".. figure:: {name}.png" in text
    assert (tmp_path / "gallery" / f"{name}.png").exists()
    assert "* loss falls by 3.5x — measured: 3.51 (**PASS**)" in text
    other = (tmp_path / "gallery" / f"{NAMES[1]}.rst").read_text()
    assert ".. figure::" not in other and "JAXREG_DOCS_FIGURES" in other


# ----------------------------------------------------------------------------
# docstring examples


def _doctests():
    finder = doctest.DocTestFinder()
    out = []
    for info in pkgutil.walk_packages(jaxreg.__path__, "jaxreg."):
        if info.name.endswith("__main__") or info.name.startswith("jaxreg.examples."):
            continue
        module = importlib.import_module(info.name)
        out += [t for t in finder.find(module, info.name) if t.examples]
    return out


_DOCTESTS = _doctests()


def test_docstring_examples_exist():
    assert len(_DOCTESTS) >= 10  # the examples below are not silently lost


@pytest.mark.parametrize("test", _DOCTESTS, ids=lambda t: t.name)
def test_docstring_example(test):
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    report = []
    result = runner.run(test, out=report.append)
    assert result.failed == 0, "".join(report)


# ----------------------------------------------------------------------------
# guide snippets

_FENCE = re.compile(r"^```python\n(.*?)^```", re.M | re.S)
_GUIDES = sorted((DOCS / "guides").glob("*.md")) + sorted(
    (DOCS / "migration").glob("*.md")
)


def test_guides_have_code():
    assert _GUIDES and sum(len(_FENCE.findall(p.read_text())) for p in _GUIDES) > 20


@pytest.mark.parametrize("path", _GUIDES, ids=lambda p: p.stem)
def test_guide_snippets_run(path):
    """Runs each guide's ``python`` blocks in order in one namespace (as a
    reader would), but blocks whose first line is ``# not run: <why>``."""
    namespace = {"__name__": f"guide_{path.stem}"}
    for i, block in enumerate(_FENCE.findall(path.read_text())):
        if block.startswith("# not run:"):
            continue
        code = compile(block, f"{path.name} block {i}", "exec")
        exec(code, namespace)
