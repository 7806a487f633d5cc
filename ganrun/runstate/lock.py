"""One training process per run folder: `<run_dir>/run.lock` names its holder (pid, host, SLURM job), so that a
second process on the same folder (a double requeue, a second command with the same hydra.run.dir) stops with one
line instead of training beside the first; a dead holder's lock is taken over.

The lock is an flock on the file, which the kernel drops when its holder dies (SIGKILL included), so on one
machine a lock left by a dead process is taken over at once. Across machines flock is only as good as the shared
file system, so the holder also touches the file every HEARTBEAT_S seconds: a lock written on another host is taken
over when it has not been touched for STALE_AFTER_S, or at once when it was written by an earlier run of the same
SLURM job (SLURM runs a requeued job only after its previous run ended).
"""

import fcntl
import json
import logging
import os
import socket
import threading
import time
from datetime import datetime
from pathlib import Path

from ganrun.base.errors import UsageError

log = logging.getLogger("ganrun")

LOCK_NAME = "run.lock"
HEARTBEAT_S = 20.0
STALE_AFTER_S = 120.0


class RunFolderInUse(UsageError):
    """Another live process trains in this run folder."""


def this_process() -> dict:
    """Who holds a lock: pid, host, start time, and the SLURM job (id and restart count) when under SLURM."""
    job = os.environ.get("SLURM_JOB_ID")
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now().isoformat(timespec="seconds"),
        "slurm_job": job,
        "slurm_restart": int(os.environ.get("SLURM_RESTART_COUNT") or 0) if job else None,
    }


def describe(holder: dict) -> str:
    if not holder.get("pid"):
        return "another process (which has not written its name into the lock yet)"
    job = f", SLURM job {holder['slurm_job']}" if holder.get("slurm_job") else ""
    return f"pid {holder.get('pid')} on host {holder.get('host')} (since {holder.get('started')}{job})"


def stale_reason(holder: dict, age_s: float, me: dict) -> str | None:
    """Why a lock file whose flock this process got may be taken over, or None when its holder may still run
    (on another host, whose flock this file system may not show)."""
    if holder.get("host") == me["host"]:
        return "its process is gone"  # on this host the flock proves it
    if (
        holder.get("slurm_job")
        and holder["slurm_job"] == me["slurm_job"]
        and (holder.get("slurm_restart") or 0) < (me["slurm_restart"] or 0)
    ):
        return "SLURM requeued that job, so that run has ended"
    if age_s > STALE_AFTER_S:
        return f"it has not been touched for {age_s:.0f} s"
    return None


class RunLock:
    """Held from before training until the run ends: `acquire()` raises RunFolderInUse when another process
    holds the folder; `release()` removes the file."""

    def __init__(self, run_dir: Path, enabled: bool = True):
        self.path, self.enabled = Path(run_dir) / LOCK_NAME, enabled
        self.fd: int | None = None
        self.stopped = threading.Event()

    def acquire(self) -> None:
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = self._flock()
        if fd is None:
            return
        holder, age = self._read(fd), time.time() - os.fstat(fd).st_mtime
        if holder:
            reason = stale_reason(holder, age, this_process())
            if reason is None:
                os.close(fd)
                raise self._in_use(
                    holder,
                    f", alive {age:.0f} s ago (its lock is taken over {STALE_AFTER_S:.0f} s "
                    f"after that, or delete {self.path} if it is gone)",
                )
            log.warning("taking over the run folder's lock from %s: %s", describe(holder), reason)
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(this_process()) + "\n").encode(), 0)
        self.fd = fd
        threading.Thread(target=self._heartbeat, name="ganrun-run-lock", daemon=True).start()

    def _flock(self) -> int | None:
        """The lock file, open and flocked by this process; None when this file system cannot lock files."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = self._read(fd) or {}
                os.close(fd)
                raise self._in_use(holder, "") from None
            except OSError as exc:  # e.g. ENOLCK on a file system without locks: train unguarded, as before
                os.close(fd)
                log.warning(
                    "cannot lock %s (%s): nothing stops a second process from training in this folder", self.path, exc
                )
                return None
            if self._same_file(fd):  # not a file its last holder removed between our open and our flock
                return fd
            os.close(fd)

    def _in_use(self, holder: dict, detail: str) -> RunFolderInUse:
        return RunFolderInUse(
            f"{self.path.parent} is in use by {describe(holder)}{detail}; two processes must not "
            "train in one run folder, so this one stops and changes nothing"
        )

    def release(self) -> None:
        if self.fd is None:
            return
        self.stopped.set()
        self.path.unlink(missing_ok=True)  # before unlocking: a process that opened it now sees another file
        os.close(self.fd)
        self.fd = None

    def _same_file(self, fd: int) -> bool:
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            return False

    def _read(self, fd: int | None = None) -> dict | None:
        try:
            text = os.pread(fd, 4096, 0).decode() if fd is not None else self.path.read_text()
            holder = json.loads(text) if text.strip() else None
        except (OSError, ValueError):  # gone, or half-written by a holder that died while writing it
            return None
        return holder if isinstance(holder, dict) else None

    def _heartbeat(self) -> None:
        """Touch the file, so that a process on another host can tell a live holder from a dead one."""
        while not self.stopped.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:
                return
