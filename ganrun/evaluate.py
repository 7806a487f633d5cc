"""Score a generator against its data set's reference split, each score with its protocol; print and write JSON.

    python -m ganrun.evaluate outputs/<date>/<time>/checkpoints/last.pt --num 10000 --metrics fid,kid
    python -m ganrun.evaluate outputs --metrics classifier_fd,classifier_recall --real

GENERATOR is what ganrun.sample takes: a checkpoint, a run folder (its newest checkpoint), a folder of runs such as
`outputs` (its newest run), an exported folder, `hf://user/repo`, or an R3GAN network pickle (its data set: an image
folder, `--data-root` where its dataset zip is unpacked).

The numbers go to stdout and to <checkpoint stem>.metrics.json beside the checkpoint (generator.metrics.json in an
exported folder, <user>--<repo>.metrics.json in the current folder for a Hub repository), each with how it was measured
(reference split and its size, generated images, generator and step, features and their weights, resize). The EMA
generator is used when the checkpoint has one (unless --no-ema). `--reference test` measures against the test split
(default: the run's metrics.reference, else train); `--real` scores the held-out split's real images the same way,
the floor each number can reach, printed beside the generator's. `--truncation ψ` draws truncated noise.
"""

import argparse
import json
import logging

from ganrun.base.errors import UsageError, exit_with
from ganrun.base.schedules import images_per_step, in_force, schedules_of
from ganrun.build import build_dataset
from ganrun.data.labelled import LABELLED, labelled_source
from ganrun.quality import dinov2
from ganrun.quality.configured import from_settings
from ganrun.quality.names import NAMES
from ganrun.quality.protocol import describe_all, origin_text
from ganrun.quality.reference import SPLITS, held_out_split, reference_images, seeded_subset
from ganrun.quality.resize import RESIZES
from ganrun.sharing.source import Source, resolve_for_tool, tool_parser
from ganrun.training.devices import pick_device
from ganrun.training.sampling import generate

DEFAULT_NUM = 10_000
DEFAULT_NAMES = "fid"
HELD_OUT_SEED = 2021  # the held-out images scored, when the split has more than --num


def parse_args(argv=None) -> argparse.Namespace:
    parser = tool_parser("python -m ganrun.evaluate", __doc__)
    parser.add_argument(
        "--num", type=int, help=f"generated images (default: the run's metrics.num_samples, else {DEFAULT_NUM})"
    )
    parser.add_argument(
        "--metrics",
        help=f"comma-separated subset of {','.join(NAMES)} (default: the run's metrics.names, else {DEFAULT_NAMES})",
    )
    parser.add_argument(
        "--reference",
        metavar="SPLIT|FILE",
        help="the real images' split, train or test, or a statistics file (clean-fid .npz, EDM2 .pkl, ganrun .npz; "
        "python -m ganrun.statistics writes them) (default: the run's metrics.reference, else train)",
    )
    parser.add_argument(
        "--real", action="store_true", help="also score the held-out split's real images: each metric's floor"
    )
    parser.add_argument("--truncation", type=float, metavar="PSI", help="noise truncated to ±PSI (default: none)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--no-ema", action="store_true", help="use the raw generator even if the checkpoint has an EMA")
    parser.add_argument(
        "--inception-weights",
        metavar="PATH",
        help="torch-fidelity's InceptionV3 weights file (default: the run's metrics.inception_weights, "
        "else downloaded once to the torch hub cache)",
    )
    parser.add_argument(
        "--inception-resize",
        choices=RESIZES,
        help="tensorflow (torch-fidelity's) or clean (clean-fid's) (default: the run's metrics.inception_resize)",
    )
    parser.add_argument(
        "--dinov2-model",
        choices=tuple(dinov2.MODELS),
        help=f"the *_dinov2 metrics' network (default: the run's metrics.dinov2.model, else {dinov2.DEFAULT})",
    )
    parser.add_argument("--dinov2-weights", metavar="PATH", help="a local copy of DINOv2's weights file")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--data-root", metavar="PATH", help="where the data set is, if not at the run's dataset.root")
    args = parser.parse_args(argv)
    if args.num is not None and args.num < 2:
        parser.error(f"--num must be >= 2, got {args.num}")
    if args.truncation is not None and not args.truncation > 0:
        parser.error(f"--truncation must be > 0, got {args.truncation}")
    if args.metrics is not None:
        names = [n.strip() for n in args.metrics.split(",") if n.strip()]
        if not names or set(names) - set(NAMES):
            parser.error(f"--metrics {args.metrics}: choose a comma-separated subset of {','.join(NAMES)}")
    return args


def trained_under(state: dict) -> str | None:
    """The schedules a checkpoint's generator trained under, with their last values (None: none)."""
    config = state.get("config") or {}
    return in_force(schedules_of(config), state["step"], images_per_step(config))


def evaluate(args: argparse.Namespace, source: Source) -> dict:
    """The scores of the generator `source` with their protocols (and, with --real, the held-out images'), as
    written to its .metrics.json."""
    state = source.state
    run_metrics = state["config"].get("metrics") or {}
    settings = scoring_settings(args, run_metrics)
    split = settings["reference"]
    dataset_cfg = dict(state["config"].get("dataset") or {})
    if "_target_" not in dataset_cfg:
        raise UsageError(f"{source.label} has no dataset config to rebuild the real images from")
    if args.data_root:
        dataset_cfg["root"] = args.data_root
    if args.real and (labelled_source(dataset_cfg) is None or split not in SPLITS):
        raise UsageError(
            f"--real scores a held-out split, and the data set {dataset_cfg['_target_']} has one split "
            f"only (held-out splits: {', '.join(LABELLED)})"
            if split in SPLITS
            else f"--real scores a held-out split against a split; --reference {split} is a statistics file"
        )

    device = pick_device(args.device)
    # The whole data set, also for a run trained on dataset.limit images of it (as the run's own metrics).
    # An ImageSet of the training images: only the sampled rows are ever read.
    training = lambda: build_dataset(dataset_cfg, subset=False)  # noqa: E731
    held = reference_images(dataset_cfg, held_out_split(split), training) if args.real else None
    metrics = from_settings(settings, dataset_cfg, training, device, origin_text(state.get("init")), FLAGS)
    num = settings["num_samples"]
    metrics.prepare()  # fails now, saying how to fix it, rather than warn after generating the images

    generator = source.generator(device, use_ema=not args.no_ema)
    used_ema = not args.no_ema and source.used_ema
    scores = metrics.compute(
        lambda n: generate(generator, n, args.seed, device, truncation=args.truncation),
        "ema" if used_ema else "raw",
        args.truncation,
    )
    result = {
        "checkpoint": str(source.path),
        "generator": source.label,
        "step": state["step"],
        "num_samples": num,
        "ema": used_ema,
        "seed": args.seed,
        "truncation": args.truncation,
        "reference": split,
        "metrics": unprefixed(scores),
        "protocols": scores.at(state["step"], trained_under(state)),
    }
    if held is not None:
        floor = metrics.compute(
            lambda n: seeded_subset(held, n, HELD_OUT_SEED), f"held-out {held_out_split(split)} split"
        )
        result["real"] = {"split": held_out_split(split), "metrics": unprefixed(floor), "protocols": floor.protocols}
    if metrics.classifier_record is not None:  # what the classifier_* numbers are comparable with
        record = metrics.classifier_record
        result["classifier"] = {
            "data": record["source"],
            "file": str(metrics.classifier_path),
            "id": record["id"],
            "test_accuracy": record["test_accuracy"],
        }
    return result


# How each scoring choice is set on this command line, for messages.
FLAGS = {
    "inception_weights": "--inception-weights ",
    "inception_resize": "--inception-resize ",
    "dinov2_model": "--dinov2-model ",
    "dinov2_weights": "--dinov2-weights ",
    "reference": "--reference ",
    "instead_of_classifier": "for this one use --metrics fid or fd_dinov2",
}


def scoring_settings(args: argparse.Namespace, run_metrics: dict) -> dict:
    """The metrics settings: each flag given, else the run's metrics config, else the defaults."""
    chosen = run_metrics.get("dinov2") or {}
    return {
        "names": args.metrics or run_metrics.get("names") or DEFAULT_NAMES,
        "num_samples": args.num or run_metrics.get("num_samples") or DEFAULT_NUM,
        "reference": args.reference or run_metrics.get("reference") or "train",
        "inception_weights": args.inception_weights or run_metrics.get("inception_weights"),
        "inception_resize": args.inception_resize or run_metrics.get("inception_resize"),
        "dinov2": {
            "model": args.dinov2_model or chosen.get("model"),
            "weights": args.dinov2_weights or chosen.get("weights"),
        },
    }


def unprefixed(scores: dict) -> dict:
    """{"<name>": value} of scores {"metrics/<name>": value}."""
    return {name.split("/", 1)[1]: value for name, value in scores.items()}


def report(result: dict) -> list[str]:
    """What the command prints: what was scored, each metric (beside its floor with --real), how each was measured."""
    generator = "EMA generator" if result["ema"] else "generator"
    lines = [
        f"step {result['step']}, {result['num_samples']} samples of the {generator} against the "
        f"{result['reference']} split"
    ]
    if "classifier" in result:
        found = result["classifier"]
        lines.append(
            f"classifier_* in the features of the {found['data']} classifier {found['id']} "
            f"(test accuracy {100 * found['test_accuracy']:.2f}%)"
        )
    floor = result.get("real", {}).get("metrics", {})
    if floor:
        lines.append(f"metric generator held-out_real_({result['real']['split']})")
    for name, value in result["metrics"].items():
        lines.append(f"{name} {value:.6g}" + (f" {floor[name]:.6g}" if name in floor else ""))
    lines.append("measured as:")
    protocols = [*result["protocols"].values(), *result.get("real", {}).get("protocols", {}).values()]
    return lines + [f"  {line}" for line in describe_all(protocols)]


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # the KID subset note, download notes
    try:
        source = resolve_for_tool(args.checkpoint)
        result = evaluate(args, source)
        out = source.beside(".metrics.json")
        try:
            out.write_text(json.dumps(result, indent=2) + "\n")
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    except UsageError as exc:
        exit_with(exc)
    print("\n".join(report(result)))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
