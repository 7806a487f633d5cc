"""The resolvers conf/train.yaml uses: the run folder of a resumed run, and sweep job folders named by their values."""

import re
from datetime import datetime
from pathlib import Path

from omegaconf import OmegaConf

from ganrun.runstate.overrides import short_value, split_override


def run_dir_of(checkpoint_or_run: str) -> Path | None:
    """The run folder a `resume=` path belongs to: <run>/checkpoints/x.pt → <run>; a run folder → itself."""
    path = Path(checkpoint_or_run)
    if path.is_dir():
        return path
    if path.suffix == ".pt" and path.parent.name == "checkpoints":
        return path.parent.parent
    return None


def _resume_run_dir(resume: str | None, default: str) -> str:
    """hydra.run.dir: a resumed run continues in its own folder, so its TensorBoard curves go on there."""
    if resume and resume != "auto" and (found := run_dir_of(resume)) is not None:
        return str(found)
    return default


def _resume_output_subdir(resume: str | None) -> str:
    """hydra.output_subdir: a resumed run keeps the original .hydra record and adds its own beside it."""
    if resume and resume != "auto" and run_dir_of(resume) is not None:
        return f".hydra/resume-{datetime.now():%Y-%m-%d_%H-%M-%S}"
    return ".hydra"


def swept_keys(sweep_dir: str) -> set[str]:
    """Keys a sweep varies: its sweep overrides (a,b / range / choice) and hydra.sweeper.params, from multirun.yaml."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    path = Path(sweep_dir) / "multirun.yaml"
    if not path.is_file():
        return set()
    recorded = OmegaConf.load(path).hydra
    overrides = OverridesParser.create().parse_overrides(list(recorded.overrides.task))
    params = recorded.sweeper.get("params") or {}
    return {o.key_or_group for o in overrides if o.is_sweep_override()} | set(params)


def _job_name(num: int, sweep_dir: str, overrides, limit: int = 60) -> str:
    """A sweep job's folder name: its number and the values of the swept keys, e.g. `3_lambda_gp=10`."""
    keys = swept_keys(sweep_dir)
    parts = []
    for override in overrides:
        key, value = split_override(override)
        if key in keys:
            parts.append(f"{key.rsplit('.', 1)[-1]}={short_value(value)}")
    name = re.sub(r"[^\w.=,+\-\[\]]", "-", ",".join(parts))[:limit]
    return f"{num}_{name}" if name else str(num)


def _direction(objective, metric_names, best) -> str:
    """hydra.sweeper.direction of ganrun's Optuna sweeper, from search.objective (see app/search.py)."""
    from ganrun.app.search import direction

    return direction(objective, metric_names, best)


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("ganrun_run_dir", _resume_run_dir, replace=True)
    OmegaConf.register_new_resolver("ganrun_job_name", _job_name, replace=True)
    OmegaConf.register_new_resolver("ganrun_direction", _direction, replace=True)
    OmegaConf.register_new_resolver("ganrun_output_subdir", _resume_output_subdir, replace=True, use_cache=True)
