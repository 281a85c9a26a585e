"""``python -m emulate_neb``: the emulate-neb command line."""

import sys

from ._cli import main

sys.exit(main())
