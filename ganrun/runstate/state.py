"""What a checkpoint holds, decided here and nowhere else: `capture` makes it from the run's parts, `restore`
continues a run from it. Adding something to the run state is one entry in each, and its test
(tests/test_run_state.py).

A checkpoint is plain containers and tensors (it loads with torch.load(weights_only=True)): both networks, both
optimizers, the generator's EMA, the step, every RNG state, the data order, the fixed noise, the best score so far,
the augmentation's state (adaptive p), the regularizer's (LeCam's moving averages), the names of the classes, the
checkpoint the run started from (`init=PATH`), the resolved config and the command line's overrides (which
`resume=PATH` composes the config from again).

`start_from` is restore's counterpart for a new run that starts from another run's weights (init=PATH).
"""

from __future__ import annotations

import logging
import random

import torch

from ganrun.base.errors import UsageError
from ganrun.base.weights import fitting, listed, load_weights, mismatches, weights_id
from ganrun.training.parts import Parts

log = logging.getLogger("ganrun")
DATA_BUFFERS = ("class_prior",)  # what the new run's data set decides, not the trained weights


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
        "augment": parts.objective.augment.state_dict(),  # the adaptive p and its counters
        "regularizer": parts.objective.regularizer.state_dict(),  # LeCam's moving averages
        "classes": parts.data.class_names,  # what each label means: grids, ganrun.sample --class NAME
        "init": parts.origin,  # the checkpoint the run started from (init=PATH), or None
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
        parts.objective.augment.load_state_dict(state["augment"])
    if state.get("regularizer"):
        parts.objective.regularizer.load_state_dict(state["regularizer"])
    parts.origin = state.get("init")
    if rank == 0:
        set_rng_state(state["rng"])
    else:
        torch.manual_seed(seed + rank + state["step"])
    return state["step"]


def start_from(parts: Parts, state: dict, path: str, strict: bool = True, optimizers: bool = False) -> dict:
    """A new run's networks and EMA from a trained checkpoint's `state` (and its optimizer states when
    `optimizers`), all else (step, data order, noise, RNG) its own; returns where it started, {path, step, weights},
    also kept in parts.origin. Layers that differ in name or shape (another image size, another number of classes)
    stop the run in one line, listed; unless not `strict`: then the matching layers are taken and the others keep
    their fresh initialization, named in a warning."""
    differ = unfit(parts.generator, parts.critic, state)
    refuse_unfit(differ, path, strict, optimizers)
    for what in ("generator", "critic"):
        module = getattr(parts, what)
        module.load_state_dict(fitting(module.state_dict(), _trained(state[what])))
    if parts.ema is not None:  # from the checkpoint's average where it has one, else from the generator it gave
        parts.ema.load_state_dict(fitting(parts.generator.state_dict(), _trained(state.get("ema") or {})))
    if differ:
        log.warning(
            "init.strict=false: re-initialized what does not fit %s: %s",
            path,
            " | ".join(f"{what}: {listed(f, limit=8)}" for what, f in differ.items()),
        )
    if optimizers:
        _load_optimizer(parts.opt_g, state["opt_g"], path)
        _load_optimizer(parts.opt_d, state["opt_d"], path)
    parts.origin = {
        "path": str(path),
        "step": int(state["step"]),
        "weights": weights_id(state["generator"], state["critic"], state.get("ema")),
    }
    return parts.origin


def unfit(generator: torch.nn.Module, critic: torch.nn.Module, state: dict) -> dict[str, dict]:
    """{"generator" | "critic": mismatches()} of the networks whose layers differ from a checkpoint's in name or
    shape (the class prior, which the data set decides, left out)."""
    found = {
        what: mismatches(_trained(module.state_dict()), _trained(state[what]))
        for what, module in (("generator", generator), ("critic", critic))
    }
    return {what: f for what, f in found.items() if any(f.values())}


def refuse_unfit(differ: dict[str, dict], path: str, strict: bool, optimizers: bool, because: str = "") -> None:
    """A one-line UsageError, unless no layer differs or not `strict`: the settings that make them differ
    (`because`, e.g. `it was trained with dataset.image_size=28 where this run has 64; set dataset.image_size=28`),
    else the layers themselves."""
    if differ and strict:
        layers = " | ".join(f"{what}: {listed(f)}" for what, f in differ.items())
        raise UsageError(
            f"init={path} does not fit this model: {because or layers + '; use the model settings it was trained with'}"
            ", or init.strict=false to take the matching layers only"
        )
    if differ and optimizers:
        raise UsageError(
            f"init.optimizers=true takes the optimizer states of every layer, and layers of init={path} do not fit "
            "this model; drop init.optimizers, or use the model settings it was trained with"
        )


def _trained(weights: dict) -> dict:
    """A state dict without the buffers the data set decides (a conditional generator's class prior)."""
    return {k: v for k, v in weights.items() if k.rsplit(".", 1)[-1] not in DATA_BUFFERS}


def _load_optimizer(optimizer: torch.optim.Optimizer, saved: dict, path: str) -> None:
    """The optimizer's per-parameter state (Adam's moments, its step count) from `saved`; its settings (learning
    rate, betas) stay this run's."""
    settings = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
    try:
        optimizer.load_state_dict(saved)
    except (ValueError, KeyError) as exc:
        raise UsageError(
            f"init.optimizers=true: the optimizer state of init={path} does not fit this run's ({exc}); "
            "drop init.optimizers"
        ) from None
    for group, own in zip(optimizer.param_groups, settings):
        group.update(own)
