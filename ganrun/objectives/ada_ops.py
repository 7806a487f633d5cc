"""The operations of StyleGAN2-ADA's augmentation pipeline (Karras et al. 2020), as pure tensor functions that are
differentiable twice in the images (R1 and R2 are taken through them): per-image affine matrices, the geometric
resampling, the colour matrices, cutout. objectives/ada.py draws their parameters.

Geometry: the per-image 3×3 matrix maps an output pixel to the input pixel it samples (pixel centres, origin at the
image centre). As ADA does, the image is upsampled ×2 with the sym6 wavelet's low-pass filter, sampled bilinearly
on a ×2 grid, and filtered and decimated back, so that rotations and fractional shifts do not alias. Where the
sampled point falls outside the image, the image is mirrored (ADA reflect-pads it).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

# The sym6 wavelet's low-pass decomposition filter (ADA's geometric filter), normalized to sum to 1 below.
SYM6 = (
    0.015404109327027373,
    0.0034907120842174702,
    -0.11799011114819057,
    -0.048311742585633,
    0.4910559419267466,
    0.787641141030194,
    0.3379294217276218,
    -0.07263752278646252,
    -0.021060292512300564,
    0.04472490177066578,
    0.0017677118642428036,
    -0.007800708325034148,
)
TAPS = len(SYM6)
HALF = TAPS // 2  # 6: ×2 samples the filter reaches on either side
LUMA = (1 / math.sqrt(3),) * 3  # the grey axis of RGB, about which luma flips and hue turns


# The constants below are made once per device and read thereafter (never changed): a CUDA graph captures no
# tensor made from host data, and a replay then reads them where the capture found them.


@functools.cache
def lowpass(device, dtype=torch.float32) -> torch.Tensor:
    taps = torch.tensor(SYM6, device=device, dtype=torch.float64)
    return (taps / taps.sum()).to(dtype)


@functools.cache
def filter_delay(device, dtype) -> float:
    """How many ×2 samples the asymmetric filter delays what it filters: its centre of mass less its middle."""
    taps = lowpass(device, dtype)
    return float((taps.double() * torch.arange(TAPS, dtype=torch.float64, device=device)).sum()) - (TAPS - 1) / 2


# ---------------------------------------------------------------- matrices, one per image (N×3×3 or N×4×4)


def affine(n: int, device, **entries) -> torch.Tensor:
    """N identity matrices of size 3 (entries "ij": a value or an N-vector put at row i, column j)."""
    m = torch.eye(3, device=device).repeat(n, 1, 1)
    for key, value in entries.items():
        m[:, int(key[0]), int(key[1])] = value
    return m


def scale(sx, sy, n, device) -> torch.Tensor:
    return affine(n, device, **{"00": sx, "11": sy})


def translate(tx, ty, n, device) -> torch.Tensor:
    return affine(n, device, **{"02": tx, "12": ty})


def rotate(theta: torch.Tensor) -> torch.Tensor:
    """Rotation by θ (counter-clockwise in x right, y down image coordinates, as ADA's rotate2d)."""
    c, s = torch.cos(theta), torch.sin(theta)
    return affine(len(theta), theta.device, **{"00": c, "01": -s, "10": s, "11": c})


def color_identity(n: int, device) -> torch.Tensor:
    return torch.eye(4, device=device).repeat(n, 1, 1)


@functools.cache
def luma_projector(device) -> torch.Tensor:
    """v·vᵀ for the grey axis v (in homogeneous RGB coordinates)."""
    v = torch.tensor([*LUMA, 0.0], device=device)
    return torch.outer(v, v)


@functools.cache
def grey_axis(device) -> tuple[torch.Tensor, torch.Tensor]:
    """The grey axis v and its cross-product matrix [v]×."""
    v = torch.tensor(LUMA, device=device)
    cross = torch.tensor([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]], device=device)
    return v, cross


def hue_rotation(theta: torch.Tensor) -> torch.Tensor:
    """Rotation by θ about the grey axis (Rodrigues' formula), N×4×4."""
    v, cross = grey_axis(theta.device)
    c, s = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    m = color_identity(len(theta), theta.device)
    m[:, :3, :3] = c * torch.eye(3, device=theta.device) + s * cross + (1 - c) * torch.outer(v, v)
    return m


def apply_color(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """x' = M[:3, :3]·rgb + M[:3, 3] per pixel; a grey image takes the mean of the three rows (as ADA)."""
    n, c, h, w = x.shape
    if c == 3:
        return (m[:, :3, :3] @ x.reshape(n, 3, h * w) + m[:, :3, 3:]).reshape(n, c, h, w)
    rows = m[:, :3, :].mean(1)  # N×4
    return x * rows[:, :3].sum(1)[:, None, None, None] + rows[:, 3][:, None, None, None]


# ---------------------------------------------------------------- geometric resampling


def _filter(x: torch.Tensor, taps: torch.Tensor, dim: int) -> torch.Tensor:
    """Correlate every channel of x with `taps` along `dim` (2: rows, 3: columns), no padding."""
    c = x.shape[1]
    shape = (c, 1, len(taps), 1) if dim == 2 else (c, 1, 1, len(taps))
    return F.conv2d(x, taps.reshape(1, 1, -1).expand(c, 1, len(taps)).reshape(shape), groups=c)


def upsample2(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """×2 in both dimensions: zeros between the samples, then the filter (gain 2 per dimension). Output sample j
    sits at input coordinate (j − ½ − delay)/2 (see transform)."""
    n, c, h, w = x.shape
    z = x.new_zeros(n, c, 2 * h, 2 * w)
    z[:, :, ::2, ::2] = x
    flipped = 2 * taps.flip(0)  # a convolution with the taps
    z = F.pad(z, (HALF, HALF - 1, HALF, HALF - 1))
    return _filter(_filter(z, flipped, 2), flipped, 3)


def downsample2(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """÷2 of a ×2 grid whose first sample is HALF − 1 samples before the first output pixel's: the filter, then every
    second sample."""
    return _filter(_filter(x, taps, 2), taps, 3)[:, :, ::2, ::2]


def mirror(position: torch.Tensor, size: int) -> torch.Tensor:
    """Positions folded into [0, size − 1] by mirroring at the edges (the edge sample not repeated)."""
    period = 2 * (size - 1)
    folded = torch.remainder(position, period)
    return torch.where(folded > size - 1, period - folded, folded)


def bilinear(image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """image (N×C×H×W) at fractional (rows, cols) (each N×P) inside it, bilinearly; N×C×P. Gathers, so that the
    result differentiates in the image as often as needed."""
    n, c, h, w = image.shape
    flat = image.reshape(n, c, h * w)
    r0, c0 = rows.floor(), cols.floor()
    fr, fc = (rows - r0)[:, None], (cols - c0)[:, None]
    r0, c0 = r0.long(), c0.long()
    r1, c1 = (r0 + 1).clamp(max=h - 1), (c0 + 1).clamp(max=w - 1)

    def at(r, col):
        return flat.gather(2, (r * w + col)[:, None, :].expand(n, c, -1))

    top = at(r0, c0) * (1 - fc) + at(r0, c1) * fc
    bottom = at(r1, c0) * (1 - fc) + at(r1, c1) * fc
    return top * (1 - fr) + bottom * fr


def transform(x: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    """Each image resampled through its inverse matrix (output pixel → input pixel, centred coordinates)."""
    n, c, h, w = x.shape
    taps = lowpass(x.device, x.dtype)
    pad = HALF // 2  # input pixels the upsampling filter reaches beyond the image
    big = upsample2(F.pad(x, (pad,) * 4, mode="reflect"), taps)[:, :, 2 * pad : 2 * (pad + h), 2 * pad : 2 * (pad + w)]
    # The ×2 grids are placed by the filter's delay, so that a flip or a rotation by 90° moves the image exactly.
    delay = filter_delay(x.device, x.dtype)
    # The ×2 output grid, HALF − 1 samples beyond the image on either side for the decimation filter.
    j_rows = torch.arange(-(HALF - 1), 2 * h + HALF - 1, device=x.device, dtype=x.dtype)
    j_cols = torch.arange(-(HALF - 1), 2 * w + HALF - 1, device=x.device, dtype=x.dtype)
    out_y, out_x = torch.meshgrid(
        (j_rows - 0.5 - delay) / 2 - (h - 1) / 2, (j_cols - 0.5 - delay) / 2 - (w - 1) / 2, indexing="ij"
    )
    points = torch.stack([out_x.flatten(), out_y.flatten(), torch.ones_like(out_x.flatten())])  # 3×P
    source = inverse.to(x.dtype) @ points  # N×3×P, centred input coordinates
    cols = mirror(2 * (source[:, 0] + (w - 1) / 2) + 0.5 + delay, 2 * w)
    rows = mirror(2 * (source[:, 1] + (h - 1) / 2) + 0.5 + delay, 2 * h)
    sampled = bilinear(big, rows, cols).reshape(n, c, len(j_rows), len(j_cols))
    return downsample2(sampled, taps)


def cutout(x: torch.Tensor, center: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """Zero a rectangle of each image: centre (N×2, x then y, in [0, 1) of the image), side `size` (N, relative;
    0 leaves the image as it is)."""
    n, c, h, w = x.shape
    xs = ((torch.arange(w, device=x.device) + 0.5) / w)[None, :] - center[:, :1]
    ys = ((torch.arange(h, device=x.device) + 0.5) / h)[None, :] - center[:, 1:]
    inside = (ys.abs() < size[:, None] / 2)[:, :, None] & (xs.abs() < size[:, None] / 2)[:, None, :]
    return x * (~inside)[:, None].to(x.dtype)
