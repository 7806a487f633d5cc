"""The 28×28 generator and critic of the WGAN-GP MNIST tutorial (seed 000)."""

from torch import nn

from ganrun.errors import UsageError
from ganrun.models import critic_norm_layer, init_dcgan_weights


def _up(c_in: int, c_out: int, kernel: int, stride: int, last: bool = False) -> list[nn.Module]:
    conv = nn.ConvTranspose2d(c_in, c_out, kernel, stride)
    return [conv, nn.Tanh()] if last else [conv, nn.BatchNorm2d(c_out), nn.ReLU(True)]


class Generator(nn.Module):
    """z → 3×3×256 → 6×6×128 → 13×13×64 → 28×28×channels (transposed convs, BN, ReLU, tanh)."""

    def __init__(self, z_dim: int = 64, channels: int = 1, hidden: int = 64):
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(
            *_up(z_dim, hidden * 4, 3, 2),
            *_up(hidden * 4, hidden * 2, 4, 1),
            *_up(hidden * 2, hidden, 3, 2),
            *_up(hidden, channels, 4, 2, last=True),
        )

    def forward(self, z):
        return self.net(z.view(z.shape[0], self.z_dim, 1, 1))


class Critic(nn.Module):
    """28×28 → 13×13×64 → 5×5×128 → one score (4×4 stride-2 convs, LeakyReLU 0.2)."""

    def __init__(self, channels: int = 1, hidden: int = 64, critic_norm: str = "none"):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, hidden, 4, 2), critic_norm_layer(critic_norm, hidden), nn.LeakyReLU(0.2, True),
            nn.Conv2d(hidden, hidden * 2, 4, 2), critic_norm_layer(critic_norm, hidden * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(hidden * 2, 1, 4, 2),
        )

    def forward(self, x):
        return self.net(x).flatten(1)


def build(image_size: int, channels: int, z_dim: int = 64, hidden: int = 64, critic_norm: str = "none"):
    """The seed-000 pair; it only makes 28×28 images."""
    if image_size != 28:
        raise UsageError(f"model=dcgan28 makes only 28x28 images, not {image_size}x{image_size}; "
                         "use model=dcgan for other sizes or set dataset.image_size=28")
    generator = Generator(z_dim, channels, hidden).apply(init_dcgan_weights)
    critic = Critic(channels, hidden, critic_norm).apply(init_dcgan_weights)
    return generator, critic
