"""``python -m vitiseg``: the same as the ``vitiseg`` command."""

import sys

from .cli import main

sys.exit(main())
