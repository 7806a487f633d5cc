"""Spec: a run is a function of its config and seed.

Whatever is logged or measured and how often (log.every, log.images_every, ckpt.every, metrics.every and which
metrics), in whichever storage tier the images are kept (dataset.storage, dataset.readers), and wherever the run
was stopped and continued (preempted by a signal, killed after a checkpoint, or
finished and then extended with more train.steps), with x-flips, accumulated updates or a start from another
run's weights (init=PATH, FreezeD), the trained weights, optimizer states, EMA, data order, the
augmentation's and regularizer's state and the RNG end bit-identical (CPU) to those of the run that went straight
through measuring nothing. Checked as a property over random plans, in process through the app's own `run` (what
`python -m ganrun` calls, with its checkpoints on disk and `resume=auto`), and through the real CLI.
"""

from __future__ import annotations

import json

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import open_dict

from ganrun.app import resolvers, schema
from ganrun.app.run import train as train_in_process
from ganrun.runstate.session import RunSession
from helpers.checkpoints import FUTURE
from helpers.cli import FAST, REPO, ganrun
from helpers.runs import differences

STEPS = 9
VARIANTS = {
    "wgan_gp": ["loss=wgan_gp", "train.n_critic=2"],
    "bce": ["loss=bce"],
    "bce_no_ema_diffaugment": ["loss=bce", "train.ema=0", "augment=diffaugment"],
    "hinge_adaptive_lecam": [
        "loss=hinge",
        "augment=adaptive",
        "augment.interval=1",
        "augment.speed_kimg=0.05",
        "regularizer=lecam",
    ],
    "conditional_spectral_norm_in_g": [
        "loss=hinge",
        "model.conditional=true",
        "regularizer=spectral_norm",
        "regularizer.generator=true",
    ],
    # a relativistic loss: the generator's step draws a real batch of its own (with its labels)
    "conditional_rpgan_lazy_r1r2": ["loss=rpgan", "regularizer=r1r2", "regularizer.every=2", "model.conditional=true"],
    # schedules: values set from the step alone before every step, nothing of them in the checkpoint
    "schedules": [
        "loss=rpgan",
        "regularizer=r1r2",
        "optim.generator.lr={start: 4e-4, end: 1e-4, length: 6, unit: steps, warmup: 2, warmup_from: 1e-4}",
        "optim.critic.betas=[0, {start: 0.9, end: 0.99, length: 64, unit: images, shape: linear}]",
        "regularizer.gamma={start: 1.0, end: 0.1, length: 9, unit: steps}",
        "train.ema_halflife={start: 0, end: 40, length: 9, unit: steps}",
        "augment=ada",  # ADA's pipeline: fresh parameters per image from the global generator, p scheduled
        "augment.p={start: 0.3, end: 0.9, length: 9, unit: steps}",
    ],
    "hinge_ada_adaptive": ["loss=hinge", "augment=ada", "augment.interval=1", "augment.speed_kimg=0.05"],
    # mirrored images drawn by the order, and each update summed over chunks of the batch
    "wgan_gp_xflip_accumulate": ["loss=wgan_gp", "train.n_critic=2", "dataset.xflip=true", "train.accumulate=2"],
    # a new run from another's weights and optimizer states (INIT: a checkpoint of the bce variant), FreezeD
    "bce_init_freeze_critic": ["loss=bce", "init.path=INIT", "init.optimizers=true", "train.freeze_critic=1"],
}
INIT_STEPS = 3
MEASURE_NOTHING = {"log.every": STEPS, "log.images_every": 10**6, "ckpt.every": STEPS, "metrics.names": "[]"}


class Killed(BaseException):
    """The process died (SIGKILL, a failed node): no checkpoint is written for the step it was in."""


class StopAt:
    """A StopRequest that is asked once per step: a signal arrives at step `at` (or the process dies there)."""

    def __init__(self, start: int, at: int | None = None, kill: bool = False):
        self.step, self.at, self.kill = start, at, kill

    @property
    def requested(self) -> bool:
        self.step += 1
        if self.step == self.at and self.kill:
            raise Killed
        return self.step == self.at


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from helpers.tiny_data import write_mnist

    return write_mnist(tmp_path_factory.mktemp("exact") / "mnist")


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GANRUN_CACHE", str(tmp_path_factory.getbasetemp() / "exact-cache"))


def init_checkpoint(data) -> str:
    """The checkpoint the init variants start from: INIT_STEPS steps of the bce variant, trained once."""
    run_dir = data.parent / "init-from"
    if not (run_dir / "checkpoints" / "last.pt").is_file():
        train_leg(data, "bce", MEASURE_NOTHING, run_dir, INIT_STEPS)
    return str(run_dir / "checkpoints" / "last.pt")


def overrides_for(data, variant: str, cadences: dict, run_dir, steps: int) -> list[str]:
    variant_overrides = [
        o.replace("=INIT", f"={init_checkpoint(data)}") if o.endswith("=INIT") else o for o in VARIANTS[variant]
    ]
    return [
        *FAST,
        "dataset=mnist",
        f"dataset.root={data}",
        "dataset.download=false",
        "metrics.num_samples=16",
        *variant_overrides,
        *(f"{k}={v}" for k, v in cadences.items()),
        f"train.steps={steps}",
        f"hydra.run.dir={run_dir}",
        "resume=auto",
    ]


def train_leg(data, variant: str, cadences: dict, run_dir, steps: int, stop: StopAt | None = None):
    """One `python -m ganrun ... resume=auto` in this process: compose, then the app's train() in the run's
    session, whose stop request is `stop`."""
    overrides = overrides_for(data, variant, cadences, run_dir, steps)  # (an init variant trains its start first)
    schema.register()
    resolvers.register_resolvers()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # as @hydra.main hands it to the task
    session = RunSession(run_dir, steps)
    session.stop = stop or StopAt(0)
    train_in_process(cfg, run_dir, session)


def step_on_disk(run_dir) -> int:
    last = run_dir / "checkpoints" / "last.pt"
    return torch.load(last, weights_only=True)["step"] if last.is_file() else 0


def future_of(run_dir) -> dict:
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    return {key: state[key] for key in FUTURE}


_straight: dict = {}


def straight_through(data, variant: str, tmp_path_factory) -> dict:
    if variant not in _straight:
        run_dir = tmp_path_factory.mktemp(f"straight-{variant}")
        train_leg(data, variant, MEASURE_NOTHING, run_dir, STEPS)
        _straight[variant] = future_of(run_dir)
    return _straight[variant]


cadences = st.fixed_dictionaries(
    {
        "log.every": st.integers(1, 4),
        "log.images_every": st.integers(1, 5),
        "ckpt.every": st.integers(1, 5),
        "metrics.every": st.integers(0, 3),
        "metrics.names": st.sampled_from(["[]", "[classifier_fd]"]),
        # and where the images live, leg by leg: the same batches in every storage tier, with any number of readers
        "dataset.storage": st.sampled_from(["auto", "host", "stream"]),
        "dataset.readers": st.integers(1, 3),
    }
)
interruptions = st.lists(
    st.tuples(st.integers(1, STEPS - 1), st.sampled_from(["finish", "preempt", "kill"])),
    max_size=3,
    unique_by=lambda stop: stop[0],
).map(sorted)


@pytest.mark.slow
@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(variant=st.sampled_from(sorted(VARIANTS)), stops=interruptions, legs=st.lists(cadences, min_size=4, max_size=4))
def test_cadences_and_resume_points_never_change_what_is_trained(variant, stops, legs, data, tmp_path_factory):
    expected = straight_through(data, variant, tmp_path_factory)
    run_dir = tmp_path_factory.mktemp(f"plan-{variant}")
    for (at, how), leg in zip(stops, legs):
        start = step_on_disk(run_dir)
        if how == "finish":  # a run that ended at `at`, extended afterwards with more train.steps
            train_leg(data, variant, leg, run_dir, at)
        else:  # a signal at step `at` (checkpoint, stop), or a death there (back to the last checkpoint)
            try:
                train_leg(data, variant, leg, run_dir, STEPS, StopAt(start, at, kill=how == "kill"))
            except Killed:
                pass
    train_leg(data, variant, legs[-1], run_dir, STEPS)
    assert differences(future_of(run_dir), expected) == []


def test_the_property_has_teeth(data, tmp_path_factory, monkeypatch):
    """A measurement that draws from the training streams, as the metrics did before they had streams of their
    own, breaks the equality the property checks."""
    from ganrun.training import loop

    real = loop.own_streams
    monkeypatch.setattr(loop, "own_streams", lambda: _Leaky(real()))
    run_dir = tmp_path_factory.mktemp("leaky")
    train_leg(data, "bce", {**MEASURE_NOTHING, "log.images_every": 2}, run_dir, STEPS)
    assert "/generator" in " ".join(differences(future_of(run_dir), straight_through(data, "bce", tmp_path_factory)))


class _Leaky:
    """A context that draws one number from the training stream before entering the real one."""

    def __init__(self, inner):
        self.inner = inner

    def __enter__(self):
        torch.rand(1)
        return self.inner.__enter__()

    def __exit__(self, *exc):
        return self.inner.__exit__(*exc)


# ---------------------------------------------------------------- the same through the real CLI


def cli_args(data, run, *extra):
    return [
        "dataset=mnist",
        f"dataset.root={data}",
        "dataset.download=false",
        *FAST,
        "train.batch_size=8",
        "train.n_critic=2",
        "loss=wgan_gp",
        "seed=3",
        "metrics.num_samples=64",
        f"hydra.run.dir={run}",
        *extra,
    ]


def weights(run_dir) -> dict:
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    return {key: state[key] for key in ("generator", "critic", "opt_g", "opt_d", "ema", "data", "rng")}


@pytest.mark.slow
def test_measuring_often_or_extending_a_finished_run_trains_the_same_weights(tmp_path, data):
    metrics = ["metrics.names=[classifier_fd]"]
    for run, extra in (
        ("never", ["metrics.every=0", "train.steps=6"]),
        ("often", ["metrics.every=2", "log.every=1", "log.images_every=1", "train.steps=6"]),
        ("extended", ["train.steps=3"]),
    ):
        result = ganrun(*cli_args(data, run, *metrics, *extra), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    result = ganrun(*cli_args(data, "extended", *metrics, "train.steps=6", "resume=auto"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    never = weights(tmp_path / "never")
    assert differences(weights(tmp_path / "often"), never) == []
    assert differences(weights(tmp_path / "extended"), never) == []
    status = json.loads((tmp_path / "often" / "status.json").read_text())
    assert "metrics/classifier_fd" in status["final"]  # it did measure
