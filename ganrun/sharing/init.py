"""`init=PATH` from anything the tools take: a checkpoint, a run folder, a folder of runs, an exported folder (with
its critic), `hf://user/repo`, or an R3GAN network pickle (whose G, D and G_ema become the new run's generator,
critic and EMA)."""

from __future__ import annotations

import logging
from pathlib import Path

from ganrun.base.errors import UsageError
from ganrun.runstate.resume import load_resume_state
from ganrun.sharing.source import CHECKPOINT, RUN, resolve

log = logging.getLogger("ganrun")


def init_state(given: str, strict: bool, optimizers: bool) -> tuple[str, dict] | None:
    """Where `init=given` was read (an absolute path, or a Hub id pinned to its commit) and the checkpoint-shaped
    state it starts from (None: init=auto found none). An export without its critic starts a fresh critic only with
    init.strict=false; optimizer states come from ganrun checkpoints only."""
    if given == "auto":  # this run's own folder, as resume=auto
        found = load_resume_state(given, Path.cwd())
        return (str(found[0].absolute()), found[1]) if found is not None else None
    source = resolve(given)
    for note in source.notes:
        log.info("init: %s", note)
    state = dict(source.state)
    if not state.get("critic"):
        if strict:
            raise UsageError(
                f"{source.label} holds no critic (export it with `ganrun.export --critic`); init.strict=false "
                "starts the critic afresh"
            )
        state["critic"] = {}
    if optimizers and source.kind not in (CHECKPOINT, RUN):
        raise UsageError(
            f"init.optimizers=true takes a ganrun checkpoint's optimizer states, and {source.label} ({source.kind}) "
            "holds none; drop init.optimizers"
        )
    return source.origin, state
