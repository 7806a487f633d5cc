"""Spec of a researcher's own generator, critic and loss, kept in their own package and configs (training/contract.py,
docs/own_parts.md): the example in examples/own_parts trains through the real CLI from a config folder on Hydra's
search path, or with `model._target_` on the command line, and samples; a part that does not meet the interface
stops when it is built, in one line that names what it lacks."""

import textwrap

import numpy as np
import pytest
import torch

from ganrun.base.errors import UsageError
from ganrun.build import build_gan, build_loss
from ganrun.training.contract import check_loss_terms
from helpers.cli import REPO, assert_user_error, ganrun
from helpers.configs import compose_with

EXAMPLE = REPO / "examples" / "own_parts"
ENV = {"PYTHONPATH": f"{REPO}:{EXAMPLE}"}  # the package on the path, as the guide says; ganrun's checkout first
TOOL = {"module": "ganrun.sample", "env": ENV}
DATA = ["dataset=mnist", "dataset.download=false", "metrics.names=[]", "train.batch_size=8", "log.num_samples=4"]


@pytest.mark.slow
def test_a_network_and_a_loss_of_ones_own_train_from_their_own_configs(tmp_path, tiny_mnist):
    search = f"hydra.searchpath=[file://{EXAMPLE / 'my_configs'}]"
    args = [search, "model=mlp", "loss=squared_hinge", *DATA, f"dataset.root={tiny_mnist}", "train.steps=4"]
    result = ganrun(*args, "train.freeze_critic=1", "log.every=2", "hydra.run.dir=run", cwd=tmp_path, env=ENV)
    assert result.returncode == 0, result.stderr
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert state["config"]["model"]["_target_"] == "mypkg.nets.build" and state["step"] == 4
    assert state["config"]["loss"] == {"_target_": "mypkg.losses.SquaredHinge", "margin": 1.0}
    assert set(state["generator"]) == {"net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias"}
    assert "critic's body.1.weight, body.1.bias stay fixed" in (tmp_path / "run" / "ganrun.log").read_text()
    sampled = ganrun("run/checkpoints/last.pt", "--num", "6", "--out", "own.npz", cwd=tmp_path, **TOOL)
    assert sampled.returncode == 0, sampled.stderr  # the tools rebuild the network from the stored config
    assert np.load(tmp_path / "own.npz")["arr_0"].shape == (6, 28, 28, 1)


@pytest.mark.slow
def test_a_target_on_the_command_line_replaces_a_models_networks(tmp_path, tiny_mnist):
    args = ["model._target_=mypkg.nets.build", *DATA, f"dataset.root={tiny_mnist}", "train.steps=2", "log.every=2"]
    result = ganrun(*args, "hydra.run.dir=run", cwd=tmp_path, env=ENV)
    assert result.returncode == 0, result.stderr
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert "body.1.weight" in state["critic"]  # the MLP's critic, with model=dcgan's other keys left to **other_keys


BROKEN = """
    import torch
    from torch import nn

    from ganrun.objectives.losses import Loss


    class NoZ(nn.Module):
        def forward(self, z):
            return z


    class Wrong(nn.Module):
        z_dim = 4

        def forward(self, z):
            return torch.zeros(len(z), 1, 8, 8)  # not the data's 28×28


    class Critic(nn.Module):
        def __init__(self):
            super().__init__()
            self.score = nn.Linear(784, 1)

        def forward(self, x):
            return self.score(x.flatten(1))


    class Fine(nn.Module):
        z_dim = 4

        def __init__(self):
            super().__init__()
            self.net = nn.Linear(4, 784)

        def forward(self, z):
            return self.net(z).view(len(z), 1, 28, 28).tanh()


    def no_z(**keys):
        return NoZ(), Critic()


    def wrong_shape(**keys):
        return Wrong(), Critic()


    def generator_only(**keys):
        return Fine()


    def fine(**keys):
        return Fine(), Critic()


    class NoGeneratorLoss:
        penalized, decision_boundary = False, 0.0

        def critic_loss(self, critic, real, fake, labels=None):
            return {"loss": critic(real).mean()}

        def after_critic_step(self, critic):
            pass


    class NoScores(Loss):
        def critic_loss(self, critic, real, fake, labels=None):
            return {"loss": critic(real).mean()}

        def generator_loss(self, fake_scores):
            return fake_scores.mean()
"""


@pytest.fixture
def broken(tmp_path, monkeypatch):
    (tmp_path / "broken_parts.py").write_text(textwrap.dedent(BROKEN))
    monkeypatch.syspath_prepend(str(tmp_path))


MODELS = [
    ("no_z", "the generator broken_parts.NoZ does not meet ganrun's interface: it has no z_dim (an int >= 1"),
    ("wrong_shape", "G(z) of 2 noise vectors returned (2, 1, 8, 8), not images of shape (2, 1, 28, 28)"),
    ("generator_only", "it returned a broken_parts.Fine, not the pair (generator, critic)"),
]


@pytest.mark.parametrize("target, message", MODELS, ids=[m[0] for m in MODELS])
def test_a_network_that_misses_a_piece_stops_in_one_line_naming_it(broken, tmp_path, target, message):
    cfg = compose_with("dataset=mnist", f"model._target_=broken_parts.{target}")
    with pytest.raises(UsageError) as error:
        build_gan(cfg)
    assert message in str(error.value) and "\n" not in str(error.value)
    assert "docs/own_parts.md" in str(error.value)


def test_a_loss_that_misses_a_piece_stops_in_one_line_naming_it(broken):
    cfg = compose_with("dataset=mnist", "model._target_=broken_parts.fine")
    generator, critic, _ = build_gan(cfg)
    with pytest.raises(UsageError, match=r"it has no method generator_loss\(fake_scores\); derive it from ganrun"):
        build_loss(compose_with("loss._target_=broken_parts.NoGeneratorLoss", "~loss.lambda_gp", "~loss.one_sided"))
    loss = build_loss(compose_with("loss._target_=broken_parts.NoScores", "~loss.lambda_gp", "~loss.one_sided"))
    with pytest.raises(UsageError, match="critic_loss returned no 'real_scores', 'fake_scores'"):
        check_loss_terms(loss, generator, critic)


@pytest.mark.slow
def test_ganruns_own_parts_meet_the_interface():
    for model in ("dcgan", "dcgan28", "resnet", "upsample", "dcgan96", "r3gan"):
        size = {"dcgan28": 28, "resnet": 32, "upsample": 32, "dcgan96": 96, "r3gan": 32}.get(model, 64)
        cfg = compose_with("dataset=cifar10", f"dataset.image_size={size}", f"model={model}")
        generator, critic, _ = build_gan(cfg)
        assert len(critic.blocks()) >= 2  # train.freeze_critic counts them
        for loss in ("bce", "wgan", "wgan_gp", "wgan_div", "hinge", "lsgan", "rpgan", "ragan"):
            check_loss_terms(build_loss(compose_with(f"loss={loss}")), generator, critic)


@pytest.mark.slow
def test_through_the_cli_a_broken_part_is_one_line_and_exit_code_2(broken, tmp_path, tiny_mnist):
    args = ["model._target_=broken_parts.no_z", *DATA, f"dataset.root={tiny_mnist}", "hydra.run.dir=run"]
    result = ganrun(*args, cwd=tmp_path, env={"PYTHONPATH": f"{REPO}:{tmp_path}"})
    assert_user_error(result, "the generator broken_parts.NoZ does not meet ganrun's interface: it has no z_dim")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert not (tmp_path / "run" / "checkpoints").exists()
