"""The 28×28 generator and critic of the WGAN-GP MNIST tutorial (seed 000); class-conditional with
num_classes > 0 (conditional batch norm in G, a projection critic)."""

from torch import nn

from ganrun.base.errors import UsageError
from ganrun.models import check_conditional, check_sizes, critic_norm_layer, init_dcgan_weights
from ganrun.models.conditional import Chain, ConvStackCritic, LabelledGenerator, generator_norm


def _up(c_in: int, c_out: int, kernel: int, stride: int, num_classes: int = 0, last: bool = False) -> list[nn.Module]:
    conv = nn.ConvTranspose2d(c_in, c_out, kernel, stride)
    return [conv, nn.Tanh()] if last else [conv, generator_norm(c_out, num_classes), nn.ReLU(True)]


class Generator(LabelledGenerator):
    """z → 3×3×256 → 6×6×128 → 13×13×64 → 28×28×channels (transposed convs, BN, ReLU, tanh)."""

    def __init__(self, z_dim: int = 64, channels: int = 1, hidden: int = 64, num_classes: int = 0):
        super().__init__(z_dim, num_classes)
        self.net = Chain(
            *_up(z_dim, hidden * 4, 3, 2, num_classes),
            *_up(hidden * 4, hidden * 2, 4, 1, num_classes),
            *_up(hidden * 2, hidden, 3, 2, num_classes),
            *_up(hidden, channels, 4, 2, last=True),
        )

    def forward(self, z, labels=None):
        return self.net(z.view(z.shape[0], self.z_dim, 1, 1), labels)


class Critic(ConvStackCritic):
    """28×28 → 13×13×64 → 5×5×128 → one score (4×4 stride-2 convs, LeakyReLU 0.2)."""

    def __init__(self, channels: int = 1, hidden: int = 64, critic_norm: str = "none", num_classes: int = 0):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, hidden, 4, 2),
            critic_norm_layer(critic_norm, hidden),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(hidden, hidden * 2, 4, 2),
            critic_norm_layer(critic_norm, hidden * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(hidden * 2, 1, 4, 2),
        )
        self.project_classes(num_classes, hidden * 2 * 5 * 5)  # φ: the 5×5 map the last conv reads


def build(
    image_size: int,
    channels: int,
    z_dim: int = 64,
    hidden: int = 64,
    critic_norm: str = "none",
    conditional: bool = False,
    num_classes: int | None = None,
):
    """The seed-000 pair; it only makes 28×28 images."""
    check_sizes("dcgan28", z_dim=z_dim, hidden=hidden)
    if image_size != 28:
        raise UsageError(
            f"model=dcgan28 makes only 28x28 images, not {image_size}x{image_size}; "
            "use model=dcgan for other sizes or set dataset.image_size=28"
        )
    classes = check_conditional("dcgan28", conditional, num_classes)
    generator = Generator(z_dim, channels, hidden, classes).apply(init_dcgan_weights)
    critic = Critic(channels, hidden, critic_norm, classes).apply(init_dcgan_weights)
    return generator, critic
