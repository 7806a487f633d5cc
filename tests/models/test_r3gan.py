"""Spec of model=r3gan: R3GAN's generator and critic at every size model=dcgan makes, every residual block the
identity at initialization, R3GAN's initialization and resampling filter in closed form, the class-conditional
path, and the keys that size it (one-line refusals). scripts/r3gan_reference.py compares it with R3GAN's own code
(docs/models.md); these tests need nothing outside the repository."""

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.testing import assert_close

from ganrun.base.errors import UsageError
from ganrun.models import r3gan
from ganrun.models.r3gan_layers import LRELU_GAIN, Conv, Resample, ResidualBlock

SMALL = {"z_dim": 8, "widths": 16, "blocks": 1, "group_width": 8}


@pytest.mark.parametrize("size,channels,stages", [(28, 1, 3), (32, 3, 4), (48, 3, 5), (64, 3, 5), (96, 1, 6)])
def test_every_size_dcgan_makes(size, channels, stages):
    generator, critic = r3gan.build(size, channels, **SMALL)
    assert len(generator.stages) == len(critic.stages) == stages
    images = generator(torch.randn(2, 8))
    assert images.shape == (2, channels, size, size)
    assert critic(images).shape == (2, 1)


@pytest.mark.parametrize("size", [30, 100, 8])
def test_sizes_it_cannot_make_are_refused_in_one_line(size):
    with pytest.raises(UsageError, match=f"model=r3gan cannot make {size}x{size} images; it supports sizes b·2"):
        r3gan.build(size, 3)


def test_widths_and_blocks_per_stage_from_the_lowest_resolution():
    generator, critic = r3gan.build(32, 3, z_dim=8, widths=[64, 32, 16, 16], blocks=[1, 2, 1, 3], group_width=8)
    assert [len(stage.blocks) for stage in generator.stages] == [1, 2, 1, 3]
    assert [stage.blocks[0].project.weight.shape[0] for stage in generator.stages] == [64, 32, 16, 16]
    # The critic runs them the other way, from the image down to its 4×4 basis.
    assert [len(stage.blocks) for stage in critic.stages] == [3, 1, 2, 1]
    assert generator.basis.basis.shape == (64, 4, 4) and critic.basis.basis.shape == (64, 4, 4)
    # 28×28 takes three stages from 7×7: a longer list gives its last (highest-resolution) entries.
    generator, _ = r3gan.build(28, 1, z_dim=8, widths=[64, 32, 16, 16], group_width=8)
    assert [stage.blocks[0].project.weight.shape[0] for stage in generator.stages] == [32, 16, 16]
    assert generator.basis.basis.shape == (32, 7, 7)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"widths": [16, 16]}, "model.widths has 2 entries, but 32x32 images take 4 stages; give at least 4"),
        ({"blocks": 0}, "model.blocks=0 is out of range for model=r3gan: it must be an integer >= 1"),
        ({"widths": 20, "group_width": 16}, "model.group_width=16 does not divide the 40 channels"),
        ({"z_dim": 0}, "model.z_dim=0 is out of range"),
    ],
)
def test_bad_sizes_are_refused_in_one_line(kwargs, message):
    with pytest.raises(UsageError, match=message):
        r3gan.build(32, 3, **{**SMALL, **kwargs})


def test_every_block_is_the_identity_at_initialization():
    torch.manual_seed(0)
    generator, critic = r3gan.build(32, 3, z_dim=8, widths=32, blocks=2, group_width=16)
    blocks = [m for m in [*generator.modules(), *critic.modules()] if isinstance(m, ResidualBlock)]
    assert len(blocks) == 16
    for block in blocks:
        x = torch.randn(2, block.expand.weight.shape[1], 8, 8)
        assert torch.equal(block(x), x)
        assert torch.count_nonzero(block.project.weight) == 0


def test_residual_branches_are_r3gans():
    """1×1 to expansion·C with bias and leaky ReLU 0.2, grouped 3×3 with bias and leaky ReLU, 1×1 back, no bias."""
    block = ResidualBlock(channels=32, groups=4, expansion=2, total_blocks=8)
    assert block.expand.weight.shape == (64, 32, 1, 1) and block.expand.bias.shape == (64,)
    assert block.spatial.weight.shape == (64, 16, 3, 3) and block.spatial.groups == 4
    assert block.project.weight.shape == (32, 64, 1, 1) and block.project.bias is None
    with torch.no_grad():
        block.project.weight.normal_()
    x = torch.randn(2, 32, 5, 5)
    hidden = nn.functional.leaky_relu(nn.functional.conv2d(x, block.expand.weight, block.expand.bias), 0.2)
    hidden = nn.functional.leaky_relu(
        nn.functional.conv2d(hidden, block.spatial.weight, block.spatial.bias, padding=1, groups=4), 0.2
    )
    assert_close(block(x), x + nn.functional.conv2d(hidden, block.project.weight))


def test_fixup_initialization_scales_the_branches_by_the_number_of_blocks():
    """MSR: N(0, gain²/fan_in), the gain of a branch's first two layers √(2/(1 + 0.2²))·L^(−1/4)."""
    torch.manual_seed(0)
    block = ResidualBlock(channels=256, groups=32, expansion=2, total_blocks=16)
    gain = LRELU_GAIN * 16 ** (-1 / 4)
    assert block.expand.weight.std().item() == pytest.approx(gain / math.sqrt(256), rel=0.02)
    assert block.spatial.weight.std().item() == pytest.approx(gain / math.sqrt(16 * 9), rel=0.02)
    assert torch.count_nonzero(block.expand.bias) == 0 and torch.count_nonzero(block.spatial.bias) == 0
    assert Conv(64, 128).weight.std().item() == pytest.approx(1 / 8, rel=0.05)


def reference_resample(x: np.ndarray, up: bool) -> np.ndarray:
    """R3GAN's resampling written out with numpy: zero padding by 1, the kernel [1,3,3,1]ᵀ[1,3,3,1]/64 (×4 to
    upsample), stride 2 (a transposed convolution to upsample)."""
    k = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0
    h, w = x.shape
    if up:
        full = np.zeros((2 * h + 2, 2 * w + 2))
        for i in range(h):
            for j in range(w):
                full[2 * i : 2 * i + 4, 2 * j : 2 * j + 4] += 4 * k * x[i, j]
        return full[1:-1, 1:-1]
    padded = np.pad(x, 1)
    return np.array(
        [[(padded[2 * i : 2 * i + 4, 2 * j : 2 * j + 4] * k).sum() for j in range(w // 2)] for i in range(h // 2)]
    )


@pytest.mark.parametrize("up", [True, False])
def test_resampling_is_r3gans_lowpass_filter(up):
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    out = Resample(3, up).double()(x)
    for n in range(2):
        for c in range(3):
            np.testing.assert_allclose(out[n, c].numpy(), reference_resample(x[n, c].numpy(), up), rtol=1e-12)


def test_the_bases_are_r3gans():
    generator, critic = r3gan.build(32, 3, **SMALL)
    z = torch.randn(3, 8)
    # G: a learned 4×4 map per channel, each scaled by a linear function of z.
    expected = generator.basis.basis[None] * (z @ generator.basis.linear.T)[:, :, None, None]
    assert_close(generator.basis(z), expected)
    # D: a depthwise 4×4 convolution (one number per channel), then a linear map.
    x = torch.randn(3, 16, 4, 4)
    depthwise = nn.functional.conv2d(x, critic.basis.basis[:, None], groups=16).flatten(1)
    assert_close(critic.basis(x), depthwise @ critic.basis.linear.T)


def test_the_conditional_path_is_r3gans():
    """G reads z joined to a linear embedding of the class; D projects its basis' features onto the class's."""
    torch.manual_seed(0)
    generator, critic = r3gan.build(32, 3, **SMALL, conditional=True, num_classes=5)
    assert generator.num_classes == 5 and generator.embed.weight.shape == (5, 8)
    assert generator.basis.linear.shape == (16, 16)  # z (8) and its class embedding (8)
    z, labels = torch.randn(4, 8), torch.tensor([0, 1, 2, 0])
    images = generator(z, labels)
    assert not torch.allclose(images[0], generator(z, torch.tensor([3, 1, 2, 0]))[0])
    assert torch.equal(images[1:], generator(z, torch.tensor([3, 1, 2, 0]))[1:])
    # D(x, y) = ⟨basis features of x, embedding of y⟩
    h = images
    h = critic.from_image(h)
    for stage in critic.stages:
        h = stage.transition(stage.blocks(h))
    expected = (critic.basis(h) * critic.embed(labels)).sum(1, keepdim=True)
    assert_close(critic(images, labels), expected)
    assert critic.embed.weight.shape == (5, 16)
    assert critic.embed.weight.std().item() == pytest.approx(16**-0.5 / math.sqrt(5), rel=0.3)
    with pytest.raises(ValueError, match="needs labels"):
        critic(images)
    with pytest.raises(ValueError, match="needs labels"):
        generator(z)


def test_parameters_count_as_the_layers_say():
    w, z, c = 16, 8, 3
    generator, critic = r3gan.build(32, c, z_dim=z, widths=w, blocks=1, group_width=8)
    block = (w * 2 * w + 2 * w) + (2 * w * 8 * 9 + 2 * w) + 2 * w * w  # 1×1 + bias, grouped 3×3 + bias, 1×1
    assert sum(p.numel() for p in generator.parameters()) == (w * 16 + w * z) + 4 * block + w * c
    assert sum(p.numel() for p in critic.parameters()) == c * w + 4 * block + (w * 16 + w)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_the_critics_input_gradient_is_differentiable_again(layout):
    """R1 and R2 differentiate ∇ₓD once more: every layer must, in either memory layout."""
    torch.manual_seed(0)
    _, critic = r3gan.build(28, 1, **SMALL)
    if layout == "channels_last":
        critic.to(memory_format=torch.channels_last)
    for p in critic.parameters():  # fix-up zeros make the blocks linear at first: give them work
        p.data.add_(torch.randn_like(p) * 0.1)
    x = torch.randn(3, 1, 28, 28, requires_grad=True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    grad.square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in critic.parameters())
    assert any(p.grad.abs().sum() > 0 for p in critic.stages[0].blocks[0].parameters())


def test_bf16_autocast_runs_both_networks():
    generator, critic = r3gan.build(28, 1, **SMALL)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        scores = critic(generator(torch.randn(2, 8)))
    assert scores.dtype == torch.bfloat16 and torch.isfinite(scores.float()).all()


def test_the_yaml_builds_with_builds_defaults():
    import inspect

    from omegaconf import OmegaConf

    cfg = OmegaConf.load(r3gan.__file__.replace("ganrun/models/r3gan.py", "conf/model/r3gan.yaml"))
    assert cfg._target_ == "ganrun.models.r3gan.build"
    defaults = {k: p.default for k, p in inspect.signature(r3gan.build).parameters.items() if p.default is not p.empty}
    keys = OmegaConf.to_container(cfg, resolve=False)  # image_size and channels come from the data set
    assert {k: v for k, v in keys.items() if k in defaults} == defaults


@pytest.mark.slow
def test_compiled_forwards_compute_what_eager_ones_do():
    """train.compile compiles G and the critic's plain forward (the penalties' double backward stays eager)."""
    torch.manual_seed(0)
    generator, critic = r3gan.build(28, 1, **SMALL, conditional=True, num_classes=3)
    z, labels = torch.randn(4, 8), torch.tensor([0, 1, 2, 0])
    images = generator(z, labels)
    assert_close(torch.compile(generator)(z, labels), images, rtol=1e-4, atol=1e-5)
    assert_close(torch.compile(critic)(images, labels), critic(images, labels), rtol=1e-4, atol=1e-5)
