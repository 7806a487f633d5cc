"""What the loop trains and draws from, made once by the setup (app/assemble.py) and not rebound after: the loop
and the run state change what the parts hold (weights, optimizer moments, the data order), never which parts they
are. runstate/state.py decides what a checkpoint holds of them."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ganrun.data.tiers import BatchSource
from ganrun.objectives.objective import Objective
from ganrun.training.ema import EMA
from ganrun.training.schedules import Schedules


@dataclass(frozen=True, kw_only=True)
class Parts:
    """Everything the loop trains or draws from."""

    generator: torch.nn.Module
    critic: torch.nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    objective: Objective  # the loss, the regularizer and the augmentation, phase by phase
    data: BatchSource  # the training images in their storage tier
    fixed_noise: torch.Tensor  # the noise of the `samples` grid
    ema: EMA | None = None  # the generator's moving average
    schedules: Schedules = field(default_factory=Schedules)  # the keys that move along training, set every step
    fast_generator: torch.nn.Module | None = None  # compiled or DDP-wrapped forwards sharing the parameters
    fast_critic: torch.nn.Module | None = None

    def step_modules(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        """The (generator, critic) a training step calls: the compiled or wrapped ones when there are."""
        return (
            self.generator if self.fast_generator is None else self.fast_generator,
            self.critic if self.fast_critic is None else self.fast_critic,
        )

    @property
    def conditional(self) -> bool:
        """Whether the networks take class labels."""
        return bool(getattr(self.generator, "num_classes", 0))

    @property
    def sampler(self) -> torch.nn.Module:
        """The generator to draw samples from: the moving average when there is one."""
        return self.ema.module if self.ema is not None else self.generator
