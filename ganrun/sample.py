"""`python -m ganrun.sample GENERATOR --out OUT`: images from a generator, and pictures of it.

GENERATOR is a checkpoint (.pt), a run folder (its newest checkpoint), a folder of runs such as `outputs` (its
newest run, named in a line), an exported folder (`python -m ganrun.export`), a Hub repository `hf://user/repo`,
or an R3GAN network pickle (.pkl, read without running its code).

OUT with an image extension (grid.png, grid.jpg, grid.webp …) writes one grid in that format (a class-conditional
generator's: one row per class, its name beside it, unless --class); .npz writes a uint8 array `arr_0` of shape
N×H×W×C (the layout FID tools read), and `labels` (with the class names, `classes`) for a class-conditional
generator; a name without an extension is a folder of N PNG files (named with their class when conditional).
`--class NAME` (or its index K) makes every image of that class (a class-conditional generator only), e.g. a
per-class .npz. `--truncation ψ` draws the noise from a normal truncated to ±ψ (entries outside are drawn again).

Pictures: `--interpolate K --out walk.gif|walk.mp4|walk.png` walks between K fixed noise points by spherical
interpolation, one row per pair (for a class-conditional model also between classes at fixed noise);
`--nearest K --out nearest.png` puts each of --num samples beside its K nearest training images in the features of
the data set's classifier (or Inception's), the memorization check.
"""

import argparse
import os
import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganrun.base.errors import UsageError, exit_with
from ganrun.base.pixels import to_uint8
from ganrun.build import build_dataset
from ganrun.models.conditional import trained_classes
from ganrun.pictures.strips import MOVIES, write_rows
from ganrun.runstate.loggers.grids import grid_pixels, save_grid
from ganrun.sharing.source import Source, resolve_for_tool, tool_parser
from ganrun.training.devices import pick_device
from ganrun.training.sampling import generate_labelled, grid_samples, normal_noise

NUM, NEAREST_NUM, STEPS = 64, 8, 10  # default --num for grids and files, for --nearest; default --steps


def write(
    images: torch.Tensor,
    out: Path,
    labels: torch.Tensor | None = None,
    nrow: int | None = None,
    names: list[str] | None = None,
) -> None:
    """Write uint8 N×C×H×W images as a .png grid (`nrow` a row), a .npz array (N×H×W×C, with `labels` and the
    class `names`) or a folder of PNGs (named with their class)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    hwc = images.permute(0, 2, 3, 1).numpy()
    if out_kind(str(out)) == "grid":
        save_image_grid(images, out, nrow)
    elif out_kind(str(out)) == "npz":
        extra = {} if labels is None else {"labels": labels.numpy()}
        if labels is not None and names:
            extra["classes"] = np.array(names)
        np.savez(out, hwc, **extra)  # images stored as arr_0
    else:
        out.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(hwc):
            name = f"{i:06d}.png" if labels is None else f"{i:06d}_{class_tag(int(labels[i]), names)}.png"
            Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(out / name)


def image_format(out: Path) -> str | None:
    """The image format PIL writes for --out's extension (grid.jpg: JPEG), or None where it names none."""
    Image.init()
    found = Image.registered_extensions().get(out.suffix.lower())
    return found if found in Image.SAVE else None


def save_image_grid(images: torch.Tensor, out: Path, nrow: int | None) -> None:
    """The grid in the format of `out`'s extension, written whole or not at all (a format that cannot hold these
    images, such as JPEG for RGBA, is one line)."""
    if image_format(out) == "PNG":
        return save_grid(images, out, nrow)
    pixels = grid_pixels(images, nrow)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        Image.fromarray(pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels).save(tmp, format=image_format(out))
        os.replace(tmp, out)
    except (OSError, ValueError, KeyError) as exc:
        raise UsageError(f"--out {out}: {image_format(out)} cannot hold these images ({exc}); use a .png") from None
    finally:
        tmp.unlink(missing_ok=True)


def out_kind(out: str) -> str:
    """What --out names: "grid" (an image extension), "npz", "movie", "folder" (no extension, or an existing
    folder), else "unknown"."""
    path = Path(out)
    if path.suffix.lower() == ".npz":
        return "npz"
    if path.suffix.lower() in MOVIES:
        return "movie"
    if path.suffix and image_format(path) is not None:
        return "grid"
    return "folder" if out.endswith(("/", os.sep)) or path.is_dir() or not path.suffix else "unknown"


def class_tag(label: int, names: list[str] | None) -> str:
    """How a file name says its class: class7, and its name where that says more (class7_Sneaker)."""
    name = names[label] if names and label < len(names) else str(label)
    return f"class{label}" if name == str(label) else f"class{label}_{re.sub(r'[^A-Za-z0-9.+-]+', '_', name)}"


def class_label(asked: str | None, names: list[str] | None) -> int | None:
    """--class as a label: a class name of the checkpoint, else its index."""
    if asked is None:
        return None
    if names and asked in names:
        return names.index(asked)
    try:
        return int(asked)
    except ValueError:
        known = f"its classes are {', '.join(names)}" if names else "it names no classes: give an index"
        raise UsageError(f"--class {asked} is not a class of this checkpoint; {known}") from None


def check_class(generator: torch.nn.Module, label: int | None, names: list[str] | None = None) -> None:
    """--class K needs a class-conditional generator that was trained on class K."""
    if label is None:
        return
    classes = trained_classes(generator)
    if classes is None:
        raise UsageError(
            f"--class {label} needs a class-conditional checkpoint (model.conditional=true), "
            "and this generator is unconditional; leave --class out"
        )
    if label not in classes.tolist():
        shown = [names[c] if names and names[c] != str(c) else str(c) for c in classes.tolist()]
        raise UsageError(f"--class {label}: this generator was trained on classes {', '.join(shown)}; pick one of them")


def make(generator: torch.nn.Module, args: argparse.Namespace, device: torch.device, names: list[str] | None):
    """(uint8 images, labels or None, grid row length or None, how many samples they show) as `args` ask."""
    if out_kind(args.out) == "grid" and args.label is None and trained_classes(generator) is not None:
        rng = torch.Generator().manual_seed(args.seed)
        images, columns = grid_samples(
            generator, normal_noise(args.num, generator.z_dim, rng, args.truncation).to(device), names
        )  # one row per class (one picture with their names, when the checkpoint has them)
        shown = max(1, args.num // len(trained_classes(generator))) * len(trained_classes(generator))
        return (images if images.dtype == torch.uint8 else to_uint8(images.cpu())), None, columns, shown
    images, labels = generate_labelled(
        generator, args.num, args.seed, device, label=args.label, truncation=args.truncation
    )
    return images, labels, None, len(images)


def walk_rows(generator: torch.nn.Module, args: argparse.Namespace, device: torch.device, names: list[str] | None):
    """The walk picture's rows, and each row's caption (its class, or the classes it walks between)."""
    from ganrun.pictures.walk import walk_captions, walks

    rows = walks(generator, args.interpolate, args.steps, args.seed, device, args.truncation, args.label)
    return rows, walk_captions(generator, args.interpolate, args.label, names)


def nearest_rows(
    generator: torch.nn.Module, args: argparse.Namespace, device: torch.device, source: Source
) -> torch.Tensor:
    """Each sample beside its --nearest nearest images of the training set (as the run trained on it)."""
    from ganrun.data.labelled import classifier_source
    from ganrun.pictures.nearest import beside, extractor_features, nearest_training_images
    from ganrun.quality import classifier, inception  # torch-fidelity takes seconds to import

    dataset_cfg = dict(source.state["config"].get("dataset") or {})
    if "_target_" not in dataset_cfg:
        raise UsageError(f"{source.label} has no dataset config to find its training images from")
    if args.data_root:
        dataset_cfg["root"] = args.data_root
    labelled = classifier_source(dataset_cfg)
    features = args.features or ("classifier" if labelled is not None else "inception")
    if features == "classifier":
        path, _ = classifier.classifier_for(labelled, device, instead="for this one use --features inception")
        extractor = classifier.feature_extractor(path, device)
    else:
        weights = inception.weights_path(
            Path(args.inception_weights) if args.inception_weights else None, "--inception-weights "
        )
        extractor = inception.build(weights, ["2048"], "--inception-weights ").to(device)
    training = build_dataset(dataset_cfg)  # an ImageSet: read in chunks, never whole
    images, _ = generate_labelled(generator, args.num, args.seed, device, label=args.label, truncation=args.truncation)
    neighbours, _, _ = nearest_training_images(images, training, extractor_features(extractor, device), args.nearest)
    return beside(images, neighbours)


def parse_args(argv=None) -> argparse.Namespace:
    parser = tool_parser("python -m ganrun.sample", __doc__)
    parser.add_argument("--num", type=int, help=f"number of images (default {NUM}; with --nearest {NEAREST_NUM})")
    parser.add_argument(
        "--out",
        required=True,
        help="grid.png (or .jpg, .webp …: a grid), samples.npz, a folder for PNG files; with --interpolate walk.png, "
        "walk.gif or walk.mp4",
    )
    parser.add_argument(
        "--class",
        dest="label",
        metavar="NAME",
        help="make only the class NAME, or the class of index K (a class-conditional checkpoint)",
    )
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--truncation", type=float, metavar="PSI", help="noise truncated to ±PSI (default: none)")
    parser.add_argument("--interpolate", type=int, metavar="K", help="walk between K noise points, one row per pair")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"images per walk row, ends included ({STEPS})")
    parser.add_argument("--nearest", type=int, metavar="K", help="each sample beside its K nearest training images")
    parser.add_argument(
        "--features",
        choices=("classifier", "inception"),
        help="--nearest's feature space (default: classifier for labelled data sets, else inception)",
    )
    parser.add_argument("--data-root", metavar="PATH", help="where the data set is, if not at the run's dataset.root")
    parser.add_argument("--inception-weights", metavar="PATH", help="torch-fidelity's InceptionV3 weights file")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--no-ema", action="store_true", help="use the trained generator, not its moving average")
    args = parser.parse_args(argv)
    check_picture_args(parser, args)
    return args


def check_picture_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Ranges, and which options go together."""
    suffix = Path(args.out).suffix.lower()
    args.num = args.num if args.num is not None else NEAREST_NUM if args.nearest else NUM
    checks = [
        (args.num < 1, f"--num must be >= 1, got {args.num}"),
        (args.truncation is not None and not args.truncation > 0, f"--truncation must be > 0, got {args.truncation}"),
        (
            args.interpolate is not None and args.nearest is not None,
            "--interpolate and --nearest are two pictures: ask for one at a time",
        ),
        (args.interpolate is not None and args.interpolate < 2, "--interpolate needs K >= 2 noise points"),
        (args.steps < 2, f"--steps must be >= 2 (both ends of a walk), got {args.steps}"),
        (
            args.interpolate is not None and suffix not in (".png", *MOVIES),
            f"--interpolate writes a .png strip, a .gif or an .mp4, not {args.out}",
        ),
        (args.nearest is not None and args.nearest < 1, "--nearest needs K >= 1 neighbours"),
        (args.nearest is not None and suffix != ".png", f"--nearest writes a .png, not {args.out}"),
        (
            args.interpolate is None and args.nearest is None and suffix in MOVIES,
            f"--out {args.out}: a movie is a walk; add --interpolate K",
        ),
        (
            out_kind(args.out) in ("grid", "npz", "movie") and Path(args.out).is_dir(),
            f"--out {args.out} is an existing folder; a grid, an array or a movie is a file: choose another name",
        ),
        (
            args.interpolate is None and args.nearest is None and out_kind(args.out) == "unknown",
            f"--out {args.out}: {suffix} is neither an image format (.png, .jpg, .webp …) nor .npz; a name without "
            "an extension writes a folder of PNG files",
        ),
    ]
    for failed, message in checks:
        if failed:
            parser.error(message)


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        device = pick_device(args.device)
        source = resolve_for_tool(args.checkpoint)
        generator = source.generator(device, use_ema=not args.no_ema)
        names = source.state.get("classes")  # what each label means, where the run knew it
        args.label = class_label(args.label, names)
        check_class(generator, args.label, names)
        if args.interpolate is not None:
            rows, captions = walk_rows(generator, args, device, names)
            write_rows(rows, Path(args.out), captions=captions)
            done = f"{len(rows)} walks of {rows.shape[1]} images"
        elif args.nearest is not None:
            rows = nearest_rows(generator, args, device, source)
            write_rows(rows, Path(args.out), gap_after=0)
            done = f"{len(rows)} samples beside their {args.nearest} nearest training images"
        else:
            images, labels, nrow, shown = make(generator, args, device, names)
            write(images, Path(args.out), labels, nrow, names)
            done = f"{shown} images"
    except UsageError as exc:
        exit_with(exc)
    print(f"wrote {done} to {args.out}")


if __name__ == "__main__":
    main()
