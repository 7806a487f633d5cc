"""`python scripts/quality.py [options]` from a checkout: the quality benchmark, python -m ganrun.bench --quality
(see --help)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's ganrun, installed or not

from ganrun.bench.quality import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
