"""The run's loggers as one: what the loop and the app call goes to each, and a tracker that fails is dropped."""

import logging
from collections.abc import Callable
from pathlib import Path

from ganrun.base import reported
from ganrun.base.errors import UsageError
from ganrun.runstate.loggers.grids import save_grid
from ganrun.runstate.loggers.run import RunInfo
from ganrun.runstate.storage import write_failure

log = logging.getLogger("ganrun")


def is_tracker(logger) -> bool:
    """A logger that sends to a tracking service (W&B, MLflow), or the factory of one."""
    return getattr(getattr(logger, "func", logger), "tracker", False)


def first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


class Loggers:
    """The loop's logger (scalars, images, texts, flush) and the app's `close`, for every chosen logger. A local
    logger's failed write (TensorBoard, CSV) stops the run with its one-line StorageError; a tracker that fails (a
    tracking server that went away) is warned about once and dropped, and training goes on."""

    def __init__(self, loggers: dict[str, object]):
        self.loggers = dict(loggers)
        self.grid_file: Path | None = None
        self.local = [name for name, logger in self.loggers.items() if not is_tracker(logger)]

    @classmethod
    def open(cls, factories: dict[str, Callable], run: RunInfo, grid_file: Path | None = None) -> "Loggers":
        """Each logger made by its factory (`logger=` options, ganrun/build.py) for `run`; with `grid_file`, the
        newest `samples` grid is also that PNG file, whatever the loggers."""
        opened = cls({})
        opened.grid_file = grid_file
        opened.local = [name for name, make in factories.items() if not is_tracker(make)]
        for name, make in factories.items():
            try:
                opened.loggers[name] = make(run)
            except Exception as exc:
                if isinstance(exc, UsageError) or not is_tracker(make):
                    opened.close("failed")
                    raise
                opened.drop(name, exc, "could not start")
        return opened

    def drop(self, name: str, exc: Exception, when: str) -> None:
        self.loggers.pop(name, None)
        kept = (
            f"what it misses is in {', '.join(self.local)}"
            if self.local
            else "no local logger (tensorboard, csv) is on to keep what it misses"
        )
        log.warning("logger %s %s (%s); training goes on without it: %s", name, when, first_line(exc), kept)

    def _each(self, method: str, *args, step: int | None = None) -> None:
        for name, logger in list(self.loggers.items()):
            try:
                getattr(logger, method)(*args)
            except Exception as exc:
                if isinstance(exc, UsageError) or not is_tracker(logger):
                    raise
                self.drop(name, exc, f"stopped at step {step}" if step is not None else "failed")

    def scalars(self, values: dict[str, float], step: int) -> None:
        self._each("scalars", values, step, step=step)

    def images(self, tag: str, images, step: int, nrow: int | None = None) -> None:
        self._each("images", tag, images, step, nrow, step=step)
        if tag == reported.SAMPLES and self.grid_file is not None:
            try:
                save_grid(images, self.grid_file, nrow)
            except OSError as exc:
                raise write_failure("the newest sample grid", self.grid_file, exc, step=step) from None

    def text(self, tag: str, text: str, step: int) -> None:
        self._each("text", tag, text, step, step=step)

    def flush(self) -> None:
        self._each("flush")

    def close(self, outcome: str = "completed", final: dict | None = None) -> None:
        """Close each logger with how the run ended ("completed", "preempted", "failed"), all of them even when one
        fails; after a failure (`outcome` "failed") nothing raised here may hide the error that ended the run."""
        error = None
        for name, logger in list(self.loggers.items()):
            try:
                logger.close(outcome, final)
            except Exception as exc:
                if outcome != "failed" and (isinstance(exc, UsageError) or not is_tracker(logger)):
                    error = error or exc
                elif outcome != "failed":
                    log.warning("logger %s could not finish: %s", name, first_line(exc))
        self.loggers = {}
        if error is not None:
            raise error
