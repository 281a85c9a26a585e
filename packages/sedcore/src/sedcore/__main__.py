"""``python -m sedcore``: the sedcore command line."""

import sys

from ._cli import main

sys.exit(main())
