"""The files pictures are written to: a PNG of rows of tiles (a strip per row), and a GIF or MP4 whose frames are the
columns of those rows, played forward and back so that the file loops without a jump."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganrun.base.errors import UsageError
from ganrun.base.named_rows import name_rows

PAD, GAP = 2, 8  # pixels between tiles, and the wider gap after a marked column (a sample | its neighbours)
BACKGROUND = 255  # white padding: it sets tiles of dark-backgrounded images (MNIST) apart
FRAME_MS, MIN_FRAME_SIDE = 100, 256  # a GIF/MP4 frame every 100 ms; frames scaled up to at least 256 px
MOVIES = (".gif", ".mp4")


def strip_image(rows: torch.Tensor, gap_after: int | None = None, pad: int = PAD) -> np.ndarray:
    """uint8 H×W×C pixels of rows × columns tiles (uint8 R×T×C×h×w), `pad` pixels apart, and GAP apart after
    column `gap_after` (None: nowhere)."""
    count, columns, channels, height, width = rows.shape
    lefts = [
        pad + c * (width + pad) + (GAP - pad if gap_after is not None and c > gap_after else 0) for c in range(columns)
    ]
    canvas = np.full((pad + count * (height + pad), lefts[-1] + width + pad, channels), BACKGROUND, np.uint8)
    tiles = rows.permute(0, 1, 3, 4, 2).numpy()
    for r in range(count):
        top = pad + r * (height + pad)
        for c, left in enumerate(lefts):
            canvas[top : top + height, left : left + width] = tiles[r, c]
    return canvas


def to_pil(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)


def frames(rows: torch.Tensor) -> list[np.ndarray]:
    """The movie of rows (R×T×C×h×w): frame t tiles every row's t-th image in an about square grid, scaled up
    (nearest pixel) to at least MIN_FRAME_SIDE, to an even size (what video encoders need); forward, then back."""
    count = rows.shape[0]
    across = math.ceil(math.sqrt(count))
    down = math.ceil(count / across)
    # Cells past the last row are padding-white: black would read as a sample of nothing on dark data (MNIST).
    blank = torch.full((across * down - count, *rows.shape[1:]), BACKGROUND, dtype=rows.dtype)
    grid = torch.cat([rows, blank]).view(down, across, *rows.shape[1:])  # down × across × T × C × h × w
    shown = []
    for t in range(rows.shape[1]):
        pixels = strip_image(grid[:, :, t])
        scale = max(1, math.ceil(MIN_FRAME_SIDE / max(pixels.shape[:2])))
        pixels = pixels.repeat(scale, 0).repeat(scale, 1)
        shown.append(np.pad(pixels, ((0, pixels.shape[0] % 2), (0, pixels.shape[1] % 2), (0, 0))))
    return shown + shown[-2:0:-1]


def write_gif(shown: list[np.ndarray], out: Path) -> None:
    first, *rest = [to_pil(pixels) for pixels in shown]
    first.save(out, save_all=True, append_images=rest, duration=FRAME_MS, loop=0)


def write_mp4(shown: list[np.ndarray], out: Path) -> None:
    """H.264 in an MP4 with PyAV (the `pictures` extra)."""
    try:
        import av
    except ImportError:
        raise UsageError(
            f"{out}: writing .mp4 needs PyAV (pip install 'ganrun[pictures]'); or write a .gif, "
            "which needs nothing more"
        ) from None
    with av.open(str(out), mode="w") as container:
        stream = container.add_stream("libx264", rate=round(1000 / FRAME_MS))
        stream.height, stream.width = shown[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for pixels in shown:
            rgb = np.repeat(pixels, 3, axis=2) if pixels.shape[-1] == 1 else pixels
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")))
        container.mux(stream.encode())


def write_rows(rows: torch.Tensor, out: Path, gap_after: int | None = None, captions: list[str] | None = None) -> None:
    """rows (uint8 R×T×C×h×w) as a .png strip (one row each, each with its caption before it when given) or as a
    .gif/.mp4 of their columns."""
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".png":
        pixels = strip_image(rows, gap_after)
        if captions:
            height = rows.shape[-2]
            centers = [PAD + r * (height + PAD) + height // 2 for r in range(len(rows))]
            pixels = name_rows(pixels, centers, captions, background=BACKGROUND)
        to_pil(pixels).save(out)
    elif suffix == ".gif":
        write_gif(frames(rows), out)
    elif suffix == ".mp4":
        write_mp4(frames(rows), out)
    else:
        raise UsageError(f"--out {out}: write a .png strip, a .gif or an .mp4")
