"""An exponential moving average of the generator's weights, the usual model to sample from and evaluate.

Two things keep the average from ever looking worse than the generator it follows:
- a warm-up: the decay at generator step t is β_t = min(decay, 0.5^(1/(rampup·t))), so the average's half-life
  is at most `rampup`·t steps (StyleGAN2-ADA's ramp, counted in steps) and hardly anything of the random
  initialization survives (after the first step, 0.5^100 of it with rampup 0.01). While the generator still
  improves every step, any average lags behind it; rampup 0.01 keeps that lag to ~1.4 % of the steps done
  (docs/reports/quality.md has the measurements);
- batch-norm statistics of its own: running statistics copied from the live generator belong to other weights,
  so before the average is used its batch-norm statistics are re-estimated on a few batches of fresh noise.
"""

import copy

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ganrun.base.errors import UsageError
from ganrun.base.modules import call
from ganrun.base.schedules import Schedule
from ganrun.base.streams import own_streams
from ganrun.base.weights import load_weights
from ganrun.models.conditional import random_labels

BN_BATCHES, BN_BATCH_SIZE = 16, 256  # 4,096 samples re-estimate the batch-norm statistics (precise BN)
# Their noise: the same every time, so sampling is reproducible and never touches the run's RNG; not seed 0,
# so the statistics are not estimated on the very noise the sampler draws by default.
BN_SEED = 0x5EED


@torch.no_grad()
def recalibrate_batchnorm(
    generator: nn.Module, batches: int = BN_BATCHES, batch_size: int = BN_BATCH_SIZE, seed: int = BN_SEED
) -> nn.Module:
    """Set every batch norm's running statistics to the exact averages over `batches` batches of the
    generator's own activations on N(0, I) noise (and labels from its class prior, when conditional); returns
    the generator in eval mode. No-op without batch norm."""
    norms = [m for m in generator.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    if norms:
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the batches, not an exponential one
        device = next(generator.parameters()).device
        rng = torch.Generator(device="cpu").manual_seed(seed)
        # Only the batch norms in train mode: anything else that keeps state in train mode (spectral norm's power
        # iteration) must not change with the number of times the statistics were re-estimated.
        generator.eval()
        for m in norms:
            m.train()
        for _ in range(batches):
            noise = torch.randn(batch_size, generator.z_dim, generator=rng)
            labels = random_labels(generator, batch_size, rng)  # a conditional generator: classes as in training
            call(generator, noise.to(device), None if labels is None else labels.to(device))
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
    return generator.eval()


class EMA:
    """θ_ema ← β_t·θ_ema + (1−β_t)·θ at generator step t, β_t = min(decay, 0.5^(1/(rampup·t))); or, given a
    `halflife` in images (a number or a base.schedules.Schedule, as R3GAN's), β_t = 0.5^(images_per_step/halflife)
    with the half-life step t trained with (0: the average is the generator)."""

    def __init__(
        self,
        model: nn.Module,
        decay: float,
        rampup: float | None = 0.01,
        halflife: float | Schedule | None = None,
        images_per_step: int = 1,
    ):
        if not 0 <= decay < 1:
            raise UsageError(f"train.ema={decay} is out of range: it must be in [0, 1) (0 turns the EMA off)")
        if rampup is not None and rampup < 0:
            raise UsageError(f"train.ema_rampup={rampup} is out of range: it must be >= 0 (0 or null: no warm-up)")
        lowest = min(halflife.extremes()) if isinstance(halflife, Schedule) else halflife
        if lowest is not None and lowest < 0:
            raise UsageError(f"train.ema_halflife reaches {lowest:g}: it must stay >= 0 (images)")
        self.decay, self.rampup = float(decay), float(rampup or 0)
        self.halflife, self.images_per_step = halflife, images_per_step
        self._module = copy.deepcopy(model).eval().requires_grad_(False)
        # Lists made once: update() is then a fused multi-tensor kernel, not a Python loop per tensor.
        self._params, self._buffers = list(self._module.parameters()), list(self._module.buffers())
        self._stale = True  # whether the batch-norm statistics predate the current weights

    def beta(self, step: int) -> float:
        """The decay used by the update of generator step `step` (1 for the first update)."""
        if self.halflife is not None:
            images = self.halflife.at(step - 1, self.images_per_step) if isinstance(self.halflife, Schedule) else None
            return 0.5 ** (self.images_per_step / max(self.halflife if images is None else images, 1e-8))
        if self.rampup <= 0:
            return self.decay
        return min(self.decay, 0.5 ** (1.0 / (self.rampup * max(step, 1))))

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Move the average towards `model`'s weights after generator step `step` (the model it was made from)."""
        torch._foreach_lerp_(self._params, list(model.parameters()), 1.0 - self.beta(step))
        # Buffers follow the model (as StyleGAN2-ADA's G_ema): spectral norm's power-iteration vectors belong to
        # weights the average shares; the batch-norm statistics among them are re-estimated before use anyway.
        if self._buffers:
            torch._foreach_copy_(self._buffers, list(model.buffers()))
        self._stale = True

    @property
    def module(self) -> nn.Module:
        """The averaged generator, in eval mode with batch-norm statistics that belong to its weights."""
        if self._stale:
            with own_streams():  # however often it is sampled, training draws the same numbers
                recalibrate_batchnorm(self._module)
            self._stale = False
        return self._module

    def state_dict(self) -> dict:
        """The averaged generator's state dict (plain tensors: loads with weights_only=True into a generator)."""
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        """Load an averaged generator; a key or shape that does not match is a one-line UsageError."""
        load_weights(self._module, state, "EMA generator")
        self._stale = True  # checkpoints before batch-norm re-estimation hold the live generator's statistics
