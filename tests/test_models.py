"""Spec of the model families: output shapes for each supported image size, and clear refusals."""

import pytest
import torch

from ganrun.errors import UsageError
from ganrun.models import dcgan, dcgan28


@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3), (48, 3), (64, 3), (96, 3), (128, 1)])
def test_dcgan_makes_the_data_sets_size(size, channels):
    generator, critic = dcgan.build(size, channels, z_dim=16, width=8)
    images = generator(torch.randn(2, 16))
    assert images.shape == (2, channels, size, size)
    assert images.abs().max() <= 1  # tanh output
    assert critic(images).shape == (2, 1)


@pytest.mark.parametrize("size", [30, 100, 8, 16 * 1024])
def test_dcgan_refuses_sizes_it_cannot_make(size):
    with pytest.raises(UsageError, match="supports sizes b·2\\^n"):
        dcgan.build(size, 3)


def test_dcgan28_is_the_seed_000_network():
    generator, critic = dcgan28.build(28, 1, z_dim=64)
    convs = [m for m in generator.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [
        (64, 256, 3, 2), (256, 128, 4, 1), (128, 64, 3, 2), (64, 1, 4, 2)]
    critic_convs = [m for m in critic.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in critic_convs] == [(1, 64), (64, 128), (128, 1)]
    assert generator(torch.randn(3, 64)).shape == (3, 1, 28, 28)
    assert critic(torch.zeros(3, 1, 28, 28)).shape == (3, 1)


@pytest.mark.parametrize("norm,layer", [("none", None), ("batch", torch.nn.BatchNorm2d), ("layer", torch.nn.GroupNorm)])
def test_critic_norm_choice(norm, layer):
    _, critic = dcgan28.build(28, 1, critic_norm=norm)
    norms = [m for m in critic.modules() if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.GroupNorm))]
    assert len(norms) == (0 if layer is None else 2)
    assert all(isinstance(m, layer) for m in norms)


def test_dcgan28_refuses_other_sizes():
    with pytest.raises(UsageError, match="only 28x28"):
        dcgan28.build(32, 3)


def test_norm_scales_start_near_one():
    generator, _ = dcgan.build(32, 3, width=8)
    scales = torch.cat([m.weight for m in generator.modules() if isinstance(m, torch.nn.BatchNorm2d)])
    assert scales.mean().item() == pytest.approx(1.0, abs=0.02)
