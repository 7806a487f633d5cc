"""Writing a pack: the .npy header, and the writers a reader appends its rows to (into the cache, or into RAM where
the cache cannot be written); how a pack is found, continued and made to appear whole is ganrun/data/pack.py's."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

HEADER = 4096  # bytes before the first row: the .npy header, padded so that rows are page-aligned
MAGIC = b"\x93NUMPY\x01\x00"


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
    """Appends uint8 rows of shape `row_shape` to `<path>.partial` (and, with `row_labels`, each row's int64 label to
    `<path>.partial-labels`: a reader that knows a row's label only once it has read it); `finish()` makes it the
    pack at `path`. `notes` (plain values a reader sets while it packs) are kept with the progress, so a packing
    that continues has them too."""

    def __init__(self, path: Path, row_shape: tuple[int, int, int], key_digest: str, row_labels: bool = False):
        self.path, self.row_shape, self.key, self.labelled = Path(path), tuple(row_shape), key_digest, row_labels
        self.where = str(self.path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.sidecar = self.path.with_name(self.path.name + ".partial.json")
        self.labels_file = self.path.with_name(self.path.name + ".partial-labels")
        self.row_bytes = int(np.prod(self.row_shape))
        self.inputs, self.rows, self.skipped, self.notes = self._progress()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self._open(self.partial, HEADER + self.rows * self.row_bytes)
        self._labels = self._open(self.labels_file, 8 * self.rows) if row_labels else None

    def _open(self, path: Path, written: int):
        """`path` for appending after its first `written` bytes (what a block written after the last record left
        is dropped)."""
        handle = open(path, "r+b" if self.inputs else "wb")
        handle.truncate(written)
        handle.seek(written)
        return handle

    def _progress(self) -> tuple[int, int, int, dict]:
        """(inputs consumed, rows written, inputs skipped, notes) of an earlier packing of the same key, or none."""
        nothing = 0, 0, 0, {}
        try:
            record = json.loads(self.sidecar.read_text())
            size = self.partial.stat().st_size
            labels = self.labels_file.stat().st_size if self.labelled else 0
        except (OSError, ValueError):
            return nothing
        same = (
            record.get("key") == self.key
            and tuple(record.get("row_shape", ())) == self.row_shape
            and bool(record.get("labelled")) == self.labelled
        )
        rows = int(record.get("rows", 0))
        if not same or size < HEADER + rows * self.row_bytes or (self.labelled and labels < 8 * rows):
            return nothing
        return int(record["inputs"]), rows, int(record.get("skipped", 0)), dict(record.get("notes") or {})

    def append(self, rows: np.ndarray, inputs: int | None = None, labels=None) -> None:
        """Write `rows` (k×C×H×W uint8) and, with row_labels, their `labels`; they came from the next `inputs`
        inputs (default: one each; the others were unreadable)."""
        rows = np.ascontiguousarray(rows, dtype=np.uint8)
        inputs = len(rows) if inputs is None else inputs
        if rows.shape[1:] != self.row_shape:
            raise ValueError(f"rows of shape {rows.shape[1:]} in a pack of {self.row_shape}")
        if self._labels is not None:
            self._labels.write(np.ascontiguousarray(labels, dtype=np.int64).data)
            self._labels.flush()
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
            "labelled": self.labelled,
            "inputs": self.inputs,
            "rows": self.rows,
            "skipped": self.skipped,
            "notes": self.notes,
        }
        tmp = self.sidecar.with_name(self.sidecar.name + ".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, self.sidecar)

    def recorded_labels(self) -> np.ndarray:
        """The labels of every row written so far, in order (int64)."""
        self._labels.flush()
        return np.fromfile(self.labels_file, dtype=np.int64, count=self.rows)

    def finish(self) -> np.ndarray:
        """Write the header, make the pack appear whole under its name, and map it."""
        self._file.seek(0)
        self._file.write(npy_header((self.rows, *self.row_shape)))
        self._file.flush()
        os.fsync(self._file.fileno())
        self.close()
        os.replace(self.partial, self.path)
        self.sidecar.unlink(missing_ok=True)
        self.labels_file.unlink(missing_ok=True)
        return open_pack(self.path)

    def discard(self) -> None:
        """Remove everything written (after a failed write: a partial pack on a full disk only keeps it full)."""
        self.close()
        for path in (self.partial, self.sidecar, self.labels_file):
            path.unlink(missing_ok=True)

    def close(self) -> None:
        for handle in (self._file, self._labels):
            if handle is not None and not handle.closed:
                handle.close()


class MemoryWriter:
    """PackWriter's interface, in RAM: where the cache folder cannot be written (small data sets only)."""

    where = "memory"

    def __init__(self, row_shape: tuple[int, int, int]):
        self.row_shape, self.blocks, self.label_blocks = tuple(row_shape), [], []
        self.inputs, self.rows, self.skipped, self.notes = 0, 0, 0, {}

    def append(self, rows: np.ndarray, inputs: int | None = None, labels=None) -> None:
        inputs = len(rows) if inputs is None else inputs
        self.blocks.append(np.ascontiguousarray(rows, dtype=np.uint8))
        if labels is not None:
            self.label_blocks.append(np.asarray(labels, dtype=np.int64))
        self.inputs, self.rows, self.skipped = (
            self.inputs + inputs,
            self.rows + len(rows),
            self.skipped + inputs - len(rows),
        )

    def recorded_labels(self) -> np.ndarray:
        return np.concatenate(self.label_blocks) if self.label_blocks else np.empty(0, np.int64)

    def finish(self) -> np.ndarray:
        return np.concatenate(self.blocks) if self.blocks else np.empty((0, *self.row_shape), np.uint8)

    def close(self) -> None:
        pass
