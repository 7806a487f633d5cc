"""Checkpoint files: written atomically (last.pt, step_NNNNNNN.pt, best.pt, the newest kept), loaded with
weights_only=True and brought to today's format (runstate/migrate.py); runstate/state.py decides what they hold."""

import re
from pathlib import Path

import torch

from ganrun.base.disk import save_atomic
from ganrun.base.errors import UsageError
from ganrun.runstate.migrate import migrate
from ganrun.runstate.storage import write_failure

PERIODIC = re.compile(r"step_(\d{7,})\.pt$")
ZIP_MAGIC = b"PK\x03\x04"  # how every file torch.save writes begins


def load(path, map_location="cpu") -> dict:
    """Load a checkpoint with weights_only=True, in today's format; a missing, foreign or damaged file is a one-line
    UsageError that says which."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"checkpoint {path} does not exist; give the path of a .pt file under <run_dir>/checkpoints/")
    with open(path, "rb") as f:
        zipped = f.read(4) == ZIP_MAGIC
    if not zipped:  # torch.save writes a zip archive: anything else was never a checkpoint
        raise UsageError(
            f"{path} is not a ganrun checkpoint: torch.save writes a zip archive and this file is not one; give a .pt "
            "file under <run_dir>/checkpoints/, a run folder or an exported folder"
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise UsageError(
            f"checkpoint {path} is unreadable (truncated or not a ganrun checkpoint): {reason(exc)}"
        ) from None
    if not isinstance(state, dict) or "generator" not in state or "config" not in state:
        raise UsageError(f"checkpoint {path} is not a ganrun checkpoint (no generator weights or config in it)")
    return migrate(state)


def reason(exc: Exception) -> str:
    """torch.load's own words, without its request to file an issue: what the unpickler refused, or its first line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    lines = [line for line in lines if not line.startswith("Please file an issue")] or lines
    return next((line for line in lines if "Unsupported global" in line or "WeightsUnpickler" in line), lines[0])


def tensor_bytes(state) -> int:
    """The bytes of every tensor in a (nested) checkpoint dict: about the size of its file."""
    if torch.is_tensor(state):
        return state.numel() * state.element_size()
    if isinstance(state, dict):
        return sum(tensor_bytes(v) for v in state.values())
    if isinstance(state, (list, tuple)):
        return sum(tensor_bytes(v) for v in state)
    return 0


class Checkpointer:
    """Writes `step_NNNNNNN.pt` every `every` steps and `last.pt` always; keeps the newest `keep` periodic ones.
    `last_good` is the newest (path, step) written whole; a write that fails is a one-line StorageError."""

    def __init__(
        self,
        folder: Path,
        every: int,
        keep: int | None = None,
        enabled: bool = True,
        last_good: tuple[Path, int] | None = None,
    ):
        self.folder, self.every, self.keep, self.enabled = Path(folder), every, keep, enabled
        self.last_good = last_good

    def save(self, state: dict, step: int, periodic: bool) -> None:
        if not self.enabled:
            return
        if periodic:
            self._write(state, self.folder / f"step_{step:07d}.pt", step)
            self._prune()
        self._write(state, self.folder / "last.pt", step)

    def save_best(self, state: dict) -> None:
        """`best.pt`: the state at the best evaluation so far (its "best" entry says the step and the value)."""
        if self.enabled:
            self._write(state, self.folder / "best.pt", state["step"], good=False)

    def _write(self, state: dict, path: Path, step: int, good: bool = True) -> None:
        try:
            save_atomic(state, path)
        except (OSError, RuntimeError) as exc:  # torch.save's writer reports a full disk as a RuntimeError
            raise write_failure("checkpoint", path, exc, needed=tensor_bytes(state), step=step) from None
        if good:
            self.last_good = (path, step)

    def _prune(self) -> None:
        if not self.keep:
            return
        for old in periodic_checkpoints(self.folder)[: -self.keep]:
            old.unlink(missing_ok=True)


def periodic_checkpoints(folder: Path) -> list[Path]:
    """The folder's step_*.pt files, oldest step first."""
    found = [(int(m.group(1)), p) for p in Path(folder).glob("step_*.pt") if (m := PERIODIC.search(p.name))]
    return [p for _, p in sorted(found)]


def periodic_step(path: Path) -> int:
    """The step in a step_NNNNNNN.pt file's name."""
    return int(PERIODIC.search(Path(path).name).group(1))
