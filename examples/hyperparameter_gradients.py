"""Choosing λ by its gradient: hypergradients through the Lasso vs a grid.

Usage: ``python examples/hyperparameter_gradients.py [--out DIR] [--quick]``.
The experiment lives in ``jaxreg/examples/hyperparameter_gradients.py``,
inside the package, so that the installed ``jaxreg examples`` command runs it
too; this script runs it alone, prints its claims with PASS/FAIL, writes its
figure and an index.html into ``--out`` (default ``out/examples``) and exits
with status 1 if a claim fails.
"""

import pathlib
import sys

# Run from a source checkout without installing: use the checkout's jaxreg.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from jaxreg.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["examples", "--only", "hyperparameter_gradients", *sys.argv[1:]]))
