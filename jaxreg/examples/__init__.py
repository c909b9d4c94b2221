"""The examples run by ``jaxreg examples``: one module per experiment.

Each module's docstring is its gallery text (a title line, then the
explanation), and each module defines ``run(out_dir, quick) -> ExampleResult``:
it writes its figures into ``out_dir`` and returns the claims it measured. The
modules live inside the package so that a pip-installed ``jaxreg`` command finds
them; ``examples/NAME.py`` in the repository are thin scripts that run one of them.

Importing this package is cheap: matplotlib, scikit-learn and the example
modules themselves are imported only when an example runs.
"""

import importlib
import types

from jaxreg.examples._common import Claim, ExampleResult

__all__ = ["NAMES", "Claim", "ExampleResult", "load"]

#: Example names in the order the command runs them.
NAMES = (
    "trajectories",
    "sparsity",
    "worked_example",
    "weight_decay",
    "geometry",
    "regularization_paths",
    "hyperparameter_gradients",
    "ridge_conditioning",
    "muon_spectrum",
    "structured_sparsity",
    "map_view",
    "sam_vs_sgd",
    "spectral_norm",
    "implicit_regularization",
    "char_transformer",
)


def load(name: str) -> types.ModuleType:
    """Imports the example module called ``name`` (one of ``NAMES``)."""
    if name not in NAMES:
        raise ValueError(f"name must be one of {', '.join(NAMES)}; got {name!r}")
    return importlib.import_module(f"jaxreg.examples.{name}")
