"""Sample grids as loggers and the sampler store them."""

import math
import os
from pathlib import Path

import numpy as np
import torch


def image_grid(images: torch.Tensor, nrow: int | None = None) -> torch.Tensor:
    """A C×H×W float grid in [0, 1] of uint8 images or float images in [-1, 1]: `nrow` images a row (None: about
    square)."""
    from torchvision.utils import make_grid  # here: importing torchvision takes a second and a half

    nrow = nrow or max(1, int(math.ceil(math.sqrt(images.shape[0]))))
    low, high = (0, 255) if images.dtype == torch.uint8 else (-1, 1)
    images = images.detach().float().cpu().clamp(low, high)
    return make_grid(images, nrow=nrow, normalize=True, value_range=(low, high))


def grid_pixels(images: torch.Tensor, nrow: int | None = None) -> np.ndarray:
    """The grid as an H×W×C uint8 array, what image files and the trackers' image types take."""
    return (image_grid(images, nrow) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def save_grid(images: torch.Tensor, path: Path, nrow: int | None = None) -> None:
    """The grid as a PNG file at `path`, written to a temp file and renamed (a reader never sees half of it)."""
    from PIL import Image

    pixels = grid_pixels(images, nrow)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        Image.fromarray(pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels).save(tmp, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
