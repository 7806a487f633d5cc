"""`python -m ganrun.report SWEEP_DIR`: rebuild a sweep's summaries and pictures, also mid-sweep."""

import argparse
import sys
from pathlib import Path

from ganrun.base.commands import description
from ganrun.base.errors import UsageError
from ganrun.report.summary import FILES, write_report


def main(argv: list[str] | None = None) -> int:
    """The CLI: rebuild a sweep's summary; a user error is one line on stderr and exit status 2."""
    parser = argparse.ArgumentParser(prog="python -m ganrun.report", description=description(__doc__))
    parser.add_argument("sweep_dir", type=Path, help="a multirun folder, e.g. outputs/multirun/<date>/<time>")
    parser.add_argument(
        "--metric",
        help="the scalar tag to rank and plot by (default: metrics/fid, "
        "metrics/classifier_fd, …, critic/wasserstein, loss/generator, "
        "the first one logged)",
    )
    args = parser.parse_args(argv)
    try:
        summary = write_report(args.sweep_dir, args.metric)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    folder = summary.path.parent
    written = [name for name in FILES if (folder / name).is_file()]
    print(summary.verdict)
    print(f"wrote {', '.join(written[:-1])} and {written[-1]} in {folder}")
    return 0
