"""`init=PATH`: a new run (step 0, its own folder, data, classes and steps) whose networks and EMA start from the
weights of a trained checkpoint or run folder, and the record of where it started (path, step, an id of its
weights) in its config, its checkpoints (runstate/state.py) and the protocols of its scores."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, open_dict

from ganrun.base.errors import UsageError
from ganrun.build import name_of
from ganrun.runstate.state import refuse_unfit, start_from, unfit
from ganrun.sharing.init import init_state
from ganrun.training.parts import Parts

log = logging.getLogger("ganrun")


def load_init(cfg: DictConfig) -> tuple[Path, dict] | None:
    """The checkpoint `init.path` names (a run folder: its newest readable one), loaded, or None without one; with
    init.optimizers, of this run's optimizer kinds."""
    if not cfg.init.path:
        return None
    try:
        found = init_state(str(cfg.init.path), cfg.init.strict, cfg.init.optimizers)
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
    init.strict, or init.optimizers, asks them all to)."""
    path, state = init
    refuse_unfit(unfit(generator, critic, state), str(path), cfg.init.strict, cfg.init.optimizers)


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
