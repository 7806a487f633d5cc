"""Walks through a generator's input: spherical interpolation between fixed noise points (one row per pair of
consecutive points) and, for a class-conditional generator, between classes at fixed noise."""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F

from ganrun.base.pixels import to_uint8
from ganrun.models.conditional import ConditionalBatchNorm2d, trained_classes
from ganrun.training.sampling import normal_noise, samples


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of rows a and b (P × D each) at the T fractions t: P × T × D, along the great circle
    between their directions with the norm in between (White 2016); exactly a at t = 0 and b at t = 1. Nearly
    parallel rows, whose circle is undefined, are interpolated linearly."""
    a64, b64, t64 = a.double(), b.double(), t.double()[None, :]
    cos = (a64 * b64).sum(1) / (a64.norm(dim=1) * b64.norm(dim=1)).clamp_min(1e-300)
    omega = cos.clamp(-1, 1).acos()[:, None]
    sin = omega.sin()
    curved = sin > 1e-6
    # sin(1·Ω)/sin Ω is exactly 1 and sin(0) exactly 0, so the ends are the points themselves.
    wa = torch.where(curved, ((1 - t64) * omega).sin() / sin, 1 - t64)
    wb = torch.where(curved, (t64 * omega).sin() / sin, t64)
    return (wa[..., None] * a64[:, None] + wb[..., None] * b64[:, None]).to(a.dtype)


def fractions(steps: int) -> torch.Tensor:
    """`steps` fractions from 0 to 1, both ends included."""
    return torch.linspace(0, 1, steps, dtype=torch.float64)


@contextmanager
def mixed_classes(generator: torch.nn.Module, weight: torch.Tensor, to: torch.Tensor):
    """Inside the block, a conditional generator's class embeddings (the gains and biases of its conditional batch
    norms) of sample i are (1 − w_i)·E[label_i] + w_i·E[to_i]: a class between two, as interpolation across
    classes needs (labels stay integers, so the networks need no soft labels). One batch of len(weight) samples."""

    def hook(module, inputs, output):
        w = weight.to(output)[:, None]
        return (1 - w) * output + w * F.embedding(to.to(output.device), module.weight)

    embeddings = [e for m in generator.modules() if isinstance(m, ConditionalBatchNorm2d) for e in (m.gain, m.bias)]
    handles = [e.register_forward_hook(hook) for e in embeddings]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _draw(generator, noise: torch.Tensor, labels: torch.Tensor | None, device, batch: int = 256) -> torch.Tensor:
    """uint8 images of noise (and labels), in batches, on the CPU."""
    chunks = [
        samples(
            generator, noise[i : i + batch].to(device), None if labels is None else labels[i : i + batch].to(device)
        )
        for i in range(0, len(noise), batch)
    ]
    return to_uint8(torch.cat(chunks).cpu())


def walk_points(generator: torch.nn.Module, points: int, seed: int, truncation: float | None = None) -> torch.Tensor:
    """The `points` fixed noise points of a walk (points × z_dim, from `seed`)."""
    return normal_noise(points, generator.z_dim, torch.Generator().manual_seed(seed), truncation)


def latent_walk(
    generator: torch.nn.Module, noise: torch.Tensor, steps: int, device, label: int | None = None
) -> torch.Tensor:
    """uint8 rows × steps × C × H × W: row i walks from noise point i to point i + 1 (one row per pair); a
    conditional generator draws row i at class `label`, else at its i-th trained class (cycling), the same class
    along the row."""
    pairs = slerp(noise[:-1], noise[1:], fractions(steps))  # (points − 1) × steps × z_dim
    classes = trained_classes(generator)
    if classes is not None and label is not None:
        classes = torch.tensor([label])
    labels = None if classes is None else classes[torch.arange(len(pairs)) % len(classes)].repeat_interleave(steps)
    images = _draw(generator, pairs.reshape(-1, noise.shape[1]), labels, device)
    return images.view(len(pairs), steps, *images.shape[1:])


def class_walk(generator: torch.nn.Module, noise: torch.Tensor, steps: int, device) -> torch.Tensor:
    """uint8 rows × steps × C × H × W of a conditional generator: row i holds noise point i fixed and walks from
    its i-th trained class to the next (cycling), through mixtures of their class embeddings."""
    classes = trained_classes(generator)
    rows = len(noise) - 1
    first, second = classes[torch.arange(rows) % len(classes)], classes[(torch.arange(rows) + 1) % len(classes)]
    weight = fractions(steps).repeat(rows).float()
    labels, to = first.repeat_interleave(steps), second.repeat_interleave(steps)
    with mixed_classes(generator, weight.to(device), to):
        images = _draw(generator, noise[:rows].repeat_interleave(steps, 0), labels, device, batch=len(labels))
    return images.view(rows, steps, *images.shape[1:])


def walks(
    generator: torch.nn.Module,
    points: int,
    steps: int,
    seed: int,
    device,
    truncation: float | None = None,
    label: int | None = None,
) -> torch.Tensor:
    """Every row of the walk picture: the latent walk, and below it, for a conditional generator of several classes
    not held to one `label`, the class walk."""
    noise = walk_points(generator, points, seed, truncation)
    rows = latent_walk(generator, noise, steps, device, label)
    classes = trained_classes(generator)
    if classes is not None and len(classes) > 1 and label is None:
        rows = torch.cat([rows, class_walk(generator, noise, steps, device)])
    return rows


def walk_captions(generator: torch.nn.Module, points: int, label: int | None, names: list[str] | None):
    """What each row of walks() holds, by class name: the class of a latent walk row, `A -> B` of a class walk row;
    None for an unconditional generator or a checkpoint that names no classes."""
    classes = trained_classes(generator)
    if classes is None or not names:
        return None
    rows = points - 1
    held = torch.tensor([label]) if label is not None else classes
    captions = [names[int(held[i % len(held)])] for i in range(rows)]
    if len(classes) > 1 and label is None:
        count = len(classes)
        captions += [f"{names[int(classes[i % count])]} -> {names[int(classes[(i + 1) % count])]}" for i in range(rows)]
    return captions
