"""The ``index.html`` gallery: each example's figure, explanation and numbers."""

import html
import inspect
import os
import pathlib
import re
import types
from typing import NamedTuple

from jaxreg.examples._common import ExampleResult

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
section { border-top: 1px solid #ddd; padding-top: 1em; margin-top: 2em; }
img { max-width: 100%; border: 1px solid #eee; }
table { border-collapse: collapse; margin: .6em 0; font-size: .92em; }
td, th { border: 1px solid #ddd; padding: .25em .6em; text-align: left; }
.PASS { color: #177a2f; font-weight: 600; } .FAIL { color: #b3261e; font-weight: 600; }
code, .num { font-family: ui-monospace, monospace; }
"""


class Entry(NamedTuple):
    """One example's outcome: its name, title and explanation paragraphs, its
    result (None if it raised), the error message (empty if it ran) and how long
    it took in seconds."""

    name: str
    title: str
    paragraphs: list[str]
    result: ExampleResult | None
    error: str
    seconds: float


def title_and_text(module: types.ModuleType) -> tuple[str, list[str]]:
    """The example's title (first docstring line) and explanation paragraphs."""
    doc = inspect.getdoc(module) or module.__name__
    title, _, body = doc.partition("\n")
    paragraphs = [" ".join(p.split()) for p in body.split("\n\n") if p.strip()]
    return title.strip().rstrip("."), paragraphs


def _inline_code(text: str) -> str:
    """Docstring ``literals`` as <code> elements."""
    return re.sub(r"``(.+?)``", r"<code>\1</code>", text)


def _section(entry: Entry, out_dir: pathlib.Path) -> str:
    name, title, paragraphs = entry.name, entry.title, entry.paragraphs
    parts = [f'<section id="{name}"><h2>{html.escape(title)}</h2>']
    parts.append(
        f"<p><code>python examples/{name}.py</code> · "
        f"<code>jaxreg examples --only {name}</code> · {entry.seconds:.1f} s</p>"
    )
    if entry.result is None:
        parts.append(f'<p class="FAIL">Error: {html.escape(entry.error)}</p>')
    else:
        for path in entry.result.figures:
            rel = os.path.relpath(path, out_dir)
            parts.append(f'<img src="{html.escape(rel)}" alt="{html.escape(title)}">')
    parts.extend(f"<p>{_inline_code(html.escape(p))}</p>" for p in paragraphs)
    if entry.result is not None:
        rows = "".join(
            f'<tr><td class="{"PASS" if c.passed else "FAIL"}">'
            f"{'PASS' if c.passed else 'FAIL'}</td><td>{html.escape(c.statement)}"
            f'</td><td class="num">{html.escape(c.measured)}</td></tr>'
            for c in entry.result.claims
        )
        parts.append(
            f"<table><tr><th></th><th>Claim</th><th>Measured</th></tr>{rows}</table>"
        )
        if entry.result.numbers:
            rows = "".join(
                f'<tr><td>{html.escape(k)}</td><td class="num">{html.escape(v)}</td>'
                "</tr>"
                for k, v in entry.result.numbers.items()
            )
            parts.append(
                f"<table><tr><th>Quantity</th><th>Value</th></tr>{rows}</table>"
            )
    parts.append("</section>")
    return "\n".join(parts)


def write_gallery(
    out_dir: pathlib.Path, entries: list[Entry], header: str
) -> pathlib.Path:
    """Writes ``out_dir/index.html`` for ``entries`` and returns its path.

    ``header`` is a line of plain text shown under the title (device, versions).
    """
    n_claims = sum(len(e.result.claims) for e in entries if e.result)
    n_passed = sum(c.passed for e in entries if e.result for c in e.result.claims)
    toc = "".join(
        f'<li><a href="#{e.name}">{html.escape(e.title)}</a></li>' for e in entries
    )
    page = (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>jaxreg examples</title><style>{_STYLE}</style></head><body>"
        f"<h1>jaxreg examples</h1><p>{html.escape(header)}</p>"
        f"<p>{n_passed}/{n_claims} claims passed.</p><ol>{toc}</ol>"
        + "\n".join(_section(e, out_dir) for e in entries)
        + "</body></html>\n"
    )
    path = pathlib.Path(out_dir) / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
