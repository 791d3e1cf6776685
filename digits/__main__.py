"""Entry point for `python -m digits`."""

import sys

from .cli import main

sys.exit(main())
