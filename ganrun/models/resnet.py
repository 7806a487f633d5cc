"""The 32×32 ResNet generator and critic of the WGAN-GP paper's CIFAR-10 experiments (Gulrajani et al. 2017)."""

import math

from torch import nn

from ganrun.base.errors import UsageError
from ganrun.models import check_conditional, check_sizes, critic_norm_layer
from ganrun.models.conditional import Chain, LabelledGenerator, ProjectionCritic, generator_norm

# Init as in the paper's tflib code, not PyTorch's default (kaiming_uniform with a=√5, variance
# 1/(3·fan_in), which shrinks the signal through the residual stack): U(±√3·σ) with
# σ² = gain²·2/(fan_in + fan_out), i.e. xavier_uniform, with gain √2 ("he_init") on the convs inside
# residual branches and 1 on shortcuts, the output conv and the linear layers; biases zero.
HE = math.sqrt(2.0)


def _conv(c_in: int, c_out: int, kernel: int = 3, gain: float = 1.0) -> nn.Conv2d:
    """A 'same' conv, xavier_uniform with `gain`, zero bias."""
    conv = nn.Conv2d(c_in, c_out, kernel, 1, kernel // 2)
    nn.init.xavier_uniform_(conv.weight, gain)
    nn.init.zeros_(conv.bias)
    return conv


class UpBlock(nn.Module):
    """Generator block: BN → ReLU → ×2 → conv → BN → ReLU → conv, plus a (×2 → 1×1 conv) shortcut."""

    takes_labels = True  # its norms are conditional batch norms in a class-conditional generator

    def __init__(self, c_in: int, c_out: int, num_classes: int = 0):
        super().__init__()
        self.residual = Chain(
            generator_norm(c_in, num_classes),
            nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="nearest"),
            _conv(c_in, c_out, gain=HE),
            generator_norm(c_out, num_classes),
            nn.ReLU(),
            _conv(c_out, c_out, gain=HE),
        )
        self.shortcut = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), _conv(c_in, c_out, 1))

    def forward(self, x, labels=None):
        return self.shortcut(x) + self.residual(x, labels)


class OptimizedBlock(nn.Module):
    """The critic's first block: conv → ReLU → conv → avg-pool, plus an (avg-pool → 1×1 conv) shortcut."""

    # No pre-activation here: a ReLU on the raw image would throw away its negative half.

    def __init__(self, c_in: int, c_out: int, critic_norm: str):
        super().__init__()
        self.residual = nn.Sequential(
            _conv(c_in, c_out, gain=HE),
            critic_norm_layer(critic_norm, c_out),
            nn.ReLU(),
            _conv(c_out, c_out, gain=HE),
            nn.AvgPool2d(2),
        )
        self.shortcut = nn.Sequential(nn.AvgPool2d(2), _conv(c_in, c_out, 1))

    def forward(self, x):
        return self.shortcut(x) + self.residual(x)


class CriticBlock(nn.Module):
    """Critic block: (norm → ReLU → conv) ×2, then avg-pool if `down`; shortcut 1×1 conv → avg-pool, or identity."""

    def __init__(self, channels: int, critic_norm: str, down: bool):
        super().__init__()
        pool = [nn.AvgPool2d(2)] if down else []
        self.residual = nn.Sequential(
            critic_norm_layer(critic_norm, channels),
            nn.ReLU(),
            _conv(channels, channels, gain=HE),
            critic_norm_layer(critic_norm, channels),
            nn.ReLU(),
            _conv(channels, channels, gain=HE),
            *pool,
        )
        # Same width in and out, so only a resampling block needs a learned shortcut (as in the paper's code).
        self.shortcut = nn.Sequential(_conv(channels, channels, 1), *pool) if down else nn.Identity()

    def forward(self, x):
        return self.shortcut(x) + self.residual(x)


class Generator(LabelledGenerator):
    """z → Linear to width×4×4 → three up blocks (8, 16, 32) → BN → ReLU → 3×3 conv to channels → tanh."""

    def __init__(self, z_dim: int = 128, channels: int = 3, width: int = 128, num_classes: int = 0):
        super().__init__(z_dim, num_classes)
        self.width = width
        self.project = nn.Linear(z_dim, 4 * 4 * width)
        nn.init.xavier_uniform_(self.project.weight)
        nn.init.zeros_(self.project.bias)
        self.net = Chain(
            *(UpBlock(width, width, num_classes) for _ in range(3)),
            generator_norm(width, num_classes),
            nn.ReLU(),
            _conv(width, channels),
            nn.Tanh(),
        )

    def forward(self, z, labels=None):
        return self.net(self.project(z).view(z.shape[0], self.width, 4, 4), labels)


class Critic(ProjectionCritic):
    """32×32 → optimized block (16) → down block (8) → two plain blocks → ReLU → mean over H,W → Linear."""

    def __init__(self, channels: int = 3, width: int = 128, critic_norm: str = "none", num_classes: int = 0):
        super().__init__()
        self.net = nn.Sequential(
            OptimizedBlock(channels, width, critic_norm),
            CriticBlock(width, critic_norm, down=True),
            CriticBlock(width, critic_norm, down=False),
            CriticBlock(width, critic_norm, down=False),
            nn.ReLU(),
        )
        self.score = nn.Linear(width, 1)
        nn.init.xavier_uniform_(self.score.weight)
        nn.init.zeros_(self.score.bias)
        self.project_classes(num_classes, width)

    def features(self, x):
        return self.net(x).mean(dim=(2, 3))  # global mean pool: one feature vector per image

    def blocks(self) -> list[nn.Module]:
        """The residual blocks from the input on (what train.freeze_critic counts)."""
        return list(self.net)[:-1]

    def head(self, features):
        return self.score(features)


def build(
    image_size: int,
    channels: int,
    z_dim: int = 128,
    width: int = 128,
    critic_norm: str = "none",
    conditional: bool = False,
    num_classes: int | None = None,
):
    """The WGAN-GP paper's CIFAR-10 ResNet pair; it only makes 32×32 images."""
    check_sizes("resnet", z_dim=z_dim, width=width)
    if image_size != 32:
        raise UsageError(
            f"model=resnet makes only 32x32 images, not {image_size}x{image_size}; "
            "use model=dcgan for other sizes or set dataset.image_size=32"
        )
    classes = check_conditional("resnet", conditional, num_classes)
    # The paper's critic has no normalization (the gradient penalty is per-sample); critic_norm
    # is there for comparisons, and app/assemble.py refuses batch norm with a penalty unless told otherwise.
    return Generator(z_dim, channels, width, classes), Critic(channels, width, critic_norm, classes)
