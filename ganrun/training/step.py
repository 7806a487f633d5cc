"""One generator step of training: n_critic critic updates, then one generator update, each summing the gradients
of train.accumulate chunks of its batch. No Hydra in here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from ganrun.base import reported
from ganrun.base.modules import call, eager
from ganrun.training.accumulation import chunks
from ganrun.training.divergence import UpdateGuard
from ganrun.training.parts import Parts
from ganrun.training.settings import Settings
from ganrun.training.speed import autocast
from ganrun.training.stats import RunningMeans


def critic_step(
    parts: Parts,
    real: torch.Tensor,
    labels: torch.Tensor | None,
    critic_updates: int,
    means: RunningMeans,
    guard: UpdateGuard,
    precision: str = "fp32",
    accumulate: int = 1,
) -> None:
    """One critic update on a real batch (with its labels, for a conditional model) and a fresh fake batch drawn
    with the same labels (`critic_updates`: how many came before it in the run). With `accumulate` > 1 the batch
    goes through in that many chunks whose gradients add up to the batch's (each chunk's loss is its mean / count);
    the noise is drawn for the whole batch first, so the update is the one-batch update."""
    G, D = parts.step_modules()
    noise = torch.randn(real.shape[0], parts.generator.z_dim, device=real.device)
    parts.opt_d.zero_grad(set_to_none=True)
    signs = []
    for real_part, labels_part, noise_part in chunks(accumulate, real, labels, noise):
        with autocast(real.device, precision):
            with torch.no_grad():
                fake = call(G, noise_part, labels_part)
            chunk = parts.objective.critic_loss(D, real_part, fake, labels_part, critic_updates)
        if not guard.allows(reported.LOSS_CRITIC, chunk.loss):
            parts.opt_d.zero_grad(set_to_none=True)  # not even the chunks before it
            return
        (chunk.loss / accumulate if accumulate > 1 else chunk.loss).backward()
        means.add(reported.LOSS_CRITIC, chunk.loss)
        means.add_all(reported.CRITIC_TERMS, chunk.terms)
        means.add_all(reported.REGULARIZER_TERMS, chunk.regularizer)
        if chunk.real_signs is not None:
            signs.append(chunk.real_signs)
    parts.opt_d.step()
    signs = (torch.cat(signs) if len(signs) > 1 else signs[0]) if signs else None  # the batch's, once per update
    parts.objective.after_critic_update(parts.critic, signs)
    if signs is not None:
        means.add(reported.AUGMENT_RT, signs.mean())


@contextmanager
def weights_fixed(module: torch.nn.Module) -> Iterator[None]:
    """The module's parameters take no gradient inside the block; after it, those that took one take it again (a
    frozen block of train.freeze_critic stays frozen)."""
    trained = [p for p in module.parameters() if p.requires_grad]
    for p in trained:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in trained:
            p.requires_grad_(True)


def generator_step(
    parts: Parts,
    batch_size: int,
    device,
    means: RunningMeans,
    guard: UpdateGuard,
    precision: str = "fp32",
    accumulate: int = 1,
    real_batch: tuple[torch.Tensor, torch.Tensor | None] | None = None,
) -> bool:
    """One generator update against the current critic (fakes of the data's class mix, or of `real_batch`'s classes
    when the objective compares them with it), in `accumulate` chunks as the critic's; whether it was applied
    (train.nan_policy=skip drops a non-finite one)."""
    G, D = parts.step_modules()
    # The critic is not updated here: its weight gradients are not needed, and under DDP its plain module
    # runs this forward (a DDP forward would wait for a critic backward that never comes).
    if isinstance(eager(D), torch.nn.parallel.DistributedDataParallel):
        D = eager(D).module
    if real_batch is not None:  # a relativistic loss: each fake is paired with a real image of its class
        real, labels = real_batch
    else:
        real, labels = None, parts.data.random_labels(batch_size) if parts.conditional else None
    noise = torch.randn(batch_size, parts.generator.z_dim, device=device)
    parts.opt_g.zero_grad(set_to_none=True)
    with weights_fixed(D):
        for noise_part, labels_part, real_part in chunks(accumulate, noise, labels, real):
            with autocast(device, precision):
                loss = parts.objective.generator_loss(D, call(G, noise_part, labels_part), labels_part, real_part)
            if not guard.allows(reported.LOSS_GENERATOR, loss):
                parts.opt_g.zero_grad(set_to_none=True)
                return False
            (loss / accumulate if accumulate > 1 else loss).backward()
            means.add(reported.LOSS_GENERATOR, loss)
    parts.opt_g.step()
    return True


def next_batches(parts: Parts, settings: Settings) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """The n_critic real batches of one generator step, with their labels for a conditional model, and one more for
    the generator's update when its loss compares fakes with real images."""
    batches = []
    for _ in range(settings.n_critic + parts.objective.generator_needs_real):
        real, labels = parts.data.next_labelled_batch(settings.batch_size)
        if settings.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        batches.append((real, labels if parts.conditional else None))
    return batches


def train_step(
    parts: Parts, settings: Settings, batches: list, first_critic_update: int, means: RunningMeans, guard: UpdateGuard
) -> bool:
    """One generator step: a critic update on each real batch, then the generator update; whether the latter
    was applied. The moving average follows outside (its decay changes every step: no CUDA graph holds it)."""
    knobs = settings.precision, settings.accumulate
    for i, (real, labels) in enumerate(batches[: settings.n_critic]):
        critic_step(parts, real, labels, first_critic_update + i, means, guard, *knobs)
    real_batch = batches[settings.n_critic] if len(batches) > settings.n_critic else None
    device = parts.fixed_noise.device
    return generator_step(parts, settings.batch_size, device, means, guard, *knobs, real_batch)


class EagerSteps:
    """Runs each generator step as Python calls it."""

    def __init__(self, parts: Parts, settings: Settings, means: RunningMeans, guard: UpdateGuard):
        self.parts, self.settings, self.means, self.guard = parts, settings, means, guard

    def run(self, step: int) -> bool:
        """Train generator step `step` + 1; whether its generator update was applied."""
        batches = next_batches(self.parts, self.settings)
        return train_step(self.parts, self.settings, batches, step * self.settings.n_critic, self.means, self.guard)
