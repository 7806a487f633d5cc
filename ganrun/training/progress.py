"""How far a run is and how long it has left, in the log: the progress bar is silent off a terminal (a batch job,
a sweep, `> out.txt`), so the log says when the first step is done, then at least every half minute, with the speed
and the time left; a run whose estimate is long says so once near its start, with the setting that shortens it."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("ganrun")

EVERY_S = 30.0  # the longest silence in the log between two lines about the run's progress
LONG_S = 3600.0  # a run longer than this (an hour) is told so once, with what shortens it
SETTLED_S = 10.0  # the speed is measured over this long (or the first progress line) before the estimate is told


def duration(seconds: float) -> str:
    """A duration for people: 45 s, 12 min, 3 h 20 min, 2 d 5 h."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    hours, minutes = divmod(round(minutes), 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


class Progress:
    """Lines about the run's progress: the first step, then one whenever the log has been silent for EVERY_S (the
    loop's own lines every log.every steps count), and once a warning when the whole run will take long."""

    def __init__(self, start: int, steps: int, device: str, clock=time.monotonic):
        self.start, self.steps, self.device, self.clock = start, steps, device, clock
        self.began = self.last_line = clock()
        self.warned = False

    def logged(self) -> None:
        """The loop wrote its own line (speed and losses): the log is not silent."""
        self.last_line = self.clock()

    def step_done(self, step: int) -> None:
        """Generator step `step` is done: tell it when it is the run's first here or the log has been quiet."""
        now = self.clock()
        done = step - self.start
        rate = done / max(now - self.began, 1e-9)  # steps per second since this process began training
        left = (self.steps - step) / rate
        if done == 1:
            log.info(
                "step %d of %d done in %s (start-up included)%s",
                step,
                self.steps,
                duration(now - self.began),
                "" if step == self.steps else f"; about {duration(left)} left at this pace",
            )
            self.last_line = now
        elif now - self.last_line >= EVERY_S and step < self.steps:
            log.info("step %d of %d: %.3g it/s, about %s left", step, self.steps, rate, duration(left))
            self.last_line = now
        if not self.warned and now - self.began >= SETTLED_S:
            self.warned = True
            self._warn_if_long(step, left)

    def _warn_if_long(self, step: int, left: float) -> None:
        if left < LONG_S:
            return
        faster = " or run it on a GPU (device=cuda)" if self.device == "cpu" else ""
        log.warning(
            "at this pace the remaining %d steps take about %s on %s; for a shorter run set train.steps=N (resume=<its "
            "folder> train.steps=M continues it later)%s",
            self.steps - step,
            duration(left),
            self.device,
            faster,
        )
