"""A new run that starts from another run's weights (init=PATH): where it started (path, step, an id of the weights),
which layers fit, and taking them. Everything else (step, data order, noise, RNG) is the new run's own."""

from __future__ import annotations

import json
import logging

import torch

from ganrun.base.errors import UsageError
from ganrun.base.weights import fitting, listed, mismatches, weights_id
from ganrun.training.parts import Parts

log = logging.getLogger("ganrun")
DATA_BUFFERS = ("class_prior",)  # what the new run's data set decides, not the trained weights


def origin_of(path, checkpoint: dict) -> dict:
    """Where a run starting from `checkpoint` (at `path`) started: {"path", "step", "weights"}."""
    weights = weights_id(checkpoint["generator"], checkpoint["critic"], checkpoint.get("ema"))
    return {"path": str(path), "step": int(checkpoint["step"]), "weights": weights}


def unfit(generator: torch.nn.Module, critic: torch.nn.Module, checkpoint: dict) -> dict[str, dict]:
    """{"generator" | "critic": mismatches()} of the networks whose layers differ from a checkpoint's in name or
    shape (the class prior, which the data set decides, left out)."""
    found = {
        what: mismatches(trained(module.state_dict()), trained(checkpoint[what]))
        for what, module in (("generator", generator), ("critic", critic))
    }
    return {what: f for what, f in found.items() if any(f.values())}


def refuse_unfit(differ: dict[str, dict], path: str, strict: bool, optimizers: bool, because: str = "") -> None:
    """A one-line UsageError, unless no layer differs or not `strict`: the settings that make them differ
    (`because`, e.g. `it was trained with dataset.image_size=28 where this run has 64; …`), else the layers."""
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


def start_from(parts: Parts, checkpoint: dict, path: str, optimizers: bool = False) -> None:
    """The new run's networks and EMA from a trained checkpoint (its optimizer states too when `optimizers`): the
    layers that fit (all of them unless init.strict=false, checked before), the others as built, named."""
    differ = unfit(parts.generator, parts.critic, checkpoint)
    for what in ("generator", "critic"):
        module = getattr(parts, what)
        module.load_state_dict(fitting(module.state_dict(), trained(checkpoint[what])))
    if parts.ema is not None:  # from the checkpoint's average where it has one, else from the generator it gave
        parts.ema.load_state_dict(fitting(parts.generator.state_dict(), trained(checkpoint.get("ema") or {})))
    if differ:
        log.warning(
            "init.strict=false: re-initialized what does not fit %s: %s",
            path,
            " | ".join(f"{what}: {listed(f, limit=8)}" for what, f in differ.items()),
        )
    if optimizers:
        load_optimizer(parts.opt_g, checkpoint["opt_g"], path)
        load_optimizer(parts.opt_d, checkpoint["opt_d"], path)


def trained(weights: dict) -> dict:
    """A state dict without the buffers the data set decides (a conditional generator's class prior)."""
    return {k: v for k, v in weights.items() if k.rsplit(".", 1)[-1] not in DATA_BUFFERS}


def load_optimizer(optimizer: torch.optim.Optimizer, saved: dict, path: str) -> None:
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


def settings_apart(theirs: dict, ours: dict, typed: dict) -> str:
    """The model settings in which a checkpoint's config (`theirs`: its model node) and this run's (`ours` resolved,
    `typed` as composed, interpolations kept) differ, as the keys a user types (a model key that follows the data
    set, `${dataset.image_size}`, as the data set's key; the family as model=<option>), and what to add; "" when the
    checkpoint's config does not say (a checkpoint of one's own)."""
    trained, here = [], []
    for key, value in theirs.items():
        if value == ours.get(key) or (key not in ours and value in (None, False)):  # another family's unset key
            continue
        raw = typed.get(key)
        if key == "_target_":  # ganrun.models.<option>.build is model=<option>
            name, value = "model", family(value)
            here.append(f"model={family(ours.get(key))}")
        else:
            follows = isinstance(raw, str) and raw.startswith("${") and raw.endswith("}")
            name = raw[2:-1] if follows else f"model.{key}"
            if key in ours:
                here.append(f"{name}={as_typed(ours[key])}")
        trained.append((name, as_typed(value)))
    if not trained:
        return ""
    said = f"it was trained with {', '.join(f'{n}={v}' for n, v in trained)} where this run has {', '.join(here)}"
    # Other classes are other data: their layers start afresh (init.strict=false) rather than pretend the same.
    settable = [f"{n}={v}" for n, v in trained if n != "model.num_classes"]
    return f"{said}; add {' '.join(settable)} to train the same networks" if settable else said


def family(target) -> str:
    return str(target).removesuffix(".build").rsplit(".", 1)[-1]


def as_typed(value) -> str:
    """A config value as it is typed on the command line (false, null, [64,128])."""
    return json.dumps(value, separators=(",", ":")) if isinstance(value, (bool, list, type(None))) else str(value)
