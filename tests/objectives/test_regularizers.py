"""Spec of LeCam regularization: λ·(E[(D(x) − α_F)²] + E[(D(G(z)) − α_R)²]) with moving averages α of the critic's
mean scores, in closed form, its gradient, the authors' one-sided variant, and its state in a checkpoint."""

import pytest
import torch
from torch.testing import assert_close

from ganrun.base.errors import UsageError
from ganrun.objectives import losses
from ganrun.objectives.regularizers import LeCam


def scored(real, fake):
    return {
        "real_scores": torch.tensor(real).view(-1, 1).requires_grad_(True),
        "fake_scores": torch.tensor(fake).view(-1, 1).requires_grad_(True),
    }


def test_first_batch_sets_the_anchors_then_they_move_by_the_decay():
    lecam = LeCam(weight=0.5, decay=0.9)
    first = lecam.critic_penalty(None, None, None, 0, terms=scored([1.0, 3.0], [-1.0, 1.0]))
    # α_R = 2, α_F = 0: ½·(((1 − 0)² + (3 − 0)²)/2 + ((−1 − 2)² + (1 − 2)²)/2) = ½·(5 + 5)
    assert first["penalty"].item() == pytest.approx(5.0)
    assert (first["lecam_alpha_real"].item(), first["lecam_alpha_fake"].item()) == (2.0, 0.0)
    second = lecam.critic_penalty(None, None, None, 1, terms=scored([4.0, 4.0], [2.0, 2.0]))
    alpha_real, alpha_fake = 0.9 * 2 + 0.1 * 4, 0.9 * 0 + 0.1 * 2  # 2.2, 0.2: this batch's means count already
    assert (second["lecam_alpha_real"].item(), second["lecam_alpha_fake"].item()) == pytest.approx(
        (alpha_real, alpha_fake)
    )
    expected = 0.5 * ((4 - alpha_fake) ** 2 + (2 - alpha_real) ** 2)
    assert second["penalty"].item() == pytest.approx(expected)


def test_gradient_pulls_real_scores_to_the_fake_anchor_and_back():
    lecam = LeCam(weight=0.3, decay=0.99)
    terms = scored([1.0, 3.0], [-1.0, 1.0])
    lecam.critic_penalty(None, None, None, 0, terms=terms)["penalty"].backward()
    # d/dD(x_i) of λ·mean((D(x) − α_F)²) = 2λ(D(x_i) − α_F)/n; the anchors themselves carry no gradient.
    assert_close(terms["real_scores"].grad.flatten(), torch.tensor([2 * 0.3 * 1 / 2, 2 * 0.3 * 3 / 2]))
    assert_close(terms["fake_scores"].grad.flatten(), torch.tensor([2 * 0.3 * (-3) / 2, 2 * 0.3 * (-1) / 2]))


def test_one_sided_squares_only_what_is_past_the_anchor():
    lecam = LeCam(weight=1.0, decay=0.0, one_sided=True)
    lecam.critic_penalty(None, None, None, 0, terms=scored([0.0], [0.0]))  # α_R = α_F = 0
    lecam.decay = 1.0 - 1e-12  # keep the anchors where they are
    out = lecam.critic_penalty(None, None, None, 1, terms=scored([-2.0, 3.0], [1.0, -4.0]))
    # relu(D(x) − 0)²: (0, 9); relu(0 − D(G(z)))²: (0, 16)
    assert out["penalty"].item() == pytest.approx(9 / 2 + 16 / 2)


def test_it_reads_the_losss_own_scores():
    """No extra critic forward: the regularizer uses the scores the loss computed (the same graph)."""
    calls = []

    class Counting(torch.nn.Module):
        def forward(self, x):
            calls.append(len(x))
            return x.flatten(1).sum(1, keepdim=True)

    real, fake = torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2, 2)
    terms = losses.Hinge().critic_loss(Counting(), real, fake)
    penalty = LeCam(weight=1.0).critic_penalty(Counting(), real, fake, 0, terms=terms)["penalty"]
    assert calls == [3, 3]
    means = real.flatten(1).sum(1).mean(), fake.flatten(1).sum(1).mean()
    expected = (real.flatten(1).sum(1) - means[1]).pow(2).mean() + (means[0] - fake.flatten(1).sum(1)).pow(2).mean()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-6)


def test_state_round_trip_and_range_checks():
    lecam = LeCam()
    assert lecam.state_dict() == {}  # nothing seen yet
    lecam.critic_penalty(None, None, None, 0, terms=scored([1.0], [-1.0]))
    other = LeCam()
    other.load_state_dict(lecam.state_dict())
    assert (other.alpha_real.item(), other.alpha_fake.item()) == (1.0, -1.0)
    with pytest.raises(UsageError, match=r"regularizer.decay=1.0 is out of range: it must be in \[0, 1\)"):
        LeCam(decay=1.0)
    with pytest.raises(UsageError, match=r"regularizer.weight=-1 is out of range: it must be >= 0"):
        LeCam(weight=-1)
