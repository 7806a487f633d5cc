"""TensorBoard output of a run: scalars by tag, the fixed-noise sample grid, a real grid once, texts (how each
score was measured)."""

import contextlib
import math
import threading
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams
from torchvision.utils import make_grid

from ganrun.runstate.storage import write_failure


def image_grid(images: torch.Tensor, nrow: int | None = None) -> torch.Tensor:
    """A C×H×W float grid in [0, 1] of uint8 images or float images in [-1, 1]: `nrow` images a row (None: about
    square)."""
    nrow = nrow or max(1, int(math.ceil(math.sqrt(images.shape[0]))))
    low, high = (0, 255) if images.dtype == torch.uint8 else (-1, 1)
    images = images.detach().float().cpu().clamp(low, high)
    return make_grid(images, nrow=nrow, normalize=True, value_range=(low, high))


def _quiet_writer_threads() -> None:
    """TensorBoard's writer thread dies on a failed write and Python prints its traceback; the error is raised
    again by the logger's next call, as one line, so that print is dropped."""
    previous = threading.excepthook
    if getattr(previous, "ganrun", False):
        return

    def hook(args):
        if not (type(args.thread).__name__ == "_AsyncWriterThread" and issubclass(args.exc_type, OSError)):
            previous(args)

    hook.ganrun = True
    threading.excepthook = hook


class TensorBoardLogger:
    """One event stream per run folder; on resume, events past the resumed step are purged. An event file that
    cannot be written (a full disk, a read-only folder) is a one-line StorageError."""

    def __init__(self, run_dir: str, resumed_step: int = 0, enabled: bool = True):
        self.run_dir, self.step, self.failed = run_dir, resumed_step, False
        # purge_step drops events logged after the checkpoint by a run that died later,
        # so the resumed curve has no overlap and no gap.
        self.writer = None
        if enabled:
            _quiet_writer_threads()
            with self._writing():
                self.writer = SummaryWriter(run_dir, purge_step=resumed_step + 1 if resumed_step else None)

    @contextlib.contextmanager
    def _writing(self, step: int | None = None):
        """Writes to the event file; their errors (raised by TensorBoard's writer thread at a later call) as one
        line that names the file."""
        self.step = self.step if step is None else step
        try:
            yield
        except OSError as exc:
            self.failed = True
            where = Path(self.writer.file_writer.get_logdir()) if self.writer else Path(self.run_dir)
            raise write_failure("TensorBoard events under", where, exc, step=self.step) from None

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self.writer:
            with self._writing(step):
                for tag, value in values.items():
                    self.writer.add_scalar(tag, value, step)

    def images(self, tag: str, images: torch.Tensor, step: int, nrow: int | None = None) -> None:
        if self.writer:
            with self._writing(step):
                self.writer.add_image(tag, image_grid(images, nrow), step)

    def text(self, tag: str, text: str, step: int) -> None:
        """A Markdown text at `step` (TensorBoard's Text tab), e.g. how a score was measured."""
        if self.writer:
            with self._writing(step):
                self.writer.add_text(tag, text, step)

    def hparams(self, params: dict, metric_tags: list[str]) -> None:
        """Register this run in TensorBoard's HParams dashboard; the metrics' values come from their scalars."""
        if self.writer:
            experiment, session_start, _ = hparams(params, dict.fromkeys(metric_tags, 0.0))
            with self._writing():
                self.writer.file_writer.add_summary(experiment)
                self.writer.file_writer.add_summary(session_start)

    def hparams_done(self) -> None:
        """Mark the HParams session as finished successfully."""
        if self.writer:
            _, _, session_end = hparams({}, {})
            with self._writing():
                self.writer.file_writer.add_summary(session_end)

    def flush(self) -> None:
        if self.writer:
            with self._writing():
                self.writer.flush()

    def close(self, quiet: bool = False) -> None:
        """Flush and close the event file; `quiet`: after another error, which a failure here must not hide."""
        if not self.writer:
            return
        writer, self.writer = self.writer, None
        try:
            writer.close()
        except OSError as exc:
            if not (quiet or self.failed):
                self.writer = writer
                raise write_failure("TensorBoard events under", Path(writer.get_logdir()), exc,
                                    step=self.step) from None
