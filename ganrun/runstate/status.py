"""`<run_dir>/status.json`: what a run is doing or how it ended, for reports and for people."""

import json
import logging
import os
import time
from datetime import datetime
from pathlib import Path

log = logging.getLogger("ganrun")


class RunStatus:
    """Writes status.json atomically at the start of a run, at each log interval, and when it completes or fails.
    A status that cannot be written (a full disk) is warned about once; the run goes on.

    A resumed run continues in its folder, so its status.json says what the run has cost so far: `wall_time_s` over
    every leg (what a sweep's jobs are compared by), `leg_wall_time_s` of this process, and `legs`. Time spent on work
    that later runs reuse (training the data set's classifier, once) is kept apart, as `classifier_training_s`, so
    that the first of a sweep's jobs is not the slowest for it."""

    def __init__(self, run_dir: Path, steps: int, enabled: bool = True):
        self.path, self.enabled = Path(run_dir) / "status.json", enabled
        self.started = time.time()
        earlier = self._read() if enabled else {}  # the legs before this one (a resumed run), or none
        self.earlier_s = float(earlier.get("wall_time_s") or 0.0)
        self.earlier_aside_s = float(earlier.get("classifier_training_s") or 0.0)
        self.aside_s = 0.0  # this leg's time on work later runs reuse (set_aside)
        now = datetime.now().isoformat(timespec="seconds")
        self.fields = {
            "status": "running",
            "error": None,
            "step": 0,
            "steps": steps,
            "wall_time_s": self.earlier_s,
            "leg_wall_time_s": 0.0,
            "legs": int(earlier.get("legs") or (1 if earlier else 0)) + 1,
            "started": earlier.get("started") or now,
            "leg_started": now,
            "final": {},
        }
        if self.earlier_aside_s:
            self.fields["classifier_training_s"] = self.earlier_aside_s
        self._warned = False

    def _read(self) -> dict:
        try:
            found = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}

    def set_aside(self, seconds: float) -> None:
        """`seconds` of this leg went to training the data set's classifier, which later runs reuse: counted in
        `classifier_training_s` (over every leg), not in the run's wall time."""
        self.aside_s = seconds
        self.fields["classifier_training_s"] = round(self.earlier_aside_s + seconds, 3)

    def update(self, **fields) -> None:
        leg = time.time() - self.started - self.aside_s
        self.fields.update(fields, wall_time_s=round(self.earlier_s + leg, 3), leg_wall_time_s=round(leg, 3))
        if not self.enabled:
            return
        tmp = self.path.with_suffix(".json.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self.fields, indent=2) + "\n")
            os.replace(tmp, self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if not self._warned:
                log.warning("cannot write %s (%s); the run goes on without it", self.path, exc.strerror or exc)
                self._warned = True

    def failed(self, exc: BaseException) -> None:
        """Record the failure: its first line, and the step reached when the error says it (a write failure also
        set `checkpoint_step`, the last good checkpoint's)."""
        lines = str(exc).strip().splitlines()
        fields = {"status": "failed", "error": lines[0] if lines else type(exc).__name__}
        if getattr(exc, "step", None) is not None:
            fields["step"] = exc.step
        self.update(**fields)

    def already_completed(self, step: int) -> dict:
        """A run found finished at `step` when it started: status.json stays as it is when it already says so
        (else it is set to completed at that step); returns its final values."""
        found = self._read()
        if found.get("status") == "completed" and found.get("step") == step:
            self.fields = found
        else:
            self.update(**{**found, "status": "completed", "error": None, "step": step, "steps": self.fields["steps"]})
        return dict(self.fields.get("final") or {})
