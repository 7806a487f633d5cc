"""The 96×96 generator and critic of the anime-faces DCGAN tutorial (seed 002), layer for layer.

G: z as a 1×1 map → transposed convs 7/2 (512), 7/2 (256), 7/2 (128), 5/2 (64), 5/1 (64), each + BN + ReLU,
then 4/1 to the image and tanh: 1 → 7 → 19 → 43 → 89 → 93 → 96. D: convs 7/2/1 (64, no norm), 5/2/1 (128),
5/2/1 (256), 5/2/1 (512), each + BN (by default) + LeakyReLU 0.2: 96 → 46 → 22 → 10 → 4, then 4/1 to one score.
The tutorial's critic ends in a sigmoid read by BCELoss; ganrun's returns the logit and loss=bce applies
BCE on logits, the same math computed stably (log σ(s) as −softplus(−s), never log 0).
"""

from torch import nn

from ganrun.base.errors import UsageError
from ganrun.models import check_sizes, conv_blocks, critic_norm_layer


def init_tutorial_weights(module: nn.Module) -> None:
    """The tutorial's weights_init: conv (and transposed conv) weights N(0, 0.02), batch-norm scales N(1, 0.02)
    and shifts 0; conv biases keep PyTorch's default, as the tutorial leaves them."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    """z (z_dim×1×1) → 96×96×channels by six transposed convs, none with a bias."""

    def __init__(self, z_dim: int = 256, channels: int = 3, width: int = 64):
        super().__init__()
        self.z_dim = z_dim
        layers, c_in = [], z_dim
        for c_out, kernel, stride in [
            (8 * width, 7, 2),
            (4 * width, 7, 2),
            (2 * width, 7, 2),
            (width, 5, 2),
            (width, 5, 1),
        ]:
            layers += [
                nn.ConvTranspose2d(c_in, c_out, kernel, stride, 0, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(True),
            ]
            c_in = c_out
        layers += [nn.ConvTranspose2d(c_in, channels, 4, 1, 0, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z.view(z.shape[0], self.z_dim, 1, 1))


class Critic(nn.Module):
    """96×96 → 46 → 22 → 10 → 4 (strided 7×7 then 5×5 convs, LeakyReLU 0.2) → a 4×4 conv to one logit."""

    def __init__(self, channels: int = 3, width: int = 64, critic_norm: str = "batch"):
        super().__init__()
        layers = [nn.Conv2d(channels, width, 7, 2, 1), nn.LeakyReLU(0.2, True)]  # no norm on the first layer
        for c_in, c_out in [(width, 2 * width), (2 * width, 4 * width), (4 * width, 8 * width)]:
            layers += [nn.Conv2d(c_in, c_out, 5, 2, 1), critic_norm_layer(critic_norm, c_out), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(8 * width, 1, 4, 1, 0)]  # the tutorial's Sigmoid is in the loss (BCE on logits)
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x).flatten(1)

    def blocks(self) -> list[nn.Module]:
        """The conv blocks from the input on (conv, norm, activation), the scoring conv left out."""
        return conv_blocks(self.net[:-1])


def build(image_size: int, channels: int, z_dim: int = 256, width: int = 64, critic_norm: str = "batch"):
    """The seed-002 pair; it only makes 96×96 images."""
    check_sizes("dcgan96", z_dim=z_dim, width=width)
    if image_size != 96:
        raise UsageError(
            f"model=dcgan96 makes only 96x96 images, not {image_size}x{image_size}; "
            "use model=dcgan for other sizes or set dataset.image_size=96"
        )
    generator = Generator(z_dim, channels, width).apply(init_tutorial_weights)
    critic = Critic(channels, width, critic_norm).apply(init_tutorial_weights)
    return generator, critic
