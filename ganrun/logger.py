"""TensorBoard output of a run: scalars by tag, the fixed-noise sample grid, a real grid once."""

import math

import torch
from torch.utils.tensorboard import SummaryWriter
from torchvision.utils import make_grid


def image_grid(images: torch.Tensor) -> torch.Tensor:
    """A C×H×W float grid in [0, 1], about square, of uint8 images or float images in [-1, 1]."""
    nrow = max(1, int(math.ceil(math.sqrt(images.shape[0]))))
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

    def images(self, tag: str, images: torch.Tensor, step: int) -> None:
        if self.writer:
            self.writer.add_image(tag, image_grid(images), step)

    def flush(self) -> None:
        if self.writer:
            self.writer.flush()

    def close(self) -> None:
        if self.writer:
            self.writer.close()
