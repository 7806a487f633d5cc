"""Sample grids as loggers and the sampler store them."""

import math

import numpy as np
import torch
from torchvision.utils import make_grid


def image_grid(images: torch.Tensor, nrow: int | None = None) -> torch.Tensor:
    """A C×H×W float grid in [0, 1] of uint8 images or float images in [-1, 1]: `nrow` images a row (None: about
    square)."""
    nrow = nrow or max(1, int(math.ceil(math.sqrt(images.shape[0]))))
    low, high = (0, 255) if images.dtype == torch.uint8 else (-1, 1)
    images = images.detach().float().cpu().clamp(low, high)
    return make_grid(images, nrow=nrow, normalize=True, value_range=(low, high))


def grid_pixels(images: torch.Tensor, nrow: int | None = None) -> np.ndarray:
    """The grid as an H×W×C uint8 array, what image files and the trackers' image types take."""
    return (image_grid(images, nrow) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
