"""A few samples beside their nearest training images in a feature space (the offline classifier's or Inception's):
the memorization check for small data sets. The training set is read in chunks, never whole, and searched
exactly."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ganrun.quality.neighbours import chunked_features, nearest

Extract = Callable[[torch.Tensor], torch.Tensor]


def extractor_features(extractor: torch.nn.Module, device, batch: int = 256) -> Extract:
    """uint8 N×C×H×W → N × features of a torch-fidelity feature extractor (built with one feature layer), fed as
    torch-fidelity feeds it: uint8 RGB, gray replicated."""

    def extract(images: torch.Tensor) -> torch.Tensor:
        chunks = []
        for chunk in images.split(batch):
            rgb = chunk.expand(-1, 3, -1, -1) if chunk.shape[1] == 1 else chunk
            with torch.no_grad():
                chunks.append(extractor(rgb.to(device))[0].double().cpu())
        return torch.cat(chunks)

    return extract


def nearest_training_images(
    queries: torch.Tensor, training: torch.Tensor, extract: Extract, k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each query image (uint8 Q×C×H×W): its k nearest training images (Q×k×C×H×W), their indices in the
    training set and their feature distances (Q×k each), nearest first."""
    if k > len(training):
        raise ValueError(f"{k} nearest of {len(training)} training images")
    squared, indices = nearest(extract(queries), chunked_features(len(training), lambda i: training[i], extract), k)
    neighbours = training[indices.flatten()].view(*indices.shape, *training.shape[1:])
    return neighbours, indices, squared.sqrt()


def beside(samples: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
    """Rows of the picture: each sample, then its neighbours (Q × (1 + k) × C × H × W)."""
    return torch.cat([samples[:, None], neighbours], 1)
