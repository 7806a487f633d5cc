"""What a sweep's jobs share with each other in the sweep folder (they may run in other processes or on other
machines): `<sweep_dir>/trackers.json`, the tracked runs that stand for the whole sweep (MLflow's parent run)."""

import contextlib
import fcntl
import os
from pathlib import Path

from ganrun.runstate.loggers.tracking import FILENAME, read_entries, write_entry
from ganrun.runstate.storage import write_failure


@contextlib.contextmanager
def sweep_lock(sweep_dir: Path | None):
    """Held while a job looks up or creates what the sweep shares, so that the first job alone creates it (an flock
    on `<sweep_dir>/trackers.lock`); nothing to hold outside a sweep."""
    if sweep_dir is None:
        yield
        return
    path = Path(sweep_dir) / "trackers.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise write_failure("the sweep's lock", path, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the flock


def read_shared(sweep_dir: Path, tracker: str) -> dict | None:
    """The sweep's entry for `tracker`, or None when no job has made one."""
    return read_entries(Path(sweep_dir) / FILENAME).get(tracker)


def write_shared(sweep_dir: Path, tracker: str, entry: dict) -> None:
    """Record the sweep's entry for `tracker` (under sweep_lock)."""
    write_entry(Path(sweep_dir) / FILENAME, tracker, entry, "the sweep's tracker record")
