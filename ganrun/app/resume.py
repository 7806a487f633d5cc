"""The config a resumed run continues with: the checkpoint's overrides and this command's, and `resume=` paths
as typed (runstate/resume.py finds the checkpoint)."""

import logging
import os
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from ganrun.base.errors import UsageError
from ganrun.runstate import checkpoint
from ganrun.runstate.overrides import split_override
from ganrun.runstate.resume import load_resume_state

log = logging.getLogger("ganrun")


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
