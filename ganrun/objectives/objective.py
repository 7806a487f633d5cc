"""Where the loss, the regularizer and the augmentation meet: the objective of a training step, phase by phase.

A training step asks this one object what to minimize (as stylegan2-ada's training/loss.py accumulates the
gradients of a phase): `critic_loss` for each chunk of a critic update, `after_critic_update` once the critic has
moved, and `generator_loss` for each chunk of a generator update. What the three parts say of themselves (a loss
that scores the batches it is given, a regularizer whose lazy penalty is due at this critic step, a critic whose
scores have a decision boundary) is read here and nowhere in the step. The critic every phase calls is D∘T: the
augmentation, then the critic, so that G's gradient flows back through T.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ganrun.base.modules import call, eager
from ganrun.objectives.augment import Augment, augmented
from ganrun.objectives.losses import Loss
from ganrun.objectives.regularizers import Regularizer


@dataclass
class CriticTerms:
    """What a chunk of a critic update minimizes (`loss`: the loss's own terms and the regularizer's penalty), and
    what it reports."""

    loss: torch.Tensor
    terms: dict  # the loss's terms (critic/<name>)
    regularizer: dict = field(default_factory=dict)  # the regularizer's terms (regularizer/<name>)
    real_signs: torch.Tensor | None = None  # sign(D(x) − boundary) of the real images: the overfitting signal r_t


class Objective:
    """The loss, its regularizer and the augmentation of the critic's inputs, as the phases of a training step."""

    def __init__(self, loss: Loss, regularizer: Regularizer | None = None, augment: Augment | None = None):
        self.loss = loss
        self.regularizer = regularizer if regularizer is not None else Regularizer()
        self.augment = augment if augment is not None else Augment()

    @property
    def generator_needs_real(self) -> bool:
        """Whether the generator's phase compares its fakes with a real batch (the step draws one more)."""
        return self.loss.generator_needs_real

    def phase(self, critic_step: int):
        """What decides, beside the networks, which operations the critic update `critic_step` runs (a lazy penalty
        due or not): updates of one phase run the same operations, so one CUDA graph serves them all."""
        return self.regularizer.phase(critic_step)

    def critic_loss(self, critic, real, fake, labels, critic_step: int) -> CriticTerms:
        """The critic's loss on a chunk: the loss's terms on D∘T of the real and (detached) fake images, plus the
        regularizer's penalty at critic update `critic_step`."""
        scored = augmented(critic, self.augment)
        if self.loss.scores_given_inputs and self.regularizer.penalizes_inputs(critic_step):
            # One forward of each batch serves the loss and R1/R2's input gradients (differentiated twice: eager).
            scored, real, fake = eager(scored), real.detach().requires_grad_(True), fake.requires_grad_(True)
        terms = self.loss.critic_loss(scored, real, fake, labels)
        extra = self.regularizer.critic_penalty(scored, real, fake, critic_step, labels, terms) or {}
        total = terms["loss"] + extra["penalty"] if extra else terms["loss"]
        signs = None
        if self.loss.decision_boundary is not None:
            # r_t = E[sign(D(x_real))]: near 1 when the critic has memorized the real images.
            signs = torch.sign(terms["real_scores"].detach().float() - self.loss.decision_boundary)
        return CriticTerms(total, terms, extra, signs)

    def after_critic_update(self, critic, real_signs: torch.Tensor | None) -> None:
        """Once the critic has moved: the loss's constraint on its weights (WGAN's clipping), and the adaptive
        augmentation's look at the update's overfitting signal."""
        self.loss.after_critic_step(critic)
        if real_signs is not None:
            self.augment.observe(real_signs)

    def generator_loss(self, critic, fake, labels, real=None) -> torch.Tensor:
        """The generator's loss on a chunk of its images, scored by D∘T (and compared with the scores of `real`, a
        real batch, when the loss needs one)."""
        scored = augmented(critic, self.augment)
        fake_scores = call(scored, fake, labels)
        if real is None:
            return self.loss.generator_loss(fake_scores)
        with torch.no_grad():  # the real images' scores do not depend on G
            real_scores = call(scored, real, labels)
        return self.loss.generator_loss(fake_scores, real_scores)
