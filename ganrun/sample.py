"""`python -m ganrun.sample CKPT --num N --out OUT`: images from a checkpoint's generator.

OUT ending in .png writes one grid; .npz writes a uint8 array `arr_0` of shape N×H×W×C (the layout
FID tools read); anything else is a folder of N PNG files.
"""

import argparse
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from PIL import Image

from ganrun import checkpoint, config
from ganrun.ema import recalibrate_batchnorm
from ganrun.errors import UsageError, exit_with
from ganrun.logger import image_grid
from ganrun.loop import samples


def load_generator(path, device: torch.device, use_ema: bool = True) -> torch.nn.Module:
    """The generator of a checkpoint (its moving average unless use_ema is False), rebuilt from the
    config stored in it, in eval mode on `device`."""
    from ganrun.train import build_gan  # the one place that instantiates models

    state = checkpoint.load(path)
    generator, _, _ = build_gan(OmegaConf.create(state["config"]))
    if use_ema and state.get("ema") is not None:
        checkpoint.load_weights(generator, state["ema"], "EMA generator")
        # Checkpoints written before ganrun re-estimated them hold the live generator's batch-norm statistics.
        return recalibrate_batchnorm(generator.to(device))
    checkpoint.load_weights(generator, state["generator"], "generator")
    return generator.to(device).eval()


def generate(generator: torch.nn.Module, num: int, seed: int, device: torch.device, batch: int = 256) -> torch.Tensor:
    """`num` images as uint8 N×C×H×W on the CPU, reproducible for a given seed."""
    rng = torch.Generator(device="cpu").manual_seed(seed)
    noise = torch.randn(num, generator.z_dim, generator=rng)  # drawn on the CPU so the seed means the same on any device
    chunks = [samples(generator, noise[i:i + batch].to(device)) for i in range(0, num, batch)]
    images = torch.cat(chunks).float().cpu()
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


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
        device = config.pick_device(args.device)
        images = generate(load_generator(args.checkpoint, device, use_ema=not args.no_ema), args.num, args.seed, device)
        write(images, Path(args.out))
    except UsageError as exc:
        exit_with(exc)
    print(f"wrote {args.num} images to {args.out}")


if __name__ == "__main__":
    main()
