"""Run folders on disk: a folder's newest readable checkpoint, and the newest run in a folder of runs (`outputs`,
a sweep's folder), so that `python -m ganrun.sample outputs …` works after any number of runs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ganrun.runstate.checkpoint import PERIODIC
from ganrun.runstate.resume import newest_readable

MAX_DEPTH = 6  # outputs/multirun/<date>/<time>/<job>/checkpoints is 5 below outputs
SKIPPED = {"checkpoints", ".hydra", "wandb", "mlruns", "mlartifacts", "__pycache__", ".git", ".cache"}


@dataclass(frozen=True)
class Run:
    folder: Path
    written: float  # when its newest checkpoint file was written (seconds since the epoch)


def checkpoint_files(folder: Path) -> list[Path]:
    """A run folder's checkpoint files (last.pt, best.pt, step_*.pt)."""
    found = Path(folder) / "checkpoints"
    if not found.is_dir():
        return []
    return [p for p in found.iterdir() if p.is_file() and (p.name in ("last.pt", "best.pt") or PERIODIC.search(p.name))]


def runs_under(folder: Path) -> list[Run]:
    """Every run folder (one with checkpoint files) at or below `folder`, newest checkpoint last."""
    found = []
    folder = Path(folder)
    for root, dirs, _ in os.walk(folder):
        depth = len(Path(root).relative_to(folder).parts)
        if files := checkpoint_files(Path(root)):
            found.append(Run(Path(root), max(p.stat().st_mtime for p in files)))
        dirs[:] = [] if depth >= MAX_DEPTH else sorted(d for d in dirs if d not in SKIPPED)
    return sorted(found, key=lambda run: (run.written, str(run.folder)))


def newest_checkpoint(run: Path) -> tuple[Path, dict] | None:
    """A run folder's newest readable checkpoint (resume's rule: last.pt unless a periodic one is newer)."""
    return newest_readable(Path(run) / "checkpoints")
