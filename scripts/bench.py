"""`python scripts/bench.py [options]` from a checkout: the speed benchmark, ganrun.bench (see --help)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's ganrun, installed or not

from ganrun.bench.speed import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
