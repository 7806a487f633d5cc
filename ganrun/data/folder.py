"""A folder of JPG/PNG images (anime faces), searched recursively, resized and center-cropped."""
from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image

from ganrun.data.cache import cached
from ganrun.data.files import DatasetError, ImageSet, check_options, stat

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def image_folder(root: str, image_size: int = 64, channels: int = 3, download: bool = False) -> ImageSet:
    """Every JPG/PNG/BMP/WebP image under `root` (recursively, sorted by path), resized and center-cropped;
    a folder of images has no class labels."""
    if download:
        raise DatasetError("an image folder has no automatic download (set dataset.download=false); "
                           "get the anime faces as the README describes and set dataset.root=<that folder>")
    check_options(image_size, channels)
    root = Path(root).expanduser().absolute()
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist; set dataset.root=<a folder of JPG/PNG images> "
                           "(the README says where to get anime faces)")
    files = sorted((p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()),
                   key=lambda p: p.relative_to(root).as_posix())
    if not files:
        raise DatasetError(f"no image files ({'/'.join(IMAGE_EXTENSIONS)}) under {root}; "
                           "set dataset.root=<a folder of JPG/PNG images>")
    listing = [(p.relative_to(root).as_posix(), *stat(p)[1:]) for p in files]
    key = ("image_folder", str(root), listing, image_size, channels)
    return ImageSet(cached("image_folder", key, lambda: decode_folder(root, files, image_size, channels)), None)


def decode_image(path: Path, image_size: int, mode: str) -> np.ndarray | None:
    """One image file as H×W[×3] uint8, resized and center-cropped to image_size; None if unreadable."""
    try:
        with Image.open(path) as img:
            img.draft(mode, (image_size, image_size))  # JPEG: decode at a smaller scale that still covers image_size
            img = img.convert(mode)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return np.asarray(TF.center_crop(TF.resize(img, image_size), image_size))


def decode_folder(root: Path, files: list[Path], image_size: int, channels: int) -> torch.Tensor:
    """Decode `files` in a few threads (PIL releases the GIL), skipping unreadable ones with one warning."""
    mode = "L" if channels == 1 else "RGB"
    with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
        images = [a for a in pool.map(lambda p: decode_image(p, image_size, mode), files) if a is not None]
    if len(images) < len(files):
        warnings.warn(f"skipped {len(files) - len(images)} unreadable image files under {root}", stacklevel=2)
    if not images:
        raise DatasetError(f"none of the {len(files)} image files under {root} could be read; "
                           "set dataset.root=<a folder of JPG/PNG images>")
    array = np.stack(images).reshape(len(images), image_size, image_size, channels)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(0, 3, 1, 2)))
