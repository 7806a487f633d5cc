"""The run's parts built from its config: networks, optimizers, loss, data, EMA, speed options, DDP, metrics."""

import random
from functools import partial

import torch
from omegaconf import DictConfig
from torch.nn.parallel import DistributedDataParallel

from ganrun.build import build_dataset, build_gan, build_loss, make_optimizer, name_of
from ganrun.data import ImageBank
from ganrun.data.labelled import labelled_source
from ganrun.errors import UsageError
from ganrun.training import distributed, speed
from ganrun.training.ema import EMA
from ganrun.training.parts import Parts
from ganrun.training.sampling import generate


def refuse_batchnorm_with_penalty(cfg, critic, loss, regularizer) -> None:
    """Batch norm mixes samples, so the per-sample input gradient a penalty needs is wrong."""
    if cfg.model.get("allow_batchnorm_with_penalty", False) or not (loss.penalized or regularizer.penalized):
        return
    if any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in critic.modules()):
        raise UsageError("the critic has batch norm, which makes a gradient penalty wrong; use model.critic_norm=layer "
                         "(or none), or set model.allow_batchnorm_with_penalty=true to run it anyway")


def build_parts(cfg: DictConfig, device: torch.device) -> Parts:
    """Everything the loop needs, built from the config (seeded, so two runs with one seed start equal).
    Under torchrun every rank builds the same networks, wraps them in DDP, and draws its own data and noise."""
    rank, world = distributed.rank_and_world()
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    generator, critic, regularizer = build_gan(cfg)
    generator, critic = generator.to(device), critic.to(device)
    loss = build_loss(cfg)
    refuse_batchnorm_with_penalty(cfg, critic, loss, regularizer)
    parts = Parts(
        generator=generator,
        critic=critic,
        opt_g=make_optimizer(generator.parameters(), cfg.optim.generator, device),
        opt_d=make_optimizer(critic.parameters(), cfg.optim.critic, device),
        loss=loss,
        regularizer=regularizer,
        data=ImageBank(build_dataset(cfg.dataset), device, cfg.seed + rank),
        fixed_noise=torch.randn(cfg.log.num_samples, generator.z_dim, device=device),
        ema=EMA(generator, cfg.train.ema, cfg.train.ema_rampup) if cfg.train.ema > 0 else None,
    )
    ddp = partial(DistributedDataParallel, device_ids=[device.index] if device.type == "cuda" else None,
                  gradient_as_bucket_view=True) if world > 1 else None
    if world > 1:
        torch.manual_seed(cfg.seed + rank)  # the same networks everywhere, each rank its own noise
    fast_generator, fast_critic = speed.prepare(generator, critic, name_of(cfg.train.precision),
                                                cfg.train.channels_last, cfg.train.compile, wrap=ddp)
    if cfg.train.compile or ddp is not None:
        parts.fast_generator, parts.fast_critic = fast_generator, fast_critic
    return parts


def make_evaluate(cfg: DictConfig, parts: Parts, dataset_cfg: dict, device: torch.device):
    """The loop's `evaluate()`: torch-fidelity metrics of the sampling generator, or None when metrics are off."""
    if not cfg.metrics.names:
        return None
    from ganrun.quality.metrics import QualityMetrics, dataset_cache_key  # torch-fidelity takes seconds to import

    quality = QualityMetrics(list(cfg.metrics.names), cfg.metrics.num_samples, parts.data.images,
                             dataset_cache_key(dataset_cfg), cfg.metrics.inception_weights, device,
                             labelled=labelled_source(dataset_cfg))
    # The same seeded noise at every evaluation, so differences come from the generator alone.
    return lambda: quality.compute(lambda n: generate(parts.sampler, n, cfg.seed, device))
