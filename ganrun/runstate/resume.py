"""Which checkpoint a run continues from: `resume=PATH|auto`, a file or a run folder's newest readable one."""

import logging
from pathlib import Path

from ganrun.base.errors import UsageError
from ganrun.runstate import checkpoint

log = logging.getLogger("ganrun")


def load_resume_state(resume: str, run_dir: Path) -> tuple[Path, dict] | None:
    """The checkpoint `resume=` means, loaded: a file, or a run folder's (auto: this run's) newest readable one;
    a corrupt one there is skipped with a warning for the one before."""
    if resume == "auto":
        return newest_readable(run_dir / "checkpoints")
    path = Path(resume)
    if not path.is_dir():
        return path, checkpoint.load(path)
    if (found := newest_readable(path / "checkpoints")) is None:
        raise UsageError(
            f"run folder {path} has no checkpoint yet: it stopped before its first one (every "
            "ckpt.every steps); start it again with the command that started it"
        )
    return found


def newest_readable(folder: Path) -> tuple[Path, dict] | None:
    """The run's newest readable checkpoint: last.pt, unless a periodic one is newer (last.pt's write failed
    after it, e.g. on a full disk); a corrupt file is skipped with a warning."""

    def readable(path: Path) -> dict | None:
        try:
            return checkpoint.load(path)
        except UsageError as exc:
            log.warning("resume=auto skips %s: %s", path.name, exc)
            return None

    last = folder / "last.pt"
    last_state = readable(last) if last.is_file() else None
    for path in reversed(checkpoint.periodic_checkpoints(folder)):
        if last_state is not None and checkpoint.periodic_step(path) <= last_state["step"]:
            break
        if (state := readable(path)) is not None:
            return path, state
    return (last, last_state) if last_state is not None else None
