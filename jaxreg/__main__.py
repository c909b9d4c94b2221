"""``python -m jaxreg``: the same as the ``jaxreg`` command."""

import sys

from jaxreg.cli import main

sys.exit(main())
