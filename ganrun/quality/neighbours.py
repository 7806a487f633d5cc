"""Exact nearest neighbours in feature space: density and coverage (Naeem et al. 2020), and the nearest real
images of a few samples, streamed over a data set in chunks so that it is never held whole.

Distances are Euclidean, computed in float64 as ‖x‖² + ‖y‖² − 2⟨x, y⟩ on blocks of rows: the squared distances
are compared (as the square root is monotone), and float64 keeps their rounding far below any gap a k-NN ball
decides on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

DC_K = 5  # Naeem et al.'s recommended k for density and coverage (with 10,000 real and generated images)
BLOCK = 2048  # rows of a distance block: 2048 × 10,000 float64 is 160 MB


def squared_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The |x| × |y| matrix of squared Euclidean distances, in float64, never below 0."""
    x, y = x.double(), y.double()
    return ((x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T).clamp_min_(0)


def kth_neighbour_radii(features: torch.Tensor, k: int) -> torch.Tensor:
    """Squared distance of each row to its k-th nearest other row (the row itself, at 0, is not counted)."""
    if len(features) <= k:
        raise ValueError(f"k-NN radii with k = {k} need more than {k} points, got {len(features)}")
    return torch.cat(
        [squared_distances(block, features).kthvalue(k + 1, dim=1).values for block in features.split(BLOCK)]
    )


def density_coverage(
    real: torch.Tensor, fake: torch.Tensor, k: int = DC_K, radii: torch.Tensor | None = None
) -> dict[str, float]:
    """Naeem et al. 2020, with B(x, r) the open ball and NND_k(x) the distance of real x to its k-th nearest real
    neighbour, over N real x_i and M generated y_j:

        density  = 1/(kM) Σ_j Σ_i 1[y_j ∈ B(x_i, NND_k(x_i))]   (how many real balls hold each sample; 1 for a match)
        coverage = 1/N Σ_i 1[∃ j: y_j ∈ B(x_i, NND_k(x_i))]     (the share of real balls some sample falls in)

    `radii`: the real points' squared NND_k, when already known (they depend on the real features alone)."""
    radii = kth_neighbour_radii(real, k) if radii is None else radii
    inside, covered = 0, 0
    for block, block_radii in zip(real.split(BLOCK), radii.split(BLOCK)):
        hits = squared_distances(block, fake) < block_radii[:, None]
        inside += int(hits.sum())
        covered += int(hits.any(1).sum())
    return {"density": inside / (k * len(fake)), "coverage": covered / len(real)}


def nearest(
    queries: torch.Tensor, chunks: Iterable[tuple[torch.Tensor, torch.Tensor]], k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k nearest of a stream of (features, their indices) chunks to each query row: (squared distances,
    indices), each |queries| × k, nearest first; ties go to the lower index."""
    best_d = torch.full((len(queries), 0), float("inf"), dtype=torch.float64)
    best_i = torch.zeros((len(queries), 0), dtype=torch.long)
    for features, indices in chunks:
        d = torch.cat([best_d, squared_distances(queries, features)], 1)
        i = torch.cat([best_i, indices.expand(len(queries), -1)], 1)
        # Sort by index, then stably by distance: equal distances keep the lower index first.
        by_index = i.argsort(dim=1)
        d, i = d.gather(1, by_index), i.gather(1, by_index)
        order = torch.sort(d, dim=1, stable=True).indices[:, :k]
        best_d, best_i = d.gather(1, order), i.gather(1, order)
    if best_i.shape[1] < k:
        raise ValueError(f"{k} nearest neighbours asked of {best_i.shape[1]} points")
    return best_d, best_i


def chunked_features(
    count: int,
    images: Callable[[torch.Tensor], torch.Tensor],
    extract: Callable[[torch.Tensor], torch.Tensor],
    chunk: int = 4096,
) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """(features, indices) of images 0..count−1, `chunk` at a time: images(indices) reads them (a data set is
    indexed, never copied whole), extract(images) gives their features."""
    for start in range(0, count, chunk):
        indices = torch.arange(start, min(start + chunk, count))
        yield extract(images(indices)).double().cpu(), indices
