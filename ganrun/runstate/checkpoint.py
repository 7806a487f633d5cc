"""Checkpoints: atomic writes, weights_only loading, and the RNG states a run needs to continue."""

import os
import random
import re
import tempfile
from pathlib import Path

import torch

from ganrun.errors import UsageError

PERIODIC = re.compile(r"step_(\d{7,})\.pt$")


def save_atomic(state: dict, path: Path) -> None:
    """Write to a temp file in the same folder, fsync it, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path, map_location="cpu") -> dict:
    """Load a checkpoint with weights_only=True; a missing or unreadable file is a one-line UsageError."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"checkpoint {path} does not exist; give the path of a .pt file under <run_dir>/checkpoints/")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
        first_line = next((line for line in lines if "WeightsUnpickler error" in line), lines[0])
        raise UsageError(f"checkpoint {path} is unreadable (truncated or not a ganrun checkpoint): {first_line}") from None
    if not isinstance(state, dict) or "generator" not in state or "config" not in state:
        raise UsageError(f"checkpoint {path} is not a ganrun checkpoint (no generator weights or config in it)")
    return state


def load_weights(module: torch.nn.Module, weights: dict, what: str) -> None:
    """load_state_dict with a one-line UsageError listing the keys that do not match."""
    own = module.state_dict()
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    reshaped = sorted(k for k in set(own) & set(weights) if own[k].shape != weights[k].shape)
    if missing or unexpected or reshaped:
        listed = "; ".join(f"{label}: {', '.join(keys[:4])}{' …' if len(keys) > 4 else ''}"
                           for label, keys in [("missing", missing), ("unexpected", unexpected),
                                               ("different shape", reshaped)] if keys)
        raise UsageError(f"the checkpoint's {what} does not match this model config ({listed}); "
                         "resume with the settings the checkpoint was trained with")
    module.load_state_dict(weights)


def rng_state() -> dict:
    """Every RNG a run draws from: torch CPU and CUDA, and Python's `random` (as plain containers)."""
    version, internal, gauss = random.getstate()
    state = {"torch": torch.get_rng_state(), "python": [version, list(internal), gauss]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Checkpointer:
    """Writes `step_NNNNNNN.pt` every `every` steps and `last.pt` always; keeps the newest `keep` periodic ones."""

    def __init__(self, folder: Path, every: int, keep: int | None = None, enabled: bool = True):
        self.folder, self.every, self.keep, self.enabled = Path(folder), every, keep, enabled

    def save(self, state: dict, step: int, periodic: bool) -> None:
        if not self.enabled:
            return
        if periodic:
            save_atomic(state, self.folder / f"step_{step:07d}.pt")
            self._prune()
        save_atomic(state, self.folder / "last.pt")

    def save_best(self, state: dict) -> None:
        """`best.pt`: the state at the best evaluation so far (its "best" entry says the step and the value)."""
        if self.enabled:
            save_atomic(state, self.folder / "best.pt")

    def _prune(self) -> None:
        if not self.keep:
            return
        for old in periodic_checkpoints(self.folder)[: -self.keep]:
            old.unlink(missing_ok=True)


def periodic_checkpoints(folder: Path) -> list[Path]:
    """The folder's step_*.pt files, oldest step first."""
    found = [(int(m.group(1)), p) for p in Path(folder).glob("step_*.pt") if (m := PERIODIC.search(p.name))]
    return [p for _, p in sorted(found)]
