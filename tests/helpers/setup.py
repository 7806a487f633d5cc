"""A run's parts as `python -m ganrun` sets them up (app/run.py: resolve → build → validate, then start), in
process, without a run folder or a session."""

from ganrun.app.assemble import build, start
from ganrun.app.resolve import resolve
from ganrun.app.validate import validate


def set_up(cfg):
    """(parts, run state, plan) of the composed config `cfg`."""
    plan = resolve(cfg)
    built = build(plan)
    validate(plan, built)
    parts, state = start(plan, built)
    return parts, state, plan
