"""A folder of JPG/PNG images (anime faces), searched recursively, resized and center-cropped, decoded in parallel
straight into the packed cache (never the whole set in RAM)."""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import warnings
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import torchvision.transforms.functional as TF
from PIL import Image
from tqdm.auto import tqdm

from ganrun.data.files import DatasetError, ImageSet, check_options
from ganrun.data.memory import gigabytes, host_available
from ganrun.data.pack import pack_path, packed

log = logging.getLogger("ganrun")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
CHUNK = 256  # images decoded per worker between two writes: bounds the RAM a packing holds
# Processes decode: on 2 cores they packed 2.0x as fast as one decoder, threads 1.25x (PIL holds the GIL for part
# of each image; docs/reports/data.md). Forked, so a worker starts at once; threads where no process can be forked.
SERIAL_BELOW = 2 * CHUNK  # a folder this small decodes faster than worker processes start


def image_folder(
    root: str,
    image_size: int = 64,
    channels: int = 3,
    download: bool = False,
    workers: int | None = None,
    before_packing: Callable[[int, int], None] | None = None,
) -> ImageSet:
    """Every JPG/PNG/BMP/WebP image under `root` (recursively, sorted by path), resized and center-cropped, from
    the packed cache (packed on first use with `workers` decoders, default: one per CPU); a folder of images has no
    class labels. `before_packing(rows, row_bytes)` is called before a pack is written (it raises to stop)."""
    if download:
        raise DatasetError(
            "an image folder has no automatic download (set dataset.download=false); "
            "get the anime faces as the README describes and set dataset.root=<that folder>"
        )
    check_options(image_size, channels)
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise DatasetError(f"dataset.workers={workers} must be null (one per CPU) or a number of decoders >= 1")
    root = Path(root).expanduser().absolute()
    if not root.is_dir():
        raise DatasetError(
            f"image folder {root} does not exist; set dataset.root=<a folder of JPG/PNG images> "
            "(the README says where to get anime faces)"
        )
    files, listing = list_images(root)
    if not files:
        raise DatasetError(
            f"no image files ({'/'.join(IMAGE_EXTENSIONS)}) under {root}; set dataset.root=<a folder of JPG/PNG images>"
        )
    # The key covers the file list (paths, sizes, modification times, as a digest) and the transform.
    key = ("image_folder", str(root), listing, image_size, channels)
    row_shape = (channels, image_size, image_size)
    size = len(files) * int(np.prod(row_shape))
    fill = partial(
        pack_folder,
        root=root,
        files=files,
        row_shape=row_shape,
        workers=workers or os.cpu_count() or 1,
        path=pack_path("image_folder", key),
    )
    images, _ = packed(
        "image_folder",
        key,
        row_shape,
        fill,
        count=len(files),
        in_memory_ok=size < host_available()[0] // 4,
        before_writing=before_packing,
    )
    if len(images) == 0:
        raise DatasetError(
            f"none of the {len(files)} image files under {root} could be read; "
            "set dataset.root=<a folder of JPG/PNG images>"
        )
    return ImageSet(images, None)


def list_images(root: Path) -> tuple[list[str], str]:
    """The image files under `root` (recursively, sorted by relative path) and a digest of every one's relative
    path, size and modification time; one scandir pass, so a second run on half a million files starts fast."""
    found, folders = [], [(root, "")]
    while folders:
        folder, prefix = folders.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                name = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    folders.append((entry.path, name + "/"))
                elif entry.name.lower().endswith(IMAGE_EXTENSIONS) and entry.is_file():
                    info = entry.stat()
                    found.append((name, info.st_size, info.st_mtime_ns))
    found.sort()
    digest = hashlib.sha256()
    for name, size, mtime in found:
        digest.update(f"{name}\0{size}\0{mtime}\n".encode())
    base = str(root) + os.sep
    return [base + name for name, _, _ in found], digest.hexdigest()  # strings: a Path each costs more than a stat


def decode_image(path: str | Path, image_size: int, mode: str) -> np.ndarray | None:
    """One image file as H×W[×3] uint8, resized and center-cropped to image_size; None if unreadable. Any mode
    (grayscale, RGBA, palette, CMYK, 16-bit) is converted to `mode` ("L" or "RGB") by PIL."""
    try:
        with Image.open(path) as img:
            img.draft(mode, (image_size, image_size))  # JPEG: decode at a smaller scale that still covers image_size
            img = img.convert(mode)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return np.asarray(TF.center_crop(TF.resize(img, image_size), image_size))


def _decode_chunk(paths: list[str], image_size: int, channels: int) -> np.ndarray:
    """The readable images of `paths` as k×C×H×W uint8, in order."""
    mode = "L" if channels == 1 else "RGB"
    images = [a for a in (decode_image(p, image_size, mode) for p in paths) if a is not None]
    if not images:
        return np.empty((0, channels, image_size, image_size), np.uint8)
    array = np.stack(images).reshape(len(images), image_size, image_size, channels)
    return np.ascontiguousarray(array.transpose(0, 3, 1, 2))


def _executor(workers: int, files: int) -> Executor:
    if workers > 1 and files >= SERIAL_BELOW and "fork" in multiprocessing.get_all_start_methods():
        try:
            return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        except (OSError, NotImplementedError, PermissionError):
            pass
    return ThreadPoolExecutor(workers if files >= SERIAL_BELOW else 1)


def pack_folder(
    writer, root: Path, files: list[str], row_shape: tuple[int, int, int], workers: int, path: Path
) -> None:
    """Decode `files` with `workers` decoders into `writer`, in order, CHUNK images per worker between writes,
    from where an interrupted packing stopped; unreadable files are skipped and counted in one warning."""
    channels, size, _ = row_shape
    total = len(files) * int(np.prod(row_shape))
    start = writer.inputs
    log.info(
        "packing %d images of %s from %s into %s (%s)%s",
        len(files),
        "×".join(map(str, row_shape)),
        root,
        path,
        gigabytes(total),
        f", continuing after {start}" if start else "",
    )
    decode = partial(_decode_chunk, image_size=size, channels=channels)
    with (
        _executor(workers, len(files) - start) as pool,
        tqdm(total=len(files), initial=start, desc="pack", unit="img", dynamic_ncols=True, disable=None) as bar,
    ):
        step = CHUNK * workers
        for first in range(start, len(files), step):
            chunks = [files[i : i + CHUNK] for i in range(first, min(first + step, len(files)), CHUNK)]
            for chunk, rows in zip(chunks, pool.map(decode, chunks)):
                writer.append(rows, len(chunk))
                bar.update(len(chunk))
    if writer.skipped:
        warnings.warn(f"skipped {writer.skipped} unreadable image files under {root}", stacklevel=2)
