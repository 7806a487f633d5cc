"""A data set as training sees it: its images (in RAM, or a memory-mapped packed cache read row by row), which
of them belong to it, its labels, and the channels it delivers."""

from __future__ import annotations

import os
import threading

import numpy as np
import torch

READ_BYTES = 64 * 2**20  # one positioned read of a run of rows at a time


class ImageSet:
    """uint8 images (an N×C×H×W tensor, or the memory-mapped array of a packed cache), their int64 labels
    (None: unlabelled), which stored rows belong to the set (`rows`, None: all, in order), the channels it
    delivers (a grayscale pack read as RGB replicates its one channel after the gather, so it is stored once) and
    the names of its classes (`classes[label]`; None where they are not known).

    Selecting classes or a subset (`subset`) only narrows `rows`: nothing is read until `read`. `images` is the
    whole set in RAM, for small sets and the tools; the storage tiers read what they need.
    """

    def __init__(
        self,
        images,
        labels: torch.Tensor | None = None,
        rows=None,
        channels: int | None = None,
        classes: list[str] | None = None,
    ):
        if images.ndim != 4 or (images.dtype != torch.uint8 if torch.is_tensor(images) else images.dtype != np.uint8):
            raise ValueError(f"an ImageSet holds N×C×H×W uint8 images, got {images.dtype} {tuple(images.shape)}")
        self.storage = images
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        stored = int(images.shape[1])
        self.channels = stored if channels is None else int(channels)
        if self.channels != stored and stored != 1:
            raise ValueError(f"cannot deliver {self.channels} channels from {stored} stored ones")
        if labels is not None and len(labels) != len(self):
            raise ValueError(f"{len(labels)} labels for {len(self)} images")
        self.labels = labels
        self.classes = None if classes is None else [str(name) for name in classes]
        self._fd, self._fd_lock = None, threading.Lock()

    def __len__(self) -> int:
        return len(self.storage) if self.rows is None else len(self.rows)

    def __iter__(self):
        """(images, labels), as the (images, labels) pair this class grew from unpacks."""
        return iter((self.images, self.labels))

    @property
    def stored_shape(self) -> tuple[int, int, int, int]:
        """N×C×H×W of the set as stored (C = 1 for a grayscale pack delivered as RGB)."""
        _, c, h, w = self.storage.shape
        return len(self), int(c), int(h), int(w)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """N×C×H×W as delivered."""
        n, _, h, w = self.stored_shape
        return n, self.channels, h, w

    @property
    def nbytes(self) -> int:
        """Bytes of the set's images as stored: what a storage tier that holds them all needs."""
        return int(np.prod(self.stored_shape))

    @property
    def mapped(self) -> bool:
        """Whether the images are a packed cache on disk (read row by row) rather than in RAM."""
        return isinstance(self.storage, np.memmap)

    def subset(self, positions) -> ImageSet:
        """The images at `positions` of this set (and their labels), in that order, without reading them."""
        positions = np.asarray(positions, dtype=np.int64)
        rows = positions if self.rows is None else self.rows[positions]
        labels = None if self.labels is None else self.labels[torch.from_numpy(positions)]
        return ImageSet(self.storage, labels, rows, self.channels, self.classes)

    def deliver(self, stored: torch.Tensor) -> torch.Tensor:
        """Stored rows as delivered: a grayscale one replicated to three channels where asked."""
        return stored.expand(-1, self.channels, -1, -1) if stored.shape[1] != self.channels else stored

    def read_stored_into(self, positions, out: np.ndarray) -> None:
        """The stored images at `positions` of the set, copied into `out` (k×C×H×W uint8) in that order. A packed
        cache is read with one positioned read per image (no memory map grows, so a process reading a set far
        larger than its memory limit holds only `out`), in file order."""
        index = np.asarray(positions, dtype=np.int64)
        index = index if self.rows is None else self.rows[index]
        if not self.mapped:
            storage = self.storage if torch.is_tensor(self.storage) else torch.from_numpy(np.asarray(self.storage))
            out[...] = storage[torch.from_numpy(index)].numpy()
            return
        fd, row_bytes, offset = self._file(), int(np.prod(self.storage.shape[1:])), self.storage.offset
        flat = out.reshape(len(index), row_bytes)
        if len(index) and (np.diff(index) == 1).all():  # a run of rows (the whole set, a preview): big reads
            for start in range(0, len(index), max(1, READ_BYTES // row_bytes)):
                block = flat[start : start + max(1, READ_BYTES // row_bytes)]
                self._pread(fd, block, offset + int(index[start]) * row_bytes)
            return
        for j in np.argsort(index, kind="stable"):  # ascending offsets: the disk reads forward
            self._pread(fd, flat[j], offset + int(index[j]) * row_bytes)

    def _pread(self, fd: int, into: np.ndarray, at: int) -> None:
        if os.preadv(fd, [memoryview(into).cast("B")], at) != into.nbytes:
            raise OSError(f"{self.storage.filename} is shorter than its header says; delete it to rebuild it")

    def _file(self) -> int:
        with self._fd_lock:
            if self._fd is None:
                self._fd = os.open(self.storage.filename, os.O_RDONLY)
                if hasattr(os, "posix_fadvise"):
                    os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_RANDOM)  # no read-ahead past each image
            return self._fd

    def read_stored(self, positions, pin: bool = False) -> torch.Tensor:
        """The stored images at `positions` as one new uint8 tensor (pinned for a CUDA copy when asked)."""
        positions = np.asarray(positions, dtype=np.int64)
        out = torch.empty((len(positions), *self.stored_shape[1:]), dtype=torch.uint8, pin_memory=pin)
        self.read_stored_into(positions, out.numpy())
        return out

    def read(self, positions) -> torch.Tensor:
        """The set's images at `positions` as delivered: uint8 k×C×H×W, contiguous, in RAM."""
        return self.deliver(self.read_stored(positions)).contiguous()

    def __getitem__(self, index) -> torch.Tensor:
        """The images at an index tensor or array (as `tensor[index]` gives them)."""
        return self.read(torch.as_tensor(index).cpu().numpy())

    @property
    def images(self) -> torch.Tensor:
        """The whole set as one uint8 N×C×H×W tensor in RAM."""
        if self.rows is None and torch.is_tensor(self.storage) and self.channels == self.storage.shape[1]:
            return self.storage
        return self.read(np.arange(len(self)))

    def __getstate__(self):  # a file descriptor and a lock do not travel to another process
        state = dict(self.__dict__)
        state["_fd"], state["_fd_lock"] = None, None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._fd_lock = threading.Lock()

    def __del__(self):
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)
