"""What the loop trains and draws from, and what a checkpoint holds of it."""

from dataclasses import dataclass, field

import torch

from ganrun.base.weights import load_weights
from ganrun.objectives.augment import Augment


@dataclass
class Parts:
    """Everything the loop trains or draws from; what a checkpoint must hold."""

    generator: torch.nn.Module
    critic: torch.nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    loss: object
    regularizer: object
    data: object  # a ganrun.data.source.BatchSource: the training images in their storage tier
    fixed_noise: torch.Tensor
    ema: object | None = None  # EMA of the generator, or None
    fast_generator: torch.nn.Module | None = None  # torch.compile'd forwards sharing the parameters, if any
    fast_critic: torch.nn.Module | None = None
    best: dict = field(default_factory=dict)  # {"step", <metric>: value} of the best evaluation so far
    augment: Augment = field(default_factory=Augment)  # what the critic's input goes through (D∘T)

    def step_modules(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        """The (generator, critic) a training step calls: the compiled ones when there are."""
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


def snapshot(parts: Parts, step: int, config: dict, rng: dict) -> dict:
    """A checkpoint's contents: weights, optimizers, step, RNGs, data order, fixed noise, the augmentation's and
    the regularizer's state, config."""
    return {
        "step": step,
        "generator": parts.generator.state_dict(),
        "critic": parts.critic.state_dict(),
        "opt_g": parts.opt_g.state_dict(),
        "opt_d": parts.opt_d.state_dict(),
        "data": parts.data.state_dict(),
        "fixed_noise": parts.fixed_noise.cpu(),
        "ema": parts.ema.state_dict() if parts.ema is not None else None,
        "best": dict(parts.best),
        "augment": parts.augment.state_dict(),  # the adaptive p and its counters
        "regularizer": parts.regularizer.state_dict(),  # LeCam's moving averages
        "rng": rng,
        "config": config,
    }


def restore(parts: Parts, state: dict, data: bool = True) -> None:
    """Load a snapshot into `parts` (everything but the RNGs and config; the data order only if `data`)."""
    load_weights(parts.generator, state["generator"], "generator")
    load_weights(parts.critic, state["critic"], "critic")
    parts.opt_g.load_state_dict(state["opt_g"])
    parts.opt_d.load_state_dict(state["opt_d"])
    if data:
        parts.data.load_state_dict(state["data"])
    parts.fixed_noise.copy_(state["fixed_noise"])
    if parts.ema is not None:
        # A run that had no EMA yet starts its average from the restored generator.
        parts.ema.load_state_dict(state.get("ema") or parts.generator.state_dict())
    parts.best = dict(state.get("best") or {})
    # Checkpoints from before augmentation and LeCam have neither entry: both then start afresh.
    if state.get("augment"):
        parts.augment.load_state_dict(state["augment"])
    if state.get("regularizer"):
        parts.regularizer.load_state_dict(state["regularizer"])
