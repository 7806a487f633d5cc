"""GAN objectives. Each computes the critic's scores itself and owns the penalty its name promises.

`critic_loss(critic, real, fake, labels=None)` returns a dict of named tensors: "loss" (what the critic
minimizes), "real_scores" and "fake_scores" (D(x) and D(G(z)), in the graph: regularizers and the adaptive
augmentation read them) and whatever else is worth logging ("adversarial", "penalty", "grad_norm",
"wasserstein"). A class-conditional critic scores every sample with `labels`: the fakes of a critic step are
drawn with the real batch's labels. `generator_loss(fake_scores)` returns what the generator minimizes; a loss with
`generator_needs_real` (the relativistic ones) is given the scores of a real batch too,
`generator_loss(fake_scores, real_scores)`.
"""

import torch
import torch.nn.functional as F

from ganrun.base.errors import UsageError
from ganrun.base.modules import call, eager
from ganrun.objectives import penalties


def _require(ok: bool, key: str, allowed: str, value) -> None:
    if not ok:
        raise UsageError(f"{key}={value} is out of range: it must be {allowed}")


class Loss:
    """Base objective: the scores of both batches, no penalty, nothing to do after a critic step."""

    penalized = False  # whether the critic loss takes gradients at the critic's input
    # The score at which the critic calls a sample neither real nor fake: E[sign(D(x) − boundary)] over real x is
    # the overfitting signal r_t of adaptive augmentation. None: a Wasserstein critic, whose scores have no origin.
    decision_boundary = 0.0
    generator_needs_real = False  # whether the generator's loss compares its fakes with real images
    # Whether critic_loss scores `real` and `fake` as given (no detach), so that a regularizer may take the input
    # gradients of the very scores the loss uses (R1 and R2 at the batches: one forward of each, not two).
    scores_given_inputs = False
    # Whether a score is compared with the mean of a batch's scores (ragan): under train.accumulate the mean is a
    # chunk's, so an update differs from the one-batch update (the run says so).
    uses_batch_means = False

    def critic_loss(self, critic, real, fake, labels=None) -> dict:
        real_scores, fake_scores = call(critic, real, labels), call(critic, fake.detach(), labels)
        loss = self.adversarial(real_scores, fake_scores)
        return {"loss": loss, "adversarial": loss, "real_scores": real_scores, "fake_scores": fake_scores}

    def adversarial(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        """The critic's loss from its scores of a real and a fake batch."""
        raise NotImplementedError

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def after_critic_step(self, critic) -> None:
        """Hook for constraints applied to the critic's weights (weight clipping)."""


class BCE(Loss):
    """The original GAN: BCE on logits; non-saturating generator loss unless `saturating`."""

    def __init__(self, saturating: bool = False, real_label: float = 1.0):
        _require(0.0 < real_label <= 1.0, "loss.real_label", "in (0, 1]", real_label)
        self.saturating, self.real_label = saturating, real_label

    def adversarial(self, real_scores, fake_scores):
        targets = torch.full_like(real_scores, self.real_label)
        return F.binary_cross_entropy_with_logits(real_scores, targets) + F.binary_cross_entropy_with_logits(
            fake_scores, torch.zeros_like(fake_scores)
        )

    def generator_loss(self, fake_scores):
        if self.saturating:  # minimize log(1 − σ(D(G(z)))), the minimax form
            return -F.softplus(fake_scores).mean()
        return F.softplus(-fake_scores).mean()  # minimize −log σ(D(G(z)))


class Hinge(Loss):
    """Hinge loss (SNGAN, BigGAN): E[max(0, 1 − D(x))] + E[max(0, 1 + D(G(z)))]."""

    def adversarial(self, real_scores, fake_scores):
        return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()

    def generator_loss(self, fake_scores):
        return -fake_scores.mean()


class LSGAN(Loss):
    """Least squares GAN with targets 0 (fake) and 1 (real): ½E[(D(x) − 1)²] + ½E[D(G(z))²]."""

    decision_boundary = 0.5  # halfway between the targets

    def adversarial(self, real_scores, fake_scores):
        return 0.5 * (real_scores - 1).pow(2).mean() + 0.5 * fake_scores.pow(2).mean()

    def generator_loss(self, fake_scores):
        return 0.5 * (fake_scores - 1).pow(2).mean()


class Wasserstein(Loss):
    """The Wasserstein critic's objective, E[D(G(z))] − E[D(x)], with its estimate E[D(x)] − E[D(G(z))] logged; how
    the critic is kept Lipschitz is the subclass's (clipping, or a penalty): this base constrains nothing."""

    decision_boundary = None  # a Wasserstein critic's scores are defined up to a constant: no origin

    def adversarial(self, real_scores, fake_scores):
        return fake_scores.mean() - real_scores.mean()

    def critic_loss(self, critic, real, fake, labels=None):
        """The adversarial part shared by every W-loss, and the Wasserstein estimate E[D(x)] − E[D(G(z))]."""
        terms = super().critic_loss(critic, real, fake, labels)
        terms["wasserstein"] = -terms["adversarial"].detach()
        return terms

    def generator_loss(self, fake_scores):
        return -fake_scores.mean()


class WGAN(Wasserstein):
    """WGAN (Arjovsky et al. 2017): Lipschitz by clipping every weight of the critic to [−clip, clip]."""

    def __init__(self, clip: float = 0.01):
        _require(clip > 0, "loss.clip", "> 0", clip)
        self.clip = clip

    @torch.no_grad()
    def after_critic_step(self, critic):
        for param in critic.parameters():
            param.clamp_(-self.clip, self.clip)


class WGANGP(Wasserstein):
    """WGAN with the gradient penalty λ·E[(‖∇D(x̂)‖ − 1)²] (one-sided: max(0, ‖∇D(x̂)‖ − 1)²), no clipping."""

    penalized = True

    def __init__(self, lambda_gp: float = 10.0, one_sided: bool = False):
        _require(lambda_gp >= 0, "loss.lambda_gp", ">= 0", lambda_gp)
        self.lambda_gp, self.one_sided = lambda_gp, one_sided

    def critic_loss(self, critic, real, fake, labels=None):
        terms = super().critic_loss(critic, real, fake, labels)
        penalty, norms = penalties.gradient_penalty(critic, real, fake, self.one_sided, labels)
        terms["penalty"] = self.lambda_gp * penalty
        terms["loss"] = terms["adversarial"] + terms["penalty"]
        terms["grad_norm"] = norms.mean().detach()
        return terms


class WGANDiv(Wasserstein):
    """WGAN-div: the penalty k·E_{x~r}[‖∇D(x)‖^p], with r(x) chosen by `points`."""

    penalized = True

    def __init__(self, k: float = 2.0, p: float = 6.0, points: str = "real_fake"):
        _require(k > 0, "loss.k", "> 0", k)
        _require(p > 1, "loss.p", "> 1", p)
        if points not in penalties.WGAN_DIV_POINTS:
            raise UsageError(
                f"loss.points={points} is not allowed: it must be one of {', '.join(penalties.WGAN_DIV_POINTS)}"
            )
        self.k, self.p, self.points = k, p, points

    def critic_loss(self, critic, real, fake, labels=None):
        if self.points in penalties.WGAN_DIV_BATCHES:
            terms, penalty, norms = self._on_the_batches(critic, real, fake, labels)
        else:
            terms = super().critic_loss(critic, real, fake, labels)
            penalty, norms = penalties.wgan_div_penalty(critic, real, fake, self.p, self.points, labels)
        terms["penalty"] = self.k * penalty
        terms["loss"] = terms["adversarial"] + terms["penalty"]
        terms["grad_norm"] = norms.mean().detach()
        return terms

    def _on_the_batches(self, critic, real, fake, labels=None):
        """When r(x) is the real and/or fake batch itself, one forward of each batch gives both the
        Wasserstein term and the input gradients (not a second forward for the penalty)."""
        net = eager(critic)  # the penalty differentiates twice: no compiled graph
        real_x, fake_x = real.detach().requires_grad_(True), fake.detach().requires_grad_(True)
        real_scores, fake_scores = call(net, real_x, labels), call(net, fake_x, labels)
        wasserstein = real_scores.mean() - fake_scores.mean()
        terms = {
            "loss": -wasserstein,
            "adversarial": -wasserstein,
            "wasserstein": wasserstein.detach(),
            "real_scores": real_scores,
            "fake_scores": fake_scores,
        }
        sets = {
            "real_fake": [(real_x, real_scores), (fake_x, fake_scores)],
            "real": [(real_x, real_scores)],
            "fake": [(fake_x, fake_scores)],
        }[self.points]
        norms = [penalties.grad_norm_at(scores, x) for x, scores in sets]
        penalty = torch.stack([n.pow(self.p).mean() for n in norms]).mean()
        return terms, penalty, torch.cat(norms)


class RpGAN(Loss):
    """The relativistic pairing GAN (R3GAN's loss; Jolicoeur-Martineau 2018, Sun et al. 2020): each real image is
    paired with one fake, the critic minimizes E[softplus(−(D(x_r) − D(x_f)))] and the generator
    E[softplus(−(D(x_f) − D(x_r)))] against a real batch of its own. Only differences of scores count."""

    decision_boundary = None  # a constant added to every score changes nothing: the scores have no origin
    generator_needs_real = True
    scores_given_inputs = True

    def critic_loss(self, critic, real, fake, labels=None):
        real_scores, fake_scores = call(critic, real, labels), call(critic, fake, labels)
        loss = self.adversarial(real_scores, fake_scores)
        return {"loss": loss, "adversarial": loss, "real_scores": real_scores, "fake_scores": fake_scores}

    def adversarial(self, real_scores, fake_scores):
        return F.softplus(-(real_scores - fake_scores)).mean()

    def generator_loss(self, fake_scores, real_scores=None):
        return F.softplus(-(fake_scores - real_scores)).mean()


class RaGAN(RpGAN):
    """The relativistic average GAN (RaSGAN, Jolicoeur-Martineau 2018): each score is compared with the other
    batch's mean, E[softplus(−(D(x_r) − E D(x_f)))] + E[softplus(D(x_f) − E D(x_r))] for the critic and the same
    with real and fake swapped for the generator."""

    uses_batch_means = True  # each score is compared with a mean over the other batch

    @staticmethod
    def _average(ahead, behind):
        """What the side that wants `ahead` scored above `behind` minimizes."""
        return F.softplus(-(ahead - behind.mean())).mean() + F.softplus(behind - ahead.mean()).mean()

    def adversarial(self, real_scores, fake_scores):
        return self._average(real_scores, fake_scores)

    def generator_loss(self, fake_scores, real_scores=None):
        return self._average(fake_scores, real_scores)
