"""The training loop: n_critic critic updates, then one generator update. No Hydra in here."""

import logging
import time
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from tqdm.auto import tqdm

from ganrun.models.conditional import call
from ganrun.objectives.augment import augmented
from ganrun.training.divergence import UpdateGuard
from ganrun.training.parts import Parts
from ganrun.training.sampling import grid_samples
from ganrun.quality.names import best_metric, is_better
from ganrun.training.speed import autocast, eager
from ganrun.training.stats import RunningMeans

log = logging.getLogger(__name__)

# What each loss/regularizer term is logged as (TensorBoard tag).
CRITIC_TAGS = {"wasserstein": "critic/wasserstein", "penalty": "critic/penalty", "grad_norm": "critic/grad_norm"}
REGULARIZER_TAGS = {"penalty": "regularizer/penalty", "r1_grad_norm": "regularizer/r1_grad_norm",
                    "lecam_alpha_real": "regularizer/lecam_alpha_real",
                    "lecam_alpha_fake": "regularizer/lecam_alpha_fake"}


@dataclass
class Settings:
    """The loop's knobs, read from the config at the edge."""

    steps: int  # generator updates in the whole run
    batch_size: int
    n_critic: int
    log_every: int
    images_every: int
    ckpt_every: int
    nan_policy: str = "stop"  # stop | skip
    metrics_every: int = 0  # generator steps between quality evaluations; 0 = only at the end
    precision: str = "fp32"  # fp32 | bf16
    channels_last: bool = False
    progress: bool = True  # the progress bar (rank 0 only under torchrun)
    best_metric: Optional[str] = None  # the metric best.pt follows; None: the first of metric_names.BEST logged


def critic_step(parts: Parts, real: torch.Tensor, labels: torch.Tensor | None, critic_updates: int,
                means: RunningMeans, guard: UpdateGuard, step: int, precision: str = "fp32") -> None:
    """One critic update on a real batch (with its labels, for a conditional model) and a fresh fake batch drawn
    with the same labels (`step`: the generator step it belongs to)."""
    G, D = parts.step_modules()
    D = augmented(D, parts.augment)  # D∘T: every critic call sees augmented images
    with autocast(real.device, precision):
        with torch.no_grad():
            fake = call(G, torch.randn(real.shape[0], parts.generator.z_dim, device=real.device), labels)
        terms = parts.loss.critic_loss(D, real, fake, labels)
        total = terms["loss"]
        extra = parts.regularizer.critic_penalty(D, real, fake, critic_updates, labels, terms) or {}
        if extra:
            total = total + extra["penalty"]
    parts.opt_d.zero_grad(set_to_none=True)
    if not guard.allows("loss/critic", total, step):
        return
    total.backward()
    parts.opt_d.step()
    parts.loss.after_critic_step(parts.critic)
    means.add("loss/critic", total)
    means.add_all(CRITIC_TAGS, terms)
    means.add_all(REGULARIZER_TAGS, extra)
    if parts.loss.decision_boundary is not None:
        # r_t = E[sign(D(x_real))], the overfitting signal: near 1 when the critic has memorized the real images.
        signs = torch.sign(terms["real_scores"].detach().float() - parts.loss.decision_boundary)
        parts.augment.observe(signs)
        means.add("augment/rt", signs.mean())


def generator_step(parts: Parts, batch_size: int, device, means: RunningMeans, guard: UpdateGuard, step: int,
                   precision: str = "fp32") -> None:
    """One generator update against the current critic (D∘T when augmenting; fakes of the data's class mix)."""
    G, D = parts.step_modules()
    # The critic is not updated here: its weight gradients are not needed, and under DDP its plain module
    # runs this forward (a DDP forward would wait for a critic backward that never comes).
    if isinstance(eager(D), torch.nn.parallel.DistributedDataParallel):
        D = eager(D).module
    D.requires_grad_(False)
    labels = parts.data.random_labels(batch_size) if parts.conditional else None
    with autocast(device, precision):
        fake = call(G, torch.randn(batch_size, parts.generator.z_dim, device=device), labels)
        loss = parts.loss.generator_loss(call(augmented(D, parts.augment), fake, labels))  # G's gradient through T
    parts.opt_g.zero_grad(set_to_none=True)
    if guard.allows("loss/generator", loss, step):
        loss.backward()
        parts.opt_g.step()
        if parts.ema is not None:
            parts.ema.update(parts.generator, step)
        means.add("loss/generator", loss)
    D.requires_grad_(True)


@dataclass
class Outcome:
    step: int  # the last generator step done
    values: dict  # the last logged values
    preempted: bool  # stopped early by a signal, after writing a checkpoint


def fit(parts: Parts, settings: Settings, logger, checkpointer, save_state, start_step: int = 0,
        should_stop: Optional[Callable[[int], bool]] = None, evaluate: Optional[Callable[[], dict]] = None) -> Outcome:
    """Train from `start_step` to `settings.steps` generator updates.

    `save_state(step)` builds the checkpoint dict for `checkpointer`, and `evaluate()` returns quality
    metrics ({"metrics/fid": ...}, maybe empty); both live outside the loop because they need the
    run's config. `should_stop(step)` true (preemption) ends the run at that step boundary.
    """
    device = parts.fixed_noise.device
    means, guard = RunningMeans(), UpdateGuard(settings.nan_policy, device)
    if start_step == 0:
        logger.images("real", parts.data.images[: parts.fixed_noise.shape[0]], 0)  # does not advance the sampler
    step, values, last_good = start_step, {}, start_step or None
    clock, clock_step = time.perf_counter(), step
    bar = tqdm(total=settings.steps, initial=step, desc="train", unit="step", dynamic_ncols=True,
               disable=None if settings.progress else True)
    while step < settings.steps:
        for i in range(settings.n_critic):
            real, labels = parts.data.next_labelled_batch(settings.batch_size)
            labels = labels if parts.conditional else None
            if settings.channels_last:
                real = real.contiguous(memory_format=torch.channels_last)
            critic_step(parts, real, labels, step * settings.n_critic + i, means, guard, step + 1, settings.precision)
        generator_step(parts, settings.batch_size, device, means, guard, step + 1, settings.precision)
        for name, value in parts.augment.log_values().items():
            means.add(f"augment/{name}", torch.as_tensor(value, dtype=torch.float32, device=device))
        step += 1
        bar.update(1)
        preempted = should_stop is not None and should_stop(step)
        last = step == settings.steps or preempted

        if step % settings.log_every == 0 or last:
            values = means.read()  # the only host sync of the loop, once per log interval
            guard.check(step, last_good, parts.generator, parts.critic)
            now = time.perf_counter()
            values["perf/it_per_s"] = (step - clock_step) / max(now - clock, 1e-9)
            if guard.policy == "skip":
                values["train/skipped_updates"] = guard.skipped
            clock, clock_step = now, step
            logger.scalars(values, step)
            bar.set_postfix({k.split("/")[-1]: f"{v:.4g}" for k, v in values.items() if k.startswith("loss/")})
            log.info("step %d: %s", step, ", ".join(f"{k} {v:.5g}" for k, v in values.items()))
        if step % settings.images_every == 0 or last:
            logger.images("samples", *grid_samples(parts.sampler, parts.fixed_noise), step)
        improved = False
        if evaluate is not None and ((settings.metrics_every and step % settings.metrics_every == 0)
                                     or step == settings.steps):
            quality = evaluate()
            logger.scalars(quality, step)
            values.update(quality)
            name = best_metric(quality, settings.best_metric)
            improved = name is not None and is_better(name, quality[f"metrics/{name}"], parts.best)
            if improved:
                parts.best = {"step": step, name: quality[f"metrics/{name}"]}
        if step % settings.ckpt_every == 0 or last or improved:
            guard.check(step, last_good, parts.generator, parts.critic)  # never overwrite a good checkpoint with NaNs
            state = save_state(step)
            if step % settings.ckpt_every == 0 or last:
                checkpointer.save(state, step, periodic=step % settings.ckpt_every == 0)
                last_good = step
            if improved:
                checkpointer.save_best(state)
        if preempted:
            log.warning("stopped at step %d by a signal; checkpoint written, resume with resume=auto or resume=PATH", step)
            break
    bar.close()
    logger.flush()
    return Outcome(step, values, preempted)
