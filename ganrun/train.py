"""The Hydra app: compose the config, build every part (all `instantiate` calls live here), call fit."""

import importlib.util
import logging
import os
import random
import sys
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from ganrun import checkpoint, config
from ganrun.checkpoint import Checkpointer
from ganrun.data import ImageBank
from ganrun.errors import UsageError
from ganrun.logger import TensorBoardLogger
from ganrun.loop import Parts, Settings, fit, restore, snapshot
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
    name = str(getattr(opt_cfg.name, "value", opt_cfg.name))
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=opt_cfg.lr)
    return torch.optim.Adam(params, lr=opt_cfg.lr, betas=tuple(opt_cfg.betas), fused=device.type == "cuda")


def find_resume_checkpoint(resume: str, run_dir: Path) -> Path | None:
    """The checkpoint `resume=` points at: a file, a run folder's last.pt, or for `auto` this run's own."""
    if resume == "auto":
        folder = run_dir / "checkpoints"
        candidates = [folder / "last.pt", *reversed(checkpoint.periodic_checkpoints(folder))]
        return next((p for p in candidates if p.is_file()), None)
    path = Path(resume)
    return path / "checkpoints" / "last.pt" if path.is_dir() else path


def recompose_for_resume(state: dict) -> DictConfig:
    """The resumed run's config: the checkpoint's overrides, then this command's (later ones win)."""
    merged: dict[str, str] = {}
    for override in [*state.get("overrides", []), *HydraConfig.get().overrides.task]:
        key = override.split("=", 1)[0].lstrip("+~")
        if key != "resume":
            merged[key] = override
    return hydra.compose(config_name="train", overrides=list(merged.values()))


GROUPS = ("dataset", "model", "loss", "regularizer", "experiment")
HPARAM_METRICS = ["loss/critic", "loss/generator", "critic/wasserstein", "critic/penalty",
                  "metrics/fid", "metrics/kid", "metrics/isc"]


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


def run(cfg: DictConfig, run_dir: Path, status: RunStatus) -> dict:
    """Train one run as `cfg` says; returns the final logged values."""
    state = None
    if cfg.resume is None and os.environ.get("SUBMITIT_EXECUTOR"):
        # A requeued cluster job runs again in its own folder: continue from its checkpoints if any.
        cfg.resume = "auto"
    if cfg.resume:
        path = find_resume_checkpoint(cfg.resume, run_dir)
        if path is None:
            log.info("resume=auto: no checkpoint in %s/checkpoints yet, starting from step 0", run_dir)
        else:
            state = checkpoint.load(path)
            if cfg.resume != "auto":
                cfg = recompose_for_resume(state)
            log.info("resuming %s at step %d", path, state["step"])
    config.check_ranges(cfg)
    device = config.pick_device(cfg.device)

    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    generator, critic, regularizer = build_gan(cfg)
    generator, critic = generator.to(device), critic.to(device)
    loss = instantiate(cfg.loss)
    refuse_batchnorm_with_penalty(cfg, critic, loss, regularizer)
    data = ImageBank(instantiate(cfg.dataset), device, cfg.seed)
    parts = Parts(
        generator=generator,
        critic=critic,
        opt_g=make_optimizer(generator.parameters(), cfg.optim.generator, device),
        opt_d=make_optimizer(critic.parameters(), cfg.optim.critic, device),
        loss=loss,
        regularizer=regularizer,
        data=data,
        fixed_noise=torch.randn(cfg.log.num_samples, generator.z_dim, device=device),
    )
    start_step = 0
    if state is not None:
        restore(parts, state)
        checkpoint.set_rng_state(state["rng"])
        start_step = state["step"]

    stored_config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)  # plain types: weights_only
    overrides = [o for o in HydraConfig.get().overrides.task if not o.startswith("resume=")]
    if state is not None and cfg.resume != "auto":
        overrides = state.get("overrides", overrides)

    def save_state(step: int) -> dict:
        return {**snapshot(parts, step, stored_config, checkpoint.rng_state()), "overrides": overrides}

    settings = Settings(cfg.train.steps, cfg.train.batch_size, cfg.train.n_critic,
                        cfg.log.every, cfg.log.images_every, cfg.ckpt.every)
    log.info("run folder %s on %s: %d images, %s", run_dir, device, data.num_images, type(loss).__name__)
    status.update(step=start_step, steps=cfg.train.steps)
    logger = TensorBoardLogger(str(run_dir), resumed_step=start_step)
    logger.hparams(run_hparams(overrides), HPARAM_METRICS)
    try:
        checkpointer = Checkpointer(run_dir / "checkpoints", cfg.ckpt.every, cfg.ckpt.keep)
        step, values = fit(parts, settings, logger, checkpointer, save_state, start_step)
        logger.hparams_done()
    finally:
        logger.close()
    status.update(status="completed", step=step, final=values)
    return values


config.register()
config.register_resolvers()


@hydra.main(version_base="1.3", config_path=_config_path(), config_name="train")
def main(cfg: DictConfig) -> None:
    """Entry point of `python -m ganrun` and the `ganrun` console script."""
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    status = RunStatus(run_dir, cfg.train.steps)
    try:
        run(cfg, run_dir, status)
    except BaseException as exc:
        status.failed(exc)
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        if hydra_cfg.mode == RunMode.MULTIRUN and isinstance(exc, Exception):
            # One failed job must not cost the others: log it, let the sweep go on; its summary lists it.
            log.error("job %s failed: %s", run_dir.name, status.fields["error"], exc_info=not isinstance(exc, UsageError))
            return
        if not isinstance(exc, UsageError):
            raise
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(2)
