"""A run's parts built by hand: tiny networks and data, for the loop's tests."""

import torch

from ganrun.data import DeviceBatches, ImageSet
from ganrun.models import dcgan28
from ganrun.models.conditional import LabelledGenerator
from ganrun.objectives.objective import Objective
from ganrun.runstate.state import RunState
from ganrun.training.best import BestScore
from ganrun.training.loop import Hooks
from ganrun.training.parts import Parts


def make_parts(loss) -> Parts:
    torch.manual_seed(0)
    generator, critic = dcgan28.build(28, 1, z_dim=8, hidden=4)
    images = torch.randint(0, 256, (32, 1, 28, 28), dtype=torch.uint8)
    return Parts(
        generator=generator,
        critic=critic,
        opt_g=torch.optim.Adam(generator.parameters()),
        opt_d=torch.optim.Adam(critic.parameters()),
        objective=Objective(loss),
        data=DeviceBatches(ImageSet(images), "cpu", 0),
        fixed_noise=torch.randn(4, 8),
    )


class PlainGenerator(LabelledGenerator):
    """A small generator without batch statistics (with which K accumulated chunks make the one-batch update):
    z (times a class embedding, when conditional) → Linear → two transposed convs → 1×28×28."""

    def __init__(self, z_dim: int = 8, num_classes: int = 0):
        super().__init__(z_dim, num_classes)
        self.embed = torch.nn.Embedding(num_classes, z_dim) if num_classes else None
        self.net = torch.nn.Sequential(
            torch.nn.Linear(z_dim, 8 * 7 * 7),
            torch.nn.LeakyReLU(0.2),
            torch.nn.Unflatten(1, (8, 7, 7)),
            torch.nn.ConvTranspose2d(8, 4, 4, 2, 1),
            torch.nn.LeakyReLU(0.2),
            torch.nn.ConvTranspose2d(4, 1, 4, 2, 1),
            torch.nn.Tanh(),
        )

    def forward(self, z, labels=None):
        return self.net(z if self.embed is None else z * self.embed(labels))


def plain_parts(loss, regularizer, num_classes: int = 0, batchnorm: bool = False) -> Parts:
    """Parts of a generator without batch norm (dcgan28's with it, when `batchnorm`) and dcgan28's critic, on 64
    labelled random images, with plain SGD: its update is the gradient itself, whatever its scale."""
    torch.manual_seed(0)
    if batchnorm:
        generator, critic = dcgan28.build(
            28, 1, z_dim=8, hidden=4, conditional=bool(num_classes), num_classes=num_classes or None
        )
    else:
        generator = PlainGenerator(8, num_classes)
        critic = dcgan28.Critic(1, hidden=4, num_classes=num_classes)
    regularizer.apply(generator, critic)
    images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    labels = torch.arange(64) % 4
    return Parts(
        generator=generator,
        critic=critic,
        opt_g=torch.optim.SGD(generator.parameters(), lr=0.1),
        opt_d=torch.optim.SGD(critic.parameters(), lr=0.1),
        objective=Objective(loss, regularizer),
        data=DeviceBatches(ImageSet(images, labels), "cpu", 0, labelled=bool(num_classes)),
        fixed_noise=torch.randn(4, 8),
    )


def hooks(parts: Parts, logger, checkpointer, chosen: str | None = None, **extra) -> Hooks:
    """The loop's hooks for hand-made parts: checkpoints hold their run state; best.pt follows `chosen` (None: the
    first of fid, classifier_fd, … logged)."""
    best = BestScore(chosen)
    state = RunState.of(parts, best)
    return Hooks(logger=logger, checkpointer=checkpointer, capture=state.capture, best=best, **extra)
