"""How images reach Inception (`metrics.inception_resize`): TensorFlow 1's bilinear resize without antialiasing, as
the original FID code and torch-fidelity do, or clean-fid's (Parmar et al., CVPR 2022): PIL's bicubic filter, which
antialiases, on each channel as 32-bit float, with no rounding back to uint8."""

from __future__ import annotations

from contextlib import contextmanager
from unittest import mock

import numpy as np
import torch
import torch_fidelity.feature_extractor_inceptionv3 as fidelity_inception
from PIL import Image

from ganrun.base.errors import UsageError

TENSORFLOW, CLEAN = "tensorflow", "clean"
RESIZES = (TENSORFLOW, CLEAN)
# What a protocol says of each, and clean-fid's name of the same resize (its files are named by it).
DESCRIBED = {
    TENSORFLOW: "bilinear as TensorFlow 1 (torch-fidelity)",
    CLEAN: "bicubic, antialiased, float (clean-fid's, PIL)",
}
CLEANFID_MODES = {TENSORFLOW: "legacy_tensorflow", CLEAN: "clean"}


def check(resize: str, option: str = "metrics.inception_resize=") -> str:
    if resize not in RESIZES:
        raise UsageError(f"{option}{resize} is not a resize; choose {' or '.join(RESIZES)}")
    return resize


def clean_resize(images: torch.Tensor, side: int) -> torch.Tensor:
    """uint8 N×C×H×W → float32 N×C×side×side in [0, 255]: each channel of each image resized by PIL's bicubic
    filter in mode F (32-bit float), clipped to [0, 255], as clean-fid's `clean` mode."""
    pixels = images.cpu().numpy().astype(np.float32)
    out = np.empty((*pixels.shape[:2], side, side), np.float32)
    for i, image in enumerate(pixels):
        for c, channel in enumerate(image):
            resized = Image.fromarray(channel, mode="F").resize((side, side), resample=Image.Resampling.BICUBIC)
            out[i, c] = np.asarray(resized).clip(0, 255)
    return torch.from_numpy(out).to(images.device)


@contextmanager
def clean_inside_inception():
    """torch-fidelity's InceptionV3 resizing its input as clean-fid does, while the context lasts. Its forward takes
    uint8 images and resizes them by a module-level function: that function is swapped for clean-fid's resize of
    the same pixel values, so that everything else (normalization, network, features) stays torch-fidelity's."""

    def resized(x: torch.Tensor, size, align_corners=False) -> torch.Tensor:
        # x: the uint8 input converted to float, so its values are exact integers.
        return clean_resize(x.round().clamp(0, 255).to(torch.uint8), size[0]).to(x.dtype)

    with mock.patch.object(fidelity_inception, "interpolate_bilinear_2d_like_tensorflow1x", resized):
        yield
