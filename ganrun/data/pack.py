"""The packed cache: a data set as one uint8 N×C×H×W .npy file under $GANRUN_CACHE, read memory-mapped.

A pack is written row block by row block, never whole in RAM, into `<name>.npy.partial` (with each row's label in
`<name>.npy.partial-labels` when it has labels); a sidecar `<name>.npy.partial.json` says how many inputs it has
consumed, so a packing that was killed continues where it stopped. Only a whole pack is renamed to `<name>.npy`
(atomically), so a half-written one is never read; its labels (`<name>-labels.npy`) and notes (`<name>-notes.json`:
a folder's class names, how many images were enlarged) are beside it before it appears. A packing that fails to
write (a full disk) removes what it wrote. Rows start at byte 4096 (a page-aligned header), so a reader can fetch
each image with one aligned read.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ganrun.base.disk import cache_root
from ganrun.data.memory import gigabytes
from ganrun.data.reading import DatasetError
from ganrun.data.writers import HEADER, MemoryWriter, PackWriter, open_pack

__all__ = ["HEADER", "labels_path", "notes_path", "open_pack", "pack_path", "packed"]

log = logging.getLogger("ganrun")


def pack_path(name: str, key) -> Path:
    """Where the pack of `key` (the files it is read from and the transform) lives."""
    return cache_root() / f"{name}-{hashlib.sha256(repr(key).encode()).hexdigest()[:24]}.npy"


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


def notes_path(path: Path) -> Path:
    return path.with_name(path.stem + "-notes.json")


def _open_with_labels(path: Path, labelled: bool, notes: dict | None) -> tuple[np.ndarray, np.ndarray | None] | None:
    images = open_pack(path)
    if images is None:
        return None
    if notes is not None:
        try:
            notes.update(json.loads(notes_path(path).read_text()))
        except (OSError, ValueError):
            pass  # packs made before notes were kept have none
    if not labelled:
        return images, None
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
    notes: dict | None = None,
    row_labels: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The memory-mapped pack of `key` and its int64 labels (None unless `labelled`): read when they exist, else
    written by `fill(writer)` (which appends every row and returns the labels; with `row_labels` the writer records
    each row's label, appended with it) and then read; `notes`, when given, is filled with the pack's notes.
    Where the cache folder cannot be written (read-only, a full disk), a small data set (`in_memory_ok`) is
    decoded into RAM, said in one log line; for a large one that is a one-line DatasetError. Either way nothing
    half-written is left behind."""
    path = pack_path(name, key)
    if (found := _open_with_labels(path, labelled, notes)) is not None:
        return found
    if count is not None and before_writing is not None:
        before_writing(count, int(np.prod(row_shape)))  # e.g. a forced storage tier that cannot hold the rows
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path):
            if (found := _open_with_labels(path, labelled, notes)) is not None:  # packed by another process meanwhile
                return found
            return _write_pack(path, row_shape, fill, labelled, notes, row_labels)
    except OSError as exc:
        return _in_memory(name, path, row_shape, fill, exc, in_memory_ok, count, notes)


def _write_pack(path: Path, row_shape, fill, labelled: bool, notes: dict | None, row_labels: bool):
    """Pack by `fill` into the cache; a write that fails removes what it wrote before it raises."""
    writer = PackWriter(path, row_shape, path.stem, row_labels)
    try:
        labels = fill(writer)
        if labelled:  # beside the pack before the pack appears: a whole pack has its labels
            _save_atomic(labels_path(path), np.asarray(labels, dtype=np.int64))
        if writer.notes:
            tmp = notes_path(path).with_name(notes_path(path).name + ".tmp")
            tmp.write_text(json.dumps(writer.notes))
            os.replace(tmp, notes_path(path))
        images = writer.finish()
    except OSError:
        writer.discard()
        raise
    finally:
        writer.close()
    if notes is not None:
        notes.update(writer.notes)
    return images, labels


def _in_memory(name: str, path: Path, row_shape, fill, exc: OSError, in_memory_ok: bool, count, notes):
    """The data set decoded into RAM for this run, said once in the log, where its pack cannot be written."""
    needed = f"{gigabytes(count * int(np.prod(row_shape)))}" if count else None
    room = f" with room for {needed}" if needed else ""
    if not in_memory_ok:
        raise DatasetError(
            f"cannot write the packed cache {path} ({exc.strerror or exc}); set GANRUN_CACHE=<a writable folder{room}>"
        ) from None
    log.warning(
        "not caching %s: cannot write its packed cache %s (%s); decoding it into memory for this run instead; "
        "set GANRUN_CACHE=<a writable folder%s> to pack it once and start faster next time",
        name,
        path,
        exc.strerror or exc,
        room,
    )
    writer = MemoryWriter(row_shape)
    labels = fill(writer)
    if notes is not None:
        notes.update(writer.notes)
    return writer.finish(), None if labels is None else np.asarray(labels, dtype=np.int64)


def _save_atomic(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.save(f, array)
    os.replace(tmp, path)
