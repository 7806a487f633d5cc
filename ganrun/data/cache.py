"""The decoded data sets, cached as .npy files under $GANRUN_CACHE so a second run starts in seconds."""
from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch


def _path(name: str, key: tuple) -> Path:
    cache_dir = Path(os.environ.get("GANRUN_CACHE") or Path.home() / ".cache" / "ganrun")
    return cache_dir / f"{name}-{hashlib.sha256(repr(key).encode()).hexdigest()[:24]}.npy"


def _read(path: Path, dtype, ndim: int) -> torch.Tensor | None:
    try:
        array = np.load(path, allow_pickle=False)
        if array.dtype == dtype and array.ndim == ndim:
            return torch.from_numpy(array)
    except (OSError, ValueError, EOFError):
        pass  # missing or corrupt: rebuilt by the caller
    return None


def _write(path: Path, tensor: torch.Tensor) -> None:
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.save(f, tensor.numpy())
        os.replace(tmp, path)  # atomic: a concurrent or killed run never sees half a file
    except OSError as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        warnings.warn(f"not caching the decoded data set: cannot write {path.parent} ({e}); "
                      "set GANRUN_CACHE=<writable folder> to start faster next time", stacklevel=3)


def cached(name: str, key: tuple, build: Callable[[], torch.Tensor]) -> torch.Tensor:
    """build()'s uint8 N×C×H×W tensor, read from a .npy under $GANRUN_CACHE (or ~/.cache/ganrun) when one
    matches `key`."""
    path = _path(name, key)
    images = _read(path, np.uint8, 4)
    if images is None:
        images = build()
        _write(path, images)
    return images


def cached_labelled(name: str, key: tuple, build: Callable[[], tuple[torch.Tensor, torch.Tensor]]
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """build()'s (uint8 images, int64 labels), cached as two .npy files (images as cached() keeps them)."""
    path = _path(name, key)
    labels_path = path.with_name(path.stem + "-labels.npy")
    images, labels = _read(path, np.uint8, 4), _read(labels_path, np.int64, 1)
    if images is None or labels is None or len(images) != len(labels):
        images, labels = build()
        _write(path, images)
        _write(labels_path, labels)
    return images, labels
