"""Spec of the 32×32 families: upsample (seed 003's Keras WGAN) and resnet (the WGAN-GP paper's CIFAR net)."""

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from ganrun.base.errors import UsageError
from ganrun.models import resnet, upsample
from ganrun.objectives.losses import WGANGP
from helpers.cli import REPO

CONF = REPO / "conf" / "model"
NORM_TYPES = (nn.BatchNorm2d, nn.GroupNorm)
SMALL = {"upsample": {"z_dim": 8}, "resnet": {"z_dim": 8, "width": 8}}  # keep CPU tests fast
FAMILIES = {"upsample": upsample, "resnet": resnet}


def _build(family: str, channels: int = 3, **kwargs):
    return FAMILIES[family].build(32, channels, **{**SMALL[family], **kwargs})


def _convs(module: nn.Module) -> list[nn.Conv2d]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_ranges(family, channels):
    generator, critic = _build(family, channels)
    assert generator.z_dim == 8
    images = generator(torch.randn(3, 8))
    assert images.shape == (3, channels, 32, 32)
    assert images.abs().max().item() <= 1.0  # tanh output
    scores = critic(images)
    assert scores.shape == (3, 1)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("size", [28, 64])
def test_other_sizes_are_refused_in_one_line(family, size):
    with pytest.raises(UsageError) as error:
        FAMILIES[family].build(size, 3)
    assert str(error.value) == (
        f"model={family} makes only 32x32 images, not {size}x{size}; "
        "use model=dcgan for other sizes or set dataset.image_size=32"
    )


def test_upsample_critic_is_the_tutorials():
    _, critic = upsample.build(32, 3)
    convs = _convs(critic)
    assert [c.out_channels for c in convs] == [32, 64, 128, 128]
    assert [(c.kernel_size, c.stride, c.padding) for c in convs] == [((5, 5), (2, 2), (2, 2))] * 3 + [
        ((5, 5), (1, 1), (2, 2))
    ]
    assert [m.negative_slope for m in critic.modules() if isinstance(m, nn.LeakyReLU)] == [0.3] * 4
    # No tanh on the scores (a Wasserstein critic is unbounded) and no dropout.
    assert not any(isinstance(m, (nn.Tanh, nn.Dropout, nn.Sigmoid)) for m in critic.modules())
    linear = critic.net[-1]
    assert isinstance(linear, nn.Linear) and (linear.in_features, linear.out_features) == (128 * 4 * 4, 1)
    expected = sum(k * k * i * o + o for k, i, o in [(5, 3, 32), (5, 32, 64), (5, 64, 128), (5, 128, 128)]) + 2048 + 1
    assert sum(p.numel() for p in critic.parameters()) == expected == 670401


def test_upsample_generator_is_the_tutorials():
    generator, _ = upsample.build(32, 3, z_dim=100)
    assert (generator.project.in_features, generator.project.out_features) == (100, 4 * 4 * 128)
    assert generator.project.bias is None
    convs = _convs(generator)
    assert [(c.in_channels, c.out_channels) for c in convs] == [(128, 128), (128, 64), (64, 32), (32, 3)]
    assert all(c.kernel_size == (5, 5) and c.padding == (2, 2) and c.bias is None for c in convs)
    # Keras momenta 0.8, 0.99, 0.8, 0.99 in PyTorch's convention (1 − Keras momentum).
    norms = [m for m in generator.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    assert [m.momentum for m in norms] == [0.2, 0.01, 0.2, 0.01]
    assert [m.eps for m in norms] == [1e-3] * 4
    ups = [m for m in generator.modules() if isinstance(m, nn.Upsample)]
    assert [(m.scale_factor, m.mode) for m in ups] == [(2.0, "nearest")] * 3


def test_resnet_layout():
    generator, critic = resnet.build(32, 3, z_dim=8, width=8)
    assert (generator.project.in_features, generator.project.out_features) == (8, 4 * 4 * 8)
    blocks = list(critic.net)[:4]
    assert [type(b) for b in blocks] == [
        resnet.OptimizedBlock,
        resnet.CriticBlock,
        resnet.CriticBlock,
        resnet.CriticBlock,
    ]
    # Only the optimized and the down block resample, so only they have a learned (1×1) shortcut.
    assert [type(b.shortcut[-1] if isinstance(b.shortcut, nn.Sequential) else b.shortcut) for b in blocks] == [
        nn.Conv2d,
        nn.AvgPool2d,
        nn.Identity,
        nn.Identity,
    ]
    sizes, x = [], torch.zeros(2, 3, 32, 32)
    for block in blocks:
        x = block(x)
        sizes.append(tuple(x.shape[1:]))
    assert sizes == [(8, 16, 16), (8, 8, 8), (8, 8, 8), (8, 8, 8)]
    w, z, c = 8, 8, 3
    up_block = 2 * (9 * w * w + w) + (w * w + w) + 2 * (2 * w)  # two 3×3 convs, the 1×1 shortcut, two BNs
    assert (
        sum(p.numel() for p in generator.parameters()) == (z * 16 * w + 16 * w) + 3 * up_block + 2 * w + 9 * w * c + c
    )


@pytest.mark.parametrize("family,count", [("upsample", 3), ("resnet", 7)])
@pytest.mark.parametrize("norm,layer", [("none", None), ("batch", nn.BatchNorm2d), ("layer", nn.GroupNorm)])
def test_critic_norm_choice(family, count, norm, layer):
    _, critic = _build(family, critic_norm=norm)
    norms = [m for m in critic.modules() if isinstance(m, NORM_TYPES)]
    assert len(norms) == (0 if layer is None else count)
    assert all(type(m) is layer for m in norms)
    if norm == "layer":
        assert all(m.num_groups == 1 for m in norms)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("norm", ["none", "layer"])
def test_one_wgan_gp_critic_step_is_finite_and_moves_the_weights(family, norm):
    torch.manual_seed(0)
    generator, critic = _build(family, critic_norm=norm)
    before = [p.detach().clone() for p in critic.parameters()]
    optimizer = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.0, 0.9))
    real = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        fake = generator(torch.randn(2, 8))
    terms = WGANGP(lambda_gp=10.0).critic_loss(critic, real, fake)
    assert torch.isfinite(terms["loss"]).item()
    optimizer.zero_grad()
    terms["loss"].backward()
    assert all(torch.isfinite(p.grad).all().item() for p in critic.parameters())
    optimizer.step()
    names = [name for name, _ in critic.named_parameters()]
    after = list(critic.parameters())
    assert all(torch.isfinite(p).all().item() for p in after)
    # The score's bias cancels in E[D(fake)] − E[D(real)] and does not change ∇ₓD: its gradient is exactly
    # zero, so Adam leaves it; every other tensor must take the step.
    last_bias = names[-1]
    assert last_bias.endswith("bias") and torch.equal(critic.get_parameter(last_bias).grad, torch.zeros(1))
    moved = {name for name, b, a in zip(names, before, after) if not torch.equal(b, a.detach())}
    assert moved == set(names) - {last_bias}
    assert torch.isfinite(critic(real)).all().item() and torch.isfinite(generator(torch.randn(2, 8))).all().item()


@pytest.mark.parametrize("family", FAMILIES)
def test_yaml_instantiates_the_pair(family):
    cfg = OmegaConf.load(CONF / f"{family}.yaml")
    assert cfg._target_ == f"ganrun.models.{family}.build"
    assert cfg.critic_norm == "none" and cfg.allow_batchnorm_with_penalty is False
    cfg.image_size, cfg.channels = 32, 1  # what ${dataset.…} resolves to in a full compose
    cfg.pop("allow_batchnorm_with_penalty")  # a ganrun key; train.py strips it before instantiate
    cfg.update(SMALL[family])
    generator, critic = instantiate(cfg)
    assert type(generator) is FAMILIES[family].Generator and type(critic) is FAMILIES[family].Critic
    assert generator(torch.randn(2, 8)).shape == (2, 1, 32, 32)
    assert critic(torch.zeros(2, 1, 32, 32)).shape == (2, 1)


def test_yaml_defaults_match_build_defaults():
    assert OmegaConf.load(CONF / "upsample.yaml").z_dim == 100
    resnet_cfg = OmegaConf.load(CONF / "resnet.yaml")
    assert (resnet_cfg.z_dim, resnet_cfg.width) == (128, 128)
