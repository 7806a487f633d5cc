"""Sweep job folders as Hydra and ganrun leave them, for the report's tests."""

import json
from pathlib import Path

import yaml


def make_job(sweep: Path, name: str, overrides: list[str], status: dict | str | None = None) -> Path:
    """A job folder with .hydra/overrides.yaml and config.yaml, and status.json when given."""
    job = sweep / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"seed": 0}))
    if status is not None:
        (job / "status.json").write_text(status if isinstance(status, str) else json.dumps(status))
    return job


def status(state, step, steps, wall, final=None, error=None) -> dict:
    return {
        "status": state,
        "error": error,
        "step": step,
        "steps": steps,
        "wall_time_s": wall,
        "started": "2025-01-01T12:00:00",
        "final": final,
    }
