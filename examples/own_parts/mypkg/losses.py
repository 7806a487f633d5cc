"""A loss of one's own: it derives from ganrun's Loss, which scores both batches and asks for two formulas."""

import torch.nn.functional as F

from ganrun.objectives.losses import Loss


class SquaredHinge(Loss):
    """The critic minimizes E[max(0, m − D(x))²] + E[max(0, m + D(G(z)))²]; the generator −E[D(G(z))]."""

    def __init__(self, margin: float = 1.0):
        self.margin = margin

    def adversarial(self, real_scores, fake_scores):
        return F.relu(self.margin - real_scores).pow(2).mean() + F.relu(self.margin + fake_scores).pow(2).mean()

    def generator_loss(self, fake_scores):
        return -fake_scores.mean()
