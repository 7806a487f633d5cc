"""Hydra callbacks: when a sweep ends, summarize it in its folder."""

import logging
import sys
from pathlib import Path

from hydra.experimental.callback import Callback

from ganrun.errors import UsageError
from ganrun.report import read_status, job_dirs, write_report

log = logging.getLogger("ganrun")


class SweepSummary(Callback):
    """Writes summary.csv/.md/.png in the sweep folder; exits 1 when any job failed (after all ran)."""

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            summary = write_report(sweep_dir)
        except UsageError as exc:  # e.g. every job failed before Hydra wrote its folder
            log.error("no sweep summary: %s", exc)
            return
        jobs = job_dirs(sweep_dir)
        failed = [job.name for job in jobs if read_status(job).get("status") == "failed"]
        log.info("sweep summary: %s", summary)
        if failed:
            print(f"Error: {len(failed)} of {len(jobs)} jobs failed ({', '.join(failed)}); see {summary}", file=sys.stderr)
            sys.exit(1)
