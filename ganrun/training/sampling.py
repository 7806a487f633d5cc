"""Images from a generator: a batch in eval mode, or N reproducible uint8 images for grids, files and metrics.
A class-conditional generator draws its labels from its class prior, or makes one asked class."""

from __future__ import annotations

import torch

from ganrun.base.modules import call
from ganrun.base.named_rows import with_names
from ganrun.base.pixels import to_uint8
from ganrun.models.conditional import random_labels, trained_classes


@torch.no_grad()
def samples(generator: torch.nn.Module, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """The generator's images for `noise` (and `labels`), in eval mode (batch norm uses its running statistics)."""
    was_training = generator.training
    generator.eval()
    images = call(generator, noise, labels)
    generator.train(was_training)
    return images


def grid_samples(
    generator: torch.nn.Module, noise: torch.Tensor, names: list[str] | None = None
) -> tuple[torch.Tensor, int | None]:
    """The fixed-noise grid and its row length: a conditional generator gives one row per trained class, the
    same noise in each column (so a column shows one z across the classes), with the classes' `names` beside the
    rows when given (then one uint8 picture); else the images of `noise`."""
    classes = trained_classes(generator)
    if classes is None:
        return samples(generator, noise), None
    columns = max(1, len(noise) // len(classes))
    labels = classes.repeat_interleave(columns).to(noise.device)
    return with_names(samples(generator, noise[:columns].repeat(len(classes), 1), labels), columns, classes, names)


def normal_noise(num: int, z_dim: int, rng: torch.Generator, truncation: float | None = None) -> torch.Tensor:
    """num × z_dim standard normal noise from `rng`; with `truncation` ψ every entry outside ±ψ is drawn again until
    it falls inside (the truncation trick of BigGAN), so the entries are N(0, 1) restricted to [−ψ, ψ]."""
    noise = torch.randn(num, z_dim, generator=rng)
    if truncation is not None:
        if not truncation > 0:
            raise ValueError(f"truncation must be > 0, got {truncation}")
        while (outside := noise.abs() > truncation).any():
            noise[outside] = torch.randn(int(outside.sum()), generator=rng)
    return noise


def generate_labelled(
    generator: torch.nn.Module,
    num: int,
    seed: int,
    device: torch.device,
    batch: int = 256,
    label: int | None = None,
    truncation: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`num` images as uint8 N×C×H×W on the CPU, reproducible for a given seed, and their labels (None for an
    unconditional generator): all `label` when given, else drawn from the generator's class prior; `truncation`:
    the noise of normal_noise."""
    rng = torch.Generator(device="cpu").manual_seed(seed)
    noise = normal_noise(num, generator.z_dim, rng, truncation)  # on the CPU: the seed means the same on any device
    labels = random_labels(generator, num, rng) if label is None else torch.full((num,), label, dtype=torch.long)
    chunks = [
        samples(
            generator, noise[i : i + batch].to(device), None if labels is None else labels[i : i + batch].to(device)
        )
        for i in range(0, num, batch)
    ]
    return to_uint8(torch.cat(chunks).cpu()), labels


def generate(
    generator: torch.nn.Module,
    num: int,
    seed: int,
    device: torch.device,
    batch: int = 256,
    label: int | None = None,
    truncation: float | None = None,
) -> torch.Tensor:
    """`num` images as uint8 N×C×H×W on the CPU, reproducible for a given seed (see generate_labelled)."""
    return generate_labelled(generator, num, seed, device, batch, label, truncation)[0]
