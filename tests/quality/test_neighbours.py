"""Spec of the exact nearest-neighbour measures: density and coverage (Naeem et al. 2020) by hand on a tiny set and
against the authors' reference implementation (the prdc package), and the nearest rows of a stream of chunks."""

import numpy as np
import pytest
import torch

from ganrun.quality.neighbours import chunked_features, density_coverage, kth_neighbour_radii, nearest


def column(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)[:, None]


def test_density_and_coverage_of_a_tiny_set_by_hand():
    # Real 0, 1, 3, 7 with k = 1: each ball reaches the nearest other real point, B(0, 1), B(1, 1), B(3, 2), B(7, 4),
    # all open. Generated 0.5 and 0.6 lie in B(0) and B(1); 2.0 only in B(3) (it is on B(1)'s boundary); 30 in none.
    real, fake = column([0, 1, 3, 7]), column([0.5, 0.6, 2.0, 30])
    assert kth_neighbour_radii(real, 1).tolist() == [1, 1, 4, 16]  # squared distances
    # density = (2 + 2 + 1 + 0) / (k·M) = 5/4; coverage: B(0), B(1), B(3) hold a sample, B(7) none = 3/4.
    assert density_coverage(real, fake, k=1) == {"density": 1.25, "coverage": 0.75}


def test_the_same_set_covers_every_ball():
    real = torch.randn(50, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert density_coverage(real, real, k=5)["coverage"] == 1.0  # each point is its own ball's centre


def test_a_far_set_scores_zero():
    real = torch.randn(40, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert density_coverage(real, real + 100, k=5) == {"density": 0.0, "coverage": 0.0}


@pytest.mark.parametrize("k", [1, 3, 5])
def test_density_and_coverage_match_the_reference_implementation(k, capsys):
    import prdc

    rng = np.random.default_rng(k)
    real = rng.normal(size=(300, 16)).astype(np.float32)
    fake = (rng.normal(size=(200, 16)) * 1.2 + 0.3).astype(np.float32)
    expected = prdc.compute_prdc(real, fake, nearest_k=k)  # Naeem et al.'s code (it prints the set sizes)
    ours = density_coverage(torch.from_numpy(real), torch.from_numpy(fake), k=k)
    assert ours["density"] == pytest.approx(expected["density"], rel=1e-12)
    assert ours["coverage"] == pytest.approx(expected["coverage"], rel=1e-12)
    assert 0 < ours["coverage"] < 1 and ours["density"] > 0  # a case where the ball boundaries decide


def test_radii_ignore_the_point_itself_but_not_its_duplicates():
    assert kth_neighbour_radii(column([0, 0, 2, 5]), 1).tolist() == [0, 0, 4, 9]
    with pytest.raises(ValueError, match="need more than 3 points"):
        kth_neighbour_radii(column([0, 1, 2]), 3)


def test_nearest_of_a_stream_of_chunks_exactly_with_ties_to_the_lower_index():
    training = column([5, 1, 3, 3, 9, 0])
    chunks = chunked_features(len(training), lambda i: training[i], lambda x: x, chunk=2)  # crosses chunk borders
    squared, indices = nearest(column([3.1, 0.2]), chunks, k=3)
    assert indices.tolist() == [[2, 3, 0], [5, 1, 2]]
    torch.testing.assert_close(squared, torch.tensor([[0.01, 0.01, 3.61], [0.04, 0.64, 7.84]], dtype=torch.float64))


def test_more_neighbours_than_points_is_an_error():
    with pytest.raises(ValueError, match="3 nearest neighbours asked of 2 points"):
        nearest(column([0.0]), chunked_features(2, lambda i: column([1, 2])[i], lambda x: x), k=3)
