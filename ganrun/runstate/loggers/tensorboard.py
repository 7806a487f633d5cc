"""TensorBoard output of a run (`logger=tensorboard`, the default): scalars by tag, the fixed-noise sample grid, a
real grid once, texts (how each score was measured), and the run's hyper-parameters in the HParams dashboard."""

import contextlib
from pathlib import Path

import torch
from torch.utils.tensorboard.summary import hparams, image, scalar, text

from ganrun.base import reported
from ganrun.quality.names import NAMES as METRIC_NAMES
from ganrun.runstate.loggers.events import EventFile
from ganrun.runstate.loggers.grids import image_grid
from ganrun.runstate.loggers.run import RunInfo
from ganrun.runstate.storage import write_failure

# The HParams dashboard's metric columns; their values come from the scalars of the same tags.
HPARAM_METRICS = [*reported.HPARAM_COLUMNS, *(reported.metric(name) for name in METRIC_NAMES)]


class TensorBoardLogger:
    """One event stream per run folder; on resume (or a start over), events past the resumed step are purged. An
    event file that cannot be written (a full disk, a read-only folder) is a one-line StorageError."""

    def __init__(self, run: RunInfo):
        self.run_dir, self.step, self.failed = str(run.run_dir), run.resumed_step, False
        self.writer: EventFile | None = None
        with self._writing():
            # purge_step drops events logged after the checkpoint by a run that died later, so the resumed curve
            # has no overlap and no gap; also from step 1 where a run starts over in a folder that holds events (a
            # requeued job killed before its first checkpoint), as the CSV logger drops those rows.
            earlier = any(Path(self.run_dir).glob("events.out.tfevents.*"))
            purge = run.resumed_step + 1 if run.resumed_step or earlier else None
            self.writer = EventFile(self.run_dir, purge_step=purge)
        self.session = bool(run.hparams)  # an HParams session, ended when the run completes
        if self.session:
            self.hparams(run.hparams, HPARAM_METRICS)

    @contextlib.contextmanager
    def _writing(self, step: int | None = None):
        """Writes to the event file; their errors as one line that names the folder."""
        self.step = self.step if step is None else step
        try:
            yield
        except OSError as exc:
            self.failed = True
            where = self.writer.folder if self.writer else Path(self.run_dir)
            raise write_failure("TensorBoard events under", where, exc, step=self.step) from None

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self.writer:
            with self._writing(step):
                for tag, value in values.items():
                    self.writer.add_summary(scalar(tag, value), step)
                self.writer.flush()  # each log interval reaches TensorBoard as it is logged

    def images(self, tag: str, images: torch.Tensor, step: int, nrow: int | None = None) -> None:
        if self.writer:
            with self._writing(step):
                self.writer.add_summary(image(tag, image_grid(images, nrow), dataformats="CHW"), step)
                self.writer.flush()

    def text(self, tag: str, content: str, step: int) -> None:
        """A Markdown text at `step` (TensorBoard's Text tab), e.g. how a score was measured."""
        if self.writer:
            with self._writing(step):
                self.writer.add_summary(text(tag, content), step)

    def hparams(self, params: dict, metric_tags: list[str]) -> None:
        """Register this run in TensorBoard's HParams dashboard; the metrics' values come from their scalars."""
        if self.writer:
            experiment, session_start, _ = hparams(params, dict.fromkeys(metric_tags, 0.0))
            with self._writing():
                self.writer.add_summary(experiment)
                self.writer.add_summary(session_start)

    def hparams_done(self) -> None:
        """Mark the HParams session as finished successfully."""
        if self.writer:
            _, _, session_end = hparams({}, {})
            with self._writing():
                self.writer.add_summary(session_end)

    def flush(self) -> None:
        if self.writer:
            with self._writing():
                self.writer.flush()

    def close(self, outcome: str = "completed", final: dict | None = None) -> None:
        """End the HParams session of a completed run, flush and close the event file. After a failure (`outcome`
        "failed") a failure here must not hide the error that ended the run."""
        if not self.writer:
            return
        if outcome == "completed" and self.session:
            self.hparams_done()
        writer, self.writer = self.writer, None
        try:
            writer.close()
        except OSError as exc:
            if not (outcome == "failed" or self.failed):
                self.writer = writer
                raise write_failure("TensorBoard events under", writer.folder, exc, step=self.step) from None
