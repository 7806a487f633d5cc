"""Spec of train.cuda_graphs: a run whose steps are captured once and replayed trains exactly what the eager loop
trains: the same weights, optimizer states, moving average, logged means and RNG state, for every loss and
stabilizer that can be captured, with lazy penalties (one graph per phase), across a resume. What cannot be
captured is refused in one line (tests/app/test_validate.py).

A CUDA graph replays kernels without running Python. On this CPU-only machine `graph_emulator` gives a capture
those semantics (see its docstring), so these tests fail on state kept in Python, on a tensor rebound instead
of updated in place, and on host syncs, as a GPU would. tests/training/test_graphs_gpu.py runs the same cases with
real CUDA graphs where there is a GPU.
"""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from ganrun.base.errors import UsageError
from ganrun.objectives.regularizers import LeCam
from ganrun.training.divergence import UpdateGuard
from ganrun.training.graphs import GraphedSteps
from ganrun.training.loop import Hooks, fit
from ganrun.training.stats import RunningMeans
from helpers.cli import FAST, assert_user_error, ganrun
from helpers.graph_cases import (
    BETA2_SCHEDULED,
    CASES,
    CPU,
    SCHEDULED,
    Checkpoints,
    assert_same_run,
    build,
    compose_run,
    settings_for,
    state_of,
    train,
)
from helpers.graph_emulator import EmulatedGraphs


@pytest.fixture(autouse=True)
def capturable_on_cpu(monkeypatch):
    """RMSprop refuses capturable=True off the GPU; its capturable math is the same code on any device."""
    import torch.optim.rmsprop as rmsprop

    devices = rmsprop._get_capturable_supported_devices()
    monkeypatch.setattr(rmsprop, "_get_capturable_supported_devices", lambda *a, **k: [*devices, "cpu"])


@pytest.mark.parametrize("case", CASES)
def test_replayed_steps_train_what_eager_steps_train(case, tiny_mnist):
    cfg = compose_run(CASES[case], tiny_mnist)
    steps = 14 if case == "lazy_r1_hinge" else 6  # three phases × (3 eager + a capture) before all replay
    backend = EmulatedGraphs()
    graphed = train(cfg, steps, graphed=True, backend=backend)
    assert backend.captures == (3 if case == "lazy_r1_hinge" else 1)
    assert_same_run(graphed, train(cfg, steps, graphed=False))


SLOW_PRESETS = ("r3gan_cifar10_preset", "r3gan_ffhq64_preset")


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW_PRESETS else c for c in SCHEDULED]
)
def test_scheduled_values_are_read_from_the_device_and_replay_what_eager_steps_train(case, tiny_mnist):
    """Each scheduled value sits in a device tensor filled before each replay (training/graph_values.py), so the
    replayed steps train what the same steps run eagerly do, bit for bit. Without a scheduled β₂ that is the plain
    eager run itself (fused Adam reads a float64 tensor learning rate as the number it is; R1/R2's weight is the
    float32 of the same product); a scheduled β₂ runs Adam's step as GraphAdam in both."""
    cfg = compose_run(SCHEDULED[case], tiny_mnist)
    graphed = train(cfg, 6, graphed=True, backend=EmulatedGraphs())
    assert_same_run(graphed, train(cfg, 6, graphed=False, device_values=case in BETA2_SCHEDULED))


def test_a_scheduled_beta2_under_graphs_agrees_with_fused_adam_and_checkpoints_numbers(tiny_mnist):
    """GraphAdam computes Adam's update as PyTorch's capturable path does; fused Adam rounds otherwise: after 8 steps
    of R3GAN's CPU preset every weight agrees to 1e-5 of its tensor's largest (1.3e-6 seen). Its checkpoint holds
    the learning rate and betas as numbers, and an eager run (plain Adam) resumes from it."""
    cfg = compose_run(SCHEDULED["r3gan_small_preset"], tiny_mnist)
    checkpoints = Checkpoints()
    graphed = train(cfg, 8, graphed=True, backend=EmulatedGraphs(), checkpoints=checkpoints, ckpt_every=4)
    assert type(graphed[0].opt_d).__name__ == "GraphAdam"
    eager = train(cfg, 8, graphed=False)
    for role in ("generator", "critic"):
        for name, value in state_of(graphed[0])[role].items():
            other = state_of(eager[0])[role][name]
            assert (value - other).abs().max() <= 1e-5 * other.abs().max(), f"{role} {name}"
    saved = checkpoints.load(4)["opt_d"]["param_groups"][0]
    assert isinstance(saved["lr"], float) and all(isinstance(beta, float) for beta in saved["betas"])
    resumed = train(cfg, 6, graphed=False, start=checkpoints.load(4))
    assert type(resumed[0].opt_d).__name__ == "Adam" and resumed[1].step == 6


def test_a_resumed_graphed_run_recaptures_and_ends_where_an_eager_run_does(tiny_mnist):
    cfg = compose_run(CASES["lazy_r1_hinge"], tiny_mnist)
    checkpoints = Checkpoints()
    train(cfg, 5, graphed=True, backend=EmulatedGraphs(), checkpoints=checkpoints, ckpt_every=5)
    backend = EmulatedGraphs()
    resumed = train(cfg, 17, graphed=True, backend=backend, start=checkpoints.load(5))
    assert backend.captures == 3
    whole = train(cfg, 17, graphed=False)
    assert_close(state_of(resumed[0]), state_of(whole[0]), rtol=0, atol=0)


def test_the_emulated_capture_catches_state_kept_outside_tensors(tiny_mnist, monkeypatch):
    """The tests above have teeth: LeCam's anchors rebound to new tensors each step (as an earlier version did)
    are frozen at their captured value in every replay, and the runs part."""

    def rebinding_track(self, real_mean, fake_mean):
        if self.alpha_real is None:
            self.alpha_real, self.alpha_fake = real_mean.clone(), fake_mean.clone()
            return
        self.alpha_real = torch.lerp(self.alpha_real, real_mean, 1 - self.decay)
        self.alpha_fake = torch.lerp(self.alpha_fake, fake_mean, 1 - self.decay)

    monkeypatch.setattr(LeCam, "_track", rebinding_track)
    cfg = compose_run(CASES["lecam"], tiny_mnist)
    graphed, eager = train(cfg, 6, graphed=True, backend=EmulatedGraphs()), train(cfg, 6, graphed=False)
    assert not torch.equal(graphed[0].objective.regularizer.alpha_real, eager[0].objective.regularizer.alpha_real)


def test_a_host_sync_inside_the_step_fails_the_capture(tiny_mnist):
    """nan_policy=skip asks the host before each update: not capturable (the app refuses it before training)."""
    cfg = compose_run(["loss=bce"], tiny_mnist)
    parts, _ = build(cfg)
    settings = settings_for(cfg, 5, cuda_graphs=True, nan_policy="skip")
    with pytest.raises(
        UsageError,
        match=r"could not be captured in a CUDA graph \(not capturable in a CUDA graph: "
        r"aten._local_scalar_dense.default reads a value on the host .*\); run it without "
        "train.cuda_graphs",
    ) as caught:
        fit(parts, settings, Hooks.quiet(graph_backend=EmulatedGraphs()))
    assert "\n" not in str(caught.value)


def test_each_phase_runs_its_warmup_eagerly_then_replays(tiny_mnist):
    cfg = compose_run(CASES["lazy_r1_hinge"], tiny_mnist)
    backend = EmulatedGraphs()
    steps = GraphedSteps(
        build(cfg)[0], settings_for(cfg, 20, cuda_graphs=True), RunningMeans(), UpdateGuard("stop", CPU), backend
    )
    steps.parts.objective.regularizer.phase = lambda critic_step: (
        critic_step % 6 == 0
    )  # n_critic 2: (T, F) every 3rd step
    ran = []
    steps._step = lambda first: ran.append(first // 2) or True
    for step in range(10):
        steps.run(step)
    # (F, F) runs eagerly at steps 1, 2, 4, is captured at 5 and replayed at 7, 8; (T, F) runs eagerly at 0, 3, 6
    # and is captured at 9. A capture runs the step's Python once; a replay runs none.
    assert sorted(steps.eager_runs.items()) == [((False, False), 3), ((True, False), 3)]
    assert backend.captures == 2
    assert ran == [0, 1, 2, 3, 4, 5, 6, 9]


@pytest.mark.slow
def test_the_cli_without_a_gpu_says_so_in_one_line(tmp_path, tiny_mnist):
    result = ganrun(
        *FAST,
        "dataset=mnist",
        f"dataset.root={tiny_mnist}",
        "dataset.download=false",
        "train.steps=2",
        "train.cuda_graphs=true",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert_user_error(result, "train.cuda_graphs=true needs a CUDA GPU and this run is on cpu; use device=cuda")
    assert not list(tmp_path.glob("outputs/*/*/checkpoints/*.pt"))
