"""The training loop: n_critic critic updates, then one generator update. No Hydra in here."""

import logging
import time
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from ganrun.stats import RunningMeans

log = logging.getLogger(__name__)

# What each loss/regularizer term is logged as (TensorBoard tag).
CRITIC_TAGS = {"wasserstein": "critic/wasserstein", "penalty": "critic/penalty", "grad_norm": "critic/grad_norm"}
REGULARIZER_TAGS = {"penalty": "regularizer/penalty", "r1_grad_norm": "regularizer/r1_grad_norm"}


@dataclass
class Settings:
    """The loop's knobs, read from the config at the edge."""

    steps: int  # generator updates in the whole run
    batch_size: int
    n_critic: int
    log_every: int
    images_every: int
    ckpt_every: int


@dataclass
class Parts:
    """Everything the loop trains or draws from; what a checkpoint must hold."""

    generator: torch.nn.Module
    critic: torch.nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    loss: object
    regularizer: object
    data: object  # ImageBank
    fixed_noise: torch.Tensor


def snapshot(parts: Parts, step: int, config: dict, rng: dict) -> dict:
    """A checkpoint's contents: weights, optimizers, step, RNGs, data order, fixed noise, config."""
    return {
        "step": step,
        "generator": parts.generator.state_dict(),
        "critic": parts.critic.state_dict(),
        "opt_g": parts.opt_g.state_dict(),
        "opt_d": parts.opt_d.state_dict(),
        "data": parts.data.state_dict(),
        "fixed_noise": parts.fixed_noise.cpu(),
        "rng": rng,
        "config": config,
    }


def restore(parts: Parts, state: dict) -> None:
    """Load a snapshot into `parts` (everything but the RNGs and config)."""
    parts.generator.load_state_dict(state["generator"])
    parts.critic.load_state_dict(state["critic"])
    parts.opt_g.load_state_dict(state["opt_g"])
    parts.opt_d.load_state_dict(state["opt_d"])
    parts.data.load_state_dict(state["data"])
    parts.fixed_noise.copy_(state["fixed_noise"])


def critic_step(parts: Parts, real: torch.Tensor, critic_updates: int, means: RunningMeans) -> None:
    """One critic update on a real batch and a fresh fake batch."""
    G, D = parts.generator, parts.critic
    with torch.no_grad():
        fake = G(torch.randn(real.shape[0], G.z_dim, device=real.device))
    terms = parts.loss.critic_loss(D, real, fake)
    total = terms["loss"]
    extra = parts.regularizer.critic_penalty(D, real, fake, critic_updates)
    if extra:
        total = total + extra["penalty"]
        means.add_all(REGULARIZER_TAGS, extra)
    parts.opt_d.zero_grad(set_to_none=True)
    total.backward()
    parts.opt_d.step()
    parts.loss.after_critic_step(D)
    means.add("loss/critic", total)
    means.add_all(CRITIC_TAGS, terms)


def generator_step(parts: Parts, batch_size: int, device, means: RunningMeans) -> None:
    """One generator update against the current critic."""
    G, D = parts.generator, parts.critic
    D.requires_grad_(False)  # the critic's weight gradients are not needed here
    loss = parts.loss.generator_loss(D(G(torch.randn(batch_size, G.z_dim, device=device))))
    parts.opt_g.zero_grad(set_to_none=True)
    loss.backward()
    parts.opt_g.step()
    D.requires_grad_(True)
    means.add("loss/generator", loss)


@torch.no_grad()
def samples(generator: torch.nn.Module, noise: torch.Tensor) -> torch.Tensor:
    """The generator's images for `noise`, in eval mode (batch norm uses its running statistics)."""
    was_training = generator.training
    generator.eval()
    images = generator(noise)
    generator.train(was_training)
    return images


def fit(parts: Parts, settings: Settings, logger, checkpointer, save_state, start_step: int = 0) -> tuple[int, dict]:
    """Train from `start_step` to `settings.steps` generator updates; returns the last step and logged values.

    `save_state(step)` builds the checkpoint dict for `checkpointer`; it lives outside the loop
    because it needs the run's config.
    """
    device = parts.fixed_noise.device
    means = RunningMeans()
    if start_step == 0:
        logger.images("real", parts.data.images[: parts.fixed_noise.shape[0]], 0)  # does not advance the sampler
    step, values = start_step, {}
    clock, clock_step = time.perf_counter(), step
    bar = tqdm(total=settings.steps, initial=step, desc="train", unit="step", dynamic_ncols=True, disable=None)
    while step < settings.steps:
        for i in range(settings.n_critic):
            critic_step(parts, parts.data.next_batch(settings.batch_size), step * settings.n_critic + i, means)
        generator_step(parts, settings.batch_size, device, means)
        step += 1
        bar.update(1)

        if step % settings.log_every == 0 or step == settings.steps:
            values = means.read()  # the only host sync of the loop, once per log interval
            now = time.perf_counter()
            values["perf/it_per_s"] = (step - clock_step) / max(now - clock, 1e-9)
            clock, clock_step = now, step
            logger.scalars(values, step)
            bar.set_postfix({k.split("/")[-1]: f"{v:.4g}" for k, v in values.items() if k.startswith("loss/")})
            log.info("step %d: %s", step, ", ".join(f"{k} {v:.5g}" for k, v in values.items()))
        if step % settings.images_every == 0 or step == settings.steps:
            logger.images("samples", samples(parts.generator, parts.fixed_noise), step)
        if step % settings.ckpt_every == 0 or step == settings.steps:
            checkpointer.save(save_state(step), step, periodic=step % settings.ckpt_every == 0)
    bar.close()
    logger.flush()
    return step, values
