"""The Hydra app: compose the config, build every part (all `instantiate` calls live here), call fit."""

import importlib.util
import logging
import os
import random
from functools import partial
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from torch.nn.parallel import DistributedDataParallel

from ganrun import checkpoint, config, distributed, metric_names, speed
from ganrun.checkpoint import Checkpointer
from ganrun.data import ImageBank
from ganrun.ema import EMA
from ganrun.errors import UsageError, exit_with
from ganrun.labelled import labelled_source
from ganrun.logger import TensorBoardLogger
from ganrun.loop import Outcome, Parts, Settings, fit, restore, snapshot
from ganrun.preemption import StopRequest
from ganrun.resume import resolve_resume
from ganrun.sample import generate
from ganrun.status import RunStatus

log = logging.getLogger("ganrun")

# Keys of the model config that configure ganrun itself rather than the model's build function.
MODEL_META_KEYS = ("allow_batchnorm_with_penalty",)


def _config_path() -> str:
    """pkg://ganrun.conf when installed (wheel or editable); the checkout's conf/ when run from a checkout."""
    if importlib.util.find_spec("ganrun.conf") is not None:
        return "pkg://ganrun.conf"
    return str(Path(__file__).resolve().parent.parent / "conf")


def instantiate(node, **kwargs):
    """hydra.utils.instantiate, re-raising a UsageError from the target as itself (one line, no wrapper)."""
    try:
        return hydra.utils.instantiate(node, **kwargs)
    except InstantiationException as exc:
        if isinstance(exc.__cause__, UsageError):
            raise exc.__cause__ from None
        raise


def build_gan(cfg) -> tuple[torch.nn.Module, torch.nn.Module, object]:
    """The generator, the critic and the regularizer, with the regularizer applied to both networks."""
    model_cfg = {k: v for k, v in OmegaConf.to_container(cfg.model, resolve=True).items() if k not in MODEL_META_KEYS}
    generator, critic = instantiate(model_cfg)
    regularizer = instantiate(cfg.regularizer)
    regularizer.apply(generator, critic)
    return generator, critic, regularizer


def refuse_batchnorm_with_penalty(cfg, critic, loss, regularizer) -> None:
    """Batch norm mixes samples, so the per-sample input gradient a penalty needs is wrong."""
    if cfg.model.get("allow_batchnorm_with_penalty", False) or not (loss.penalized or regularizer.penalized):
        return
    if any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in critic.modules()):
        raise UsageError("the critic has batch norm, which makes a gradient penalty wrong; use model.critic_norm=layer "
                         "(or none), or set model.allow_batchnorm_with_penalty=true to run it anyway")


def make_optimizer(params, opt_cfg, device: torch.device) -> torch.optim.Optimizer:
    """Adam (fused on CUDA) or RMSprop, from optim.generator / optim.critic."""
    name = config.name_of(opt_cfg.name)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=opt_cfg.lr)
    return torch.optim.Adam(params, lr=opt_cfg.lr, betas=tuple(opt_cfg.betas), fused=device.type == "cuda")


GROUPS = ("dataset", "model", "loss", "regularizer", "experiment")
HPARAM_METRICS = ["loss/critic", "loss/generator", "critic/wasserstein", "critic/penalty",
                  *(f"metrics/{name}" for name in metric_names.NAMES)]


def run_hparams(overrides: list[str]) -> dict:
    """HParams of a run: the group choices and every key set on the command line, as TensorBoard types."""
    params: dict = {g: v for g, v in HydraConfig.get().runtime.choices.items() if g in GROUPS and v is not None}
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if key.startswith("hydra") or key == "resume":
            continue
        try:
            params[key] = float(value) if "." in value or "e" in value.lower() else int(value)
        except ValueError:
            params[key] = {"true": True, "false": False}.get(value.lower(), value)
    return params


def build_parts(cfg: DictConfig, device: torch.device) -> Parts:
    """Everything the loop needs, built from the config (seeded, so two runs with one seed start equal).
    Under torchrun every rank builds the same networks, wraps them in DDP, and draws its own data and noise."""
    rank, world = distributed.rank_and_world()
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    generator, critic, regularizer = build_gan(cfg)
    generator, critic = generator.to(device), critic.to(device)
    loss = instantiate(cfg.loss)
    refuse_batchnorm_with_penalty(cfg, critic, loss, regularizer)
    parts = Parts(
        generator=generator,
        critic=critic,
        opt_g=make_optimizer(generator.parameters(), cfg.optim.generator, device),
        opt_d=make_optimizer(critic.parameters(), cfg.optim.critic, device),
        loss=loss,
        regularizer=regularizer,
        data=ImageBank(instantiate(cfg.dataset), device, cfg.seed + rank),
        fixed_noise=torch.randn(cfg.log.num_samples, generator.z_dim, device=device),
        ema=EMA(generator, cfg.train.ema, cfg.train.ema_rampup) if cfg.train.ema > 0 else None,
    )
    ddp = partial(DistributedDataParallel, device_ids=[device.index] if device.type == "cuda" else None,
                  gradient_as_bucket_view=True) if world > 1 else None
    if world > 1:
        torch.manual_seed(cfg.seed + rank)  # the same networks everywhere, each rank its own noise
    fast_generator, fast_critic = speed.prepare(generator, critic, config.name_of(cfg.train.precision),
                                                cfg.train.channels_last, cfg.train.compile, wrap=ddp)
    if cfg.train.compile or ddp is not None:
        parts.fast_generator, parts.fast_critic = fast_generator, fast_critic
    return parts


def make_evaluate(cfg: DictConfig, parts: Parts, dataset_cfg: dict, device: torch.device):
    """The loop's `evaluate()`: torch-fidelity metrics of the sampling generator, or None when metrics are off."""
    if not cfg.metrics.names:
        return None
    from ganrun.metrics import QualityMetrics, dataset_cache_key  # torch-fidelity takes seconds to import

    quality = QualityMetrics(list(cfg.metrics.names), cfg.metrics.num_samples, parts.data.images,
                             dataset_cache_key(dataset_cfg), cfg.metrics.inception_weights, device,
                             labelled=labelled_source(dataset_cfg))
    # The same seeded noise at every evaluation, so differences come from the generator alone.
    return lambda: quality.compute(lambda n: generate(parts.sampler, n, cfg.seed, device))


def set_deterministic(enabled: bool) -> None:
    """Deterministic kernels for bit-exact reruns (cuBLAS needs its workspace setting before first use)."""
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.benchmark = not enabled


def run(cfg: DictConfig, run_dir: Path, status: RunStatus, stop: StopRequest) -> Outcome:
    """Train one run as `cfg` says."""
    cfg, state = resolve_resume(cfg, run_dir)
    config.check_ranges(cfg)
    rank, world = distributed.rank_and_world()
    if cfg.train.batch_size % world:
        raise UsageError(f"train.batch_size={cfg.train.batch_size} does not split over {world} processes; "
                         f"use a multiple of {world}")
    device = distributed.device_for_rank(config.pick_device(cfg.device))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    set_deterministic(cfg.train.deterministic)
    parts = build_parts(cfg, device)
    start_step = 0
    if state is not None:
        # Rank 0 continues its RNG and data order exactly; other ranks draw fresh streams of their own.
        restore(parts, state, data=rank == 0)
        if rank == 0:
            checkpoint.set_rng_state(state["rng"])
        else:
            torch.manual_seed(cfg.seed + rank + state["step"])
        start_step = state["step"]

    stored_config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)  # plain types: weights_only
    overrides = [o for o in HydraConfig.get().overrides.task if not o.startswith("resume=")]
    if state is not None and cfg.resume != "auto":
        overrides = state.get("overrides", overrides)

    def save_state(step: int) -> dict:
        return {**snapshot(parts, step, stored_config, checkpoint.rng_state()), "overrides": overrides}

    settings = Settings(cfg.train.steps, cfg.train.batch_size // world, cfg.train.n_critic, cfg.log.every,
                        cfg.log.images_every, cfg.ckpt.every, config.name_of(cfg.train.nan_policy),
                        cfg.metrics.every, config.name_of(cfg.train.precision),
                        cfg.train.channels_last, progress=rank == 0, best_metric=cfg.metrics.best)
    evaluate = make_evaluate(cfg, parts, stored_config["dataset"], device) if rank == 0 else None
    if world == 1:
        should_stop = lambda step: stop.requested  # noqa: E731
    else:  # every rank must stop at the same step: agree at log boundaries (signals reach all ranks at once)
        should_stop = lambda step: step % cfg.log.every == 0 and distributed.agree(stop.requested)  # noqa: E731
    log.info("run folder %s on %s: %d images, %s", run_dir, device, parts.data.num_images, type(parts.loss).__name__)
    status.update(step=start_step, steps=cfg.train.steps)
    logger = TensorBoardLogger(str(run_dir), resumed_step=start_step, enabled=rank == 0)
    logger.hparams(run_hparams(overrides), HPARAM_METRICS)
    try:
        checkpointer = Checkpointer(run_dir / "checkpoints", cfg.ckpt.every, cfg.ckpt.keep, enabled=rank == 0)
        outcome = fit(parts, settings, logger, checkpointer, save_state, start_step, should_stop, evaluate)
        if not outcome.preempted:
            logger.hparams_done()
    finally:
        logger.close()
    status.update(status="preempted" if outcome.preempted else "completed", step=outcome.step, final=outcome.values)
    return outcome


config.register()
config.register_resolvers()


@hydra.main(version_base="1.3", config_path=_config_path(), config_name="train")
def main(cfg: DictConfig) -> None:
    """Entry point of `python -m ganrun` and the `ganrun` console script."""
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
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
            log.error("job %s failed: %s", run_dir.name, status.fields["error"], exc_info=not isinstance(exc, UsageError))
            return
        if not isinstance(exc, UsageError):
            raise
        exit_with(exc)
    under_submitit = bool(os.environ.get("SUBMITIT_EXECUTOR"))
    if outcome.preempted and under_submitit:
        stop.hand_over()  # submitit's own handler requeues the job, which resumes from checkpoints/last.pt
    stop.uninstall()
    if outcome.preempted and not under_submitit and hydra_cfg.mode == RunMode.MULTIRUN:
        raise KeyboardInterrupt  # a signal stops a local sweep too, after this job's checkpoint
