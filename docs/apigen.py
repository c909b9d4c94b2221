"""Generates the API reference and gallery sources at docs build time.

Nothing here is a hand-kept list of names: the API pages come from
``jaxreg.__all__`` and the ``__all__`` of every public submodule (a module
whose dotted path has no part starting with ``_``), and the gallery pages from
``jaxreg.examples.NAMES``. A name added to an ``__all__`` gets its page on the
next build. Each object gets one page, under its *canonical* name: ``jaxreg.X``
when ``jaxreg.X`` is that object, else the shortest public module path that
exports it (``jaxreg.solvers.fit``). Pages are grouped by the module the object
is defined in (``GROUPS``); an object whose module matches no group is listed
under "Other" and reported by :func:`problems`, which ``conf.py`` turns into a
build warning (an error under ``-W``) and ``tests/test_docs.py`` into a failure.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import pathlib
import pkgutil
import re
import shutil
import sys
import types
from typing import NamedTuple

#: Section title -> module prefixes whose objects it holds, in the order of the
#: design document (penalties and prox; transforms; optimizers; diagnostics;
#: solvers; estimators), then what the design adds around them.
GROUPS: dict[str, tuple[str, ...]] = {
    "Penalties and proximal operators": ("jaxreg.penalties", "jaxreg.prox"),
    "Transforms (coupled, decoupled, proximal)": ("jaxreg.transforms",),
    "Weight layouts": ("jaxreg.layouts",),
    "Structured pruning": ("jaxreg.pruning",),
    "Optimizers: Muon, LION, SAM": ("jaxreg._muon", "jaxreg._lion", "jaxreg.sam"),
    "Spectral normalization": ("jaxreg.spectral",),
    "Diagnostics and curvature": ("jaxreg.diagnostics", "jaxreg.curvature"),
    "Solvers": ("jaxreg.solvers", "jaxreg._pytree"),
    "Hyperparameter tuning": ("jaxreg.tune",),
    "Estimators (scikit-learn drop-ins)": (
        "jaxreg.linear_model",
        "jaxreg._estimator_base",
        "jaxreg._multitask",
        "jaxreg._path_cv",
        "jaxreg._logistic_cv",
        "jaxreg._ridge_cv",
    ),
    "Examples (``jaxreg examples``)": ("jaxreg.examples",),
}
OTHER = "Other"

#: Modules that are not API: the command line and the example experiments'
#: own modules (documented in the gallery instead).
SKIP_MODULES = ("jaxreg.cli", "jaxreg.__main__")


class Entry(NamedTuple):
    """One documented object: its canonical dotted name, the object, its kind
    (``module``, ``class``, ``function`` or ``data``) and its group title."""

    name: str
    obj: object
    kind: str
    group: str


def _is_public(modname: str) -> bool:
    return not any(part.startswith("_") for part in modname.split("."))


def public_modules() -> dict[str, types.ModuleType]:
    """Every public jaxreg module (``jaxreg`` first), importable without extras
    that are missing being fatal: a module whose import fails is skipped."""
    import jaxreg

    mods = {"jaxreg": jaxreg}
    for info in pkgutil.walk_packages(jaxreg.__path__, "jaxreg."):
        name = info.name
        if not _is_public(name) or name.startswith(SKIP_MODULES):
            continue
        if name.startswith("jaxreg.examples."):
            continue  # experiments: the gallery documents them
        try:
            mods[name] = importlib.import_module(name)
        except ImportError:  # an optional extra (scikit-learn, ...) is missing
            continue
    return mods


def exported_names(module: types.ModuleType) -> list[str]:
    """The module's ``__all__``. A direct child of ``jaxreg`` without one
    (``jaxreg.linear_model``) exports the classes and functions it defines whose
    names do not start with ``_``, so nothing public goes undocumented while a
    module lacks ``__all__``; a deeper module without ``__all__`` is an
    implementation module and exports nothing."""
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    if module.__name__.count(".") > 1:
        return []  # an implementation module (jaxreg.solvers.cd): no public names
    return [
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and (inspect.isclass(v) or inspect.isfunction(v))
        and getattr(v, "__module__", None) == module.__name__
    ]


def _kind(obj) -> str:
    if isinstance(obj, types.ModuleType):
        return "module"
    if inspect.isclass(obj):
        return "class"
    if callable(obj) and hasattr(obj, "__name__"):
        return "function"
    return "data"


def _home_module(obj, exporting_module: str) -> str:
    """Where ``obj`` is defined: its ``__module__``, or for a constant the
    deepest jaxreg module (private ones included) that has it in ``__all__``."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    mod = getattr(obj, "__module__", None)
    if _kind(obj) != "data" and isinstance(mod, str) and mod.startswith("jaxreg"):
        return mod
    homes = [
        name
        for name, m in list(sys.modules.items())
        if name.startswith("jaxreg")
        and any(getattr(m, n, None) is obj for n in getattr(m, "__all__", ()))
    ]
    return max(homes, key=lambda m: m.count("."), default=exporting_module)


def _data_doc(name: str, obj, home: str) -> str:
    """The string literal after a constant's module-level assignment in its
    home module, or the ``#:`` comment lines right above it (what autodoc
    reads), found by name."""
    spec = importlib.util.find_spec(home)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return ""
    source = pathlib.Path(spec.origin).read_text()
    lines = source.splitlines()
    body = ast.parse(source).body
    for i, node in enumerate(body):
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if not any(getattr(t, "id", None) == name for t in targets):
            continue
        nxt = body[i + 1] if i + 1 < len(body) else None
        if (
            isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            return inspect.cleandoc(nxt.value.value)
        comments = []
        j = node.lineno - 2
        while j >= 0 and lines[j].lstrip().startswith("#:"):
            comments.insert(0, lines[j].lstrip()[2:].strip())
            j -= 1
        return "\n".join(comments)
    return ""


def group_of(module_name: str) -> str:
    """The section title for an object defined in ``module_name``."""
    for title, prefixes in GROUPS.items():
        for p in prefixes:
            if module_name == p or module_name.startswith(p + "."):
                return title
    return OTHER


def entries() -> list[Entry]:
    """One entry per distinct public object, under its canonical name."""
    mods = public_modules()
    seen: dict[int, Entry] = {}
    out: list[Entry] = []
    # jaxreg first, then shorter module paths: the first exporter is canonical.
    for modname in sorted(mods, key=lambda m: (m.count("."), m)):
        module = mods[modname]
        for name in exported_names(module):
            obj = getattr(module, name)
            key = id(obj)
            if key in seen:
                continue
            kind = _kind(obj)
            canonical = obj.__name__ if kind == "module" else f"{modname}.{name}"
            group = group_of(_home_module(obj, modname))
            entry = Entry(canonical, obj, kind, group)
            seen[key] = entry
            out.append(entry)
    return out


def documented_names(module: types.ModuleType, all_entries: list[Entry]) -> dict:
    """``name -> canonical name`` for every name in the module's exports."""
    by_id = {id(e.obj): e.name for e in all_entries}
    return {n: by_id.get(id(getattr(module, n))) for n in exported_names(module)}


def problems() -> list[str]:
    """What the API reference lacks: names with no page, objects in no group."""
    all_entries = entries()
    out = []
    for modname, module in public_modules().items():
        for name, canonical in documented_names(module, all_entries).items():
            if canonical is None:
                out.append(f"{modname}.{name} has no API page")
    for modname in public_modules():
        if modname != "jaxreg" and group_of(modname) == OTHER:
            out.append(
                f"module {modname} matches no section: add it to GROUPS in "
                "docs/apigen.py"
            )
    for e in all_entries:
        if e.group == OTHER and e.kind != "module":
            home = _home_module(e.obj, e.name.rsplit(".", 1)[0])
            out.append(
                f"{e.name} (defined in {home}) matches no section: add its module "
                "to GROUPS in docs/apigen.py"
            )
    return out


# --------------------------------------------------------------------------
# rst writers


def _title(text: str, char: str = "=") -> str:
    return f"{text}\n{char * max(len(text), 3)}\n"


def _page(entry: Entry) -> str:
    if entry.kind == "module":
        return ""  # modules are pages of their own (module_page)
    short = entry.name.rsplit(".", 1)[1]
    head = _title(f"``{short}``")
    if entry.kind == "class":
        members = "   :members:\n   :show-inheritance:\n"
        if _is_namedtuple(entry.obj):
            members = ""
        body = f".. autoclass:: {entry.name}\n{members}"
    elif entry.kind == "function":
        body = f".. autofunction:: {entry.name}\n"
    else:
        short_mod = entry.name.rsplit(".", 1)[0]
        home = _home_module(entry.obj, short_mod)
        doc = _data_doc(short, entry.obj, home)
        value = repr(entry.obj)
        body = f".. py:data:: {short}\n"
        if len(value) <= 100 and "\n" not in value:
            body += f"   :value: {value}\n"
        body += "\n" + "".join(f"   {line}\n" for line in doc.splitlines())
    return f"{head}\n.. currentmodule:: {entry.name.rsplit('.', 1)[0]}\n\n{body}"


def _is_namedtuple(cls) -> bool:
    return isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields")


def _summary(obj, name: str) -> str:
    """The first paragraph of the docstring, on one line."""
    if _kind(obj) == "data":
        home = _home_module(obj, name.rsplit(".", 1)[0])
        doc = _data_doc(name.rsplit(".", 1)[1], obj, home)
    else:
        doc = inspect.getdoc(obj) or ""
    return " ".join(doc.strip().split("\n\n")[0].split())


def _summary_table(entries: list[Entry]) -> str:
    """A two-column table: a link to each page and its docstring's first
    paragraph (autosummary's first-sentence cut can split inline math)."""
    if not entries:
        return ""
    rows = [".. list-table::", "   :widths: 30 70", ""]
    for e in entries:
        role = {"class": "class", "function": "func", "data": "data"}[e.kind]
        rows.append(f"   * - :py:{role}:`~{e.name}`")
        rows.append(f"     - {_summary(e.obj, e.name) or ' '}")
    return "\n".join(rows) + "\n"


def module_page(modname: str, module, all_entries: list[Entry]) -> str:
    """A module's page: its docstring and a table of what it exports. A module
    whose dotted name is also a function's (``jaxreg.sam``) is not indexed."""
    clash = any(e.name == modname and e.kind != "module" for e in all_entries)
    if clash:  # the module's docstring as text: registering it would collide
        head = (inspect.getdoc(module) or "") + "\n\n"
    else:
        head = f".. automodule:: {modname}\n   :no-members:\n\n"
    names = documented_names(module, all_entries)
    by_name = {e.name: e for e in all_entries}
    canon = [by_name[c] for c in names.values() if c is not None]
    canon = [e for e in canon if e.kind != "module"]
    return (
        _title(f"``{modname}``")
        + "\n"
        + head
        + ".. currentmodule:: None\n\n"
        + (_title("Exports", "-") + "\n" + _summary_table(canon) if canon else "")
    )


def _slug(title: str) -> str:
    keep = "".join(c.lower() if c.isalnum() else "-" for c in title)
    return "-".join(p for p in keep.split("-") if p)


def write_api(out_dir: pathlib.Path) -> list[str]:
    """Writes ``out_dir/index.rst``, one page per group, per object and per
    public module. Returns :func:`problems`."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    all_entries = entries()
    groups: dict[str, list[Entry]] = {t: [] for t in [*GROUPS, OTHER]}
    for e in all_entries:
        if e.kind != "module":
            groups[e.group].append(e)
            (out_dir / f"{e.name}.rst").write_text(_page(e))
    mods = public_modules()
    for modname, module in mods.items():
        if modname != "jaxreg":
            (out_dir / f"module-{modname}.rst").write_text(
                module_page(modname, module, all_entries)
            )
    index = [_title("API reference"), ""]
    index.append(
        "Every public name, one page each, generated from the docstrings (the "
        "objectives written there are the contract). ``import jaxreg as jr`` "
        "exposes the flat API; the submodules below hold the rest.\n"
    )
    toc = []
    for title, members in groups.items():
        if not members:
            continue
        slug = _slug(title)
        body = [_title(title), ""]
        prefixes = GROUPS.get(title, ())
        owned = [m for m in mods if m != "jaxreg" and m.startswith(prefixes)]
        if owned:
            body.append("Modules: " + ", ".join(f":mod:`{m}`" for m in owned) + "\n")
        body.append(_summary_table(members))
        body.append(
            ".. toctree::\n   :hidden:\n\n"
            + "".join(f"   {e.name}\n" for e in members)
            + "".join(f"   module-{m}\n" for m in owned)
        )
        (out_dir / f"group-{slug}.rst").write_text("\n".join(body))
        toc.append(f"group-{slug}")
    index.append(
        ".. toctree::\n   :maxdepth: 1\n\n" + "".join(f"   {t}\n" for t in toc)
    )
    (out_dir / "index.rst").write_text("\n".join(index))
    return problems()


# --------------------------------------------------------------------------
# gallery


def _claim_statements(source: str) -> list[str]:
    """The statements of the ``Claim(...)`` calls in an example's source, as
    written there, each f-string field (a number the run measures) shown as
    ``…``."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "Claim"
            and node.args
        ):
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                out.append(arg.value)
            elif isinstance(arg, ast.JoinedStr):
                out.append(
                    "".join(
                        str(v.value) if isinstance(v, ast.Constant) else "…"
                        for v in arg.values
                    )
                )
    return out


def _claims(name: str, source: str, run: dict | None) -> list[str]:
    """The claim bullets of an example's page: from a run's ``claims.json``
    entry (statement, the number measured, PASS/FAIL) when there is one,
    else the statements of its source."""
    if run is None:
        return [f"* {_escape(c)}" for c in _claim_statements(source)]
    return [
        f"* {_escape(c['statement'])} — measured: {_escape(str(c['measured']))} "
        f"(**{'PASS' if c['passed'] else 'FAIL'}**)"
        for c in run["claims"]
    ]


def _escape(text: str) -> str:
    """Plain text (an example's docstring) as reStructuredText: ``|``, ``*``
    and a trailing ``_`` are literal there; ````code```` stays code."""
    text = text.replace("\\", "\\\\").replace("*", r"\*").replace("|", r"\|")
    return re.sub(r"(\w)_(?=\W|$)", r"\1\\_", text)


def write_gallery(out_dir: pathlib.Path, figures_dir: str | None) -> None:
    """One page per example: title, explanation (the module docstring), the
    claims it asserts, the command that runs it, and its figure if
    ``figures_dir`` (an output folder of ``jaxreg examples``) holds one."""
    from jaxreg import examples

    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    figs = pathlib.Path(figures_dir) if figures_dir else None
    report_file = figs / "claims.json" if figs else None
    report = (
        json.loads(report_file.read_text())
        if report_file and report_file.is_file()
        else {}
    )
    for name in examples.NAMES:
        spec = importlib.util.find_spec(f"jaxreg.examples.{name}")
        source = pathlib.Path(spec.origin).read_text()
        doc = ast.get_docstring(ast.parse(source)) or name
        title, _, text = doc.partition("\n")
        lines = [_title(title.strip().rstrip(".")), ""]
        lines.append(f".. rubric:: ``jaxreg examples --only {name}``\n")
        found = sorted(figs.glob(f"{name}*.png")) if figs and figs.is_dir() else []
        for src in found:
            shutil.copy(src, out_dir / src.name)
            lines.append(f".. figure:: {src.name}\n   :width: 100%\n")
        lines.append(_escape(text.strip()) + "\n")
        lines.append(_title("Claims it asserts", "-"))
        from_run = (
            " The figure and the numbers below are those of the ``--quick`` run "
            "this site was built from."
            if name in report
            else ""
        )
        lines.append(
            "The run prints each claim with the number it measured and PASS or "
            "FAIL, and exits with status 1 if any fails "
            f"(``tests/test_examples.py`` runs them all with ``--quick``).{from_run}\n"
        )
        lines.extend(_claims(name, source, report.get(name)))
        lines.append("")
        lines.append(_title("Run it", "-"))
        lines.append(
            ".. code-block:: bash\n\n"
            f"   jaxreg examples --only {name} --out out/examples   # or --quick\n"
            f"   python examples/{name}.py   # the same, as a script\n"
        )
        if not found:
            lines.append(
                f"The figure is written to ``out/examples/{name}.png``. To show it "
                "here, build the docs with ``JAXREG_DOCS_FIGURES=out/examples`` "
                "(figures are not committed; CI builds the site with those of the "
                "test suite's ``--quick`` run).\n"
            )
        lines.append(
            f"Source: ``jaxreg/examples/{name}.py`` (``run(out_dir, quick)``).\n"
        )
        (out_dir / f"{name}.rst").write_text("\n".join(lines))
    index = [_title("Gallery"), ""]
    index.append(
        "Each page is one experiment of ``jaxreg examples``: what it shows, the "
        "claims it checks, and how to run it. ``jaxreg examples --out DIR`` runs "
        "all of them and writes every figure plus an ``index.html``.\n"
    )
    index.append(
        ".. toctree::\n   :maxdepth: 1\n\n"
        + "".join(f"   {n}\n" for n in examples.NAMES)
    )
    (out_dir / "index.rst").write_text("\n".join(index))


def generate(docs_dir: pathlib.Path) -> list[str]:
    """Writes ``api/generated`` and ``gallery/generated`` under ``docs_dir``."""
    probs = write_api(docs_dir / "api" / "generated")
    write_gallery(
        docs_dir / "gallery" / "generated", os.environ.get("JAXREG_DOCS_FIGURES")
    )
    return probs
