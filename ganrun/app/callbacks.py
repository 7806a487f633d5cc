"""Hydra callbacks: when a sweep ends, summarize it in its folder."""

import logging
import sys
from pathlib import Path

from hydra.experimental.callback import Callback

from ganrun.errors import UsageError
from ganrun.report import collect, job_dirs, write_summary

log = logging.getLogger("ganrun")


class SweepSummary(Callback):
    """Writes summary.csv/.md/.png in the sweep folder; exits 1 when any job failed (after all ran)."""

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            records = collect(job_dirs(sweep_dir))  # read once: for the summary and for the failed jobs
        except UsageError as exc:  # e.g. every job failed before Hydra wrote its folder
            log.error("no sweep summary: %s", exc)
            return
        summary = write_summary(sweep_dir, records)
        failed = [r["job"] for r in records if r["status"] == "failed"]
        log.info("sweep summary: %s", summary)
        if failed:
            print(f"Error: {len(failed)} of {len(records)} jobs failed ({', '.join(failed)}); see {summary}",
                  file=sys.stderr)
            sys.exit(1)
