"""Setting a run up, phase 1 of 3 (app/run.py: resolve → build → validate): what this run is. The config it
trains with (a resumed run's composed from its checkpoint's overrides, the classes of a conditional model filled
in, where its weights started recorded), the checkpoint it continues or starts from, its device and process, its
schedules, and the loop's settings. Nothing is built here."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from ganrun.app import schema, search
from ganrun.app.classes import fill_classes
from ganrun.app.resume import resolve_resume
from ganrun.base.errors import UsageError
from ganrun.base.schedules import Schedule, images_per_step, schedules_of
from ganrun.build import enum_value
from ganrun.runstate.origin import origin_of
from ganrun.sharing.init import init_state
from ganrun.training import distributed
from ganrun.training.devices import training_device
from ganrun.training.settings import Settings

log = logging.getLogger("ganrun")


@dataclass(frozen=True, kw_only=True)
class Plan:
    """What a run is, resolved before anything is built."""

    cfg: DictConfig  # the composed config, as the run trains with it
    config: dict  # the same as plain containers: what its checkpoints store
    overrides: list[str]  # the command line's overrides the run keeps (resume=PATH composes the config from them)
    device: torch.device
    rank: int
    world: int
    settings: Settings
    schedules: dict[str, Schedule]  # the keys that move along training
    objective: str | None  # what a search optimizes (search.objective)
    resumed: tuple[Path, dict] | None = None  # the checkpoint this run continues
    init: tuple[str, dict] | None = None  # where a new run takes its weights from (init=PATH), and that state
    origin: dict | None = None  # where its weights started: {"path", "step", "weights"} (init=PATH), or None
    classes: list[str] | None = None  # the names of the classes a conditional model trains on

    @property
    def start(self) -> int:
        return self.resumed[1]["step"] if self.resumed else 0

    @property
    def already_trained(self) -> bool:
        return self.resumed is not None and self.start >= self.cfg.train.steps


def resolve(cfg: DictConfig, run_dir: Path | None = None, overrides: list[str] | None = None) -> Plan:
    """The Plan of `cfg` (run in `run_dir`, from a command line with `overrides`; None for a run built in process)."""
    resumed = None
    if run_dir is not None:
        cfg, state, path = resolve_resume(cfg, run_dir)
        resumed = (path, state) if state is not None else None
    schema.check_ranges(cfg)
    if resumed is not None:
        keep_or_tell_schedules(cfg, resumed[1])
    rank, world = distributed.rank_and_world()
    device = training_device(cfg.device, cfg.train.batch_size, world, cfg.train.deterministic)
    init = load_init(cfg) if resumed is None else None
    origin = origin_of(*init) if init is not None else (resumed[1].get("init") if resumed else None)
    record_origin(cfg, origin)
    classes = fill_classes(cfg)
    overrides = list(overrides or [])
    if resumed is not None and cfg.resume != "auto":
        overrides = resumed[1].get("overrides", overrides)
    config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)  # plain types: weights_only
    return Plan(
        cfg=cfg,
        config=config,
        overrides=overrides,
        device=device,
        rank=rank,
        world=world,
        settings=settings_from(cfg, rank, world),
        schedules=schedules_of(config),
        objective=search.objective_name(cfg.search.objective, list(cfg.metrics.names), cfg.metrics.best),
        resumed=resumed,
        init=init,
        origin=origin,
        classes=classes,
    )


def settings_from(cfg: DictConfig, rank: int, world: int) -> Settings:
    """The loop's knobs from the config; each rank trains its share of the batch."""
    return Settings(
        steps=cfg.train.steps,
        batch_size=cfg.train.batch_size // world,
        n_critic=cfg.train.n_critic,
        log_every=cfg.log.every,
        images_every=cfg.log.images_every,
        ckpt_every=cfg.ckpt.every,
        metrics_every=cfg.metrics.every,
        nan_policy=enum_value(cfg.train.nan_policy),
        precision=enum_value(cfg.train.precision),
        channels_last=cfg.train.channels_last,
        progress=rank == 0,
        cuda_graphs=cfg.train.cuda_graphs,
        accumulate=cfg.train.accumulate,
    )


def load_init(cfg: DictConfig) -> tuple[str, dict] | None:
    """The weights `init.path` names (a checkpoint, a run folder, an export, hf://…, an R3GAN pickle: anything the
    tools take), loaded, or None without one."""
    if not cfg.init.path:
        return None
    try:
        found = init_state(str(cfg.init.path), cfg.init.strict, cfg.init.optimizers)
    except UsageError as exc:
        raise UsageError(f"init={cfg.init.path}: {exc}") from None
    if found is None:  # init=auto: the current folder's run, which has none
        raise UsageError(f"init={cfg.init.path} holds no checkpoint; give a checkpoint file or a trained run folder")
    return found


def record_origin(cfg: DictConfig, origin: dict | None) -> None:
    """The config's init.path, init.step and init.weights from where the run's weights started (None: from
    scratch), so that the config a checkpoint stores and the loggers' hyper-parameters say it."""
    if origin is not None:
        with open_dict(cfg):
            cfg.init.path, cfg.init.step, cfg.init.weights = origin["path"], origin["step"], origin["weights"]


def keep_or_tell_schedules(cfg: DictConfig, checkpoint: dict) -> None:
    """A resumed run whose schedules changed with its settings (a longer train.steps stretches those that follow
    it): resume_schedules=follow says so in one line, with each value at the resume step before and after;
    resume_schedules=keep puts back the schedules the run trained with."""
    saved = checkpoint.get("config") or {}
    config = OmegaConf.to_container(cfg, resolve=True)
    before, now = schedules_of(saved), schedules_of(config)
    changed = [key for key in before if key in now and before[key] != now[key]]
    if not changed:
        return
    step, per_step = checkpoint["step"], images_per_step(saved)
    keep = enum_value(cfg.resume_schedules) == "keep"
    if keep:
        for key in changed:
            OmegaConf.update(cfg, key, {**vars(before[key])}, force_add=True)
    now_per_step = images_per_step(config)
    values = ", ".join(
        f"{key} {before[key].at(step, per_step):.4g} at step {step}, now {now[key].at(step, now_per_step):.4g}"
        for key in changed
    )
    if keep:
        log.info("resume: kept the schedules the run trained with (resume_schedules=keep): %s", ", ".join(changed))
    else:
        log.warning(
            "resume: the schedules follow this run's settings and change at step %d: %s; resume_schedules=keep "
            "keeps the ones it trained with",
            step,
            values,
        )
