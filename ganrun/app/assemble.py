"""Setting a run up, phase 2 of 3 (app/run.py: resolve → build → validate): every part through Hydra (ganrun/build.py
holds each instantiate), seeded so that two runs with one seed start equal; and, once app/validate.py has found
nothing to refuse, the parts started: the data opened (the slowest part, packed on first use), the weights taken
from init=PATH or the resumed checkpoint, the networks wrapped for speed or DDP."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field, replace
from functools import partial

import torch
from torch.nn.parallel import DistributedDataParallel

from ganrun.app.resolve import Plan
from ganrun.base.schedules import images_per_step
from ganrun.base.schedules import parse as parse_value
from ganrun.build import (
    build_augment,
    build_dataset,
    build_gan,
    build_loss,
    build_optimizer,
    enum_value,
    logger_factories,
)
from ganrun.data.open import open_source
from ganrun.objectives.objective import Objective
from ganrun.runstate.origin import start_from
from ganrun.runstate.state import RunState
from ganrun.training import speed
from ganrun.training.best import BestScore
from ganrun.training.ema import EMA
from ganrun.training.freeze import freeze_critic_blocks
from ganrun.training.parts import Parts
from ganrun.training.schedules import Schedules, setters

log = logging.getLogger("ganrun")


@dataclass(frozen=True, kw_only=True)
class Built:
    """A run's parts before its data are opened and its weights loaded."""

    generator: torch.nn.Module
    critic: torch.nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    objective: Objective
    fixed_noise: torch.Tensor
    ema: EMA | None
    schedules: Schedules
    loggers: dict  # each chosen logger's class with its options, to be opened with the run's RunInfo
    best: BestScore = field(default_factory=BestScore)


def build(plan: Plan) -> Built:
    """Every part of the run `plan` describes, on its device."""
    cfg, config, device = plan.cfg, plan.config, plan.device
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    generator, critic, regularizer = build_gan(cfg)
    generator, critic = generator.to(device), critic.to(device)
    objective = Objective(build_loss(cfg), regularizer, build_augment(cfg).to(device))
    opt_g = build_optimizer(generator.parameters(), cfg.optim.generator, device)
    opt_d = build_optimizer(critic.parameters(), cfg.optim.critic, device)
    return Built(
        generator=generator,
        critic=critic,
        opt_g=opt_g,
        opt_d=opt_d,
        objective=objective,
        fixed_noise=torch.randn(cfg.log.num_samples, generator.z_dim, device=device),
        ema=make_ema(generator, config),
        schedules=Schedules(plan.schedules, images_per_step(config), setters(opt_g, opt_d, objective)),
        loggers=logger_factories(cfg.get("logger")),  # a logger whose package is missing: one line, here
        best=BestScore(cfg.metrics.best),
    )


def make_ema(generator: torch.nn.Module, config: dict) -> EMA | None:
    """The generator's moving average: train.ema's decay with its ramp, or R3GAN's half-life in images
    (train.ema_halflife, a number or a schedule); None when train.ema is 0 and there is no half-life."""
    train = config["train"]
    halflife = parse_value(train.get("ema_halflife"), "train.ema_halflife")
    if train["ema"] <= 0 and halflife is None:
        return None
    return EMA(generator, train["ema"], train["ema_rampup"], halflife, images_per_step(config))


def start(plan: Plan, built: Built) -> tuple[Parts, RunState]:
    """The parts of a run that nothing refused: the data opened, the weights of init=PATH or the resumed checkpoint
    loaded, the networks wrapped; and the run's state, which checkpoints capture."""
    cfg, device = plan.cfg, plan.device
    generator = built.generator
    if frozen := freeze_critic_blocks(built.critic, cfg.train.freeze_critic):
        log.info("train.freeze_critic=%d: the critic's %s stay fixed", cfg.train.freeze_critic, ", ".join(frozen))
    data = open_source(
        partial(build_dataset, cfg.dataset),
        device=device,
        seed=cfg.seed,
        storage=enum_value(cfg.dataset.get("storage", "auto")),
        readers=cfg.dataset.get("readers", 2),
        limit=cfg.dataset.get("limit"),
        rank=plan.rank,
        world=plan.world,
        num_classes=getattr(generator, "num_classes", 0),
        xflip=bool(cfg.dataset.get("xflip", False)),
    )
    if data.labels is not None:  # a conditional generator samples its classes as often as the data hold them
        generator.class_prior.copy_(data.class_frequencies(generator.num_classes))
    fields = {k: getattr(built, k) for k in ("generator", "critic", "opt_g", "opt_d", "objective", "fixed_noise")}
    parts = Parts(**fields, data=data, ema=built.ema, schedules=built.schedules)
    if plan.init is not None:
        path, checkpoint = plan.init
        start_from(parts, checkpoint, str(path), cfg.init.optimizers)
        log.info(
            "init: the generator, the critic%s%s start from %s (step %d, weights %s)",
            " and the EMA" if parts.ema is not None else "",
            " and both optimizers' states" if cfg.init.optimizers else "",
            *(plan.origin[k] for k in ("path", "step", "weights")),
        )
    parts = with_speed(parts, plan)
    state = RunState.of(parts, built.best, about=lambda: about(plan, parts), rank=plan.rank, seed=cfg.seed)
    if plan.resumed is not None:
        state.restore(plan.resumed[1])
    return parts, state


def with_speed(parts: Parts, plan: Plan) -> Parts:
    """bf16, channels_last, torch.compile and DDP (every rank builds the same networks, wraps them in DDP, and
    draws its own noise) as train.* says."""
    cfg, device = plan.cfg, plan.device
    ddp = None
    if plan.world > 1:
        ddp = partial(
            DistributedDataParallel,
            device_ids=[device.index] if device.type == "cuda" else None,
            gradient_as_bucket_view=True,
        )
        torch.manual_seed(cfg.seed + plan.rank)  # the same networks everywhere, each rank its own noise
    fast_generator, fast_critic = speed.prepare(
        parts.generator, parts.critic, enum_value(cfg.train.precision), cfg.train.channels_last, cfg.train.compile, ddp
    )
    if cfg.train.compile or ddp is not None:
        return replace(parts, fast_generator=fast_generator, fast_critic=fast_critic)
    return parts


def about(plan: Plan, parts: Parts) -> dict:
    """What a checkpoint records beside the run's state: what each label means (grids, ganrun.sample --class NAME),
    where its weights started, the config and the overrides it ran with."""
    return {"classes": parts.data.class_names, "init": plan.origin, "config": plan.config, "overrides": plan.overrides}
