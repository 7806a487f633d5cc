"""R3GAN's generator and critic (Huang, Gokaslan, Kuleshov, Tompkin 2024, "The GAN is dead; long live the GAN!"),
sized from the data set: stages from base×base (base in 3..7, 4 for 32 and 64) to the image size, each one
transition layer and `blocks` residual blocks, no normalization. Class-conditional as R3GAN is: G reads z joined
to a linear embedding of the class, D projects its last features onto one. The layers: models/r3gan_layers.py;
docs/models.md compares them with the reference code."""

from __future__ import annotations

import torch
from torch import nn

from ganrun.base.errors import UsageError
from ganrun.models import check_conditional, check_sizes, factor_size
from ganrun.models.conditional import LabelledGenerator
from ganrun.models.r3gan_layers import (
    Conv,
    DiscriminativeBasis,
    GenerativeBasis,
    Resample,
    ResidualBlock,
    channels_last,
    msr_init_,
)


def per_stage(key: str, value, stages: int, image_size: int) -> list[int]:
    """One value for every stage (lowest resolution first) from an int or a list of at least `stages` ints (of a
    longer list the last ones, those of the highest resolutions: one list serves 28 (3 stages) and 32 (4))."""
    values = [value] * stages if isinstance(value, int) and not isinstance(value, bool) else list(value)
    if len(values) < stages:
        raise UsageError(
            f"model.{key} has {len(values)} entries, but {image_size}x{image_size} images take {stages} stages; "
            f"give at least {stages} (lowest resolution first) or one number for all"
        )
    values = values[len(values) - stages :]
    for number in values:
        check_sizes("r3gan", **{key: number})
    return values


def groups_of(width: int, expansion: int, group_width: int) -> int:
    """The groups of a stage's 3×3 convolution: its expansion·width channels in groups of `group_width`."""
    if (width * expansion) % group_width:
        raise UsageError(
            f"model.group_width={group_width} does not divide the {width * expansion} channels of a stage of width "
            f"{width} (model.expansion={expansion}); choose widths and a group width that divide"
        )
    return width * expansion // group_width


class Generator(LabelledGenerator):
    """z (and the class) → a base×base basis → stages of ×2 upsampling and residual blocks → 1×1 conv to the image
    (no tanh: R3GAN's images are unbounded and the critic sees them as they are)."""

    def __init__(self, z_dim, channels, widths, blocks, groups, expansion, base, num_classes=0):
        super().__init__(z_dim, num_classes)
        total = sum(blocks)
        if num_classes:  # a linear map of the one-hot class is a lookup of its column
            self.embed = nn.Embedding(num_classes, z_dim)
            msr_init_(self.embed.weight.T)
        self.basis = GenerativeBasis(z_dim * (2 if num_classes else 1), widths[0], base)
        stages = []
        for i, (width, count, group) in enumerate(zip(widths, blocks, groups)):
            change = None if i == 0 or widths[i - 1] == width else Conv(widths[i - 1], width)
            resample = None if i == 0 else Resample(width, up=True)
            stages.append(
                Stage(change, resample, [ResidualBlock(width, group, expansion, total) for _ in range(count)])
            )
        self.stages = nn.ModuleList(stages)
        self.to_image = Conv(widths[-1], channels)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            if labels is None:
                raise ValueError("a class-conditional generator needs labels")
            z = torch.cat([z, self.embed(labels)], dim=1)
        x = self.basis(z)
        for stage in self.stages:
            x = stage.blocks(stage.transition(x))  # first the width, then ×2 (the narrower first, as R3GAN)
        return self.to_image(x)


class Critic(nn.Module):
    """The image → 1×1 conv → stages of residual blocks and ÷2 downsampling → a base×base basis → one score
    (class-conditional: the basis gives features, projected onto the class's embedding)."""

    def __init__(self, channels, widths, blocks, groups, expansion, base, num_classes=0):
        super().__init__()
        total = sum(blocks)
        self.from_image = Conv(channels, widths[0])
        stages = []
        for i, (width, count, group) in enumerate(zip(widths, blocks, groups)):
            last = i == len(widths) - 1
            change = None if last or widths[i + 1] == width else Conv(width, widths[i + 1])
            resample = None if last else Resample(width, up=False)
            stages.append(
                Stage(change, resample, [ResidualBlock(width, group, expansion, total) for _ in range(count)])
            )
        self.stages = nn.ModuleList(stages)
        features = widths[-1] if num_classes else 1
        self.basis = DiscriminativeBasis(widths[-1], features, base)
        self.embed = None
        if num_classes:  # R3GAN's projection: gain 1/√features, fan-in the number of classes
            self.embed = nn.Embedding(num_classes, features)
            msr_init_(self.embed.weight.T, features**-0.5)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = self.from_image(channels_last(x))
        for stage in self.stages:
            x = stage.transition(stage.blocks(x))  # first ÷2, then the width (the narrower first, as R3GAN)
        scores = self.basis(x)
        if self.embed is None:
            return scores
        if labels is None:
            raise ValueError("a class-conditional critic needs labels")
        return (scores * self.embed(labels)).sum(1, keepdim=True)

    def blocks(self) -> list[nn.Module]:
        """From the input on, what train.freeze_critic counts: the 1×1 conv from the image, then each stage (its
        residual blocks and transition); the basis and the class projection are left out."""
        return [self.from_image, *self.stages]


class Stage(nn.Module):
    """A stage's residual blocks and its transition layer (R3GAN's): in G, before the blocks, a 1×1 conv to the
    stage's width (where it changes) and ×2 upsampling; in D, after them, ÷2 downsampling and a 1×1 conv to the next
    stage's width. The first stage of G and the last of D have their basis instead."""

    def __init__(self, change: Conv | None, resample: Resample | None, blocks: list[ResidualBlock]):
        super().__init__()
        self.change, self.resample, self.blocks = change, resample, nn.Sequential(*blocks)

    def transition(self, x: torch.Tensor) -> torch.Tensor:
        steps = [self.change, self.resample]
        if self.resample is not None and not self.resample.up:
            steps.reverse()
        for step in steps:
            if step is not None:
                x = step(x)
        return x


def build(
    image_size: int,
    channels: int,
    z_dim: int = 64,
    widths: int | list[int] = 128,
    blocks: int | list[int] = 2,
    group_width: int = 16,
    expansion: int = 2,
    conditional: bool = False,
    num_classes: int | None = None,
):
    """R3GAN's (generator, critic) for image_size×image_size images with `channels` channels: `widths` and `blocks`
    per stage (lowest resolution first; one number: the same in every stage), grouped 3×3 convolutions of
    `group_width` channels per group, residual branches `expansion` times as wide; class-conditional on
    `num_classes` classes when `conditional`."""
    check_sizes("r3gan", z_dim=z_dim, group_width=group_width, expansion=expansion)
    classes = check_conditional("r3gan", conditional, num_classes)
    base, doublings = factor_size("r3gan", image_size)
    stages = doublings + 1
    widths, blocks = per_stage("widths", widths, stages, image_size), per_stage("blocks", blocks, stages, image_size)
    groups = [groups_of(w, expansion, group_width) for w in widths]
    generator = Generator(z_dim, channels, widths, blocks, groups, expansion, base, classes)
    # The critic runs the stages the other way: from the image size down to base×base.
    critic = Critic(channels, widths[::-1], blocks[::-1], groups[::-1], expansion, base, classes)
    return generator, critic
