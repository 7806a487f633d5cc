"""Every gradient penalty on a non-linear critic, against a plain reference written here with autograd.

A linear critic has the same input gradient everywhere, so a penalty taken at the wrong points (real instead of
interpolates, the wrong WGAN-div point set or pairing) would still pass the closed-form tests; with a tanh MLP the
gradient differs from point to point. The reference draws its random numbers in the order ganrun draws them
(the interpolation ε after the pairing), from the same seed, so both see the same points."""

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from ganrun.objectives import losses, regularizers

DTYPE = torch.float64


class Tanh(nn.Module):
    """D(x) = v·tanh(W x + b) + c on the flattened image: its input gradient depends on x."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.hidden = nn.Linear(16, 8).to(DTYPE)
        self.out = nn.Linear(8, 1).to(DTYPE)

    def forward(self, x):
        return self.out(torch.tanh(self.hidden(x.flatten(1)) * 2))


@pytest.fixture
def batch():
    torch.manual_seed(0)
    return torch.randn(6, 1, 4, 4, dtype=DTYPE), torch.randn(6, 1, 4, 4, dtype=DTYPE) * 2 + 0.5


def grad_norms(critic, x):
    """‖∇ₓD(x)‖₂ per sample, differentiable, written out: x as a fresh leaf, autograd.grad with create_graph."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return grad.reshape(len(x), -1).pow(2).sum(1).sqrt()


def mix(a, b):
    """εa + (1 − ε)b with ε ~ U[0, 1] per sample, drawn now."""
    eps = torch.rand(len(a), 1, 1, 1, dtype=DTYPE)
    return eps * a + (1 - eps) * b


def reference_points(real, fake, points):
    """WGAN-div's point sets r(x), in ganrun's drawing order."""
    if points == "interpolate":
        return [mix(real, fake)]
    if points == "interpolate_within":
        first = mix(real, real[torch.randperm(len(real))])
        return [first, mix(fake, fake[torch.randperm(len(fake))])]
    if points == "interpolate_mixed":
        union = torch.cat([real, fake])
        pick = torch.randint(len(union), (2, len(union)))
        return [mix(union[pick[0]], union[pick[1]])]
    return {"real_fake": [real, fake], "real": [real], "fake": [fake]}[points]


def value_and_critic_grads(critic, loss):
    """The loss and its gradient with respect to every critic parameter (0 for one it does not depend on)."""
    params = list(critic.parameters())
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return loss.detach(), [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def assert_same(ours, reference):
    assert_close(ours[0], reference[0], rtol=1e-10, atol=1e-12)
    for a, b in zip(ours[1], reference[1]):
        assert_close(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("one_sided", [False, True])
def test_wgan_gp_at_interpolates(batch, one_sided):
    real, fake = batch
    critic = Tanh()
    torch.manual_seed(7)
    ours = value_and_critic_grads(
        critic, losses.WGANGP(lambda_gp=10.0, one_sided=one_sided).critic_loss(critic, real, fake)["loss"]
    )
    torch.manual_seed(7)
    excess = grad_norms(critic, mix(real, fake)) - 1
    excess = excess.clamp(min=0) if one_sided else excess
    reference = critic(fake).mean() - critic(real).mean() + 10.0 * excess.pow(2).mean()
    assert_same(ours, value_and_critic_grads(critic, reference))


@pytest.mark.parametrize(
    "points", ["interpolate", "interpolate_within", "interpolate_mixed", "real_fake", "real", "fake"]
)
def test_wgan_div_at_each_choice_of_points(batch, points):
    real, fake = batch
    critic = Tanh()
    torch.manual_seed(11)
    ours = value_and_critic_grads(
        critic, losses.WGANDiv(k=2.0, p=6.0, points=points).critic_loss(critic, real, fake)["loss"]
    )
    torch.manual_seed(11)
    sets = reference_points(real, fake, points)
    penalty = torch.stack([grad_norms(critic, x).pow(6.0).mean() for x in sets]).mean()
    reference = critic(fake).mean() - critic(real).mean() + 2.0 * penalty
    assert_same(ours, value_and_critic_grads(critic, reference))


def test_the_point_sets_matter_here(batch):
    """The guard behind the tests above: on this critic, a penalty at other points has another value."""
    real, fake = batch
    critic = Tanh()
    at = {
        name: grad_norms(critic, x).pow(6).mean().item()
        for name, x in [("real", real), ("fake", fake), ("mid", (real + fake) / 2)]
    }
    assert len({round(v, 6) for v in at.values()}) == 3


@pytest.mark.parametrize("every, step", [(1, 0), (4, 8), (4, 9)])
def test_r1_on_real_data(batch, every, step):
    real, fake = batch
    critic = Tanh()
    terms = regularizers.R1(gamma=5.0, every=every).critic_penalty(critic, real, fake, step)
    if step % every:
        assert terms is None  # lazy: not taken at this critic step
        return
    ours = value_and_critic_grads(critic, terms["penalty"])
    reference = every * 5.0 / 2 * grad_norms(critic, real).pow(2).mean()
    assert_same(ours, value_and_critic_grads(critic, reference))
