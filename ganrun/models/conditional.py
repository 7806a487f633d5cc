"""Class-conditional building blocks: conditional batch norm for generators, a projection critic (Miyato &
Koyama 2018), and the class prior a conditional generator samples its labels from.

A model family becomes conditional by building its generator's norms with `generator_norm(…, num_classes)`
inside `Chain`s and by deriving its critic from `ProjectionCritic`; with num_classes 0 both are the
unconditional networks, with the same parameter names.
"""

from __future__ import annotations

import torch
from torch import nn

from ganrun.models import conv_blocks


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose gain and bias come from the class: BN(x)·γ[y] + β[y] (statistics shared by all classes)."""

    takes_labels = True

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.gain, self.bias = nn.Embedding(num_classes, channels), nn.Embedding(num_classes, channels)
        # Every class starts as plain batch norm (γ = 1, β = 0), as in Miyato & Koyama's code.
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if labels is None:
            raise ValueError("a class-conditional generator needs labels")
        return self.norm(x) * self.gain(labels)[:, :, None, None] + self.bias(labels)[:, :, None, None]


def generator_norm(channels: int, num_classes: int = 0) -> nn.Module:
    """The generator's batch norm: plain, or conditional on the class when num_classes > 0."""
    return ConditionalBatchNorm2d(channels, num_classes) if num_classes else nn.BatchNorm2d(channels)


class Chain(nn.Sequential):
    """nn.Sequential that hands the labels to the layers that take them (same parameter names as Sequential)."""

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self:
            x = layer(x, labels) if getattr(layer, "takes_labels", False) else layer(x)
        return x


class LabelledGenerator(nn.Module):
    """Base of the generators: `z_dim`, `num_classes` (0: unconditional) and, when conditional, the buffer
    `class_prior`, the training data's class frequencies (set by the app; in every checkpoint) from which
    samples draw their labels."""

    def __init__(self, z_dim: int, num_classes: int = 0):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, int(num_classes or 0)
        if self.num_classes:
            self.register_buffer("class_prior", torch.full((self.num_classes,), 1.0 / self.num_classes))


def trained_classes(generator: nn.Module) -> torch.Tensor | None:
    """The classes a conditional generator was trained on (those with a non-zero prior), or None."""
    if not getattr(generator, "num_classes", 0):
        return None
    return torch.nonzero(generator.class_prior.cpu() > 0).flatten()


def random_labels(generator: nn.Module, n: int, rng: torch.Generator | None = None) -> torch.Tensor | None:
    """n labels drawn from a conditional generator's class prior (on the CPU, with `rng`), or None."""
    if not getattr(generator, "num_classes", 0):
        return None
    return torch.multinomial(generator.class_prior.float().cpu(), n, replacement=True, generator=rng)


class ProjectionCritic(nn.Module):
    """Base of the critics: score(x) = ψ(φ(x)); conditional (after `project_classes`) it is the projection
    critic D(x, y) = ψ(φ(x)) + ⟨embed(y), φ(x)⟩, φ(x) the flattened features before the last layer ψ."""

    def __init__(self):
        super().__init__()
        self.embed: nn.Embedding | None = None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """φ(x): what the last layer reads."""
        raise NotImplementedError

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """ψ: the last layer, one score per image (N×1)."""
        raise NotImplementedError

    def project_classes(self, num_classes: int, feature_dim: int) -> ProjectionCritic:
        """Add the class embedding (Glorot-uniform, as Miyato & Koyama initialize it); num_classes 0: none."""
        if num_classes:
            self.embed = nn.Embedding(num_classes, feature_dim)
            nn.init.xavier_uniform_(self.embed.weight)
        return self

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        score = self.head(h)
        if self.embed is None:
            return score
        if labels is None:
            raise ValueError("a class-conditional critic needs labels")
        return score + (self.embed(labels) * h.flatten(1)).sum(1, keepdim=True)


class ConvStackCritic(ProjectionCritic):
    """A critic whose `self.net` is a Sequential ending in the conv that scores: φ is everything before it."""

    net: nn.Sequential

    def features(self, x):
        return self.net[:-1](x)

    def head(self, features):
        return self.net[-1](features).flatten(1)

    def blocks(self) -> list[nn.Module]:
        """The blocks of φ from the input on (conv, norm, activation), the head left out."""
        return conv_blocks(self.net[:-1])
