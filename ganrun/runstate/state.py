"""What a checkpoint holds, decided here and nowhere else: `capture` makes it from the run's parts, `restore`
continues a run from it. Adding something to the run state is one entry in each, and its test
(tests/test_run_state.py).

A checkpoint is plain containers and tensors (it loads with torch.load(weights_only=True)): both networks, both
optimizers, the generator's EMA, the step, every RNG state, the data order, the fixed noise, the best score so far,
the augmentation's state (adaptive p), the regularizer's (LeCam's moving averages), the names of the classes, the
resolved config and the command line's overrides (which `resume=PATH` composes the config from again).
"""

from __future__ import annotations

import random

import torch

from ganrun.base.weights import load_weights
from ganrun.training.parts import Parts


def rng_state() -> dict:
    """Every RNG a run draws from: torch CPU and CUDA, and Python's `random` (as plain containers)."""
    version, internal, gauss = random.getstate()
    state = {"torch": torch.get_rng_state(), "python": [version, list(internal), gauss]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def capture(parts: Parts, step: int, config: dict | None = None, overrides: list[str] | None = None) -> dict:
    """The run's state after generator step `step`, with the config (plain containers) and overrides it ran with."""
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
        "classes": parts.data.class_names,  # what each label means: grids, ganrun.sample --class NAME
        "rng": rng_state(),
        "config": config if config is not None else {},
        "overrides": list(overrides or []),
    }


def restore(parts: Parts, state: dict, rank: int = 0, seed: int = 0) -> int:
    """Continue from `state` (a checkpoint of the same configuration); returns its step. The data order continues
    exactly on every rank (one global order, each rank its share) and rank 0's RNG too; under DDP the other ranks
    draw fresh noise streams of their own."""
    load_weights(parts.generator, state["generator"], "generator")
    load_weights(parts.critic, state["critic"], "critic")
    parts.opt_g.load_state_dict(state["opt_g"])
    parts.opt_d.load_state_dict(state["opt_d"])
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
    if rank == 0:
        set_rng_state(state["rng"])
    else:
        torch.manual_seed(seed + rank + state["step"])
    return state["step"]
