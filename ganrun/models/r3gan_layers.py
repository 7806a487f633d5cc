"""The layers of R3GAN's networks (Huang et al. 2024; brownvc/R3GAN, R3GAN/Networks.py), the same functions as its
reference operators computed in a way a CPU runs fast:

- every convolution runs on channels_last tensors (oneDNN's 1×1 and grouped 3×3 kernels are about twice as fast
  on them as on NCHW here), with the bias of the leaky ReLU that follows it fused into the convolution;
- the [1,2,1] low-pass resampling is one depthwise convolution on channels_last tensors, not a convolution of one
  channel with the channels folded into the batch, which is slow forward and slower again in the double backward
  of R1 and R2.

Initialization is R3GAN's: weights N(0, gain²/fan_in) (its MSR initializer), biases zero, the gain of a residual
branch scaled by the total number of blocks L as L^(-1/4) and each branch's last convolution zero, so that every
block starts as the identity.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SLOPE = 0.2  # the leaky ReLU's negative slope
LRELU_GAIN = math.sqrt(2 / (1 + SLOPE**2))  # keeps the variance through a leaky ReLU


def msr_init_(weight: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """N(0, gain²/fan_in), fan_in the inputs of one output unit (R3GAN's MSRInitializer)."""
    fan_in = weight[0].numel()
    with torch.no_grad():
        return weight.normal_(0.0, gain / math.sqrt(fan_in))


class Conv(nn.Module):
    """A 'same' k×k convolution without bias (a leaky ReLU's bias may be fused in: `bias=True`), MSR-initialized."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, groups: int = 1, gain: float = 1.0, bias: bool = False):
        super().__init__()
        self.weight = nn.Parameter(msr_init_(torch.empty(c_out, c_in // groups, kernel, kernel), gain))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.groups, self.padding = groups, kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, padding=self.padding, groups=self.groups)


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """x in the layout every convolution here runs in (a no-op when it already is)."""
    return x.contiguous(memory_format=torch.channels_last)


def lowpass_kernel() -> torch.Tensor:
    """R3GAN's interpolation filter: [1,2,1] convolved with [1,1], i.e. [1,3,3,1], as a 4×4 kernel summing to 1."""
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    kernel = torch.outer(taps, taps)
    return kernel / kernel.sum()


class Resample(nn.Module):
    """R3GAN's interpolative ×2 upsampling (a transposed conv, stride 2, of the low-pass kernel ×4) or ÷2
    downsampling (a conv, stride 2), zero-padded by 1; one depthwise convolution over every channel at once."""

    def __init__(self, channels: int, up: bool):
        super().__init__()
        kernel = lowpass_kernel() * (4 if up else 1)  # upsampling spreads each pixel over four
        # Not persistent: a constant of the architecture, not a weight of the checkpoint.
        self.register_buffer("kernel", kernel.expand(channels, 1, 4, 4).clone(), persistent=False)
        self.up = up

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        resample = F.conv_transpose2d if self.up else F.conv2d
        return resample(x, self.kernel, stride=2, padding=1, groups=x.shape[1])


class ResidualBlock(nn.Module):
    """x + conv1×1(lrelu(grouped conv3×3(lrelu(conv1×1(x) + b1)) + b2)): C → expansion·C → C, no normalization."""

    def __init__(self, channels: int, groups: int, expansion: int, total_blocks: int):
        super().__init__()
        wide = channels * expansion
        # Fix-up: three linear layers per branch, so each gain is scaled by L^(-1/(2·3 − 2)).
        gain = LRELU_GAIN * total_blocks ** (-1 / 4)
        self.expand = Conv(channels, wide, 1, gain=gain, bias=True)
        self.spatial = Conv(wide, wide, 3, groups=groups, gain=gain, bias=True)
        self.project = Conv(wide, channels, 1, gain=0.0)  # zero: the block starts as the identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.expand(x), SLOPE)
        y = F.leaky_relu(self.spatial(y), SLOPE)
        return x + self.project(y)


class GenerativeBasis(nn.Module):
    """z → a learned base×base map per channel, each scaled by a linear function of z."""

    def __init__(self, in_features: int, channels: int, base: int):
        super().__init__()
        self.basis = nn.Parameter(torch.randn(channels, base, base))
        self.linear = nn.Parameter(msr_init_(torch.empty(channels, in_features)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return channels_last(self.basis[None] * F.linear(z, self.linear)[:, :, None, None])


class DiscriminativeBasis(nn.Module):
    """A depthwise base×base convolution to one value per channel, then a linear map to `out_features`."""

    def __init__(self, channels: int, out_features: int, base: int):
        super().__init__()
        self.basis = nn.Parameter(msr_init_(torch.empty(channels, base, base)))
        self.linear = nn.Parameter(msr_init_(torch.empty(out_features, channels)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # A depthwise conv whose kernel covers the whole map is a weighted sum per channel.
        return F.linear((x * self.basis[None]).sum((2, 3)), self.linear)
