"""`python -m ganrun.report SWEEP_DIR`."""

import sys

from ganrun.report.cli import main

sys.exit(main())
