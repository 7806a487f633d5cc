"""Make a synthetic image folder for the data benchmarks: N JPEG images with photo-like content and file sizes.

Each image is a smooth random background (a bicubically upsampled 4×4 color field), a shaded ellipse ("a face")
with two darker spots, and sensor-like noise, saved as JPEG (quality 90) at a random size around `--size`
(±25 %, not square), so packing has to decode, resize and crop as it does for a real folder of face crops. At
--size 64 the files are about 2 to 3 KB, as in Kaggle's anime faces; in 1,000 subfolders of at most 1,000 files.

    python scripts/make_folder.py /data/synthetic --num 500000 --size 64 --workers 2
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def synthetic_image(index: int, size: int, seed: int) -> Image.Image:
    """Image `index` of the folder: the same for the same (index, size, seed)."""
    rng = np.random.default_rng([seed, index])
    width, height = (int(size * f) for f in rng.uniform(0.75, 1.25, 2))
    field = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).resize((width, height), Image.BICUBIC)
    draw = ImageDraw.Draw(field)
    cx, cy, rx, ry = width * rng.uniform(0.35, 0.65), height * rng.uniform(0.35, 0.65), width / 4, height / 3
    skin = tuple(int(v) for v in rng.integers(120, 250, 3))
    draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=skin)
    for dx in (-rx / 2.5, rx / 2.5):
        draw.ellipse(
            [cx + dx - rx / 6, cy - ry / 4 - ry / 8, cx + dx + rx / 6, cy - ry / 4 + ry / 8],
            fill=tuple(v // 3 for v in skin),
        )
    image = field.filter(ImageFilter.GaussianBlur(0.8))
    noisy = np.asarray(image, np.int16) + rng.normal(0, 6, (height, width, 3)).astype(np.int16)
    return Image.fromarray(noisy.clip(0, 255).astype(np.uint8))


def write_range(folder: str, start: int, stop: int, size: int, seed: int) -> int:
    for i in range(start, stop):
        path = Path(folder) / f"{i // 1000:04d}" / f"{i:07d}.jpg"
        if path.is_file():  # made by an earlier, interrupted call: making a folder resumes
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        synthetic_image(i, size, seed).save(partial, format="JPEG", quality=90)
        os.replace(partial, path)  # a killed call leaves no half-written JPEG under an image's name
    return stop - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().split("\n\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--num", type=int, default=10000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    if args.num < 1 or args.size < 8 or args.workers < 1:
        parser.error("--num >= 1, --size >= 8 and --workers >= 1")
    block = 1000
    with ProcessPoolExecutor(args.workers) as pool:
        jobs = [
            pool.submit(write_range, args.folder, s, min(s + block, args.num), args.size, args.seed)
            for s in range(0, args.num, block)
        ]
        done = sum(job.result() for job in jobs)
    print(f"{done} JPEG images of about {args.size}x{args.size} in {args.folder}")


if __name__ == "__main__":
    main()
