"""Files the stages write: atomically, under ganrun's cache folder."""

import os
import tempfile
from pathlib import Path

import torch


def cache_root() -> Path:
    """$GANRUN_CACHE, default ~/.cache/ganrun: packed data sets, classifiers, real-image statistics."""
    return Path(os.environ.get("GANRUN_CACHE") or Path.home() / ".cache" / "ganrun")


def save_atomic(state: dict, path: Path) -> None:
    """torch.save to a temp file in the same folder, fsync it, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
