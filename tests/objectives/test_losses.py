"""Closed forms of every objective and penalty. A linear critic D(x) = w·x has ∇D = w everywhere."""

import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from ganrun.base.errors import UsageError
from ganrun.objectives import losses, penalties, regularizers
from helpers.critics import Linear


class Zero(nn.Module):
    """A critic whose logits are 0 everywhere (and that still has a parameter)."""

    def __init__(self):
        super().__init__()
        self.b = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return x.flatten(1)[:, :1] * 0 + self.b


@pytest.fixture
def batch():
    torch.manual_seed(0)
    return torch.randn(6, 1, 4, 4), torch.randn(6, 1, 4, 4)


@pytest.fixture(params=[0.5, 1.0, 2.5])
def critic(request):
    w = torch.randn(16)
    return Linear(w / w.norm() * request.param)  # ‖w‖ = param


def wnorm(critic):
    return critic.w.detach().norm().item()


def test_grad_norm_of_a_linear_critic_is_norm_w(critic, batch):
    assert_close(penalties.input_grad_norm(critic, batch[0]), torch.full((6,), wnorm(critic)))


@pytest.mark.parametrize("one_sided", [False, True])
def test_gradient_penalty_closed_form(critic, batch, one_sided):
    real, fake = batch
    terms = losses.WGANGP(lambda_gp=10, one_sided=one_sided).critic_loss(critic, real, fake)
    excess = wnorm(critic) - 1
    expected = 10 * (max(excess, 0) if one_sided else excess) ** 2
    assert terms["penalty"].item() == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert terms["grad_norm"].item() == pytest.approx(wnorm(critic), rel=1e-5)
    wasserstein = (critic(real).mean() - critic(fake).mean()).item()
    assert terms["wasserstein"].item() == pytest.approx(wasserstein, rel=1e-5)
    assert terms["loss"].item() == pytest.approx(-wasserstein + expected, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("points", penalties.WGAN_DIV_POINTS)
def test_wgan_div_penalty_closed_form_for_every_points_choice(critic, batch, points):
    terms = losses.WGANDiv(k=2, p=6, points=points).critic_loss(critic, *batch)
    assert terms["penalty"].item() == pytest.approx(2 * wnorm(critic) ** 6, rel=1e-4)


def test_r1_closed_form(critic, batch):
    terms = regularizers.R1(gamma=3.0).critic_penalty(critic, batch[0], batch[1], critic_step=0)
    assert terms["penalty"].item() == pytest.approx(1.5 * wnorm(critic) ** 2, rel=1e-5)


def test_lazy_r1_runs_every_nth_step_scaled(critic, batch):
    r1 = regularizers.R1(gamma=2.0, every=4)
    assert r1.critic_penalty(critic, *batch, critic_step=1) is None
    assert r1.critic_penalty(critic, *batch, critic_step=8)["penalty"].item() == pytest.approx(
        4 * wnorm(critic) ** 2, rel=1e-5
    )


def test_penalty_gradients_reach_the_critic(batch):
    critic = Linear(torch.full((16,), 0.5))  # ‖w‖ = 2: the penalty pushes ‖w‖ down
    losses.WGANGP(lambda_gp=1).critic_loss(critic, *batch)["penalty"].backward()
    # d/dw (‖w‖ − 1)² = 2(‖w‖ − 1)·w/‖w‖ = 2·1·w/2 = w
    assert_close(critic.w.grad, torch.full((16,), 0.5))


def test_bce_at_zero_logits(batch):
    loss = losses.BCE()
    assert loss.critic_loss(Zero(), *batch)["loss"].item() == pytest.approx(2 * math.log(2))
    assert loss.generator_loss(torch.zeros(5, 1)).item() == pytest.approx(math.log(2))
    assert losses.BCE(saturating=True).generator_loss(torch.zeros(5, 1)).item() == pytest.approx(-math.log(2))


def test_bce_label_smoothing_closed_form(batch):
    # target 0.9 at logit 0: −(0.9·ln σ(0) + 0.1·ln(1 − σ(0))) = ln 2 still; at logit 2 it differs.
    logits = torch.full((6, 1), 2.0)
    expected = -(
        0.9 * math.log(torch.sigmoid(torch.tensor(2.0)).item())
        + 0.1 * math.log(1 - torch.sigmoid(torch.tensor(2.0)).item())
    )

    class Two(Zero):
        def forward(self, x):
            return logits + 0 * self.b

    terms = losses.BCE(real_label=0.9).critic_loss(Two(), *batch)
    fake_part = math.log(1 + math.exp(2.0))  # −ln(1 − σ(2))
    assert terms["loss"].item() == pytest.approx(expected + fake_part, rel=1e-6)


def test_hinge_and_lsgan_at_zero_logits(batch):
    assert losses.Hinge().critic_loss(Zero(), *batch)["loss"].item() == pytest.approx(2.0)
    assert losses.LSGAN().critic_loss(Zero(), *batch)["loss"].item() == pytest.approx(0.5)
    assert losses.LSGAN().generator_loss(torch.zeros(3, 1)).item() == pytest.approx(0.5)


def test_weight_clipping_bounds_every_critic_parameter():
    critic = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 1))
    with torch.no_grad():
        for p in critic.parameters():
            p.mul_(100)
    losses.WGAN(clip=0.01).after_critic_step(critic)
    for p in critic.parameters():
        assert p.abs().max().item() <= 0.01


@pytest.mark.parametrize(
    "loss", [losses.Wasserstein(), losses.WGANGP(), losses.WGANDiv()], ids=["base", "wgan_gp", "wgan_div"]
)
def test_only_weight_clipping_clips(loss):
    """A W-loss is kept Lipschitz by what its name says: the base and the penalized ones leave weights alone."""
    critic = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 1))
    with torch.no_grad():
        for p in critic.parameters():
            p.mul_(100)
    before = [p.clone() for p in critic.parameters()]
    loss.after_critic_step(critic)
    for p, q in zip(critic.parameters(), before):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_spectral_norm_makes_top_singular_value_one():
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8 * 4 * 4, 1))
    regularizers.SpectralNorm(n_power_iterations=50).apply(nn.Identity(), critic)
    critic(torch.randn(2, 3, 6, 6))  # one forward runs the power iterations
    for layer in (critic[0], critic[2]):
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2).item()
        assert sigma == pytest.approx(1.0, abs=1e-2)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: losses.WGANGP(lambda_gp=-1), "loss.lambda_gp=-1 is out of range: it must be >= 0"),
        (lambda: losses.WGANDiv(k=0), "loss.k=0 is out of range: it must be > 0"),
        (lambda: losses.WGANDiv(p=1), "loss.p=1 is out of range: it must be > 1"),
        (lambda: losses.WGANDiv(points="middle"), "loss.points=middle is not allowed"),
        (lambda: losses.WGAN(clip=0), "loss.clip=0 is out of range: it must be > 0"),
    ],
)
def test_out_of_range_loss_settings_name_the_key(make, message):
    with pytest.raises(UsageError, match=message):
        make()
