"""Run the animlib command line: ``python -m animlib --help``."""

import sys

from .cli import main

sys.exit(main())
