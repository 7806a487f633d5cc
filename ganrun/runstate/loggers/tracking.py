"""`<run_dir>/trackers.json`: what a resumed run needs to continue its tracked runs (W&B, MLflow) where they are.

For each tracker it holds the id of the tracked run that stands for this run folder and, per tag, the last step
the tracker accepted. A resumed run continues the same tracked run and sends only later steps: the steps that the
process that died had sent after its checkpoint keep the values it sent (a resumed run trains them again bit for
bit, so only perf/it_per_s differs), and no step is sent twice. A tracker cannot take back what it was sent, which is
why this differs from TensorBoard and CSV, which drop what was written after the checkpoint and write it again.
"""

import json
import os
from pathlib import Path

from ganrun.runstate.storage import write_failure

FILENAME = "trackers.json"


def read_entries(path: Path) -> dict:
    """The file's entries by tracker; none when there is no file yet or only a half-written one."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def write_entry(path: Path, tracker: str, entry: dict, what: str, step: int | None = None) -> None:
    """Replace `tracker`'s entry of the file, atomically; a failed write is a StorageError naming `what`."""
    path = Path(path)
    tmp = path.with_suffix(".json.tmp")
    try:
        tmp.write_text(json.dumps({**read_entries(path), tracker: entry}, indent=1) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise write_failure(what, path, exc, step=step) from None


class TrackerRecord:
    """One tracker's entry in trackers.json: `fields` (its run's id and the like) and the steps it was sent."""

    def __init__(self, run_dir: Path, tracker: str):
        self.path, self.tracker = Path(run_dir) / FILENAME, tracker
        entry = read_entries(self.path).get(tracker) or {}
        self.sent: dict[str, int] = dict(entry.pop("sent", {}))
        self.fields: dict = entry

    def start(self, **fields) -> None:
        """Record the tracked run this run folder continues; a different one than before starts with nothing sent."""
        if any(self.fields.get(key) != value for key, value in fields.items()):
            self.sent = {}
        self.fields.update(fields)
        self._write()

    def unsent(self, values: dict, step: int) -> dict:
        """The values of tags the tracker has not been sent at `step` or later."""
        return {tag: value for tag, value in values.items() if step > self.sent.get(tag, -1)}

    def mark_sent(self, tags, step: int) -> None:
        """Note that the tracker accepted `tags` at `step` (after it did: what it did not accept is sent again)."""
        self.sent.update(dict.fromkeys(tags, step))
        self._write()

    def _write(self) -> None:
        write_entry(
            self.path,
            self.tracker,
            {**self.fields, "sent": self.sent},
            "the tracker record",
            step=max(self.sent.values(), default=None),
        )
