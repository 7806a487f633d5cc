"""`init=PATH`: a new run (step 0, its own folder, data, classes and steps) whose networks and EMA start from the
weights of a trained checkpoint or run folder, and the record of where it started (path, step, an id of its
weights) in its config, its checkpoints (runstate/state.py) and the protocols of its scores."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from ganrun.base.errors import UsageError
from ganrun.build import MODEL_META_KEYS, name_of
from ganrun.runstate.resume import load_resume_state
from ganrun.runstate.state import refuse_unfit, start_from, unfit
from ganrun.training.parts import Parts

log = logging.getLogger("ganrun")


def load_init(cfg: DictConfig) -> tuple[Path, dict] | None:
    """The checkpoint `init.path` names (a run folder: its newest readable one), loaded, or None without one; with
    init.optimizers, of this run's optimizer kinds."""
    if not cfg.init.path:
        return None
    try:
        found = load_resume_state(str(cfg.init.path), Path.cwd())
    except UsageError as exc:
        raise UsageError(f"init={cfg.init.path}: {exc}") from None
    if found is None:  # init=auto: the current folder's run, which has none
        raise UsageError(f"init={cfg.init.path} holds no checkpoint; give a checkpoint file or a trained run folder")
    path, state = found
    if cfg.init.optimizers:
        check_same_optimizers(cfg, state, path)
    return path.absolute(), state


def check_init_fits(cfg: DictConfig, init: tuple[Path, dict], generator, critic) -> None:
    """Stop in one line, before any data are read, when the checkpoint's layers do not fit the new networks (and
    init.strict, or init.optimizers, asks them all to), naming the settings that make them differ."""
    path, state = init
    differ = unfit(generator, critic, state)
    because = settings_apart(cfg, state.get("config") or {}) if differ else ""
    refuse_unfit(differ, str(path), cfg.init.strict, cfg.init.optimizers, because)


def settings_apart(cfg: DictConfig, saved: dict) -> str:
    """The model settings in which this run and the checkpoint's config differ, as the keys a user types (a model
    key that follows the data set, `${dataset.image_size}`, as the data set's key; the family as model=<option>),
    and what to add; "" when the checkpoint's config does not say (a checkpoint of one's own)."""
    theirs = {k: v for k, v in (saved.get("model") or {}).items() if k not in MODEL_META_KEYS}
    if not theirs:
        return ""
    ours, typed = OmegaConf.to_container(cfg.model, resolve=True), OmegaConf.to_container(cfg.model, resolve=False)
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


def start_from_init(cfg: DictConfig, parts: Parts, init: tuple[Path, dict]) -> None:
    """Load the init checkpoint's weights into the new run's parts (runstate.state.start_from)."""
    path, state = init
    origin = start_from(parts, state, str(path), cfg.init.strict, cfg.init.optimizers)
    log.info(
        "init: the generator, the critic%s%s start from %s (step %d, weights %s)",
        " and the EMA" if parts.ema is not None else "",
        " and both optimizers' states" if cfg.init.optimizers else "",
        origin["path"],
        origin["step"],
        origin["weights"],
    )


def check_same_optimizers(cfg: DictConfig, state: dict, path: Path) -> None:
    """init.optimizers=true: the checkpoint's optimizers are of this run's kinds (Adam's moments are not RMSprop's)."""
    saved = (state.get("config") or {}).get("optim") or {}
    for role in ("generator", "critic"):
        theirs = (saved.get(role) or {}).get("name", "adam")
        ours = name_of(cfg.optim[role].name)
        if theirs != ours:
            raise UsageError(
                f"init.optimizers=true, but {path} trained its {role} with {theirs} and this run uses {ours}; "
                f"set optim.{role}.name={theirs}, or drop init.optimizers"
            )


def record_origin(cfg: DictConfig, origin: dict | None) -> None:
    """The config's init.path, init.step and init.weights from where the run started (None: from scratch), so that
    the config a checkpoint stores and the loggers' hyper-parameters say it."""
    if origin is None:
        return
    with open_dict(cfg):
        cfg.init.path, cfg.init.step, cfg.init.weights = origin["path"], origin["step"], origin["weights"]
