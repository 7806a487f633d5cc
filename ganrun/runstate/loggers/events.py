"""A TensorBoard event file written synchronously, in TensorBoard's own record format: a write that fails (a full
disk, a read-only folder) raises at the call that made it, where ganrun writes, not later in a background thread."""

from __future__ import annotations

import itertools
import os
import socket
import time
from pathlib import Path

from tensorboard.compat.proto.event_pb2 import Event, SessionLog
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.record_writer import RecordWriter

# Tells apart the files of one process made in one second; zero-padded because TensorBoard reads a folder's files
# in name order, and a resume must come after what it purges ("…10" sorts before "…9").
_NUMBERS = itertools.count()


class EventFile:
    """events.out.tfevents.<time>.<host>.<pid>.<n> in `folder`. With `purge_step`, TensorBoard drops the events of
    earlier files from that step on (a resumed run's curve continues with no overlap)."""

    def __init__(self, folder: Path, purge_step: int | None = None):
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{next(_NUMBERS):06d}"
        self.folder, self.path = folder, folder / name
        self._records = RecordWriter(open(self.path, "wb"))  # noqa: SIM115 (closed by close())
        self.add_event(Event(file_version="brain.Event:2"))
        if purge_step is not None:
            self.add_event(Event(step=purge_step, file_version="brain.Event:2"))
            self.add_event(Event(step=purge_step, session_log=SessionLog(status=SessionLog.START)))
        self.flush()

    def add_event(self, event: Event) -> None:
        event.wall_time = event.wall_time or time.time()
        self._records.write(event.SerializeToString())

    def add_summary(self, summary: Summary, step: int | None = None) -> None:
        event = Event(summary=summary)
        if step is not None:
            event.step = int(step)
        self.add_event(event)

    def flush(self) -> None:
        self._records.flush()

    def close(self) -> None:
        if not self._records.closed:
            self._records.close()
