"""`python -m ganrun.sample CKPT --num N --out OUT [--class K]`: images from a checkpoint's generator.

OUT ending in .png writes one grid (a class-conditional generator's: one row per class, unless --class);
.npz writes a uint8 array `arr_0` of shape N×H×W×C (the layout FID tools read), and `labels` for a
class-conditional generator; anything else is a folder of N PNG files (named with their class when conditional).
`--class K` makes every image of class K (a class-conditional checkpoint only), e.g. a per-class .npz.
"""

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganrun.build import load_generator
from ganrun.errors import UsageError, exit_with
from ganrun.models.conditional import trained_classes
from ganrun.runstate.loggers.grids import grid_pixels
from ganrun.training.devices import pick_device
from ganrun.training.sampling import generate_labelled, grid_samples


def write(images: torch.Tensor, out: Path, labels: torch.Tensor | None = None, nrow: int | None = None) -> None:
    """Write uint8 N×C×H×W images as a .png grid (`nrow` a row), a .npz array (N×H×W×C, with `labels`) or a
    folder of PNGs."""
    out.parent.mkdir(parents=True, exist_ok=True)
    hwc = images.permute(0, 2, 3, 1).numpy()
    if out.suffix.lower() == ".png":
        grid = grid_pixels(images, nrow)
        Image.fromarray(grid.squeeze(-1) if grid.shape[-1] == 1 else grid).save(out)
    elif out.suffix.lower() == ".npz":
        np.savez(out, hwc, **({} if labels is None else {"labels": labels.numpy()}))  # images stored as arr_0
    else:
        out.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(hwc):
            name = f"{i:06d}.png" if labels is None else f"{i:06d}_class{int(labels[i])}.png"
            Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(out / name)


def check_class(generator: torch.nn.Module, label: int | None) -> None:
    """--class K needs a class-conditional generator that was trained on class K."""
    if label is None:
        return
    classes = trained_classes(generator)
    if classes is None:
        raise UsageError(f"--class {label} needs a class-conditional checkpoint (model.conditional=true), "
                         "and this generator is unconditional; leave --class out")
    if label not in classes.tolist():
        raise UsageError(f"--class {label}: this generator was trained on classes "
                         f"{', '.join(map(str, classes.tolist()))}; pick one of them")


def make(generator: torch.nn.Module, args: argparse.Namespace, device: torch.device):
    """(uint8 images, labels or None, grid row length or None) as `args` ask."""
    if Path(args.out).suffix.lower() == ".png" and args.label is None and trained_classes(generator) is not None:
        noise = torch.randn(args.num, generator.z_dim, generator=torch.Generator().manual_seed(args.seed))
        images, columns = grid_samples(generator, noise.to(device))  # one row per class
        return ((images.float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8), None, columns
    images, labels = generate_labelled(generator, args.num, args.seed, device, label=args.label)
    return images, labels, None


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ganrun.sample", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a checkpoint, e.g. outputs/<date>/<time>/checkpoints/last.pt")
    parser.add_argument("--num", type=int, default=64, help="number of images (default 64)")
    parser.add_argument("--out", required=True, help="grid.png, samples.npz, or a folder for PNG files")
    parser.add_argument("--class", dest="label", type=int, metavar="K",
                        help="make only class K (a class-conditional checkpoint)")
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
        generator = load_generator(args.checkpoint, device, use_ema=not args.no_ema)
        check_class(generator, args.label)
        images, labels, nrow = make(generator, args, device)
        write(images, Path(args.out), labels, nrow)
    except UsageError as exc:
        exit_with(exc)
    print(f"wrote {len(images)} images to {args.out}")


if __name__ == "__main__":
    main()
