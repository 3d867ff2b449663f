"""`python -m descend.cli ...` runs the same command line as `descend ...`."""
import sys

from . import main

sys.exit(main())
