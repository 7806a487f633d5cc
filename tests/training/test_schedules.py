"""Spec of schedules: a schedulable key takes a number or {start, end, length, unit, shape, warmup, warmup_from},
valued from the generator step alone (closed forms below); the run sets each value where it is used before every
step, reports it as schedule/<key>, keeps the node in its stored config and names it in every score's protocol."""

import json
import math

import pytest
import torch
import yaml

from ganrun.base.errors import UsageError
from ganrun.base.schedules import Schedule, in_force, parse
from ganrun.quality.protocol import Scores, describe
from ganrun.training.ema import EMA
from helpers.cli import assert_user_error
from helpers.events import read_scalars
from helpers.runs import train

LR = Schedule(start=2e-4, end=5e-5, length=100, unit="steps")


@pytest.fixture(scope="module")
def tiny_mnist(tmp_path_factory):
    from helpers.tiny_data import write_mnist

    return write_mnist(tmp_path_factory.mktemp("schedules") / "mnist")


def test_cosine_runs_half_a_cosine_from_start_to_end_and_stays_there():
    for step in (0, 10, 25, 50, 99):
        expected = 2e-4 + (5e-5 - 2e-4) * 0.5 * (1 - math.cos(math.pi * step / 100))
        assert LR.at(step, 1) == pytest.approx(expected, rel=1e-12)
    assert LR.at(50, 1) == pytest.approx((2e-4 + 5e-5) / 2, rel=1e-12)
    assert LR.at(100, 1) == LR.at(10**6, 1) == 5e-5


def test_linear_and_a_length_in_images():
    beta2 = Schedule(start=0.9, end=0.99, length=800, unit="images", shape="linear")
    # 8 images a step: step 25 has shown 200 of the 800 images
    assert beta2.at(25, 8) == pytest.approx(0.9 + 0.09 * 0.25, rel=1e-12)
    assert beta2.at(100, 8) == pytest.approx(0.99)


def test_a_warm_up_ramps_linearly_to_start_first():
    s = Schedule(start=1.0, end=0.0, length=30, unit="steps", shape="linear", warmup=10, warmup_from=0.2)
    assert [s.at(t, 1) for t in (0, 5, 10)] == pytest.approx([0.2, 0.6, 1.0])
    assert s.at(20, 1) == pytest.approx(0.5)  # half of the 20 steps after the warm-up
    assert set(s.extremes()) == {1.0, 0.0, 0.2}


@pytest.mark.parametrize(
    "value,message",
    [
        ({"start": 1, "end": 2}, "needs length"),
        ({"start": 1, "end": 2, "length": 5, "steps": 3}, "has no key steps"),
        ({"start": 1, "end": 2, "length": 5, "shape": "exp"}, "shape=exp is out of range"),
        ({"start": 1, "end": 2, "length": 0}, "length=0.0 is out of range"),
        ({"start": 1, "end": 2, "length": 5, "warmup": 5}, "warmup=5.0 is out of range"),
        ({"start": "a", "end": 2, "length": 5}, "start=a is not a number"),
        ("fast", "is not a number or a schedule"),
    ],
)
def test_a_bad_schedule_is_a_one_line_usage_error(value, message):
    with pytest.raises(UsageError, match=message):
        parse(value, "optim.critic.lr")


def test_the_ema_half_life_in_images_sets_the_decay():
    model = torch.nn.Linear(2, 2)
    ema = EMA(model, 0.999, 0.01, halflife=640.0, images_per_step=64)
    assert ema.beta(5) == pytest.approx(0.5 ** (64 / 640))
    ramp = EMA(model, 0.999, 0.01, halflife=Schedule(start=0, end=6400, length=10, unit="steps"), images_per_step=64)
    assert ramp.beta(1) == 0.0  # half-life 0 at the first step: the average is the generator
    assert ramp.beta(11) == pytest.approx(0.5 ** (64 / 6400))


def test_the_protocol_of_a_score_names_the_schedules_in_force():
    line = in_force({"optim.critic.lr": LR}, 50, 1)
    assert line == "optim.critic.lr cosine 0.0002 → 5e-05 over 100 steps (0.0001274 at step 50)"  # step 49 trained last
    protocol = Scores({"metrics/fid": 1.0}, {"fid": {"metric": "fid"}}).at(50, line)["fid"]
    assert protocol["schedules"] == line and protocol["step"] == 50
    assert in_force({}, 50, 1) is None


SCHEDULED = [
    "loss=rpgan",
    "regularizer=r1r2",
    "optim.critic.lr={start: 4e-4, end: 1e-4, length: 4, unit: steps}",
    "optim.critic.betas=[0, {start: 0.9, end: 0.99, length: 32, unit: images, shape: linear}]",
    "regularizer.gamma={start: 1.0, end: 0.1, length: 4, unit: steps, shape: linear}",
    "train.ema_halflife={start: 0, end: 64, length: 4, unit: steps}",
]


def test_a_run_trains_with_reports_and_records_its_schedules(tmp_path, tiny_mnist):
    run = train(tmp_path, tiny_mnist, *SCHEDULED, "log.every=1")
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    # the last of 4 steps (step 3) trained with these values, set in the optimizer where Adam reads them
    group = state["opt_d"]["param_groups"][0]
    assert group["lr"] == pytest.approx(1e-4 + 3e-4 * 0.5 * (1 + math.cos(math.pi * 3 / 4)))
    assert group["betas"] == pytest.approx((0.0, 0.9 + 0.09 * 24 / 32))
    assert state["opt_g"]["param_groups"][0]["lr"] == 2e-4  # not scheduled: as configured
    scalars = read_scalars(run)
    assert [value for _, value in scalars["schedule/regularizer.gamma"]] == pytest.approx([1.0, 0.775, 0.55, 0.325])
    assert {"schedule/optim.critic.lr", "schedule/optim.critic.betas.1", "schedule/train.ema_halflife"} <= set(scalars)
    assert "schedule/optim.generator.lr" not in scalars
    stored = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    assert stored["regularizer"]["gamma"] == {"start": 1.0, "end": 0.1, "length": 4, "unit": "steps", "shape": "linear"}
    final = json.loads((run / "status.json").read_text())["final"]
    assert final["schedule/regularizer.gamma"] == pytest.approx(0.325)


@pytest.mark.parametrize(
    "override,message",
    [
        ("loss.lambda_gp={start: 1, end: 2, length: 3}", "loss.lambda_gp takes no schedule"),
        ("optim.critic.lr={start: 1e-4, end: 0, length: 3}", "optim.critic.lr="),
        ("optim.critic.lr=fast", "optim.critic.lr=fast is not a number or a schedule"),
        ("optim.critic.betas=[0, {start: 0.9, end: 1.0, length: 3}]", "optim.critic.betas.1="),
        ("optim.critic.lr={start: 1e-4, end: 1e-5}", "needs length"),
        (("augment=ada", "augment.p={start: 0, end: 1.5, length: 3}"), "augment.p="),
    ],
)
def test_a_schedule_where_none_fits_is_refused_before_training(tmp_path, tiny_mnist, override, message):
    from helpers.cli import FAST, ganrun

    args = ["dataset=mnist", f"dataset.root={tiny_mnist}", "dataset.download=false", *FAST, "train.steps=2"]
    overrides = override if isinstance(override, tuple) else (override,)
    result = ganrun(*args, *overrides, "hydra.run.dir=run", cwd=tmp_path)
    assert_user_error(result, message)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_schedule_is_described_in_one_line():
    protocol = {
        "metric": "fid",
        "generated_images": 10,
        "generator": "ema",
        "real_images": 5,
        "reference": "mnist",
        "split": "train",
        "features": "f",
        "weights": "w",
        "resize": "r",
        "settings": "",
        "step": 3,
        "schedules": "regularizer.gamma linear 1 → 0.1 over 4 steps (0.1 at step 4)",
    }
    assert "(trained with regularizer.gamma linear 1 → 0.1 over 4 steps (0.1 at step 4))" in describe(protocol)
