"""Where a run starts from: `resume=PATH|auto`, the checkpoint it means, and the config to continue with."""

import logging
import os
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from ganrun.base.errors import UsageError
from ganrun.runstate import checkpoint
from ganrun.runstate.overrides import split_override

log = logging.getLogger("ganrun")


def quote_resume_path(argv: list[str]) -> list[str]:
    """argv with a `resume=PATH` whose path holds a `=` (a sweep job's folder, 3_lambda_gp=10) quoted for Hydra's
    override grammar, so that the path works as typed."""
    quoted = []
    for arg in argv:
        key, value = split_override(arg)
        if key == "resume" and value and "=" in value and not set("'\"\\") & set(value):
            arg = f"{arg[: len(arg) - len(value)]}'{value}'"
        quoted.append(arg)
    return quoted


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


def recompose_for_resume(state: dict) -> DictConfig:
    """The resumed run's config: the checkpoint's overrides, then this command's (later ones win)."""
    merged: dict[str, str] = {}
    for override in [*state.get("overrides", []), *HydraConfig.get().overrides.task]:
        key, _ = split_override(override)
        if key != "resume":
            merged[key] = override
    return hydra.compose(config_name="train", overrides=list(merged.values()))


def resolve_resume(cfg: DictConfig, run_dir: Path) -> tuple[DictConfig, dict | None, Path | None]:
    """The config, checkpoint state and checkpoint file a run starts from (state and file None: from scratch)."""
    if cfg.resume is None and os.environ.get("SUBMITIT_EXECUTOR"):
        cfg.resume = "auto"  # a requeued cluster job runs again in its own folder: continue from its checkpoints
    if not cfg.resume:
        if checkpoint.periodic_checkpoints(run_dir / "checkpoints") or (run_dir / "checkpoints" / "last.pt").exists():
            raise UsageError(
                f"{run_dir} already holds checkpoints; pass resume=auto to continue that run, "
                "or choose another hydra.run.dir"
            )
        return cfg, None, None
    found = load_resume_state(cfg.resume, run_dir)
    if found is None:
        log.info("resume=auto: no checkpoint in %s yet, starting from step 0", run_dir / "checkpoints")
        return cfg, None, None
    path, state = found
    log.info("resuming %s at step %d", path, state["step"])
    return (cfg if cfg.resume == "auto" else recompose_for_resume(state)), state, path
