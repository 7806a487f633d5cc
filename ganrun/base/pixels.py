"""Images between their two forms: uint8 pixels (files, packs, grids) and floats in [-1, 1] (the networks')."""

import torch


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 images → float32 in [-1, 1]."""
    return images.float() / 127.5 - 1


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] (clamped) → uint8, rounded to the nearest level."""
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
