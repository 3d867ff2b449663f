"""`python -m descend ...` runs the same command line as `descend ...` (as `python -m descend.cli` does)."""
import sys

from .cli import main

sys.exit(main())
