"""One run, as `python -m ganrun` trains it, inside the run's session (runstate/session.py: lock, status.json,
signals, how it ends): set up in three phases (resolve, build, validate: docs/architecture.md), then `fit`."""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from ganrun.app import search
from ganrun.app.assemble import build, start
from ganrun.app.resolve import Plan, resolve
from ganrun.app.scoring import make_evaluate
from ganrun.app.validate import validate
from ganrun.base.streams import own_streams
from ganrun.runstate.loggers.many import Loggers
from ganrun.runstate.loggers.run import RunInfo, hparams_of
from ganrun.runstate.session import RunSession
from ganrun.training import distributed
from ganrun.training.loop import Hooks, Outcome, fit

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
    overrides = [o for o in HydraConfig.get().overrides.task if not o.startswith("resume=")]
    plan = resolve(cfg, run_dir, overrides)  # 1. what this run is: config, resume or init, device, schedules
    if plan.already_trained:
        return session.already_trained(plan.start, cfg.train.steps, plan.objective)
    built = build(plan)  # 2. every part through Hydra
    validate(plan, built)  # 3. every rule that spans parts, in order
    parts, state = start(plan, built)  # the data opened, the weights of init= or of the checkpoint resumed
    evaluate = make_evaluate(plan, parts, session.status.set_aside) if plan.rank == 0 else None
    loss = type(parts.objective.loss).__name__
    log.info("run folder %s on %s: %d images, %s", run_dir, plan.device, parts.data.num_images, loss)
    session.started(plan.start, cfg.train.steps, plan.objective, plan.origin)
    resumed = (plan.resumed[0], plan.start) if plan.resumed else None
    checkpointer = session.checkpoints(cfg.ckpt.every, cfg.ckpt.keep, resumed)
    logger = open_loggers(built.loggers, plan, run_dir)
    hooks = Hooks(
        logger=logger,
        checkpointer=checkpointer,
        capture=state.capture,
        best=state.states["best"],
        should_stop=session.stop_check(cfg.log.every, plan.world),
        evaluate=evaluate,
        on_log=session.logged,
    )
    try:
        outcome = fit(parts, plan.settings, hooks, plan.start)
    except BaseException:
        logger.close("failed")  # a failure to close must not hide the error that ended the run
        raise
    finally:
        parts.data.close()  # the stream tier's readers
    logger.close("preempted" if outcome.preempted else "completed", outcome.values)
    return outcome


def open_loggers(loggers: dict, plan: Plan, run_dir: Path) -> Loggers:
    """The chosen loggers, told the run's hyper-parameters (under torchrun only rank 0 logs); samples.png is the
    newest grid, for a look without TensorBoard."""
    trained = {k: v for k, v in plan.config.items() if k != "logger"}  # what trains, not where it is logged
    hparams = hparams_of(HydraConfig.get().runtime.choices, plan.overrides, plan.cfg, GROUPS)
    info = RunInfo(run_dir, plan.start, hparams, trained, sweep_dir_of(run_dir))
    with own_streams():  # a tracker's client may draw random numbers as it starts, never from training's streams
        return Loggers.open(
            loggers if plan.rank == 0 else {}, info, run_dir / "samples.png" if plan.rank == 0 else None
        )


def sweep_dir_of(run_dir: Path) -> Path | None:
    """The sweep folder of a sweep's job (where its jobs share a tracker's group or parent run): Hydra's in a sweep,
    and the folder above a job folder resumed on its own (Hydra wrote multirun.yaml there)."""
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode == RunMode.MULTIRUN:
        return Path(hydra_cfg.sweep.dir).absolute()
    return run_dir.parent if (run_dir.parent / "multirun.yaml").is_file() else None
