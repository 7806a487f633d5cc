"""The packed cache: a data set as one uint8 N×C×H×W .npy file under $GANRUN_CACHE, read memory-mapped.

A pack is written row block by row block, never whole in RAM, into `<name>.npy.partial`; a sidecar
`<name>.npy.partial.json` says how many inputs it has consumed, so a packing that was killed continues where it
stopped. Only a whole pack is renamed to `<name>.npy` (atomically), so a half-written one is never read. Rows start
at byte 4096 (a page-aligned header), so a reader can fetch each image with one aligned read.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ganrun.base.files import cache_root
from ganrun.data.files import DatasetError

log = logging.getLogger("ganrun")

HEADER = 4096  # bytes before the first row: the .npy header, padded so that rows are page-aligned
MAGIC = b"\x93NUMPY\x01\x00"


def pack_path(name: str, key) -> Path:
    """Where the pack of `key` (the files it is read from and the transform) lives."""
    return cache_root() / f"{name}-{hashlib.sha256(repr(key).encode()).hexdigest()[:24]}.npy"


def npy_header(shape: tuple[int, ...]) -> bytes:
    """A .npy (version 1.0) header for uint8 C-order `shape`, padded with spaces to HEADER bytes."""
    text = repr({"descr": "|u1", "fortran_order": False, "shape": tuple(shape)})
    body = text.encode("latin1").ljust(HEADER - len(MAGIC) - 2 - 1) + b"\n"
    return MAGIC + len(body).to_bytes(2, "little") + body


def open_pack(path: Path) -> np.ndarray | None:
    """The pack at `path`, memory-mapped read-only; None when it is missing or damaged (then it is rebuilt)."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if array.dtype != np.uint8 or array.ndim != 4:
        return None
    return array


class PackWriter:
    """Appends uint8 rows of shape `row_shape` to `<path>.partial`; `finish()` makes it the pack at `path`."""

    def __init__(self, path: Path, row_shape: tuple[int, int, int], key_digest: str):
        self.path, self.row_shape, self.key = Path(path), tuple(row_shape), key_digest
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.sidecar = self.path.with_name(self.path.name + ".partial.json")
        self.row_bytes = int(np.prod(self.row_shape))
        self.inputs, self.rows, self.skipped = self._progress()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        mode = "r+b" if self.inputs else "wb"
        self._file = open(self.partial, mode)
        self._file.truncate(HEADER + self.rows * self.row_bytes)  # drop a block written after the last record
        self._file.seek(HEADER + self.rows * self.row_bytes)

    def _progress(self) -> tuple[int, int, int]:
        """(inputs consumed, rows written, inputs skipped) of an earlier packing of the same key, or zeros."""
        try:
            record = json.loads(self.sidecar.read_text())
            size = self.partial.stat().st_size
        except (OSError, ValueError):
            return 0, 0, 0
        same = record.get("key") == self.key and tuple(record.get("row_shape", ())) == self.row_shape
        if not same or size < HEADER + record["rows"] * self.row_bytes:
            return 0, 0, 0
        return int(record["inputs"]), int(record["rows"]), int(record.get("skipped", 0))

    def append(self, rows: np.ndarray, inputs: int | None = None) -> None:
        """Write `rows` (k×C×H×W uint8), which came from the next `inputs` inputs (default: one each; the others
        were unreadable)."""
        rows = np.ascontiguousarray(rows, dtype=np.uint8)
        inputs = len(rows) if inputs is None else inputs
        if rows.shape[1:] != self.row_shape:
            raise ValueError(f"rows of shape {rows.shape[1:]} in a pack of {self.row_shape}")
        self._file.write(rows.data)
        self._file.flush()  # in the kernel before the record says so: a killed process loses none of it
        self.inputs, self.rows, self.skipped = (
            self.inputs + inputs,
            self.rows + len(rows),
            self.skipped + inputs - len(rows),
        )
        record = {
            "key": self.key,
            "row_shape": list(self.row_shape),
            "inputs": self.inputs,
            "rows": self.rows,
            "skipped": self.skipped,
        }
        tmp = self.sidecar.with_name(self.sidecar.name + ".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, self.sidecar)

    def finish(self) -> np.ndarray:
        """Write the header, make the pack appear whole under its name, and map it."""
        self._file.seek(0)
        self._file.write(npy_header((self.rows, *self.row_shape)))
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.partial, self.path)
        self.sidecar.unlink(missing_ok=True)
        return open_pack(self.path)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class MemoryWriter:
    """PackWriter's interface, in RAM: where the cache folder cannot be written (small data sets only)."""

    def __init__(self, row_shape: tuple[int, int, int]):
        self.row_shape, self.blocks, self.inputs, self.rows, self.skipped = tuple(row_shape), [], 0, 0, 0

    def append(self, rows: np.ndarray, inputs: int | None = None) -> None:
        inputs = len(rows) if inputs is None else inputs
        self.blocks.append(np.ascontiguousarray(rows, dtype=np.uint8))
        self.inputs, self.rows, self.skipped = (
            self.inputs + inputs,
            self.rows + len(rows),
            self.skipped + inputs - len(rows),
        )

    def finish(self) -> np.ndarray:
        return np.concatenate(self.blocks) if self.blocks else np.empty((0, *self.row_shape), np.uint8)

    def close(self) -> None:
        pass


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One process packs a given key at a time; the others wait, then read its pack."""
    lock = path.with_name(path.name + ".lock")
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def labels_path(path: Path) -> Path:
    return path.with_name(path.stem + "-labels.npy")


def _open_with_labels(path: Path, labelled: bool) -> tuple[np.ndarray, np.ndarray | None] | None:
    images = open_pack(path)
    if images is None or not labelled:
        return None if images is None else (images, None)
    try:
        labels = np.load(labels_path(path), allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    return (images, labels) if labels.dtype == np.int64 and labels.shape == (len(images),) else None


def packed(
    name: str,
    key,
    row_shape: tuple[int, int, int],
    fill: Callable[[PackWriter | MemoryWriter], np.ndarray | None],
    labelled: bool = False,
    in_memory_ok: bool = True,
    count: int | None = None,
    before_writing: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The memory-mapped pack of `key` and its int64 labels (None unless `labelled`): read when they exist, else
    written by `fill(writer)` (which appends every row and returns the labels) and then read. Where the cache
    folder cannot be written, a small data set (`in_memory_ok`) is built in RAM with one warning; for a large
    one that is a one-line DatasetError."""
    path = pack_path(name, key)
    if (found := _open_with_labels(path, labelled)) is not None:
        return found
    if count is not None and before_writing is not None:
        before_writing(count, int(np.prod(row_shape)))  # e.g. a forced storage tier that cannot hold the rows
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path):
            if (found := _open_with_labels(path, labelled)) is not None:  # packed by another process meanwhile
                return found
            writer = PackWriter(path, row_shape, path.stem)
            try:
                labels = fill(writer)
                if labelled:  # beside the pack before the pack appears: a whole pack has its labels
                    _save_atomic(labels_path(path), np.asarray(labels, dtype=np.int64))
                return writer.finish(), labels
            finally:
                writer.close()
    except OSError as exc:
        if not in_memory_ok:
            size = f" of about {count * int(np.prod(row_shape)) / 2**30:.2f} GB" if count else ""
            raise DatasetError(
                f"cannot write the packed cache {path} ({exc.strerror or exc}); set "
                f"GANRUN_CACHE=<a writable folder with room for the packed data set{size}>"
            ) from None
        warnings.warn(
            f"not caching the decoded data set: cannot write {path.parent} ({exc.strerror or exc}); set "
            "GANRUN_CACHE=<writable folder> to start faster next time",
            stacklevel=3,
        )
        writer = MemoryWriter(row_shape)
        labels = fill(writer)
        return writer.finish(), None if labels is None else np.asarray(labels, dtype=np.int64)


def _save_atomic(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.save(f, array)
    os.replace(tmp, path)
