"""Checkpoints of earlier versions, brought to today's format in one place: every reader (resume, init=, the tools)
gets a checkpoint that has every entry runstate/state.py restores.

Versions known:
- 0: before augmentation and LeCam (no `augment`, no `regularizer`), and configs whose loss and regularizer
  targets were `ganrun.losses.*` and `ganrun.regularizers.*` (the package was flat);
- 1: from the augmentation on, without a version number (e.g. commit 8560866's, tests/data/before-refactor);
  `classes` and `init` came later within it;
- 2: the named states of runstate/state.py and `version`.
An entry missing from an older file means its part starts as built: nothing augmented or averaged yet, no best
score, no EMA saved (the average then starts from the generator), classes and origin unknown.
"""

from __future__ import annotations

VERSION = 2
ABSENT = {"augment": {}, "regularizer": {}, "best": {}, "ema": None, "classes": None, "init": None, "overrides": []}
# Where targets stored in older checkpoints' configs live now.
MOVED_TARGETS = {
    "ganrun.losses.": "ganrun.objectives.losses.",
    "ganrun.regularizers.": "ganrun.objectives.regularizers.",
}


def migrate(checkpoint: dict) -> dict:
    """`checkpoint` (a loaded checkpoint of any version) in today's format; today's is returned as it is."""
    if checkpoint.get("version") == VERSION:
        return checkpoint
    migrated = {**ABSENT, **checkpoint, "version": VERSION}
    migrated["config"] = moved_targets(checkpoint.get("config") or {})
    return migrated


def moved_targets(config: dict) -> dict:
    """The config with every `_target_` of a module that has moved since written where it is now."""
    if isinstance(config, list):
        return [moved_targets(item) for item in config]
    if not isinstance(config, dict):
        return config
    found = {key: moved_targets(value) for key, value in config.items()}
    target = str(found.get("_target_", ""))
    for old, new in MOVED_TARGETS.items():
        if target.startswith(old):
            found["_target_"] = new + target[len(old) :]
    return found
