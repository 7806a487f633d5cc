"""`<run_dir>/status.json`: what a run is doing or how it ended, for reports and for people."""

import json
import os
import time
from datetime import datetime
from pathlib import Path


class RunStatus:
    """Writes status.json atomically at the start of a run, and when it completes or fails."""

    def __init__(self, run_dir: Path, steps: int, enabled: bool = True):
        self.path, self.enabled = Path(run_dir) / "status.json", enabled
        self.started = time.time()
        self.fields = {"status": "running", "error": None, "step": 0, "steps": steps,
                       "wall_time_s": 0.0, "started": datetime.now().isoformat(timespec="seconds"), "final": {}}

    def update(self, **fields) -> None:
        self.fields.update(fields, wall_time_s=round(time.time() - self.started, 3))
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.fields, indent=2) + "\n")
        os.replace(tmp, self.path)

    def failed(self, exc: BaseException) -> None:
        lines = str(exc).strip().splitlines()
        self.update(status="failed", error=lines[0] if lines else type(exc).__name__)
