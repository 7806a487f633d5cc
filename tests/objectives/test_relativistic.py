"""Spec of the relativistic losses (rpgan, ragan) and R3GAN's R1 + R2 in closed forms, and of the training step
that serves them: a real batch of its own for the generator's update, and one forward per batch for the critic's
loss and its penalties."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from ganrun.objectives import losses, regularizers
from ganrun.objectives.objective import Objective
from helpers.critics import Linear


def softplus(v: float) -> float:
    return math.log1p(math.exp(v))


@pytest.fixture
def batch():
    torch.manual_seed(0)
    return torch.randn(5, 1, 4, 4), torch.randn(5, 1, 4, 4)


@pytest.fixture(params=[0.5, 2.0])
def critic(request):
    w = torch.randn(16, generator=torch.Generator().manual_seed(1))
    return Linear(w / w.norm() * request.param)


def scores(critic, x):
    return [float(s) for s in critic(x).detach().flatten()]


def test_rpgan_pairs_each_real_image_with_one_fake(critic, batch):
    real, fake = batch
    r, f = scores(critic, real), scores(critic, fake)
    terms = losses.RpGAN().critic_loss(critic, real, fake)
    assert terms["loss"].item() == pytest.approx(sum(softplus(-(a - b)) for a, b in zip(r, f)) / 5, rel=1e-6)
    generator = losses.RpGAN().generator_loss(torch.tensor(f)[:, None], torch.tensor(r)[:, None])
    assert generator.item() == pytest.approx(sum(softplus(-(b - a)) for a, b in zip(r, f)) / 5, rel=1e-6)


def test_rpgan_sees_only_differences_of_scores(batch):
    """A constant added to every score changes nothing: the scores have no origin (no decision boundary)."""
    real_scores, fake_scores = torch.randn(5, 1), torch.randn(5, 1)
    loss = losses.RpGAN()
    assert_close(loss.adversarial(real_scores + 7, fake_scores + 7), loss.adversarial(real_scores, fake_scores))
    assert loss.decision_boundary is None and losses.RaGAN.decision_boundary is None


def test_ragan_compares_each_score_with_the_other_batchs_mean(critic, batch):
    real, fake = batch
    r, f = scores(critic, real), scores(critic, fake)
    mean_r, mean_f = sum(r) / 5, sum(f) / 5
    critic_expected = sum(softplus(-(a - mean_f)) for a in r) / 5 + sum(softplus(b - mean_r) for b in f) / 5
    assert losses.RaGAN().critic_loss(critic, real, fake)["loss"].item() == pytest.approx(critic_expected, rel=1e-6)
    generator_expected = sum(softplus(-(b - mean_r)) for b in f) / 5 + sum(softplus(a - mean_f) for a in r) / 5
    generator = losses.RaGAN().generator_loss(torch.tensor(f)[:, None], torch.tensor(r)[:, None])
    assert generator.item() == pytest.approx(generator_expected, rel=1e-6)


def test_only_the_relativistic_losses_ask_for_real_images_in_the_generator_step():
    asking = {name for name in dir(losses) if getattr(getattr(losses, name), "generator_needs_real", False)}
    assert asking == {"RpGAN", "RaGAN"}


def test_r1r2_of_a_linear_critic_is_gamma_times_norm_w_squared(critic, batch):
    """∇D = w everywhere, so R1 = R2 = ‖w‖² and (γ/2)(R1 + R2) = γ‖w‖²."""
    terms = regularizers.R1R2(gamma=0.3).critic_penalty(critic, *batch, critic_step=0)
    norm = critic.w.detach().norm().item()
    assert terms["penalty"].item() == pytest.approx(0.3 * norm**2, rel=1e-5)
    assert terms["r1_grad_norm"].item() == pytest.approx(norm, rel=1e-5)
    assert terms["r2_grad_norm"].item() == pytest.approx(norm, rel=1e-5)


def test_r1r2_pushes_the_critic_towards_a_flat_one(batch):
    critic = Linear(torch.full((16,), 0.5))
    regularizers.R1R2(gamma=2.0).critic_penalty(critic, *batch, critic_step=0)["penalty"].backward()
    # d/dw γ‖w‖² = 2γw
    assert_close(critic.w.grad, torch.full((16,), 2.0))


def test_lazy_r1r2_is_taken_every_nth_step_scaled():
    critic, real, fake = Linear(torch.full((16,), 0.25)), torch.randn(3, 16), torch.randn(3, 16)
    r1r2 = regularizers.R1R2(gamma=1.0, every=3)
    assert r1r2.critic_penalty(critic, real, fake, critic_step=4) is None and not r1r2.penalizes_inputs(4)
    assert r1r2.penalizes_inputs(6)
    assert r1r2.critic_penalty(critic, real, fake, critic_step=6)["penalty"].item() == pytest.approx(3 * 1.0)


class Squares(torch.nn.Module):
    """A non-linear critic, D(x) = Σ tanh(a·x)², whose gradient depends on x; it counts its forwards."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.linspace(-1, 1, 16))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return torch.tanh(x.flatten(1) * self.a).square().sum(1, keepdim=True)


def test_r1r2_on_the_losss_own_scores_is_the_same_penalty_from_one_forward_per_batch(batch):
    real, fake = batch
    separate, shared = Squares(), Squares()
    loss, r1r2 = losses.RpGAN(), regularizers.R1R2(gamma=0.7)
    terms = loss.critic_loss(separate, real, fake)
    expected = r1r2.critic_penalty(separate, real, fake, 0, terms=terms)
    (terms["loss"] + expected["penalty"]).backward()
    assert separate.calls == 4  # the loss's two forwards, and one more per batch for the penalty
    real_x, fake_x = real.clone().requires_grad_(True), fake.clone().requires_grad_(True)
    terms = loss.critic_loss(shared, real_x, fake_x)  # as the training step hands them over (penalizes_inputs)
    got = r1r2.critic_penalty(shared, real_x, fake_x, 0, terms=terms)
    (terms["loss"] + got["penalty"]).backward()
    assert shared.calls == 2
    assert_close(got["penalty"], expected["penalty"])
    assert_close(shared.a.grad, separate.a.grad)


def test_the_generator_loss_of_rpgan_is_bce_against_the_relativistic_logit():
    fake, real = torch.randn(4, 1), torch.randn(4, 1)
    expected = F.binary_cross_entropy_with_logits(fake - real, torch.ones(4, 1))
    assert_close(losses.RpGAN().generator_loss(fake, real), expected)


class Counting:
    """A data source that hands out numbered batches."""

    def __init__(self):
        self.drawn = 0

    def next_labelled_batch(self, batch_size):
        self.drawn += 1
        return torch.full((batch_size, 1, 2, 2), float(self.drawn)), None


@pytest.mark.parametrize(
    "loss,extra", [(losses.BCE(), 0), (losses.WGANGP(), 0), (losses.RpGAN(), 1), (losses.RaGAN(), 1)]
)
def test_the_step_draws_a_real_batch_for_the_generator_only_for_a_loss_that_needs_one(loss, extra):
    from types import SimpleNamespace

    from ganrun.training.step import next_batches

    parts = SimpleNamespace(objective=Objective(loss), data=Counting(), conditional=False)
    settings = SimpleNamespace(n_critic=2, batch_size=3, channels_last=False)
    batches = next_batches(parts, settings)
    # from the data source's own order, after the critic's: the run's data stream stays one seeded sequence
    assert [int(real[0, 0, 0, 0]) for real, _ in batches] == list(range(1, 3 + extra))
