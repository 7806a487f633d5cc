"""A folder of JPG/PNG images, searched recursively, with a class per image where it is labelled
(data/listing.py), fitted to a square size (data/decode.py), decoded in parallel straight into the packed cache
(never the whole set in RAM)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import warnings
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ganrun.data.decode import check_crop, decode_image
from ganrun.data.listing import IMAGE_EXTENSIONS, UNLABELLED, Labelling, label_files, list_images, pick_classes
from ganrun.data.memory import gigabytes, host_available
from ganrun.data.pack import packed
from ganrun.data.reading import DatasetError, ImageSet, check_options

log = logging.getLogger("ganrun")

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
    labels: str = UNLABELLED,
    classes=None,
    crop: str = "center",
) -> ImageSet:
    """Every JPG/PNG/BMP/WebP image under `root` (recursively, sorted by path), fitted to image_size as `crop`
    says, from the packed cache (packed on first use with `workers` decoders, default: one per CPU), with each
    image's class where `labels` is `folders` or a labels file (those of `classes` only, when given).
    `before_packing(rows, row_bytes)` is called before a pack is written (it raises to stop)."""
    check_arguments(download, image_size, channels, workers, crop)
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
    labelling = label_files(root, files, labels)  # a bad labelling stops here, before anything is decoded
    if labelling is None and classes is not None:
        raise DatasetError(
            f"dataset.classes={classes} needs class labels; set dataset.labels=folders (a subfolder per class) or "
            "dataset.labels=<a labels file such as dataset.json>, or dataset.classes=null"
        )
    picked = None if labelling is None else pick_classes(classes, labelling.names, root)
    # The key covers the file list (paths, sizes, modification times, as a digest), the labels and the transform.
    key = ("image_folder", str(root), listing, image_size, channels)
    key += (("crop", crop),) if crop != "center" else ()
    key += (("labels", labelling.source),) if labelling is not None else ()
    row_shape = (channels, image_size, image_size)
    size = len(files) * int(np.prod(row_shape))
    fill = partial(
        pack_folder,
        root=root,
        files=files,
        row_shape=row_shape,
        workers=workers or os.cpu_count() or 1,
        labelling=labelling,
        crop=crop,
    )
    notes: dict = {}
    images, row_labels = packed(
        "image_folder",
        key,
        row_shape,
        fill,
        labelled=labelling is not None,
        row_labels=labelling is not None,  # a row's label is known once its file was read (unreadable ones skip)
        count=len(files),
        in_memory_ok=size < host_available()[0] // 4,
        before_writing=before_packing,
        notes=notes,
    )
    if len(images) == 0:
        raise DatasetError(
            f"none of the {len(files)} image files under {root} could be read; "
            "set dataset.root=<a folder of JPG/PNG images>"
        )
    if notes.get("upscaled"):
        log.info(
            "data: %d of the %d images under %s were smaller than %d×%d (%s) and were enlarged to it",
            notes["upscaled"],
            len(images),
            root,
            image_size,
            image_size,
            "their shorter side" if crop == "center" else "their longer side",
        )
    if labelling is None:
        return ImageSet(images, None)
    return labelled_set(images, row_labels, labelling, picked, root)


def check_arguments(download: bool, image_size: int, channels: int, workers, crop: str) -> None:
    if download:
        raise DatasetError(
            "an image folder has no automatic download (set dataset.download=false); "
            "get the anime faces as the README describes and set dataset.root=<that folder>"
        )
    check_options(image_size, channels)
    check_crop(crop)
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise DatasetError(f"dataset.workers={workers} must be null (one per CPU) or a number of decoders >= 1")


def labelled_set(images, row_labels, labelling: Labelling, picked, root: Path) -> ImageSet:
    """The packed images with their labels and class names (those of `picked` only); a class whose files could
    not be read at all is a one-line DatasetError."""
    labels = torch.from_numpy(np.asarray(row_labels, dtype=np.int64))
    counts = torch.bincount(labels, minlength=len(labelling.names))
    labelled = sorted(set(labelling.labels))
    unreadable = [labelling.names[c] for c in labelled if counts[c] == 0]
    if unreadable:
        raise DatasetError(
            f"the class {unreadable[0]!r} of {root} has no readable image (every one of its files was skipped); "
            "replace its files with readable JPG/PNG images or remove the class"
        )
    data = ImageSet(images, labels, classes=labelling.names)
    if picked is None:
        return data
    return data.subset(torch.nonzero(torch.isin(labels, torch.tensor(picked)))[:, 0].numpy())


def _decode_chunk(
    paths: list[str], image_size: int, channels: int, crop: str = "center"
) -> tuple[np.ndarray, np.ndarray, int]:
    """The readable images of `paths` as k×C×H×W uint8, in order, which of the paths they are (a bool per path),
    and how many of them had to be enlarged."""
    mode = "L" if channels == 1 else "RGB"
    decoded = [decode_image(p, image_size, mode, crop) for p in paths]
    kept = np.array([d is not None for d in decoded], dtype=bool)
    found = [d for d in decoded if d is not None]
    if not found:
        return np.empty((0, channels, image_size, image_size), np.uint8), kept, 0
    array = np.stack([pixels for pixels, _ in found]).reshape(len(found), image_size, image_size, channels)
    return np.ascontiguousarray(array.transpose(0, 3, 1, 2)), kept, sum(enlarged for _, enlarged in found)


def _executor(workers: int, files: int) -> Executor:
    if workers > 1 and files >= SERIAL_BELOW and "fork" in multiprocessing.get_all_start_methods():
        try:
            return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        except (OSError, NotImplementedError, PermissionError):
            pass
    return ThreadPoolExecutor(workers if files >= SERIAL_BELOW else 1)


def pack_folder(
    writer,
    root: Path,
    files: list[str],
    row_shape: tuple[int, int, int],
    workers: int,
    labelling: Labelling | None = None,
    crop: str = "center",
) -> np.ndarray | None:
    """Decode `files` (relative to `root`) with `workers` decoders into `writer`, in order, CHUNK images per worker
    between writes, from where an interrupted packing stopped; unreadable files are skipped and counted in one
    warning. Returns the labels of the rows written (None without a `labelling`)."""
    channels, size, _ = row_shape
    total = len(files) * int(np.prod(row_shape))
    start = writer.inputs
    log.info(
        "%s %d images of %s from %s into %s (%s)%s",
        "decoding" if writer.where == "memory" else "packing",
        len(files),
        "×".join(map(str, row_shape)),
        root,
        writer.where,
        gigabytes(total),
        f", continuing after {start}" if start else "",
    )
    if labelling is not None:
        writer.notes["classes"] = labelling.names
    paths = [str(root / name) for name in files]
    decode = partial(_decode_chunk, image_size=size, channels=channels, crop=crop)
    with (
        _executor(workers, len(files) - start) as pool,
        tqdm(total=len(files), initial=start, desc="pack", unit="img", dynamic_ncols=True, disable=None) as bar,
    ):
        step = CHUNK * workers
        for first in range(start, len(files), step):
            firsts = range(first, min(first + step, len(files)), CHUNK)
            chunks = [paths[i : i + CHUNK] for i in firsts]
            for at, chunk, (rows, kept, enlarged) in zip(firsts, chunks, pool.map(decode, chunks)):
                writer.notes["upscaled"] = writer.notes.get("upscaled", 0) + int(enlarged)
                labels = None if labelling is None else np.asarray(labelling.labels[at : at + len(chunk)])[kept]
                writer.append(rows, len(chunk), labels=labels)
                bar.update(len(chunk))
    if writer.skipped:
        warnings.warn(f"skipped {writer.skipped} unreadable image files under {root}", stacklevel=2)
    return None if labelling is None else writer.recorded_labels()
