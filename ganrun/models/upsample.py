"""The 32×32 upsample-and-conv generator and 5×5 conv critic of the Keras WGAN tutorial (seed 003)."""

from torch import nn

from ganrun.base.errors import UsageError
from ganrun.models import check_sizes, conv_blocks, critic_norm_layer

# Keras defaults the tutorial relies on, in PyTorch's terms.
LEAKY_SLOPE = 0.3  # keras.layers.LeakyReLU() defaults to alpha=0.3, not the 0.2 usual in PyTorch GANs
BN_EPS = 1e-3  # keras.layers.BatchNormalization's default epsilon (PyTorch's is 1e-5)
BASE, BASE_WIDTH = 4, 128  # Dense(z → 4·4·128), reshaped to 128×4×4


def _bn(channels: int, keras_momentum: float = 0.99) -> nn.BatchNorm2d:
    """Keras' BatchNormalization(momentum=keras_momentum) as a PyTorch BatchNorm2d."""
    # Keras keeps `momentum` of the old running stats, PyTorch mixes in `momentum` of the new batch:
    # Keras 0.8 is PyTorch 0.2, and the Keras default 0.99 is PyTorch 0.01.
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=round(1.0 - keras_momentum, 6))


def _conv5(c_in: int, c_out: int, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    """5×5 conv with Keras 'same' padding: padding=2 keeps the size at stride 1 and halves it at stride 2."""
    return nn.Conv2d(c_in, c_out, 5, stride, padding=2, bias=bias)


def init_keras_weights(module: nn.Module) -> None:
    """Keras' default init, as the tutorial trained with: Glorot-uniform kernels, zero biases, BN scale 1 shift 0."""
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    """z → 128×4×4 → (nearest ×2, 5×5 conv, BN, LeakyReLU) ×3 → 32×32 → 5×5 conv to channels, tanh."""

    def __init__(self, z_dim: int = 100, channels: int = 3):
        super().__init__()
        self.z_dim = z_dim
        # The tutorial's BatchNorms alternate Keras momentum 0.8 and the default 0.99; kept as written.
        self.project = nn.Linear(z_dim, BASE * BASE * BASE_WIDTH, bias=False)
        self.project_norm = nn.BatchNorm1d(BASE * BASE * BASE_WIDTH, eps=BN_EPS, momentum=0.2)  # Keras 0.8
        self.net = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),  # Keras UpSampling2D copies each pixel 2×2
            _conv5(128, 128, bias=False),
            _bn(128),
            nn.LeakyReLU(LEAKY_SLOPE, True),
            nn.Upsample(scale_factor=2, mode="nearest"),
            _conv5(128, 64, bias=False),
            _bn(64, keras_momentum=0.8),
            nn.LeakyReLU(LEAKY_SLOPE, True),
            nn.Upsample(scale_factor=2, mode="nearest"),
            # Keras' Conv2DTranspose 5×5 stride 1 'same' is a 5×5 'same' conv (flipped kernel), so Conv2d here.
            _conv5(64, 32, bias=False),
            _bn(32),
            nn.LeakyReLU(LEAKY_SLOPE, True),
            _conv5(32, channels, bias=False),
            nn.Tanh(),  # no bias on the last layer either, as in the tutorial
        )

    def forward(self, z):
        # Keras normalizes the Dense output per unit (BatchNorm over 4·4·128 features), before the reshape.
        x = nn.functional.leaky_relu(self.project_norm(self.project(z)), LEAKY_SLOPE)
        return self.net(x.view(z.shape[0], BASE_WIDTH, BASE, BASE))


class Critic(nn.Module):
    """32×32 → 16×16×32 → 8×8×64 → 4×4×128 → 4×4×128 (5×5 convs, LeakyReLU) → Linear to one score."""

    def __init__(self, channels: int = 3, critic_norm: str = "none"):
        super().__init__()
        # The tutorial's Dropout(0.3) is dropped, as the tutorial itself does for its WGAN.
        self.net = nn.Sequential(
            _conv5(channels, 32, 2),
            nn.LeakyReLU(LEAKY_SLOPE, True),  # no norm on the first layer
            _conv5(32, 64, 2),
            critic_norm_layer(critic_norm, 64),
            nn.LeakyReLU(LEAKY_SLOPE, True),
            _conv5(64, 128, 2),
            critic_norm_layer(critic_norm, 128),
            nn.LeakyReLU(LEAKY_SLOPE, True),
            _conv5(128, 128, 1),
            critic_norm_layer(critic_norm, 128),
            nn.LeakyReLU(LEAKY_SLOPE, True),
            nn.Flatten(),
            # No tanh (the tutorial has one): a Wasserstein critic's scores must be unbounded, and
            # the BCE/hinge losses work on logits anyway.
            nn.Linear(128 * BASE * BASE, 1),
        )

    def forward(self, x):
        return self.net(x)

    def blocks(self) -> list[nn.Module]:
        """The conv blocks from the input on (conv, norm, activation), the scoring Flatten and Linear left out."""
        return conv_blocks(self.net[:-2])


def build(image_size: int, channels: int, z_dim: int = 100, critic_norm: str = "none"):
    """The seed-003 pair; it only makes 32×32 images."""
    check_sizes("upsample", z_dim=z_dim)
    if image_size != 32:
        raise UsageError(
            f"model=upsample makes only 32x32 images, not {image_size}x{image_size}; "
            "use model=dcgan for other sizes or set dataset.image_size=32"
        )
    # Keras' Glorot init rather than DCGAN's N(0, 0.02): the tutorial never re-initialized its layers.
    generator = Generator(z_dim, channels).apply(init_keras_weights)
    critic = Critic(channels, critic_norm).apply(init_keras_weights)
    return generator, critic
