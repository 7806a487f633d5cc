"""Schedules: a config value that moves from `start` to `end` along training, as R3GAN ramps its learning rate,
Adam's β₂, γ, the EMA's half-life and the augmentation probability. A schedule is a pure function of the generator
step, so a resumed run needs no state of it to continue exactly.

In a config, a schedulable key (SCHEDULABLE) takes a number or a node
`{start: 2e-4, end: 5e-5, length: 20000000, unit: images, shape: cosine, warmup: 0, warmup_from: 0}`: over `length`
(images or generator steps; one step is train.batch_size × train.n_critic real images) it runs from `start` to
`end` along half a cosine or a line, after an optional linear warm-up of `warmup` (same unit, counted in `length`)
from `warmup_from` to `start`; past `length` it stays at `end` (R3GAN's training_loop.py: cosine_decay_with_warmup).
Plain containers only: no torch, no OmegaConf.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from ganrun.base.errors import UsageError

# The keys that take a schedule, as dotted paths of the config (betas.1: Adam's β₂).
SCHEDULABLE = (
    "optim.generator.lr",
    "optim.critic.lr",
    "optim.generator.betas.1",
    "optim.critic.betas.1",
    "regularizer.gamma",
    "augment.p",
    "train.ema_halflife",
)
# Words a schedulable key takes beside a number or a schedule (its part checks them).
WORDS = {"augment.p": ("adaptive",)}
SHAPES, UNITS = ("cosine", "linear"), ("images", "steps")
EXAMPLE = "{start: 2e-4, end: 5e-5, length: 20000000, unit: images, shape: cosine}"


@dataclass(frozen=True)
class Schedule:
    start: float
    end: float
    length: float  # from the first step to `end`, warm-up included, in `unit`
    unit: str = "images"  # images | steps (generator steps)
    shape: str = "cosine"  # cosine | linear
    warmup: float = 0.0  # a linear ramp from warmup_from to start first, in `unit`
    warmup_from: float = 0.0

    def at(self, step: int, images_per_step: int) -> float:
        """The value generator step `step` (0: the first) trains with."""
        t = step * images_per_step if self.unit == "images" else step
        if t < self.warmup:
            return self.warmup_from + (self.start - self.warmup_from) * t / self.warmup
        if t >= self.length:
            return self.end
        progress = (t - self.warmup) / (self.length - self.warmup)
        if self.shape == "cosine":
            progress = 0.5 * (1 - math.cos(math.pi * progress))
        return self.start + (self.end - self.start) * progress

    def extremes(self) -> tuple[float, ...]:
        """The values it reaches at its ends: every value it takes lies between them."""
        return (self.start, self.end, self.warmup_from) if self.warmup else (self.start, self.end)

    def describe(self) -> str:
        """One line: `cosine 0.0002 → 5e-05 over 20000000 images (warm-up 1000 images from 0)`."""
        warmup = f" (warm-up {self.warmup:g} {self.unit} from {self.warmup_from:g})" if self.warmup else ""
        return f"{self.shape} {self.start:g} → {self.end:g} over {self.length:g} {self.unit}{warmup}"


KEYS = tuple(f.name for f in fields(Schedule))


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def looks_like_schedule(value) -> bool:
    return isinstance(value, dict) and "start" in value and "end" in value


def parse(value, key: str) -> Schedule | float | None:
    """A schedulable key's value: None (also for a word it takes, WORDS), a number (as float) or a Schedule; a
    one-line UsageError for anything else."""
    if value in WORDS.get(key, ()):
        return None
    if value is None or is_number(value):
        return None if value is None else float(value)
    if not isinstance(value, dict):
        raise UsageError(f"{key}={value} is not a number or a schedule: give a number or {EXAMPLE}")
    unknown, missing = set(value) - set(KEYS), {"start", "end", "length"} - set(value)
    if unknown or missing:
        problem = f"has no key {', '.join(sorted(unknown))}" if unknown else f"needs {', '.join(sorted(missing))}"
        raise UsageError(f"the schedule of {key} {problem}; its keys: {', '.join(KEYS)} (e.g. {EXAMPLE})")
    for name in ("start", "end", "length", "warmup", "warmup_from"):
        if name in value and not is_number(value[name]):
            raise UsageError(f"{key}.{name}={value[name]} is not a number")
    schedule = Schedule(**{k: float(v) if is_number(v) else v for k, v in value.items()})
    checks = [
        ("unit", schedule.unit in UNITS, " or ".join(UNITS)),
        ("shape", schedule.shape in SHAPES, " or ".join(SHAPES)),
        ("length", schedule.length > 0, "> 0"),
        ("warmup", 0 <= schedule.warmup < schedule.length, "in [0, length)"),
    ]
    for name, ok, allowed in checks:
        if not ok:
            raise UsageError(f"{key}.{name}={getattr(schedule, name)} is out of range: it must be {allowed}")
    return schedule


def at_start(value):
    """A schedulable value as a number at the first step (the value itself when it is not a schedule)."""
    return parse(value, "").at(0, 1) if looks_like_schedule(value) else value


def select(config: dict, key: str):
    """The value at a dotted path of plain containers (list items by index), or None where there is none."""
    node = config
    for part in key.split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def schedules_of(config: dict) -> dict[str, Schedule]:
    """Every schedule of a run's config (plain containers), by key."""
    found = {key: parse(select(config, key), key) for key in SCHEDULABLE}
    return {key: value for key, value in found.items() if isinstance(value, Schedule)}


def misplaced(config, path: str = "") -> list[str]:
    """The paths of schedule nodes under keys that take none (a schedule for loss.lambda_gp, say)."""
    if looks_like_schedule(config) and path:
        return [] if path in SCHEDULABLE else [path]
    children = config.items() if isinstance(config, dict) else enumerate(config) if isinstance(config, list) else []
    return [found for name, child in children for found in misplaced(child, f"{path}.{name}" if path else str(name))]


def at_start_everywhere(config):
    """A copy of plain containers with every schedule replaced by its value at the first step: what the parts are
    built with (the training loop moves the values on from there)."""
    if looks_like_schedule(config):
        return at_start(config)
    if isinstance(config, dict):
        return {key: at_start_everywhere(value) for key, value in config.items()}
    if isinstance(config, list):
        return [at_start_everywhere(value) for value in config]
    return config


def images_per_step(config: dict) -> int:
    """Real images one generator step shows the critic (train.batch_size × train.n_critic): a schedule's image."""
    train = config.get("train") or {}
    return int(train.get("batch_size", 1)) * int(train.get("n_critic", 1))


def in_force(schedules: dict[str, Schedule], steps_done: int, per_step: int) -> str | None:
    """The schedules of a run whose generator has trained `steps_done` steps, and the values its last step trained
    with, as one line (a score's protocol carries it); None without schedules."""
    if not schedules:
        return None
    last = max(steps_done - 1, 0)
    return "; ".join(
        f"{key} {schedule.describe()} ({schedule.at(last, per_step):.4g} at step {steps_done})"
        for key, schedule in schedules.items()
    )
