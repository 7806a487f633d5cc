"""Spec of the class-conditional models: conditional batch norm, the projection critic, labels in every loss and
penalty (x̂ scored with the real sample's label), and sampling by class."""

import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from ganrun.base.errors import UsageError
from ganrun.models import dcgan, dcgan28, resnet
from ganrun.models.conditional import ConditionalBatchNorm2d, ProjectionCritic, random_labels, trained_classes
from ganrun.objectives import losses, regularizers
from ganrun.training.sampling import generate_labelled, grid_samples

FAMILIES = {
    "dcgan": (dcgan, dict(image_size=32, channels=3, width=8)),
    "dcgan28": (dcgan28, dict(image_size=28, channels=1, hidden=8)),
    "resnet": (resnet, dict(image_size=32, channels=3, width=8)),
}


def build(family, conditional=True, **extra):
    module, kwargs = FAMILIES[family]
    return module.build(**kwargs, z_dim=8, conditional=conditional, num_classes=10 if conditional else None, **extra)


def features_by_hook(critic, x):
    """φ(x) seen independently: the input of the critic's last layer, caught by a forward hook."""
    last = critic.score if hasattr(critic, "score") else critic.net[-1]
    caught = []
    handle = last.register_forward_hook(lambda module, inputs, output: caught.append(inputs[0]))
    critic(x, torch.zeros(len(x), dtype=torch.long))
    handle.remove()
    return caught[0].flatten(1)


@pytest.mark.parametrize("family", FAMILIES)
def test_projection_critic_in_closed_form(family):
    generator, critic = build(family)
    x = generator(torch.randn(4, 8), torch.tensor([0, 1, 2, 3])).detach()
    y1, y2 = torch.tensor([0, 1, 2, 3]), torch.tensor([9, 9, 5, 3])
    phi, table = features_by_hook(critic, x), critic.embed.weight
    # D(x, y) = ψ(φ(x)) + ⟨embed(y), φ(x)⟩: the class moves the score by exactly the embedding's projection …
    assert_close(critic(x, y1) - critic(x, y2), ((table[y1] - table[y2]) * phi).sum(1, keepdim=True))
    # … and with a zero embedding the critic is the unconditional one with the same weights.
    _, plain = build(family, conditional=False)
    plain.load_state_dict({k: v for k, v in critic.state_dict().items() if not k.startswith("embed")})
    with torch.no_grad():
        critic.embed.weight.zero_()
    assert_close(critic(x, y1), plain(x))


@pytest.mark.parametrize("family", FAMILIES)
def test_an_unconditional_model_keeps_its_parameter_names(family):
    """Checkpoints of unconditional runs (all of them, before this) load into today's networks."""
    generator, critic = build(family, conditional=False)
    assert not any(
        "embed" in k or "gain" in k or "class_prior" in k for k in [*generator.state_dict(), *critic.state_dict()]
    )
    assert all(isinstance(m, nn.BatchNorm2d) and m.affine for m in generator.modules() if isinstance(m, nn.BatchNorm2d))


def test_conditional_batch_norm_in_closed_form():
    norm = ConditionalBatchNorm2d(2, num_classes=3)
    with torch.no_grad():
        norm.gain.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
        norm.bias.weight.copy_(torch.tensor([[0.0, 0.5], [-1.0, 1.0], [2.0, -2.0]]))
    x, labels = torch.randn(6, 2, 3, 3), torch.tensor([0, 1, 2, 2, 1, 0])
    normalized = (x - x.mean((0, 2, 3), keepdim=True)) / torch.sqrt(
        x.var((0, 2, 3), unbiased=False, keepdim=True) + 1e-5
    )  # statistics over the whole batch
    expected = normalized * norm.gain.weight[labels][:, :, None, None] + norm.bias.weight[labels][:, :, None, None]
    assert_close(norm(x, labels), expected)
    fresh = ConditionalBatchNorm2d(2, num_classes=3)  # starts as plain batch norm for every class
    assert_close(fresh(x, labels), normalized)


class LinearByClass(ProjectionCritic):
    """D(x, y) = ⟨w_y, x⟩: its input gradient at any x is w_y, so every penalty has a closed form."""

    def __init__(self, weights):
        super().__init__()
        self.weights = nn.Parameter(weights)

    def forward(self, x, labels=None):
        return (x.flatten(1) * self.weights[labels]).sum(1, keepdim=True)


@pytest.fixture
def by_class():
    weights = torch.stack([torch.full((12,), 0.1 * (c + 1)) for c in range(4)])  # ‖w_c‖ = 0.1(c+1)√12
    real, fake, labels = torch.randn(6, 3, 2, 2), torch.randn(6, 3, 2, 2), torch.tensor([0, 1, 2, 3, 3, 1])
    norms = 0.1 * (labels + 1).float() * math.sqrt(12)
    return LinearByClass(weights), real, fake, labels, norms


def test_wgan_gp_scores_x_hat_with_the_real_samples_label(by_class):
    critic, real, fake, labels, norms = by_class
    terms = losses.WGANGP(lambda_gp=10.0).critic_loss(critic, real, fake, labels)
    assert terms["penalty"].item() == pytest.approx(10 * (norms - 1).pow(2).mean().item(), rel=1e-5)
    assert_close(terms["real_scores"], critic(real, labels))
    assert_close(terms["fake_scores"], critic(fake, labels))


@pytest.mark.parametrize("points", ["real_fake", "interpolate", "interpolate_within", "interpolate_mixed"])
def test_wgan_div_scores_each_point_with_its_samples_label(by_class, points):
    critic, real, fake, labels, norms = by_class
    torch.manual_seed(0)
    terms = losses.WGANDiv(k=2.0, p=6.0, points=points).critic_loss(critic, real, fake, labels)
    if points != "interpolate_mixed":  # each set holds one point per (real or fake) sample i, scored with y_i
        assert terms["penalty"].item() == pytest.approx(2 * norms.pow(6).mean().item(), rel=1e-5)
    else:  # points between two random members of real ∪ fake, each with the first member's label
        torch.manual_seed(0)
        chosen = torch.randint(12, (2, 12))
        expected = 2 * norms.repeat(2)[chosen[0]].pow(6).mean()
        assert terms["penalty"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_r1_and_every_plain_loss_take_labels(by_class):
    critic, real, fake, labels, norms = by_class
    r1 = regularizers.R1(gamma=4.0).critic_penalty(critic, real, fake, 0, labels)
    assert r1["penalty"].item() == pytest.approx(2 * norms.pow(2).mean().item(), rel=1e-5)
    for loss in (losses.BCE(), losses.Hinge(), losses.LSGAN(), losses.WGAN()):
        terms = loss.critic_loss(critic, real, fake, labels)
        assert_close(terms["loss"], loss.adversarial(critic(real, labels), critic(fake, labels)))


class EchoLabel(nn.Module):
    """A stand-in conditional generator whose every pixel is its label: images say which class was asked."""

    def __init__(self, prior):
        super().__init__()
        self.z_dim, self.num_classes = 3, len(prior)
        self.register_buffer("class_prior", torch.tensor(prior))

    def forward(self, z, labels):
        return labels.float().view(-1, 1, 1, 1).expand(-1, 1, 2, 2) / 10 + 0 * z.sum()


def test_samples_come_from_the_trained_classes_or_the_asked_one():
    generator = EchoLabel([0.5, 0.0, 0.25, 0.25])  # class 1 was not in the training data
    assert trained_classes(generator).tolist() == [0, 2, 3]
    images, labels = generate_labelled(generator, 400, seed=0, device=torch.device("cpu"))
    assert set(labels.tolist()) == {0, 2, 3} and (labels == 0).float().mean().item() == pytest.approx(0.5, abs=0.07)
    assert_close(images[:, 0, 0, 0], ((labels / 10 + 1) * 127.5).round().to(torch.uint8))  # image i has label i
    asked, asked_labels = generate_labelled(generator, 5, seed=0, device=torch.device("cpu"), label=3)
    assert asked_labels.tolist() == [3] * 5 and asked[:, 0, 0, 0].tolist() == [166] * 5  # (0.3 + 1)·127.5
    assert random_labels(nn.Linear(2, 2), 5) is None  # an unconditional generator has none


def test_the_grid_has_one_row_per_trained_class():
    images, columns = grid_samples(EchoLabel([0.5, 0.0, 0.25, 0.25]), torch.randn(64, 3))
    assert columns == 21 and images.shape[0] == 3 * 21  # 64 // 3 columns, rows 0, 2, 3
    rows = images[:, 0, 0, 0].view(3, 21)
    assert_close(rows, torch.tensor([0.0, 0.2, 0.3]).view(3, 1).expand(3, 21))


def test_conditional_needs_a_number_of_classes():
    with pytest.raises(UsageError, match=r"model=dcgan with model.conditional=true needs model.num_classes >= 1"):
        dcgan.build(32, 3, conditional=True, num_classes=None)
