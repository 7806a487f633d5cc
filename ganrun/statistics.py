"""Write the reference statistics of a data set or an image folder, in every feature space ganrun has, so that scores
can be published with the statistics they used and others can score against them (`metrics.reference=FILE`).

    python -m ganrun.statistics fashion_mnist --root /usr/share/datasets/fashion-mnist --out stats/fashion_mnist
    python -m ganrun.statistics path/to/images --image-size 64 --spaces inception --inception-resize clean --out mine

Writes PREFIX.npz (ganrun's format: every space with its protocol; `--features` adds the real features, which KID,
precision, recall, density and coverage need), one clean-fid .npz per space named as clean-fid names its own
(PREFIX_<resize>_<split>_<size>.npz: mu and sigma), and PREFIX.json, the protocol of each space for people.
"""

import argparse
import importlib.resources
import json
import logging
from pathlib import Path

from ganrun.base.errors import UsageError, exit_with
from ganrun.build import build_dataset
from ganrun.quality import dinov2
from ganrun.quality import statistics as files
from ganrun.quality.configured import decide_available, from_settings
from ganrun.quality.resize import CLEANFID_MODES, RESIZES
from ganrun.training.devices import pick_device

SPACES = {"inception": "fid", "dinov2": "fd_dinov2", "classifier": "classifier_fd"}  # space → a metric read in it
PRESETS = ("mnist", "fashion_mnist", "cifar10", "cifar10_horse")
FLAGS = {
    "inception_weights": "--inception-weights ",
    "inception_resize": "--inception-resize ",
    "dinov2_model": "--dinov2-model ",
    "dinov2_weights": "--dinov2-weights ",
    "reference": "--split ",
    "instead_of_classifier": "or leave classifier out of --spaces",
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ganrun.statistics", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", help=f"a data set ({', '.join(PRESETS)}) or a folder of images")
    parser.add_argument("--out", required=True, metavar="PREFIX", help="where to write: PREFIX.npz, PREFIX.json, …")
    parser.add_argument("--root", default="data", help="where a data set's files are (default data)")
    parser.add_argument("--split", default="train", choices=("train", "test"), help="a data set's split (train)")
    parser.add_argument("--image-size", type=int, help="a folder's images are fitted to this side (default 64)")
    parser.add_argument("--channels", type=int, choices=(1, 3), help="a folder's channels (default 3)")
    parser.add_argument("--labels", default="none", help="a folder's labels: none, folders or a labels file")
    parser.add_argument(
        "--spaces", default=",".join(SPACES), help=f"comma-separated subset of {','.join(SPACES)} (default: all)"
    )
    parser.add_argument("--num", type=int, help="a seeded subset of this many images (default: all of them)")
    parser.add_argument("--features", action="store_true", help="also store the real features in PREFIX.npz")
    parser.add_argument("--inception-resize", default="tensorflow", choices=RESIZES, help="default tensorflow")
    parser.add_argument("--inception-weights", metavar="PATH", help="torch-fidelity's InceptionV3 weights file")
    parser.add_argument("--dinov2-model", default=dinov2.DEFAULT, choices=tuple(dinov2.MODELS))
    parser.add_argument("--dinov2-weights", metavar="PATH", help="a local copy of DINOv2's weights file")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    args = parser.parse_args(argv)
    spaces = [s.strip() for s in args.spaces.split(",") if s.strip()]
    if not spaces or set(spaces) - set(SPACES):
        parser.error(f"--spaces {args.spaces}: choose a comma-separated subset of {','.join(SPACES)}")
    args.spaces = spaces
    if args.num is not None and args.num < 2:
        parser.error(f"--num must be >= 2, got {args.num}")
    return args


def dataset_config(args: argparse.Namespace) -> dict:
    """The dataset config of a preset (conf/dataset/<name>.yaml, at --root) or of a folder of images."""
    if args.data in PRESETS:
        from omegaconf import OmegaConf

        # conf/ ships as the package ganrun.conf (pyproject's package-dir): found in a checkout and in a wheel.
        preset = importlib.resources.files("ganrun.conf").joinpath("dataset", f"{args.data}.yaml")
        config = OmegaConf.to_container(OmegaConf.create(preset.read_text()), resolve=True)
        return {**config, "root": args.root, "download": False, "storage": "host"}
    if not Path(args.data).expanduser().is_dir():
        raise UsageError(f"{args.data} is neither a data set ({', '.join(PRESETS)}) nor a folder of images")
    return {
        "_target_": "ganrun.data.image_folder",
        "root": str(Path(args.data).expanduser().absolute()),
        "image_size": args.image_size or 64,
        "channels": args.channels or 3,
        "labels": args.labels,
    }


def write_statistics(args: argparse.Namespace) -> list[Path]:
    """Compute the statistics as `args` ask and write them; the paths written."""
    dataset_cfg = dataset_config(args)
    if args.split == "test" and args.data not in PRESETS:
        raise UsageError("--split test: a folder of images has one split, train")
    images = build_dataset(dataset_cfg, subset=False)
    settings = {
        "names": [SPACES[s] for s in args.spaces],
        "num_samples": min(args.num or len(images), len(images)),
        "reference": args.split,
        "inception_weights": args.inception_weights,
        "inception_resize": args.inception_resize,
        "dinov2": {"model": args.dinov2_model, "weights": args.dinov2_weights},
    }
    quality = from_settings(settings, dataset_cfg, lambda: images, pick_device(args.device), options=FLAGS)
    decide_available(quality)  # a space that cannot be had here: one warning, the others written
    entries = {}
    for space in quality.spaces:
        if space.ready():
            entries.update(quality.real_entries(space))
    if not entries:
        raise UsageError(f"no space of --spaces {','.join(args.spaces)} can be computed here (see the warnings above)")
    return write_files(Path(args.out), entries, args, quality.real.shape[-1])


def write_files(prefix: Path, entries: dict, args: argparse.Namespace, side: int) -> list[Path]:
    """PREFIX.npz (ganrun's), a clean-fid .npz per space, PREFIX.json (the protocols)."""
    kept = {
        space: files.Entry(e.mu, e.sigma, e.features if args.features else None, e.about)
        for space, e in entries.items()
    }
    written = [prefix.with_name(prefix.name + ".npz")]
    files.write(written[0], kept)
    for space, entry in kept.items():
        if space.startswith("inception"):
            mode = CLEANFID_MODES[entry.about["resize"]]
        elif space.startswith("dinov2"):
            mode = space.split()[0].replace("-", "_")
        else:
            continue  # the classifier's statistics mean something to ganrun only: in ganrun's file
        written.append(prefix.with_name(f"{prefix.name}_{mode}_{args.split}_{side}.npz"))
        files.write_cleanfid(written[-1], entry)
    written.append(prefix.with_name(prefix.name + ".json"))
    protocol = {space: {**e.about, "dim": int(e.mu.shape[0])} for space, e in kept.items()}
    written[-1].write_text(json.dumps({"data": args.data, "split": args.split, "spaces": protocol}, indent=2) + "\n")
    return written


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        written = write_statistics(args)
    except UsageError as exc:
        exit_with(exc)
    print("\n".join(f"wrote {path}" for path in written))


if __name__ == "__main__":
    main()
