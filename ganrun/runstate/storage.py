"""A run's file that cannot be written (a full disk, a read-only or foreign folder) as one line: which file, where,
why, how much space it needs and how much there is."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from ganrun.base.errors import UsageError

REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


class StorageError(UsageError):
    """A run's file could not be written; `step` is the generator step the run had reached (None: not known)."""

    def __init__(self, message: str, step: int | None = None):
        super().__init__(message)
        self.step = step


def megabytes(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


def free_space(path: Path) -> tuple[Path, int] | None:
    """(the nearest existing folder at or above `path`, the bytes free there), or None when it cannot be read."""
    folder = Path(path).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return folder, shutil.disk_usage(folder).free
    except OSError:
        return None


def reason(exc: BaseException, needed: int | None, free: int | None) -> str:
    """Why a write failed, in words: the errno of the first OSError in the exception's chain, else (torch.save's
    C++ writer only says `unexpected pos`) a full disk when there is less space than the file needs."""
    seen = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in REASONS:
            return REASONS[seen.errno]
        seen = seen.__cause__ or seen.__context__
    if needed is not None and free is not None and free < needed:
        return REASONS[errno.ENOSPC]
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def write_failure(
    what: str, path: Path, exc: BaseException, needed: int | None = None, step: int | None = None
) -> StorageError:
    """The one-line error for `what` (e.g. "checkpoint") that could not be written to `path`."""
    found = free_space(Path(path).parent)
    free = found[1] if found else None
    message = f"cannot write {what} {path}: {reason(exc, needed, free)}"
    sizes = []
    if free is not None:
        sizes.append(f"{megabytes(free)} free on {found[0]}")
    if needed is not None:
        sizes.append(f"a checkpoint needs about {megabytes(needed)}")
    return StorageError(f"{message} ({', '.join(sizes)})" if sizes else message, step)
