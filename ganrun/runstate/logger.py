"""TensorBoard output of a run: scalars by tag, the fixed-noise sample grid, a real grid once."""

import math

import torch
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams
from torchvision.utils import make_grid


def image_grid(images: torch.Tensor, nrow: int | None = None) -> torch.Tensor:
    """A C×H×W float grid in [0, 1] of uint8 images or float images in [-1, 1]: `nrow` images a row (None: about
    square)."""
    nrow = nrow or max(1, int(math.ceil(math.sqrt(images.shape[0]))))
    low, high = (0, 255) if images.dtype == torch.uint8 else (-1, 1)
    images = images.detach().float().cpu().clamp(low, high)
    return make_grid(images, nrow=nrow, normalize=True, value_range=(low, high))


class TensorBoardLogger:
    """One event stream per run folder; on resume, events past the resumed step are purged."""

    def __init__(self, run_dir: str, resumed_step: int = 0, enabled: bool = True):
        # purge_step drops events logged after the checkpoint by a run that died later,
        # so the resumed curve has no overlap and no gap.
        self.writer = SummaryWriter(run_dir, purge_step=resumed_step + 1 if resumed_step else None) if enabled else None

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self.writer:
            for tag, value in values.items():
                self.writer.add_scalar(tag, value, step)

    def images(self, tag: str, images: torch.Tensor, step: int, nrow: int | None = None) -> None:
        if self.writer:
            self.writer.add_image(tag, image_grid(images, nrow), step)

    def hparams(self, params: dict, metric_tags: list[str]) -> None:
        """Register this run in TensorBoard's HParams dashboard; the metrics' values come from their scalars."""
        if self.writer:
            experiment, session_start, _ = hparams(params, dict.fromkeys(metric_tags, 0.0))
            self.writer.file_writer.add_summary(experiment)
            self.writer.file_writer.add_summary(session_start)

    def hparams_done(self) -> None:
        """Mark the HParams session as finished successfully."""
        if self.writer:
            _, _, session_end = hparams({}, {})
            self.writer.file_writer.add_summary(session_end)

    def flush(self) -> None:
        if self.writer:
            self.writer.flush()

    def close(self) -> None:
        if self.writer:
            self.writer.close()
