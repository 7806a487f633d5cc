"""A run's parts built by hand: tiny networks and data, for the loop's tests."""

import torch

from ganrun.data import DeviceBatches, ImageSet
from ganrun.models import dcgan28
from ganrun.objectives.regularizers import Regularizer
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
        loss=loss,
        regularizer=Regularizer(),
        data=DeviceBatches(ImageSet(images), "cpu", 0),
        fixed_noise=torch.randn(4, 8),
    )
