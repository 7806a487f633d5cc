"""Spec of the setup's rules that span parts (app/validate.py): each broken rule is one SetupError naming the keys to
change, each kept rule says nothing, and they run in the documented order. The configs are composed as the CLI
composes them, resolved and built for real (nothing is read of any data set)."""

import dataclasses
from types import SimpleNamespace

import pytest
import torch

from ganrun.app import validate as rules
from ganrun.app.assemble import build
from ganrun.app.resolve import resolve
from ganrun.base.errors import SetupError, UsageError
from ganrun.objectives.losses import Hinge
from ganrun.training import graphs
from helpers.cli import FAST
from helpers.configs import compose_with

CUDA = torch.device("cuda")


def planned(*overrides: str, **changed):
    """(plan, built) of a FAST config with `overrides`, the plan's fields `changed` (a GPU, several processes)."""
    plan = resolve(compose_with(*FAST, "device=cpu", *overrides))
    return dataclasses.replace(plan, **changed), build(plan)


def test_the_rules_run_in_the_documented_order():
    assert [rule.__name__ for rule in rules.RULES] == [
        "cuda_graphs_need_a_gpu",
        "conditional_needs_two_classes",
        "loss_scores_these_networks",
        "no_batchnorm_under_a_penalty",
        "adaptive_needs_a_decision_boundary",
        "accumulation_cuts_the_batch",
        "init_fits",
        "frozen_blocks_exist",
        "cuda_graphs_can_replay",
    ]
    rules.validate(*planned())  # the defaults break none


def test_cuda_graphs_on_a_cpu_are_refused_before_the_data_are_read():
    with pytest.raises(SetupError, match=r"^train.cuda_graphs=true needs a CUDA GPU and this run is on cpu; "):
        rules.validate(*planned("train.cuda_graphs=true"))
    with pytest.raises(SetupError, match="needs a CUDA GPU and this run is on cpu"):
        graphs.CudaGraphs(torch.device("cpu"))  # and the capture itself, asked for directly (ganrun.bench)


def test_a_conditional_model_needs_two_classes():
    with pytest.raises(SetupError, match=r"needs two classes or more, and the data hold one \(3\); add class"):
        rules.validate(*planned("dataset=mnist", "model.conditional=true", "dataset.classes=[3]"))
    rules.conditional_needs_two_classes(*planned("dataset=mnist", "model.conditional=true", "dataset.classes=[3,5]"))


def test_a_loss_that_returns_no_scores_is_named():
    class Scoreless(Hinge):
        def critic_loss(self, critic, real, fake, labels=None):
            return {"loss": super().critic_loss(critic, real, fake, labels)["loss"]}

    plan, built = planned()
    built.objective.loss = Scoreless()
    with pytest.raises(UsageError, match="critic_loss returned no 'real_scores', 'fake_scores'"):
        rules.loss_scores_these_networks(plan, built)


def test_a_penalty_through_batch_norm_is_refused_unless_allowed():
    with pytest.raises(SetupError, match="the critic has batch norm, which makes a gradient penalty wrong"):
        rules.validate(*planned("loss=wgan_gp", "model.critic_norm=batch"))
    rules.no_batchnorm_under_a_penalty(*planned("loss=bce", "model.critic_norm=batch"))
    allowed = ("loss=wgan_gp", "model.critic_norm=batch", "model.allow_batchnorm_with_penalty=true")
    rules.no_batchnorm_under_a_penalty(*planned(*allowed))


def test_adaptive_augmentation_needs_a_decision_boundary():
    with pytest.raises(SetupError, match="augment=adaptive tunes p from the sign of the critic's scores, which WGANGP"):
        rules.validate(*planned("augment=adaptive", "loss=wgan_gp"))
    rules.adaptive_needs_a_decision_boundary(*planned("augment=adaptive", "loss=hinge"))


def test_freezing_needs_the_critics_blocks():
    with pytest.raises(SetupError, match=r"train.freeze_critic=9, but the critic has \d blocks before its head"):
        rules.validate(*planned("train.freeze_critic=9"))
    plan, built = planned("train.freeze_critic=1")
    rules.frozen_blocks_exist(plan, built)
    blockless = SimpleNamespace(critic=torch.nn.Linear(2, 1))
    with pytest.raises(SetupError, match="needs the critic's blocks, and Linear has no blocks"):
        rules.frozen_blocks_exist(plan, blockless)


def test_schedules_run_under_graphs():
    """Their values are read from the device (training/graph_values.py): Adam's learning rate and β₂, γ, ADA's p."""
    scheduled = [
        "regularizer=r1",
        "regularizer.gamma={start: 1, end: 0.1, length: 5}",
        "optim.generator.lr={start: 2e-4, end: 1e-4, length: 5}",
        "optim.critic.betas=[0, {start: 0.9, end: 0.99, length: 5}]",
    ]
    rules.cuda_graphs_can_replay(*planned("train.cuda_graphs=true", *scheduled, device=CUDA))


@pytest.mark.parametrize(
    "overrides, changed, message",
    [
        (["train.compile=true"], {}, "train.cuda_graphs=true and train.compile=true do not go together"),
        (["train.nan_policy=skip"], {}, "train.nan_policy=skip decides on the host"),
        (["augment=adaptive", "loss=hinge"], {}, "augment=adaptive tunes p on the host"),
        (
            ["optim.critic.name=rmsprop", "optim.critic.lr={start: 1e-4, end: 1e-5, length: 5}"],
            {},
            "a schedule of optim.critic.lr under train.cuda_graphs needs Adam",
        ),
        ([], {"world": 2}, "does not run under torchrun yet"),
    ],
)
def test_what_a_graph_cannot_replay_is_refused_in_one_line(overrides, changed, message):
    plan, built = planned("train.cuda_graphs=true", *overrides, device=CUDA, **changed)
    with pytest.raises(SetupError, match=message):
        rules.cuda_graphs_can_replay(plan, built)
    rules.cuda_graphs_can_replay(*planned(*overrides, device=CUDA, **changed))  # without graphs: nothing to say
