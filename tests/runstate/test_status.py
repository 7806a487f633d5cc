"""Spec of status.json (runstate/status.py): what a run has cost over its legs, and this leg's, with the time spent on
work later runs reuse (training the data set's classifier) kept apart."""

import json

import pytest

from ganrun.runstate import status as status_module
from ganrun.runstate.status import RunStatus


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(status_module.time, "time", lambda: now[0])
    return now


def written(run_dir) -> dict:
    return json.loads((run_dir / "status.json").read_text())


def test_a_leg_adds_to_the_legs_before_it(tmp_path, clock):
    first = RunStatus(tmp_path, 10)
    clock[0] += 40
    first.update(step=5)
    assert (written(tmp_path)["wall_time_s"], written(tmp_path)["legs"]) == (40, 1)
    second = RunStatus(tmp_path, 10)  # resumed in the same folder
    clock[0] += 25
    second.update(step=10, status="completed")
    found = written(tmp_path)
    assert (found["wall_time_s"], found["leg_wall_time_s"], found["legs"]) == (65, 25, 2)
    assert found["started"] == first.fields["started"]


def test_training_the_classifier_is_kept_apart_from_the_runs_time(tmp_path, clock):
    run = RunStatus(tmp_path, 10)
    clock[0] += 960  # 930 s of it training the data set's classifier, once for every later run
    run.set_aside(930.0)
    run.update(step=10)
    found = written(tmp_path)
    assert (found["wall_time_s"], found["leg_wall_time_s"], found["classifier_training_s"]) == (30, 30, 930)


def test_a_resumed_leg_keeps_the_classifiers_time_of_the_legs_before_it(tmp_path, clock):
    first = RunStatus(tmp_path, 10)
    clock[0] += 960
    first.set_aside(930.0)
    first.update(step=5)
    second = RunStatus(tmp_path, 10)  # resumed: the classifier is cached now, this leg trains none
    clock[0] += 25
    second.set_aside(0.0)
    second.update(step=10, status="completed")
    found = written(tmp_path)
    assert (found["wall_time_s"], found["leg_wall_time_s"], found["classifier_training_s"]) == (55, 25, 930)
