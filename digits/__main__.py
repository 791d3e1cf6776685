"""Entry point for `python -m digits`."""

import sys

from digits.cli import main

sys.exit(main())
