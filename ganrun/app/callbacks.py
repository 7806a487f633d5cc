"""Hydra callbacks: before a search, check that its objective can be computed; when a sweep ends, summarize it; a
sweep's loggers: their packages checked before the first job, MLflow's parent run ended after the last."""

import logging
import sys
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

from ganrun.app.search import check_objective, is_optuna
from ganrun.base.errors import UsageError, exit_with
from ganrun.build import logger_factories
from ganrun.report import collect, job_dirs, write_summary
from ganrun.report.reading import read_status
from ganrun.runstate.loggers.sweep import read_shared

log = logging.getLogger("ganrun")


class SearchCheck(Callback):
    """Before an Optuna search: its objective must be computable here, else one line and exit 2 before any trial."""

    def on_multirun_start(self, config, **kwargs) -> None:
        if not is_optuna(config.hydra.sweeper):
            return
        try:
            log.info("search objective: %s", check_objective(config))
        except UsageError as exc:
            exit_with(exc)  # SystemExit: Hydra turns a callback's exceptions into warnings and goes on
        # Hydra's basic sweeper records the sweep in multirun.yaml and the Optuna sweeper does not: written here, it
        # gives the job folders their swept values (3_lambda_gp=4.43,n_critic=5), as in a grid sweep.
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(config, sweep_dir / "multirun.yaml")


class SweepSummary(Callback):
    """Writes the summaries in the sweep folder; exits 1 when any job of a grid sweep failed (after all ran)."""

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            records = collect(job_dirs(sweep_dir))  # read once: for the summary and for the failed jobs
        except UsageError as exc:  # e.g. every job failed before Hydra wrote its folder
            log.error("no sweep summary: %s", exc)
            return
        written = write_summary(sweep_dir, records)
        summary = written.path
        failed = [r["job"] for r in records if r["status"] == "failed"]
        log.info("sweep summary: %s", summary)
        log.info("%s", written.verdict)
        if failed and is_optuna(
            config.hydra.sweeper
        ):  # a search goes on past failed trials (it fails when none completed)
            log.warning(
                "%d of %d trials failed (%s); Optuna counted them as failed",
                len(failed),
                len(records),
                ", ".join(failed),
            )
        elif failed:
            print(
                f"Error: {len(failed)} of {len(records)} jobs failed ({', '.join(failed)}); see {summary}",
                file=sys.stderr,
            )
            sys.exit(1)


class SweepLoggers(Callback):
    """A logger whose package is missing stops the sweep before its first job (one line, exit 2); when the sweep
    ends, the MLflow run that stands for it (its jobs' parent, made by the first job) is ended, FAILED when a job
    failed. A tracking server that is gone by then costs a warning."""

    def on_multirun_start(self, config, **kwargs) -> None:
        try:
            logger_factories(config.get("logger"))
        except UsageError as exc:
            exit_with(exc)  # SystemExit: Hydra turns a callback's exceptions into warnings and goes on

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if read_shared(sweep_dir, "mlflow") is None:
            return
        from ganrun.runstate.loggers.mlflow import close_sweep  # MLflow takes seconds to import

        jobs = [d for d in sweep_dir.iterdir() if d.is_dir()]
        failed = any(read_status(job)["status"] == "failed" for job in jobs if (job / "status.json").is_file())
        try:
            close_sweep(sweep_dir, failed)
        except Exception as exc:  # noqa: BLE001 (the tracker's own errors, whatever they are)
            log.warning("the sweep's MLflow run could not be ended: %s", str(exc).splitlines()[0] if str(exc) else exc)
