"""Spec of the progress lines (training/progress.py): off a terminal the log tells the first step, then at least every
half minute with the speed and the time left, and once that a long run is long, with what shortens it."""

import logging

import pytest

from ganrun.training.progress import Progress, duration


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def lines(caplog):
    caplog.set_level(logging.INFO, logger="ganrun")
    return lambda: [record.getMessage() for record in caplog.records]


def test_durations_read_as_people_say_them():
    assert [duration(s) for s in (4.2, 89, 600, 5400, 3 * 86400 + 7200)] == [
        "4 s",
        "89 s",
        "10 min",
        "1 h 30 min",
        "3 d 2 h",
    ]


def test_the_first_step_then_a_line_whenever_the_log_was_quiet_for_half_a_minute(lines):
    clock = Clock()
    progress = Progress(0, 1000, "cpu", clock=clock)
    clock.now += 2.0
    progress.step_done(1)
    assert lines() == ["step 1 of 1000 done in 2 s (start-up included); about 33 min left at this pace"]
    for step in range(2, 41):  # a step a second: a line at step 31, 30 s after step 1's, and none before
        clock.now += 1.0
        progress.step_done(step)
    assert lines()[1:] == ["step 31 of 1000: 0.969 it/s, about 17 min left"]
    progress.logged()  # the loop's own line (every log.every steps) resets the silence
    for step in range(41, 70):
        clock.now += 1.0
        progress.step_done(step)
    assert len(lines()) == 2
    clock.now += 1.0
    progress.step_done(70)  # 30 s after the loop's line
    assert lines()[2] == "step 70 of 1000: 0.986 it/s, about 16 min left"


def test_a_run_that_will_take_hours_says_so_once_with_the_setting_that_shortens_it(lines):
    clock = Clock()
    progress = Progress(0, 10_000, "cpu", clock=clock)
    clock.now += 26.0  # R3GAN's default run on a CPU: 26 s a step
    progress.step_done(1)
    clock.now += 26.0
    progress.step_done(2)
    warned = [line for line in lines() if "at this pace" in line and "remaining" in line]
    assert warned == [
        "at this pace the remaining 9999 steps take about 3 d 0 h on cpu; for a shorter run set train.steps=N "
        "(resume=<its folder> train.steps=M continues it later) or run it on a GPU (device=cuda)"
    ]


def test_a_short_run_is_not_warned_and_a_resumed_one_counts_from_where_it_resumed(lines):
    clock = Clock()
    progress = Progress(500, 1000, "cuda", clock=clock)
    for step in range(501, 1001):
        clock.now += 0.05
        progress.step_done(step)
    said = lines()
    assert said[0] == "step 501 of 1000 done in 0 s (start-up included); about 25 s left at this pace"
    assert not any("remaining" in line for line in said)
