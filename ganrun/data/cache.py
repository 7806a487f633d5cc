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


def cached(name: str, key: tuple, build: Callable[[], torch.Tensor]) -> torch.Tensor:
    """build()'s tensor, read from a .npy under $GANRUN_CACHE (or ~/.cache/ganrun) when one matches `key`."""
    cache_dir = Path(os.environ.get("GANRUN_CACHE") or Path.home() / ".cache" / "ganrun")
    path = cache_dir / f"{name}-{hashlib.sha256(repr(key).encode()).hexdigest()[:24]}.npy"
    try:
        array = np.load(path, allow_pickle=False)
        if array.dtype == np.uint8 and array.ndim == 4:
            return torch.from_numpy(array)
    except (OSError, ValueError, EOFError):
        pass  # missing or corrupt: rebuild below
    images = build()
    tmp = None
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=path.stem, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.save(f, images.numpy())
        os.replace(tmp, path)  # atomic: a concurrent or killed run never sees half a file
    except OSError as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        warnings.warn(f"not caching the decoded data set: cannot write {cache_dir} ({e}); "
                      "set GANRUN_CACHE=<writable folder> to start faster next time", stacklevel=2)
    return images
