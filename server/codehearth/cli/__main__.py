"""`python -m codehearth.cli`: the same entry point as the `codehearth` script."""

import sys

from . import main

sys.exit(main())
