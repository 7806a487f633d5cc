"""Where a run starts from: `resume=PATH|auto`, the checkpoint it means, and the config to continue with."""

import logging
import os
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from ganrun.runstate import checkpoint
from ganrun.errors import UsageError
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
    """The checkpoint `resume=` means, loaded: a file, a run folder's last.pt, or (auto) this run's newest
    readable one; auto skips a corrupt file with a warning and takes the one before."""
    if resume != "auto":
        path = Path(resume)
        if path.is_dir() and (path / ".hydra").is_dir() and not (path / "checkpoints" / "last.pt").is_file():
            raise UsageError(f"run folder {path} has no checkpoint yet: it stopped before its first one (every "
                             "ckpt.every steps); start it again with the command that started it")
        path = path / "checkpoints" / "last.pt" if path.is_dir() else path
        return path, checkpoint.load(path)
    folder = run_dir / "checkpoints"
    for path in [folder / "last.pt", *reversed(checkpoint.periodic_checkpoints(folder))]:
        if path.is_file():
            try:
                return path, checkpoint.load(path)
            except UsageError as exc:
                log.warning("resume=auto skips %s: %s", path.name, exc)
    return None


def recompose_for_resume(state: dict) -> DictConfig:
    """The resumed run's config: the checkpoint's overrides, then this command's (later ones win)."""
    merged: dict[str, str] = {}
    for override in [*state.get("overrides", []), *HydraConfig.get().overrides.task]:
        key, _ = split_override(override)
        if key != "resume":
            merged[key] = override
    return hydra.compose(config_name="train", overrides=list(merged.values()))


def resolve_resume(cfg: DictConfig, run_dir: Path) -> tuple[DictConfig, dict | None]:
    """The config and checkpoint state a run starts from (state None: from scratch)."""
    if cfg.resume is None and os.environ.get("SUBMITIT_EXECUTOR"):
        cfg.resume = "auto"  # a requeued cluster job runs again in its own folder: continue from its checkpoints
    if not cfg.resume:
        if checkpoint.periodic_checkpoints(run_dir / "checkpoints") or (run_dir / "checkpoints" / "last.pt").exists():
            raise UsageError(f"{run_dir} already holds checkpoints; pass resume=auto to continue that run, "
                             "or choose another hydra.run.dir")
        return cfg, None
    found = load_resume_state(cfg.resume, run_dir)
    if found is None:
        log.info("resume=auto: no checkpoint in %s yet, starting from step 0", run_dir / "checkpoints")
        return cfg, None
    path, state = found
    log.info("resuming %s at step %d", path, state["step"])
    return (cfg if cfg.resume == "auto" else recompose_for_resume(state)), state
