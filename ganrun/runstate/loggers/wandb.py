"""`logger=wandb`: one Weights & Biases run per ganrun run. Offline unless told otherwise (no login, no network: the
run is kept in `<run_dir>/wandb/` and uploaded later with `wandb sync`); a resumed run continues the same W&B run,
whose id is kept in trackers.json, and a sweep's jobs share one W&B group."""

import logging
import os
import secrets
import string
from pathlib import Path

import wandb

from ganrun.base.errors import UsageError
from ganrun.runstate.loggers.grids import grid_pixels
from ganrun.runstate.loggers.run import RunInfo
from ganrun.runstate.loggers.tracking import TrackerRecord

log = logging.getLogger("ganrun")

MODES = ("offline", "online", "disabled")


def new_run_id() -> str:
    """Eight characters as W&B makes them, from the system's entropy: never from a stream that training draws from."""
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


def choose_mode(mode: str | None) -> str:
    """logger.wandb.mode, else $WANDB_MODE, else offline: a run must train where there is no login or network."""
    mode = mode or os.environ.get("WANDB_MODE") or "offline"
    if mode not in MODES:
        raise UsageError(f"logger.wandb.mode={mode} is not one of {', '.join(MODES)}")
    return mode


class WandbLogger:
    tracker = True  # a failure warns once and training goes on (many.py)

    def __init__(
        self,
        run: RunInfo,
        project: str = "ganrun",
        entity: str | None = None,
        group: str | None = None,
        tags=(),
        mode: str | None = None,
    ):
        mode = choose_mode(mode)
        self.record = TrackerRecord(run.run_dir, "wandb")
        run_id = self.record.fields.get("id") or new_run_id()
        self.run = wandb.init(
            project=project,
            entity=entity,
            group=group or run.sweep_name,
            tags=list(tags),
            mode=mode,
            id=run_id,
            resume="allow",
            dir=str(run.run_dir),
            name=run.name,
            notes=f"ganrun run folder: {run.run_dir}",
            # W&B's own lines (and its copy of the console) would repeat ganrun's log; the one line below says where.
            settings=wandb.Settings(console="off", silent=True),
        )
        # Changed values on resume (more train.steps) replace the old ones rather than failing.
        self.run.config.update(
            {**run.config, "hparams": run.hparams, "run_dir": str(run.run_dir)}, allow_val_change=True
        )
        self.record.start(id=run_id, project=project, entity=entity)
        if mode == "offline":
            runs = Path(run.run_dir) / "wandb"
            log.info(
                "W&B is offline (logger.wandb.mode=online logs live): run %s is kept in %s; upload it with "
                "`wandb sync %s/offline-run-*-%s`",
                run_id,
                runs,
                runs,
                run_id,
            )
        elif mode == "online":
            log.info("W&B run %s: %s", run.name, self.run.url)

    def scalars(self, values: dict[str, float], step: int) -> None:
        if unsent := self.record.unsent(values, step):
            self.run.log(unsent, step=step)
            self.record.mark_sent(unsent, step)

    def images(self, tag: str, images, step: int, nrow: int | None = None) -> None:
        if self.record.unsent({tag: None}, step):
            self.run.log({tag: wandb.Image(grid_pixels(images, nrow), caption=f"step {step}")}, step=step)
            self.record.mark_sent([tag], step)

    def text(self, tag: str, text: str, step: int) -> None:
        """A text (how a score was measured) as the run's summary value under `tag`: W&B shows it on the run's page."""
        self.run.summary[tag] = text

    def flush(self) -> None:
        """W&B writes in the background; `close` waits for it."""

    def close(self, outcome: str = "completed", final: dict | None = None) -> None:
        """Finish the W&B run: the final values in its summary, marked preempted or failed as the run ended."""
        if final:
            self.run.summary.update(final)
        if outcome == "preempted":
            self.run.mark_preempting()
        self.run.finish(exit_code=1 if outcome == "failed" else 0)
