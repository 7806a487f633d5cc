"""One run, as `python -m ganrun` trains it: the config resolved (resume), the parts built, `fit` called, all inside
the run's session (runstate/session.py: lock, status.json, signals, how it ends)."""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from ganrun.app import schema, search
from ganrun.app.assemble import build_parts, make_evaluate
from ganrun.app.init import load_init, record_origin
from ganrun.app.resume import resolve_resume
from ganrun.base.streams import own_streams
from ganrun.build import logger_factories, name_of
from ganrun.runstate.loggers.many import Loggers
from ganrun.runstate.loggers.run import RunInfo, hparams_of
from ganrun.runstate.session import RunSession
from ganrun.runstate.state import capture, restore
from ganrun.training import distributed, graphs
from ganrun.training.devices import training_device
from ganrun.training.loop import Outcome, fit
from ganrun.training.settings import Settings

log = logging.getLogger("ganrun")

GROUPS = ("dataset", "model", "loss", "regularizer", "augment", "experiment")


def run_job(cfg: DictConfig) -> float | None:
    """The Hydra task: train the run (a job of a sweep, or the tasks of one submitit job as one DDP run) and return
    its final value of search.objective, which an Optuna sweep optimizes; None (a failed trial) when it has none."""
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    in_sweep = hydra_cfg.mode == RunMode.MULTIRUN
    with distributed.submitit_job_group():  # hydra.launcher.tasks_per_node / nodes > 1: one DDP run
        session = RunSession(run_dir, cfg.train.steps, rank=distributed.rank_and_world()[0], in_sweep=in_sweep)
        if not session.claim():
            return None
        with session:
            outcome = session.finish(train(cfg, run_dir, session))
    if session.failed or outcome.preempted:
        return None
    searching = in_sweep and search.is_optuna(hydra_cfg.sweeper)
    return search.objective_value(session.status.fields["objective"], outcome.values, searching)


def train(cfg: DictConfig, run_dir: Path, session: RunSession) -> Outcome:
    """Train one run as `cfg` says, from scratch or from the checkpoint `resume=` names."""
    cfg, state, resumed_from = resolve_resume(cfg, run_dir)
    schema.check_ranges(cfg)
    objective = search.objective_name(cfg.search.objective, list(cfg.metrics.names), cfg.metrics.best)
    if state is not None and state["step"] >= cfg.train.steps:
        return session.already_trained(state["step"], cfg.train.steps, objective)
    loggers = logger_factories(cfg.get("logger"))  # a logger whose package is missing: one line, before any compute
    rank, world = distributed.rank_and_world()
    device = training_device(cfg.device, cfg.train.batch_size, world, cfg.train.deterministic)
    if cfg.train.cuda_graphs:
        graphs.require_cuda(device)
    init = load_init(cfg) if state is None else None  # a new run from trained weights (a resumed one has them)
    parts = build_parts(cfg, device, init)
    start = 0 if state is None else restore(parts, state, rank=rank, seed=cfg.seed)
    record_origin(cfg, parts.origin)

    config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)  # plain types: weights_only
    overrides = [o for o in HydraConfig.get().overrides.task if not o.startswith("resume=")]
    if state is not None and cfg.resume != "auto":
        overrides = state.get("overrides", overrides)
    settings = settings_from(cfg, rank, world)
    if settings.cuda_graphs:
        graphs.refuse_unsupported(device, settings, parts, world)
    evaluate = make_evaluate(cfg, parts, config["dataset"], device) if rank == 0 else None
    log.info(
        "run folder %s on %s: %d images, %s",
        run_dir,
        device,
        parts.data.num_images,
        type(parts.objective.loss).__name__,
    )
    session.started(start, cfg.train.steps, objective, parts.origin)
    checkpointer = session.checkpoints(cfg.ckpt.every, cfg.ckpt.keep, (resumed_from, start) if state else None)
    info = RunInfo(
        run_dir,
        start,
        hparams_of(HydraConfig.get().runtime.choices, overrides, cfg, GROUPS),
        {k: v for k, v in config.items() if k != "logger"},  # what trains, not where it is logged
        sweep_dir_of(run_dir),
    )
    with own_streams():  # a tracker's client may draw random numbers as it starts, never from training's streams
        # Under torchrun only rank 0 logs; samples.png is the newest grid, for a look without TensorBoard.
        logger = Loggers.open(loggers if rank == 0 else {}, info, run_dir / "samples.png" if rank == 0 else None)
    try:
        outcome = fit(
            parts,
            settings,
            logger,
            checkpointer,
            lambda step: capture(parts, step, config, overrides),
            start,
            session.stop_check(cfg.log.every, world),
            evaluate,
            on_log=session.logged,
        )
    except BaseException:
        logger.close("failed")  # a failure to close must not hide the error that ended the run
        raise
    finally:
        parts.data.close()  # the stream tier's readers
    logger.close("preempted" if outcome.preempted else "completed", outcome.values)
    return outcome


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
        nan_policy=name_of(cfg.train.nan_policy),
        precision=name_of(cfg.train.precision),
        channels_last=cfg.train.channels_last,
        progress=rank == 0,
        best_metric=cfg.metrics.best,
        cuda_graphs=cfg.train.cuda_graphs,
        accumulate=cfg.train.accumulate,
    )


def sweep_dir_of(run_dir: Path) -> Path | None:
    """The sweep folder of a sweep's job (where its jobs share a tracker's group or parent run): Hydra's in a sweep,
    and the folder above a job folder resumed on its own (Hydra wrote multirun.yaml there)."""
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode == RunMode.MULTIRUN:
        return Path(hydra_cfg.sweep.dir).absolute()
    return run_dir.parent if (run_dir.parent / "multirun.yaml").is_file() else None
