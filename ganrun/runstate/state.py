"""What a checkpoint holds: a run's state as named objects that each have `state_dict()` and `load_state_dict()`,
saved and restored by one mechanism (as EDM2's CheckpointIO). Adding a piece of state is one entry in
`RunState.of`, and its test (tests/runstate/test_state.py).

A checkpoint is plain containers and tensors (it loads with torch.load(weights_only=True)): each named state, the
step, the names of the classes (what each label means: grids, ganrun.sample --class NAME), where the run's weights
started (init=PATH), the resolved config and the command line's overrides (which resume=PATH composes the config
from again), and the format's version. Checkpoints of earlier versions pass through runstate/migrate.py.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import torch

from ganrun.base.weights import load_weights
from ganrun.runstate.migrate import VERSION, migrate
from ganrun.training.best import BestScore
from ganrun.training.graph_values import as_numbers
from ganrun.training.parts import Parts


class Weights:
    """A network's weights; restored strictly, a mismatch in one line naming what differs."""

    def __init__(self, module: torch.nn.Module, what: str):
        self.module, self.what = module, what

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        load_weights(self.module, state, self.what)


class OptimizerState:
    """An optimizer's state; its learning rate and betas as numbers, where a CUDA-graphed run keeps them in device
    tensors (training/graph_values.py), so that a checkpoint resumes with or without graphs, on any device."""

    def __init__(self, optimizer: torch.optim.Optimizer):
        self.optimizer = optimizer

    def state_dict(self) -> dict:
        return as_numbers(self.optimizer.state_dict())

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)


class Average:
    """The generator's moving average (None when the run keeps none); a run that had none yet starts its average
    from the restored generator (restored before it)."""

    def __init__(self, parts: Parts):
        self.parts = parts

    def state_dict(self) -> dict | None:
        return self.parts.ema.state_dict() if self.parts.ema is not None else None

    def load_state_dict(self, state: dict | None) -> None:
        if self.parts.ema is not None:
            self.parts.ema.load_state_dict(state or self.parts.generator.state_dict())


class Fresh:
    """A part whose saved state may be empty (augmentation and regularizers keep none until they have seen data):
    an empty state leaves it as built."""

    def __init__(self, part):
        self.part = part

    def state_dict(self) -> dict:
        return self.part.state_dict()

    def load_state_dict(self, state: dict) -> None:
        if state:
            self.part.load_state_dict(state)


class FixedNoise:
    """The noise of the `samples` grid: the same grid at every step of a run, resumed or not."""

    def __init__(self, noise: torch.Tensor):
        self.noise = noise

    def state_dict(self) -> torch.Tensor:
        return self.noise.cpu()

    def load_state_dict(self, state: torch.Tensor) -> None:
        self.noise.copy_(state)


class RandomStreams:
    """Every RNG a run draws from: torch's CPU and CUDA generators and Python's `random`. Under DDP only rank 0
    continues the saved streams; another rank draws a fresh stream of its own, seeded by the seed, its rank and the
    step (`step()`: the step being restored)."""

    def __init__(self, rank: int = 0, seed: int = 0, step: Callable[[], int] = lambda: 0):
        self.rank, self.seed, self.step = rank, seed, step

    def state_dict(self) -> dict:
        version, internal, gauss = random.getstate()
        state = {"torch": torch.get_rng_state(), "python": [version, list(internal), gauss]}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict) -> None:
        if self.rank != 0:
            torch.manual_seed(self.seed + self.rank + self.step())
            return
        torch.set_rng_state(state["torch"])
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


class RunState:
    """A run's named states; `capture` writes them into a checkpoint dict, `restore` continues from one."""

    def __init__(self, states: dict, about: Callable[[], dict] = dict):
        self.states = states  # name → an object with state_dict()/load_state_dict(), restored in this order
        self.about = about  # what a checkpoint records beside them and nothing restores: classes, origin, config
        self.step = 0

    @classmethod
    def of(
        cls, parts: Parts, best: BestScore, *, about: Callable[[], dict] = dict, rank: int = 0, seed: int = 0
    ) -> RunState:
        """The state of a run of `parts` (under DDP, of rank `rank` of a run seeded with `seed`)."""
        state = cls({}, about)
        state.states = {
            "generator": Weights(parts.generator, "generator"),
            "critic": Weights(parts.critic, "critic"),
            "opt_g": OptimizerState(parts.opt_g),
            "opt_d": OptimizerState(parts.opt_d),
            "data": parts.data,  # the order of the batches, and where it stands
            "fixed_noise": FixedNoise(parts.fixed_noise),
            "ema": Average(parts),
            "best": best,
            "augment": Fresh(parts.objective.augment),  # the adaptive p and its counters
            "regularizer": Fresh(parts.objective.regularizer),  # LeCam's moving averages
            "rng": RandomStreams(rank, seed, lambda: state.step),
        }
        return state

    def capture(self, step: int) -> dict:
        """The run's state after generator step `step`."""
        named = {name: part.state_dict() for name, part in self.states.items()}
        return {"version": VERSION, "step": step, **named, **self.about()}

    def restore(self, checkpoint: dict) -> int:
        """Continue from `checkpoint` (of this configuration, any version); returns its step."""
        checkpoint = migrate(checkpoint)
        self.step = checkpoint["step"]
        for name, part in self.states.items():
            part.load_state_dict(checkpoint[name])
        return self.step
