"""A run's schedules applied (base/schedules.py says what a schedule is): before every generator step each scheduled
value is set where it is used, from the step alone, so that a resumed run trains exactly what the whole run would.
The EMA's half-life is read by the EMA itself at every update (training/ema.py)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ganrun.base import reported
from ganrun.base.schedules import Schedule, in_force


def put(holder: dict, key, value: float) -> None:
    """holder[key] = value, or in place where it is a tensor (training/graph_values.py: a captured step reads it)."""
    if torch.is_tensor(holder[key]):
        holder[key].fill_(value)
    else:
        holder[key] = value


def set_lr(optimizer: torch.optim.Optimizer, value: float) -> None:
    for group in optimizer.param_groups:
        put(group, "lr", value)


def set_beta2(optimizer: torch.optim.Optimizer, value: float) -> None:
    for group in optimizer.param_groups:
        if torch.is_tensor(group["betas"][1]):
            group["betas"][1].fill_(value)
        else:
            group["betas"] = (group["betas"][0], value)


def setters(opt_g, opt_d, objective) -> dict[str, Callable[[float], None]]:
    """Where each schedulable key's value is used, as a function that sets it (base.schedules.SCHEDULABLE)."""
    return {
        "optim.generator.lr": lambda value: set_lr(opt_g, value),
        "optim.critic.lr": lambda value: set_lr(opt_d, value),
        "optim.generator.betas.1": lambda value: set_beta2(opt_g, value),
        "optim.critic.betas.1": lambda value: set_beta2(opt_d, value),
        "regularizer.gamma": lambda value: objective.regularizer.set_gamma(value),
        "augment.p": lambda value: objective.augment.set_p(value),
        "train.ema_halflife": lambda value: None,  # the EMA values its own schedule at every update
    }


class Schedules:
    """The scheduled keys of a run (none: nothing to do), applied before each generator step and reported."""

    def __init__(
        self, schedules: dict[str, Schedule] | None = None, images_per_step: int = 1, setters: dict | None = None
    ):
        self.schedules, self.images_per_step = dict(schedules or {}), images_per_step
        self.setters = setters or {}  # key → what sets its value where it is used (setters())

    def value(self, key: str, step: int) -> float:
        return self.schedules[key].at(step, self.images_per_step)

    def apply(self, step: int) -> None:
        """Set every scheduled value to what generator step `step` (0: the first) trains with."""
        for key in self.schedules:
            self.setters[key](self.value(key, step))

    def reported(self, steps_done: int) -> dict[str, float]:
        """schedule/<key>: the values the last of `steps_done` steps trained with."""
        return {reported.schedule(key): self.value(key, max(steps_done - 1, 0)) for key in self.schedules}

    def in_force(self, steps_done: int) -> str | None:
        """The schedules and their values after `steps_done` steps, for the protocols of the scores."""
        return in_force(self.schedules, steps_done, self.images_per_step)
