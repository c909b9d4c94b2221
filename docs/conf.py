"""Sphinx configuration for the jaxreg documentation.

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
The API reference and the gallery pages are generated at build time by
``docs/apigen.py`` (into git-ignored ``generated/`` folders), from ``__all__``
and ``jaxreg.examples.NAMES``.
"""

import os
import pathlib
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # importing jaxreg needs no device

DOCS = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # this checkout's jaxreg, not an installed one
sys.path.insert(0, str(DOCS))

import apigen  # noqa: E402

import jaxreg  # noqa: E402

project = "jaxreg"
author = "the jaxreg authors"
copyright = "the jaxreg authors"
release = jaxreg.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "README.md"]
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

autosummary_generate = False  # apigen writes the pages itself
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
add_module_names = False

html_theme = "furo"
html_title = f"jaxreg {release}"
html_static_path = []
# Math is rendered in the browser by MathJax 4, loaded from its CDN (Sphinx's
# default). For pages that render offline, point JAXREG_DOCS_MATHJAX at a local
# MathJax 3 ``es5`` folder (``npm pack mathjax@3``; its ``tex-mml-chtml.js``
# has the same name and API): it is copied into _static.
if os.environ.get("JAXREG_DOCS_MATHJAX"):
    html_static_path.append(os.environ["JAXREG_DOCS_MATHJAX"])
    mathjax_path = "tex-mml-chtml.js"

nitpicky = False


def _generate(app):
    for problem in apigen.generate(DOCS):
        from sphinx.util import logging

        logging.getLogger("jaxreg.apigen").warning(problem)


def _skip_foreign_members(app, what, name, obj, skip, options):
    """Documents a class's own members, not those scikit-learn's base classes
    generate (``set_fit_request`` ...)."""
    module = getattr(obj, "__module__", None)
    if what == "class" and isinstance(module, str) and not module.startswith("jaxreg"):
        return True
    return None


def setup(app):
    app.connect("builder-inited", _generate)
    app.connect("autodoc-skip-member", _skip_foreign_members)
