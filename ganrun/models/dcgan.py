"""DCGAN generator and critic, sized from the data set's image size and channels; class-conditional with
num_classes > 0 (conditional batch norm in G, a projection critic)."""

from torch import nn

from ganrun.models import check_conditional, check_sizes, critic_norm_layer, factor_size, init_dcgan_weights
from ganrun.models.conditional import Chain, ConvStackCritic, LabelledGenerator, generator_norm

MAX_WIDTH_FACTOR = 8  # channels stop growing at 8·width (512 for width 64), as in DCGAN


class Generator(LabelledGenerator):
    """z → base×base by a transposed conv, then n doublings (ConvT 4/2/1 + BN + ReLU), tanh at the end."""

    def __init__(self, z_dim: int, channels: int, image_size: int, width: int = 64, num_classes: int = 0):
        super().__init__(z_dim, num_classes)
        base, n = factor_size("dcgan", image_size)
        widths = [width * min(2 ** (n - 1 - i), MAX_WIDTH_FACTOR) for i in range(n)]
        layers = [
            nn.ConvTranspose2d(z_dim, widths[0], base, 1, 0, bias=False),
            generator_norm(widths[0], num_classes),
            nn.ReLU(True),
        ]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [
                nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                generator_norm(c_out, num_classes),
                nn.ReLU(True),
            ]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = Chain(*layers)

    def forward(self, z, labels=None):
        return self.net(z.view(z.shape[0], self.z_dim, 1, 1), labels)


class Critic(ConvStackCritic):
    """n halvings (Conv 4/2/1 + norm + LeakyReLU 0.2), then a base×base conv to one score per image."""

    def __init__(
        self, channels: int, image_size: int, width: int = 64, critic_norm: str = "none", num_classes: int = 0
    ):
        super().__init__()
        base, n = factor_size("dcgan", image_size)
        widths = [width * min(2**i, MAX_WIDTH_FACTOR) for i in range(n)]
        # No normalization on the first layer, as in DCGAN.
        layers = [nn.Conv2d(channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), critic_norm_layer(critic_norm, c_out), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(widths[-1], 1, base, 1, 0)]  # ψ: a linear map of the last base×base feature map
        self.net = nn.Sequential(*layers)
        self.project_classes(num_classes, widths[-1] * base * base)


def build(
    image_size: int,
    channels: int,
    z_dim: int = 100,
    width: int = 64,
    critic_norm: str = "none",
    conditional: bool = False,
    num_classes: int | None = None,
):
    """The (generator, critic) pair for image_size×image_size images with `channels` channels (class-conditional
    on `num_classes` classes when `conditional`)."""
    check_sizes("dcgan", z_dim=z_dim, width=width)
    classes = check_conditional("dcgan", conditional, num_classes)
    generator = Generator(z_dim, channels, image_size, width, classes).apply(init_dcgan_weights)
    critic = Critic(channels, image_size, width, critic_norm, classes).apply(init_dcgan_weights)
    return generator, critic
