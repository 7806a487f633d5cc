"""One image file as the data set's pixels: converted to its channels and fitted to its square size, either by a
center crop of the shorter side (`dataset.crop=center`) or whole, its aspect kept, padded with black
(`dataset.crop=pad`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ganrun.data.reading import DatasetError

CROPS = ("center", "pad")


def check_crop(crop: str) -> None:
    if crop not in CROPS:
        raise DatasetError(
            f"dataset.crop={crop} is not one of {', '.join(CROPS)} (center: crop the shorter side's square; pad: "
            "the whole image, its aspect kept, padded with black)"
        )


def decode_image(path: str | Path, image_size: int, mode: str, crop: str = "center") -> tuple[np.ndarray, bool] | None:
    """One image file as H×W[×3] uint8 fitted to image_size as `crop` says, and whether it had to be enlarged (it
    was smaller than image_size: its shorter side for a center crop, its longer side for padding); None if
    unreadable. Any mode (grayscale, RGBA, palette, CMYK, 16-bit) is converted to `mode` ("L" or "RGB") by PIL."""
    import torchvision.transforms.functional as TF  # here: torchvision's import is slow (reading.torchvision_download)

    try:
        with Image.open(path) as img:
            width, height = img.size
            img.draft(mode, (image_size, image_size))  # JPEG: decode at a smaller scale that still covers image_size
            img = img.convert(mode)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    if crop == "center":
        return np.asarray(TF.center_crop(TF.resize(img, image_size), image_size)), min(width, height) < image_size
    return fit_and_pad(img, image_size), max(width, height) < image_size


def fit_and_pad(img: Image.Image, size: int) -> np.ndarray:
    """The whole image resized so that its longer side is `size`, centered on a black size×size square."""
    import torchvision.transforms.functional as TF  # here: torchvision's import is slow (reading.torchvision_download)

    width, height = img.size
    scale = size / max(width, height)
    new_width, new_height = max(1, round(width * scale)), max(1, round(height * scale))
    fitted = np.asarray(TF.resize(img, [new_height, new_width]))
    canvas = np.zeros((size, size, *fitted.shape[2:]), np.uint8)
    top, left = (size - new_height) // 2, (size - new_width) // 2
    canvas[top : top + new_height, left : left + new_width] = fitted
    return canvas
