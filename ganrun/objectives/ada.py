"""StyleGAN2-ADA's augmentation pipeline (Karras et al. 2020), which R3GAN trains with (`augment=ada`): x-flip, 90°
rotations, integer translation, isotropic scaling, rotation, anisotropic scaling, fractional translation;
brightness, contrast, luma flip, hue, saturation; additive noise and cutout. Each operation is applied to each image
with probability multiplier·p, with fresh parameters per image drawn from torch's global generator (which every
checkpoint holds, so a resumed run draws what the whole run would). p is tuned from the overfitting signal r_t as
augment=adaptive tunes it (`p: adaptive`), or fixed, or scheduled (`p: 0.2`, `p: {start: 0, end: 0.55, …}`).

Every operation is differentiable twice in the images: G's gradient and R1/R2's flow through it. The operations
themselves: objectives/ada_ops.py. Not ported: ADA's image-space filtering (R3GAN does not use it).
"""

from __future__ import annotations

import math

import torch

from ganrun.base.errors import UsageError
from ganrun.objectives import ada_ops as ops
from ganrun.objectives.augment import Tuned

GEOMETRIC = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")
COLOR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
CORRUPTIONS = ("noise", "cutout")
# ADA's spreads: translation up to 1/8 of the image, log2-normal scales, a full turn, cutout of half the side.
XINT_MAX, SCALE_STD, ROTATE_MAX, ANISO_STD, XFRAC_STD = 0.125, 0.2, 1.0, 0.2, 0.125
BRIGHTNESS_STD, CONTRAST_STD, HUE_MAX, SATURATION_STD = 0.2, 0.5, 1.0, 1.0
NOISE_STD, CUTOUT_SIZE = 0.1, 0.5


class ADA(Tuned):
    """ADA's pipeline; each keyword is an operation's probability multiplier (0 turns it off). The defaults are
    R3GAN's train.py: every geometric operation 1, every colour operation 0.5, cutout 1, noise 0."""

    def __init__(
        self,
        p="adaptive",
        target: float = 0.6,
        speed_kimg: float = 500.0,
        interval: int = 4,
        p_init: float = 0.0,
        **multipliers: float,
    ):
        defaults = {**dict.fromkeys(GEOMETRIC, 1.0), **dict.fromkeys(COLOR, 0.5), "noise": 0.0, "cutout": 1.0}
        unknown = sorted(set(multipliers) - set(defaults))
        if unknown:
            raise UsageError(f"augment.{unknown[0]} is not an operation of augment=ada: {', '.join(defaults)}")
        adaptive = p == "adaptive"
        if not adaptive and not (isinstance(p, (int, float)) and 0 <= p <= 1):
            raise UsageError(f"augment.p={p} is not allowed: give adaptive, a number in [0, 1] or a schedule")
        super().__init__(target, speed_kimg, interval, p_init if adaptive else float(p))
        self.adaptive = adaptive
        self.multipliers = {**defaults, **{k: float(v) for k, v in multipliers.items()}}
        for name, value in self.multipliers.items():
            if value < 0:
                raise UsageError(f"augment.{name}={value} is out of range: it must be >= 0")

    def set_p(self, value: float) -> None:
        """A scheduled p (in place: a CUDA graph reads the same tensor)."""
        self.p.fill_(value)

    def observe(self, real_signs):
        if self.adaptive:
            super().observe(real_signs)

    def _chosen(self, name: str, n: int, device) -> torch.Tensor:
        """Which images operation `name` applies to: each with probability multiplier·p."""
        return torch.rand(n, device=device) < self.multipliers[name] * self.p

    def _pick(self, name, value, neutral):
        """`value` for the images `name` applies to, `neutral` for the others."""
        return torch.where(self._chosen(name, len(value), value.device), value, neutral)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()  # the matrices and the resampling in fp32 (as R3GAN's preprocessor)
        with torch.autocast(x.device.type, enabled=False):
            if any(self.multipliers[name] for name in GEOMETRIC):
                inverse = self.geometry(x.shape[0], x.shape[2], x.shape[3], x.device)
                # An image no geometric operation moved stays as it is (resampling would soften its borders).
                still = (inverse == torch.eye(3, device=x.device)).flatten(1).all(1)
                x = torch.where(still[:, None, None, None], x, ops.transform(x, inverse))
            if any(self.multipliers[name] for name in COLOR):
                x = ops.apply_color(x, self.color(x.shape[0], x.shape[1], x.device))
            x = self.corrupt(x)
        return x.to(dtype)

    def geometry(self, n: int, height: int, width: int, device) -> torch.Tensor:
        """Each image's inverse transform (output pixel → input pixel), ADA's operations in ADA's order."""
        m, on = torch.eye(3, device=device).repeat(n, 1, 1), self.multipliers
        zero, one = torch.zeros(n, device=device), torch.ones(n, device=device)
        if on["xflip"]:
            flip = self._pick("xflip", torch.floor(torch.rand(n, device=device) * 2), zero)
            m = m @ ops.scale(1 - 2 * flip, one, n, device)
        if on["rotate90"]:
            quarter = self._pick("rotate90", torch.floor(torch.rand(n, device=device) * 4), zero)
            m = m @ ops.rotate(math.pi / 2 * quarter)
        if on["xint"]:
            t = (torch.rand(n, 2, device=device) * 2 - 1) * XINT_MAX
            t = torch.where(self._chosen("xint", n, device)[:, None], t, torch.zeros_like(t))
            m = m @ ops.translate(-torch.round(t[:, 0] * width), -torch.round(t[:, 1] * height), n, device)
        if on["scale"]:
            s = self._pick("scale", torch.exp2(torch.randn(n, device=device) * SCALE_STD), one)
            m = m @ ops.scale(1 / s, 1 / s, n, device)
        # Rotation before and after the anisotropic scaling, each with p_rot so that P(either) = multiplier·p.
        p_rot = 1 - torch.sqrt((1 - on["rotate"] * self.p).clamp(0, 1))
        for stage in ("before", "after"):
            if stage == "after" and on["aniso"]:
                s = self._pick("aniso", torch.exp2(torch.randn(n, device=device) * ANISO_STD), one)
                m = m @ ops.scale(1 / s, s, n, device)
            if on["rotate"]:
                theta = (torch.rand(n, device=device) * 2 - 1) * math.pi * ROTATE_MAX
                theta = torch.where(torch.rand(n, device=device) < p_rot, theta, zero)
                m = m @ ops.rotate(theta)
        if on["xfrac"]:
            t = torch.randn(n, 2, device=device) * XFRAC_STD
            t = torch.where(self._chosen("xfrac", n, device)[:, None], t, torch.zeros_like(t))
            m = m @ ops.translate(-t[:, 0] * width, -t[:, 1] * height, n, device)
        return m

    def color(self, n: int, channels: int, device) -> torch.Tensor:
        """Each image's colour transform (4×4, homogeneous RGB), ADA's operations in ADA's order."""
        c, on, eye = ops.color_identity(n, device), self.multipliers, torch.eye(4, device=device)
        zero, one = torch.zeros(n, device=device), torch.ones(n, device=device)
        luma = ops.luma_projector(device)
        if on["brightness"]:
            b = self._pick("brightness", torch.randn(n, device=device) * BRIGHTNESS_STD, zero)
            shift = ops.color_identity(n, device)
            shift[:, :3, 3] = b[:, None]
            c = shift @ c
        if on["contrast"]:
            k = self._pick("contrast", torch.exp2(torch.randn(n, device=device) * CONTRAST_STD), one)
            c = torch.diag_embed(torch.stack([k, k, k, one], 1)) @ c
        if on["lumaflip"]:
            flip = self._pick("lumaflip", torch.floor(torch.rand(n, device=device) * 2), zero)
            c = (eye - 2 * luma * flip[:, None, None]) @ c  # a reflection through the grey axis' normal plane
        if on["hue"] and channels > 1:
            theta = (torch.rand(n, device=device) * 2 - 1) * math.pi * HUE_MAX
            c = ops.hue_rotation(self._pick("hue", theta, zero)) @ c
        if on["saturation"] and channels > 1:
            s = self._pick("saturation", torch.exp2(torch.randn(n, device=device) * SATURATION_STD), one)
            c = (luma + (eye - luma) * s[:, None, None]) @ c
        return c

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """Additive noise and cutout."""
        n, device = x.shape[0], x.device
        if self.multipliers["noise"]:
            sigma = torch.randn(n, device=device).abs() * NOISE_STD
            sigma = self._pick("noise", sigma, torch.zeros_like(sigma))
            x = x + torch.randn_like(x) * sigma[:, None, None, None]
        if self.multipliers["cutout"]:
            size = torch.where(self._chosen("cutout", n, device), CUTOUT_SIZE, 0.0)
            x = ops.cutout(x, torch.rand(n, 2, device=device), size)
        return x
