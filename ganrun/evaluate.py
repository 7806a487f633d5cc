"""Score a checkpoint's generator against its training data (FID/KID/IS, classifier_*); print and write JSON.

    python -m ganrun.evaluate outputs/<date>/<time>/checkpoints/last.pt --num 10000 --metrics fid,kid
    python -m ganrun.evaluate outputs/<date>/<time>/checkpoints/last.pt --metrics classifier_fd,classifier_recall

The numbers go to stdout and to <checkpoint stem>.metrics.json beside the checkpoint. The EMA generator is
used when the checkpoint has one (unless --no-ema). Images are resized by torch-fidelity's Inception (to 299,
bilinear as TensorFlow did), so numbers from tools that resize differently are not comparable. The classifier_*
metrics use a classifier trained once on the labelled data set (offline); the JSON names it.
"""

import argparse
import json
import logging
from pathlib import Path

from ganrun.build import build_dataset, load_generator
from ganrun.data.labelled import labelled_source
from ganrun.errors import UsageError, exit_with
from ganrun.quality.metrics import QualityMetrics, dataset_cache_key
from ganrun.quality.names import NAMES
from ganrun.runstate import checkpoint
from ganrun.training.devices import pick_device
from ganrun.training.sampling import generate

DEFAULT_NUM = 10_000
DEFAULT_NAMES = "fid"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ganrun.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a checkpoint, e.g. outputs/<date>/<time>/checkpoints/last.pt")
    parser.add_argument("--num", type=int,
                        help=f"generated images (default: the run's metrics.num_samples, else {DEFAULT_NUM})")
    parser.add_argument("--metrics", help=f"comma-separated subset of {','.join(NAMES)} "
                                          f"(default: the run's metrics.names, else {DEFAULT_NAMES})")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--no-ema", action="store_true", help="use the raw generator even if the checkpoint has an EMA")
    parser.add_argument("--inception-weights", metavar="PATH",
                        help="torch-fidelity's InceptionV3 weights file (default: the run's metrics.inception_weights, "
                             "else downloaded once to the torch hub cache)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--data-root", metavar="PATH", help="where the data set is, if not at the run's dataset.root")
    args = parser.parse_args(argv)
    if args.num is not None and args.num < 2:
        parser.error(f"--num must be >= 2, got {args.num}")
    if args.metrics is not None:
        names = [n.strip() for n in args.metrics.split(",") if n.strip()]
        if not names or set(names) - set(NAMES):
            parser.error(f"--metrics {args.metrics}: choose a comma-separated subset of {','.join(NAMES)}")
    return args


def evaluate(args: argparse.Namespace) -> dict:
    """The metrics of `args.checkpoint`, as written to its .metrics.json."""
    path = Path(args.checkpoint)
    state = checkpoint.load(path)
    run_metrics = state["config"].get("metrics") or {}
    names = args.metrics or run_metrics.get("names") or DEFAULT_NAMES
    num = args.num or run_metrics.get("num_samples") or DEFAULT_NUM
    dataset_cfg = dict(state["config"].get("dataset") or {})
    if "_target_" not in dataset_cfg:
        raise UsageError(f"checkpoint {path} has no dataset config to rebuild the real images from")
    if args.data_root:
        dataset_cfg["root"] = args.data_root

    device = pick_device(args.device)
    # The whole data set, also for a run trained on dataset.limit images of it (as the run's own metrics).
    real = build_dataset(dataset_cfg, subset=False)  # an ImageSet: only the sampled rows are read
    metrics = QualityMetrics(names, num, real, dataset_cache_key(dataset_cfg),
                             args.inception_weights or run_metrics.get("inception_weights"), device,
                             option="--inception-weights ", labelled=labelled_source(dataset_cfg))
    metrics.prepare()  # fails now, saying how to fix it, rather than warn after generating the images

    generator = load_generator(path, device, use_ema=not args.no_ema)
    used_ema = not args.no_ema and state.get("ema") is not None
    values = metrics.compute(lambda n: generate(generator, n, args.seed, device))
    result = {"checkpoint": str(path), "step": state["step"], "num_samples": num, "ema": used_ema, "seed": args.seed,
              "metrics": {name.split("/", 1)[1]: value for name, value in values.items()}}
    if metrics.classifier_record is not None:  # what the classifier_* numbers are comparable with
        record = metrics.classifier_record
        result["classifier"] = {"data": record["source"], "file": str(metrics.classifier_path),
                                "id": record["id"], "test_accuracy": record["test_accuracy"]}
    return result


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # the KID subset note, download notes
    try:
        result = evaluate(args)
        out = Path(args.checkpoint).with_name(f"{Path(args.checkpoint).stem}.metrics.json")
        try:
            out.write_text(json.dumps(result, indent=2) + "\n")
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    except UsageError as exc:
        exit_with(exc)
    generator = "EMA generator" if result["ema"] else "generator"
    print(f"step {result['step']}, {result['num_samples']} samples of the {generator}")
    if "classifier" in result:
        found = result["classifier"]
        print(f"classifier_* in the features of the {found['data']} classifier {found['id']} "
              f"(test accuracy {100 * found['test_accuracy']:.2f}%)")
    for name, value in result["metrics"].items():
        print(f"{name} {value:.6g}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
