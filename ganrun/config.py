"""The typed schema of the top-level keys, range checks, and the resolvers the Hydra config uses."""

from dataclasses import dataclass, field
import re
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import torch
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from ganrun.errors import UsageError


class OptimizerName(str, Enum):
    adam = "adam"
    rmsprop = "rmsprop"


class Precision(str, Enum):
    fp32 = "fp32"
    bf16 = "bf16"


class NanPolicy(str, Enum):
    stop = "stop"
    skip = "skip"


@dataclass
class OptimizerConfig:
    name: OptimizerName = OptimizerName.adam
    lr: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])  # Adam only


@dataclass
class OptimConfig:
    generator: OptimizerConfig = field(default_factory=OptimizerConfig)
    critic: OptimizerConfig = field(default_factory=OptimizerConfig)


@dataclass
class TrainConfig:
    steps: int = 10000  # generator updates
    batch_size: int = 64
    n_critic: int = 1  # critic updates per generator update
    nan_policy: NanPolicy = NanPolicy.stop  # a non-finite loss stops the run, or (skip) drops that update
    deterministic: bool = False  # torch.use_deterministic_algorithms: bit-exact reruns, some ops slower
    ema: float = 0.999  # decay of the generator's moving average; 0 turns it off
    ema_rampup: Optional[float] = 0.01  # warm-up: the average's half-life is at most ema_rampup·step; 0/null: none
    precision: Precision = Precision.fp32  # bf16: autocast forward passes; penalties and reductions stay fp32
    channels_last: bool = False
    compile: bool = False  # torch.compile G and the critic's plain forward (the penalty path stays eager)


@dataclass
class LogConfig:
    every: int = 50  # generator steps between scalar logs
    images_every: int = 500
    num_samples: int = 64  # images in the fixed-noise grid


@dataclass
class CkptConfig:
    every: int = 1000  # generator steps between step_NNNNNNN.pt checkpoints
    keep: Optional[int] = 5  # newest periodic checkpoints kept; null keeps all


@dataclass
class MetricsConfig:
    every: int = 0  # generator steps between evaluations; 0 = only at the end
    num_samples: int = 10000  # generated images per evaluation (real ones: as many, at most the data set)
    # Inception: fid, kid, isc; a classifier trained on the data set (offline): classifier_fd, classifier_kid,
    # classifier_precision, classifier_recall. [] turns metrics off.
    names: list[str] = field(default_factory=lambda: ["fid", "classifier_fd"])
    best: Optional[str] = None  # the metric best.pt follows; null: the first of fid, classifier_fd, kid, … logged
    inception_weights: Optional[str] = None  # a local copy of torch-fidelity's Inception weights (offline)


@dataclass
class RunConfig:
    seed: int = 0
    device: str = "auto"
    resume: Optional[str] = None
    train: TrainConfig = field(default_factory=TrainConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    log: LogConfig = field(default_factory=LogConfig)
    ckpt: CkptConfig = field(default_factory=CkptConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    dataset: Any = None
    model: Any = None
    loss: Any = None
    regularizer: Any = None


def register() -> None:
    """Make the schema available to conf/train.yaml's defaults list as `schema`."""
    ConfigStore.instance().store(name="schema", node=RunConfig)


def name_of(value) -> str:
    """The plain string of an enum-typed key (Hydra gives Enum members for typed keys)."""
    return str(getattr(value, "value", value))


def check_ranges(cfg) -> None:
    """One-line UsageError for a value of the right type but out of its range."""
    rules = [
        ("train.steps", cfg.train.steps >= 1, ">= 1"),
        ("train.batch_size", cfg.train.batch_size >= 1, ">= 1"),
        ("train.n_critic", cfg.train.n_critic >= 1, ">= 1"),
        ("log.every", cfg.log.every >= 1, ">= 1"),
        ("log.images_every", cfg.log.images_every >= 1, ">= 1"),
        ("log.num_samples", cfg.log.num_samples >= 1, ">= 1"),
        ("ckpt.every", cfg.ckpt.every >= 1, ">= 1"),
        ("ckpt.keep", cfg.ckpt.keep is None or cfg.ckpt.keep >= 1, ">= 1 or null"),
        ("train.ema", 0 <= cfg.train.ema < 1, "in [0, 1) (0 turns it off)"),
        ("train.ema_rampup", cfg.train.ema_rampup is None or cfg.train.ema_rampup >= 0, ">= 0 (0 or null: no warm-up)"),
        ("metrics.every", cfg.metrics.every >= 0, ">= 0 (0: only at the end)"),
        ("metrics.num_samples", cfg.metrics.num_samples >= 2, ">= 2"),
        ("optim.generator.lr", cfg.optim.generator.lr > 0, "> 0"),
        ("optim.critic.lr", cfg.optim.critic.lr > 0, "> 0"),
    ]
    names = [str(n) for n in cfg.metrics.names]
    if cfg.metrics.best is not None and cfg.metrics.best not in names:
        raise UsageError(f"metrics.best={cfg.metrics.best} is not one of metrics.names ({', '.join(names) or 'none'}); "
                         "name a metric that is computed, or leave it null")
    for key, ok, allowed in rules:
        if not ok:
            raise UsageError(f"{key}={OmegaConf.select(cfg, key)} is out of range: it must be {allowed}")


def pick_device(name: str) -> torch.device:
    """auto → the first CUDA GPU if there is one, else the CPU; cuda/cuda:N must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"device={name} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UsageError(f"device={name} but no CUDA GPU is visible here; use device=auto or device=cpu")
        if (device.index or 0) >= count:
            raise UsageError(f"device={name} but only {count} CUDA GPU(s) are visible (cuda:0..cuda:{count - 1})")
    elif device.type != "cpu":
        raise UsageError(f"device={name} is not supported; use auto, cpu, cuda or cuda:N")
    return device


def run_dir_of(checkpoint_or_run: str) -> Optional[Path]:
    """The run folder a `resume=` path belongs to: <run>/checkpoints/x.pt → <run>; a run folder → itself."""
    path = Path(checkpoint_or_run)
    if path.is_dir():
        return path
    if path.suffix == ".pt" and path.parent.name == "checkpoints":
        return path.parent.parent
    return None


def _resume_run_dir(resume: Optional[str], default: str) -> str:
    """hydra.run.dir: a resumed run continues in its own folder, so its TensorBoard curves go on there."""
    if resume and resume != "auto" and (found := run_dir_of(resume)) is not None:
        return str(found)
    return default


def _resume_output_subdir(resume: Optional[str]) -> str:
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
        key, _, value = str(override).lstrip("+~").partition("=")
        if key in keys:
            parts.append(f"{key.rsplit('.', 1)[-1]}={value}")
    name = re.sub(r"[^\w.=,+\-\[\]]", "-", ",".join(parts))[:limit]
    return f"{num}_{name}" if name else str(num)


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("ganrun_run_dir", _resume_run_dir, replace=True)
    OmegaConf.register_new_resolver("ganrun_job_name", _job_name, replace=True)
    OmegaConf.register_new_resolver("ganrun_output_subdir", _resume_output_subdir, replace=True, use_cache=True)
