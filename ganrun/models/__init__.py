"""Generator/critic families; each module's `build(...)` returns the pair (generator, critic)."""

from torch import nn

from ganrun.base.errors import UsageError


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN init: conv weights N(0, 0.02); norm scales N(1, 0.02) and shifts 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm, nn.BatchNorm1d)) and module.weight is not None:
        # Scale around 1, not 0: N(0, 0.02) scales (as in some tutorials) nearly zero the activations.
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def critic_norm_layer(kind: str, channels: int) -> nn.Module:
    """The critic's normalization: none, batch, or layer (GroupNorm with one group, safe with a gradient penalty)."""
    if kind == "none":
        return nn.Identity()
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    raise ValueError(f"model.critic_norm={kind!r} is not one of none, batch, layer")


def check_conditional(family: str, conditional: bool, num_classes) -> int:
    """The number of classes a family's networks are conditioned on: 0 when not `conditional`."""
    if not conditional:
        return 0
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise UsageError(
            f"model={family} with model.conditional=true needs model.num_classes >= 1 (null: the data "
            f"set's number of classes), got {num_classes}"
        )
    return num_classes


def check_sizes(family: str, **sizes) -> None:
    """Layer sizes (z_dim, width, hidden) must be positive integers: refuse others in one line, before a layer
    of zero channels fails deep inside a convolution."""
    for key, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise UsageError(f"model.{key}={value} is out of range for model={family}: it must be an integer >= 1")


def conv_blocks(layers) -> list[nn.Sequential]:
    """Layers cut into blocks, each a conv with the norm and activation after it: what train.freeze_critic counts."""
    blocks: list[list[nn.Module]] = []
    for layer in layers:
        if isinstance(layer, (nn.Conv2d, nn.Linear)) or not blocks:
            blocks.append([])
        blocks[-1].append(layer)
    return [nn.Sequential(*block) for block in blocks]


SIZE_HINT = "sizes b·2^n with b in 3..7 and n in 2..7, e.g. 28, 32, 48, 64, 96, 128, 256"


def factor_size(family: str, image_size: int) -> tuple[int, int]:
    """Split image_size into base·2^n with the smallest base in 3..7 (most doublings): the sizes the families sized
    from the data set (dcgan, r3gan) make."""
    for n in range(7, 1, -1):
        base, rest = divmod(image_size, 2**n)
        if rest == 0 and 3 <= base <= 7:
            return base, n
    raise UsageError(f"model={family} cannot make {image_size}x{image_size} images; it supports {SIZE_HINT}")
