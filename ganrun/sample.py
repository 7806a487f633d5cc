"""`python -m ganrun.sample CKPT --num N --out OUT`: images from a checkpoint's generator.

OUT ending in .png writes one grid; .npz writes a uint8 array `arr_0` of shape N×H×W×C (the layout
FID tools read); anything else is a folder of N PNG files.
"""

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganrun.build import load_generator
from ganrun.errors import UsageError, exit_with
from ganrun.runstate.logger import image_grid
from ganrun.training.devices import pick_device
from ganrun.training.sampling import generate


def write(images: torch.Tensor, out: Path) -> None:
    """Write uint8 N×C×H×W images as a .png grid, a .npz array (N×H×W×C) or a folder of PNGs."""
    out.parent.mkdir(parents=True, exist_ok=True)
    hwc = images.permute(0, 2, 3, 1).numpy()
    if out.suffix.lower() == ".png":
        grid = (image_grid(images) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        Image.fromarray(grid.squeeze(-1) if grid.shape[-1] == 1 else grid).save(out)
    elif out.suffix.lower() == ".npz":
        np.savez(out, hwc)  # stored as arr_0
    else:
        out.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(hwc):
            Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(out / f"{i:06d}.png")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ganrun.sample", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a checkpoint, e.g. outputs/<date>/<time>/checkpoints/last.pt")
    parser.add_argument("--num", type=int, default=64, help="number of images (default 64)")
    parser.add_argument("--out", required=True, help="grid.png, samples.npz, or a folder for PNG files")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--no-ema", action="store_true", help="use the trained generator, not its moving average")
    args = parser.parse_args(argv)
    if args.num < 1:
        parser.error(f"--num must be >= 1, got {args.num}")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        device = pick_device(args.device)
        images = generate(load_generator(args.checkpoint, device, use_ema=not args.no_ema), args.num, args.seed, device)
        write(images, Path(args.out))
    except UsageError as exc:
        exit_with(exc)
    print(f"wrote {args.num} images to {args.out}")


if __name__ == "__main__":
    main()
