"""The Hydra app: compose the config, check it, build the run's parts, and call the training loop."""

import logging
import os
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from ganrun.app import resolvers, schema, search
from ganrun.app.parts import build_parts, make_evaluate
from ganrun.app.resume import resolve_resume
from ganrun.base.errors import UsageError, exit_with
from ganrun.base.streams import own_streams
from ganrun.build import logger_factories, name_of
from ganrun.runstate import checkpoint
from ganrun.runstate.checkpoint import Checkpointer
from ganrun.runstate.lock import RunFolderInUse, RunLock
from ganrun.runstate.loggers.many import Loggers
from ganrun.runstate.loggers.run import RunInfo
from ganrun.runstate.overrides import split_override
from ganrun.runstate.preemption import StopRequest
from ganrun.runstate.status import RunStatus
from ganrun.runstate.storage import StorageError
from ganrun.training import distributed, graphs
from ganrun.training.devices import pick_device
from ganrun.training.loop import Outcome, fit
from ganrun.training.parts import restore, snapshot
from ganrun.training.settings import Settings

log = logging.getLogger("ganrun")


def _config_path() -> str:
    """The conf/ beside this package in a checkout (editable install, or another checkout on PYTHONPATH: the
    package and its config always from one tree); pkg://ganrun.conf in an installed wheel."""
    checkout = Path(__file__).resolve().parent.parent.parent
    if (checkout / "conf" / "train.yaml").is_file() and (checkout / "ganrun" / "app").is_dir():
        return str(checkout / "conf")
    return "pkg://ganrun.conf"


GROUPS = ("dataset", "model", "loss", "regularizer", "augment", "experiment")


def run_hparams(overrides: list[str]) -> dict:
    """HParams of a run: the group choices and every key set on the command line, as TensorBoard types."""
    params: dict = {g: v for g, v in HydraConfig.get().runtime.choices.items() if g in GROUPS and v is not None}
    for override in overrides:
        key, value = split_override(override)
        value = value or ""
        if key.startswith("hydra") or key == "resume" or key.split(".")[0] == "logger":  # where it logs, not what
            continue
        try:
            params[key] = float(value) if "." in value or "e" in value.lower() else int(value)
        except ValueError:
            params[key] = {"true": True, "false": False}.get(value.lower(), value)
    return params


def set_deterministic(enabled: bool) -> None:
    """Deterministic kernels for bit-exact reruns (cuBLAS needs its workspace setting before first use)."""
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.benchmark = not enabled


def run(cfg: DictConfig, run_dir: Path, status: RunStatus, stop: StopRequest) -> Outcome:
    """Train one run as `cfg` says."""
    cfg, state, resumed_from = resolve_resume(cfg, run_dir)
    schema.check_ranges(cfg)
    if state is not None and state["step"] >= cfg.train.steps:
        return already_trained(cfg, run_dir, status, state["step"])
    loggers = logger_factories(cfg.get("logger"))  # a logger whose package is missing: one line, before any compute
    rank, world = distributed.rank_and_world()
    device = training_device(cfg, world)
    parts = build_parts(cfg, device)
    start_step = 0 if state is None else continue_from(parts, state, cfg.seed, rank)

    stored_config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)  # plain types: weights_only
    overrides = [o for o in HydraConfig.get().overrides.task if not o.startswith("resume=")]
    if state is not None and cfg.resume != "auto":
        overrides = state.get("overrides", overrides)

    def save_state(step: int) -> dict:
        return {**snapshot(parts, step, stored_config, checkpoint.rng_state()), "overrides": overrides}

    settings = settings_for(cfg, rank, world)
    if settings.cuda_graphs:
        graphs.refuse_unsupported(device, settings, parts, world)
    evaluate = make_evaluate(cfg, parts, stored_config["dataset"], device) if rank == 0 else None
    if world == 1:
        should_stop = lambda step: stop.requested  # noqa: E731
    else:  # every rank must stop at the same step: agree at log boundaries (signals reach all ranks at once)
        should_stop = lambda step: step % cfg.log.every == 0 and distributed.agree(stop.requested)  # noqa: E731
    log.info("run folder %s on %s: %d images, %s", run_dir, device, parts.data.num_images, type(parts.loss).__name__)
    status.update(
        step=start_step,
        steps=cfg.train.steps,
        objective=search.objective_name(cfg.search.objective, list(cfg.metrics.names), cfg.metrics.best),
    )
    checkpointer = Checkpointer(
        run_dir / "checkpoints",
        cfg.ckpt.every,
        cfg.ckpt.keep,
        enabled=rank == 0,
        last_good=(resumed_from, start_step) if state is not None else None,
    )
    trained = {k: v for k, v in stored_config.items() if k != "logger"}
    info = RunInfo(run_dir, start_step, run_hparams(overrides), trained, sweep_dir_of(run_dir))
    try:
        outcome = fit_and_log(
            parts, settings, info, loggers if rank == 0 else {}, status, checkpointer, save_state, should_stop, evaluate
        )  # under torchrun only rank 0 logs
    except StorageError as exc:
        raise with_last_checkpoint(exc, checkpointer, status, run_dir) from None
    finally:
        parts.data.close()  # the stream tier's readers
    status.update(status="preempted" if outcome.preempted else "completed", step=outcome.step, final=outcome.values)
    return outcome


def training_device(cfg: DictConfig, world: int) -> torch.device:
    """This process's device, checked against what the run asks of it before any data are loaded."""
    if cfg.train.batch_size % world:
        raise UsageError(
            f"train.batch_size={cfg.train.batch_size} does not split over {world} processes; use a multiple of {world}"
        )
    device = distributed.device_for_rank(pick_device(cfg.device))
    if cfg.train.cuda_graphs:
        graphs.require_cuda(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    set_deterministic(cfg.train.deterministic)
    return device


def continue_from(parts, state: dict, seed: int, rank: int) -> int:
    """Load a checkpoint into the run's parts; the step it continues from. The data order continues exactly on
    every rank and rank 0's RNG too; other ranks draw fresh noise streams of their own."""
    restore(parts, state)  # every rank: the data order is one global order, each rank its share
    if rank == 0:
        checkpoint.set_rng_state(state["rng"])
    else:
        torch.manual_seed(seed + rank + state["step"])
    return state["step"]


def settings_for(cfg: DictConfig, rank: int, world: int) -> Settings:
    return Settings(
        cfg.train.steps,
        cfg.train.batch_size // world,
        cfg.train.n_critic,
        cfg.log.every,
        cfg.log.images_every,
        cfg.ckpt.every,
        name_of(cfg.train.nan_policy),
        cfg.metrics.every,
        name_of(cfg.train.precision),
        cfg.train.channels_last,
        progress=rank == 0,
        best_metric=cfg.metrics.best,
        cuda_graphs=cfg.train.cuda_graphs,
    )


def fit_and_log(
    parts,
    settings: Settings,
    run: RunInfo,
    loggers: dict,
    status: RunStatus,
    checkpointer: Checkpointer,
    save_state,
    should_stop,
    evaluate,
) -> Outcome:
    """`fit` with the run's loggers (`logger=`, made by `loggers`' factories and closed with how the run ended) and
    status.json following it."""
    with own_streams():  # a tracker's client may draw random numbers as it starts, never from training's streams
        logger = Loggers.open(loggers, run)
    try:
        outcome = fit(
            parts,
            settings,
            logger,
            checkpointer,
            save_state,
            run.resumed_step,
            should_stop,
            evaluate,
            on_log=lambda step, values: status.update(step=step),
        )
    except BaseException:
        logger.close("failed")  # a failure to close must not hide the error that ended the run
        raise
    logger.close("preempted" if outcome.preempted else "completed", outcome.values)
    return outcome


def sweep_dir_of(run_dir: Path) -> Path | None:
    """The sweep folder of a sweep's job (where its jobs share a tracker's group or parent run): Hydra's in a sweep,
    and the folder above a job folder resumed on its own (Hydra wrote multirun.yaml there)."""
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode == RunMode.MULTIRUN:
        return Path(hydra_cfg.sweep.dir).absolute()
    return run_dir.parent if (run_dir.parent / "multirun.yaml").is_file() else None


def with_last_checkpoint(
    exc: StorageError, checkpointer: Checkpointer, status: RunStatus, run_dir: Path
) -> StorageError:
    """The write failure's line, completed with the checkpoint the run can continue from (status.json too)."""
    if checkpointer.last_good is None:
        where = "no checkpoint was written yet; free space there (or make the folder writable) and start again"
    else:
        path, step = checkpointer.last_good
        status.fields["checkpoint_step"] = step
        where = (
            f"the last good checkpoint is {path} (step {step}); free space there (or make the folder "
            f"writable) and continue with resume={run_dir}"
        )
    return StorageError(f"{exc}; {where}", step=exc.step)


def already_trained(cfg: DictConfig, run_dir: Path, status: RunStatus, step: int) -> Outcome:
    """A run that is resumed (a requeued or repeated job) and has nothing left to train: one line, the folder as
    it was, and the final values it ended with."""
    log.info(
        "%s is already trained to step %d (train.steps=%d): nothing to do; pass train.steps=N with N > %d to train on",
        run_dir,
        step,
        cfg.train.steps,
        step,
    )
    final = status.already_completed(step)
    status.fields.setdefault(
        "objective", search.objective_name(cfg.search.objective, list(cfg.metrics.names), cfg.metrics.best)
    )
    return Outcome(step, final, preempted=False)


schema.register()
resolvers.register_resolvers()
search.register_sweeper_defaults()


@hydra.main(version_base="1.3", config_path=_config_path(), config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Entry point of `python -m ganrun` and the `ganrun` console script. Returns the run's final value of
    search.objective, which an Optuna sweep optimizes; None (a failed trial) when it has none."""
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    joined = distributed.join_submitit_tasks()  # hydra.launcher.tasks_per_node / nodes > 1: one DDP run
    if joined and distributed.rank_and_world()[0] != 0:
        quiet_log_files()
    try:
        return locked_run(cfg, hydra_cfg, run_dir)
    finally:
        if joined:
            distributed.teardown()


def quiet_log_files() -> None:
    """Ranks other than 0 of a submitit job write no ganrun.log of their own (torchrun's get no file handler)."""
    for handler in list(logging.getLogger().handlers):
        if isinstance(handler, logging.FileHandler):
            logging.getLogger().removeHandler(handler)
            handler.close()


def locked_run(cfg: DictConfig, hydra_cfg, run_dir: Path) -> float | None:
    """The run, holding its folder's lock (rank 0)."""
    lock = RunLock(run_dir, enabled=distributed.rank_and_world()[0] == 0)
    try:
        lock.acquire()
    except RunFolderInUse as exc:  # before this process writes anything: the folder stays the other one's
        if hydra_cfg.mode == RunMode.MULTIRUN:
            log.error("job %s: %s", run_dir.name, exc)
            return None
        exit_with(exc)
    try:
        return run_and_report(cfg, hydra_cfg, run_dir)
    finally:
        lock.release()


def run_and_report(cfg: DictConfig, hydra_cfg, run_dir: Path) -> float | None:
    """`run` with its status.json, its signals, and how a failure ends it: one line, or the next job of a sweep."""
    status = RunStatus(run_dir, cfg.train.steps, enabled=distributed.rank_and_world()[0] == 0)
    stop = StopRequest().install()
    try:
        outcome = run(cfg, run_dir, status, stop)
    except BaseException as exc:
        stop.uninstall()
        status.failed(exc)
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        if hydra_cfg.mode == RunMode.MULTIRUN and isinstance(exc, Exception):
            # One failed job must not cost the others: log it, let the sweep go on; its summary lists it.
            log.error(
                "job %s failed: %s", run_dir.name, status.fields["error"], exc_info=not isinstance(exc, UsageError)
            )
            return None  # to Optuna, a failed trial
        if not isinstance(exc, UsageError):
            raise
        exit_with(exc)
    under_submitit = bool(os.environ.get("SUBMITIT_EXECUTOR"))
    if outcome.preempted and under_submitit:
        stop.hand_over()  # submitit's own handler requeues the job, which resumes from checkpoints/last.pt
    stop.uninstall()
    if outcome.preempted and not under_submitit and hydra_cfg.mode == RunMode.MULTIRUN:
        raise KeyboardInterrupt  # a signal stops a local sweep too, after this job's checkpoint
    if outcome.preempted:
        return None
    searching = hydra_cfg.mode == RunMode.MULTIRUN and search.is_optuna(hydra_cfg.sweeper)
    return search.objective_value(status.fields["objective"], outcome.values, searching)
