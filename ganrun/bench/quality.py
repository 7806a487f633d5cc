"""Quality benchmark: what ganrun shows by default, its raw generator, and a textbook loop, on real Fashion-MNIST.

    python -m ganrun.bench --quality --root /usr/share/datasets/fashion-mnist --steps 200,600,2000 --seeds 0,1,2

For each seed it trains, for the largest of --steps generator steps: ganrun through its own command line as a user runs
it, `python -m ganrun dataset=fashion_mnist` (every default: model=dcgan, WGAN-GP λ 10, batch 64, 5 critic steps, Adam
2e-4 (0.5, 0.999), EMA), with --preset also seed 000's preset (`experiment=wgan_gp_mnist`: dcgan28, batch 128), and the
textbook loop of `ganrun.bench.textbook` (seed 000's networks and math, a DataLoader of PIL images, no EMA). At each of
--steps it scores, with the offline `classifier_fd` (the Fréchet distance in the features of a classifier trained on
Fashion-MNIST; lower is better):
- default (preset): the checkpoint as `ganrun.sample` and `ganrun.evaluate` draw it (the EMA generator);
- raw (preset_raw): the same checkpoint's trained generator (`--no-ema`);
- textbook: the textbook generator as its tutorial shows samples (train-mode batch norm, batches of 128).
It prints a table of the mean and standard deviation over the seeds and writes the JSON (--out) and, for the
first seed, a picture of the samples (--grid).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from ganrun import data
from ganrun.base.commands import description
from ganrun.base.errors import UsageError
from ganrun.bench import textbook
from ganrun.bench.speed import device_name
from ganrun.build import load_generator
from ganrun.data.labelled import labelled_source
from ganrun.quality.metrics import QualityMetrics, dataset_cache_key
from ganrun.training.sampling import generate

# What each ganrun run is: a user's plain command, and seed 000's preset (the textbook loop's own setting).
CONFIGS = {"default": ["dataset=fashion_mnist"], "preset": ["experiment=wgan_gp_mnist", "dataset=fashion_mnist"]}
# What is scored: each ganrun run as ganrun shows it (EMA) and its raw generator (--no-ema), and the textbook loop.
VARIANTS = {
    "default": ("default", True),
    "raw": ("default", False),
    "preset": ("preset", True),
    "preset_raw": ("preset", False),
    "textbook": (None, None),
}


# ---------------------------------------------------------------- training, each run a process of its own


def ganrun_command(config: str, root: str, seed: int, steps: list[int], run_dir: Path) -> list[str]:
    """ganrun's own command line for one seed: checkpoints at every step of `steps`, no metrics of its own."""
    every = math.gcd(*steps)
    return [
        sys.executable,
        "-m",
        "ganrun",
        *CONFIGS[config],
        f"dataset.root={root}",
        "dataset.download=false",
        f"seed={seed}",
        f"train.steps={max(steps)}",
        f"ckpt.every={every}",
        "ckpt.keep=null",
        "metrics.names=[]",
        f"log.images_every={every}",
        f"hydra.run.dir={run_dir}",
    ]


def textbook_command(root: str, seed: int, steps: list[int], out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ganrun.bench",
        "--quality",
        "--textbook-worker",
        str(out),
        "--root",
        root,
        "--seeds",
        str(seed),
        "--steps",
        ",".join(map(str, steps)),
    ]


def run_all(commands: list[list[str]], jobs: int, log_dir: Path) -> None:
    """Run the training commands, `jobs` at a time, each with its share of the CPU threads."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    log_dir.mkdir(parents=True, exist_ok=True)

    def run(i_command):
        i, command = i_command
        with open(log_dir / f"train-{i}.log", "w") as log:
            result = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        if result.returncode:
            raise RuntimeError(f"{' '.join(command)} failed (exit {result.returncode}); see {log_dir}/train-{i}.log")

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(run, enumerate(commands)))


# ---------------------------------------------------------------- scoring


def variant_images(work: Path, variant: str, seed: int, step: int, num: int) -> torch.Tensor:
    config, use_ema = VARIANTS[variant]
    if config is None:
        return textbook.sample(work / f"textbook-{seed}" / f"step_{step:07d}.pt", num, 0)
    checkpoint = work / f"{config}-{seed}" / "checkpoints" / f"step_{step:07d}.pt"
    generator = load_generator(checkpoint, torch.device("cpu"), use_ema=use_ema)
    return generate(generator, num, 0, torch.device("cpu"))


def score_all(args, work: Path) -> tuple[list[dict], QualityMetrics, dict]:
    """classifier_fd of every variant, seed and step; and the first seed's first 36 images of each."""
    dataset_cfg = {
        "_target_": "ganrun.data.fashion_mnist",
        "root": args.root,
        "download": False,
        "image_size": 28,
        "channels": 1,
    }
    real = data.fashion_mnist(args.root, download=False).images
    quality = QualityMetrics(
        ["classifier_fd"], args.num, real, dataset_cache_key(dataset_cfg), labelled=labelled_source(dataset_cfg)
    )
    quality.prepare()
    rows, shown = [], {}
    for seed in args.seeds:
        for step in args.steps:
            for variant in args.variants:
                images = variant_images(work, variant, seed, step, args.num)
                value = quality.compute(lambda n, images=images: images[:n])["metrics/classifier_fd"]
                rows.append({"variant": variant, "seed": seed, "step": step, "classifier_fd": value})
                print(f"seed {seed} step {step} {variant}: classifier_fd {value:.4g}", file=sys.stderr, flush=True)
                if seed == args.seeds[0]:
                    shown[(variant, step)] = images[:36]
    return rows, quality, shown


def summarize(rows: list[dict], steps: list[int], variants: list[str]) -> list[dict]:
    """Per step and variant: mean and standard deviation over the seeds; the default's ratio to the textbook."""
    table = []
    for step in steps:
        entry = {"step": step}
        for variant in variants:
            values = [r["classifier_fd"] for r in rows if r["step"] == step and r["variant"] == variant]
            entry[variant] = {
                "mean": statistics.fmean(values),
                "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                "n": len(values),
            }
        entry["default_over_textbook"] = entry["default"]["mean"] / entry["textbook"]["mean"]
        entry["default_over_raw"] = entry["default"]["mean"] / entry["raw"]["mean"]
        table.append(entry)
    return table


def format_table(table: list[dict], variants: list[str]) -> str:
    """Markdown: a row per step, mean ± standard deviation over the seeds per variant, and the ratios."""
    lines = [
        "| step | " + " | ".join(variants) + " | default / textbook | default / raw |",
        "|---:|" + "---:|" * (len(variants) + 2),
    ]
    for e in table:
        cells = [f"{e[v]['mean']:.3g} ± {e[v]['sd']:.2g}" for v in variants]
        lines.append(
            f"| {e['step']} | "
            + " | ".join(cells)
            + f" | {e['default_over_textbook']:.2f} | {e['default_over_raw']:.2f} |"
        )
    return "\n".join(lines)


def write_grid(path: Path, shown: dict, steps: list[int], rows: list[dict], seed: int, variants: list[str]) -> None:
    """One picture: a row per variant, a column per step, each tile 6×6 samples with its classifier_fd."""
    from matplotlib.figure import Figure

    from ganrun.runstate.loggers.grids import image_grid

    fd = {(r["variant"], r["step"]): r["classifier_fd"] for r in rows if r["seed"] == seed}
    fig = Figure(figsize=(2.1 * len(steps), 2.3 * len(variants)), layout="constrained")
    axes = fig.subplots(len(variants), len(steps), squeeze=False)
    for i, variant in enumerate(variants):
        for j, step in enumerate(steps):
            ax = axes[i][j]
            ax.imshow(image_grid(shown[(variant, step)]).permute(1, 2, 0).numpy(), cmap="gray")  # 36: 6×6
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"step {step}: {fd[(variant, step)]:.3g}", fontsize=9)
            if j == 0:
                ax.set_ylabel(variant, fontsize=10)
    fig.suptitle(f"seed {seed}: classifier_fd (lower is better)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)


def parse_args(argv) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ganrun.bench --quality", description=description(__doc__))
    p.add_argument(
        "--root", required=True, help="the Fashion-MNIST idx files (Debian: /usr/share/datasets/fashion-mnist)"
    )
    p.add_argument("--steps", default="200,600,2000", help="generator steps to score at (default 200,600,2000)")
    p.add_argument("--seeds", default="0,1,2", help="seeds (default 0,1,2)")
    p.add_argument("--num", type=int, default=10_000, help="generated images per score (default 10000)")
    p.add_argument("--jobs", type=int, default=2, help="training runs at a time (default 2)")
    p.add_argument("--work", default="quality-runs", help="where the runs go (default ./quality-runs)")
    p.add_argument("--out", default="quality.json", help="the JSON results (default quality.json)")
    p.add_argument("--grid", default="quality.png", help="the first seed's samples (default quality.png)")
    p.add_argument("--preset", action="store_true", help="also train and score seed 000's preset (twice the time)")
    p.add_argument("--score-only", action="store_true", help="score the runs already in --work")
    p.add_argument("--textbook-worker", metavar="DIR", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    try:
        args.steps = sorted({int(s) for s in args.steps.split(",") if s.strip()})
        args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        p.error("--steps and --seeds are comma-separated integers")
    if not args.steps or min(args.steps) < 1 or not args.seeds:
        p.error("--steps needs positive integers and --seeds at least one seed")
    if args.num < 2 or args.jobs < 1:
        p.error("--num must be >= 2 and --jobs >= 1")
    args.configs = ["default", "preset"] if args.preset else ["default"]
    args.variants = [v for v, (config, _) in VARIANTS.items() if config is None or config in args.configs]
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.textbook_worker:
        textbook.train_on_fashion_mnist(args.root, args.seeds[0], args.steps, Path(args.textbook_worker))
        return 0
    work = Path(args.work)
    started = datetime.datetime.now().astimezone()
    try:
        data.fashion_mnist(args.root, download=False)  # the data are there, before any run starts
        if not args.score_only:
            commands = [
                c
                for seed in args.seeds
                for c in (
                    *(
                        ganrun_command(config, args.root, seed, args.steps, work / f"{config}-{seed}")
                        for config in args.configs
                    ),
                    textbook_command(args.root, seed, args.steps, work / f"textbook-{seed}"),
                )
            ]
            run_all(commands, args.jobs, work / "logs")
        rows, quality, shown = score_all(args, work)
    except (UsageError, RuntimeError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    table = summarize(rows, args.steps, args.variants)
    print(format_table(table, args.variants))
    record = quality.classifier_record
    report = {
        "date": started.isoformat(timespec="seconds"),
        "device": device_name(torch.device("cpu")),
        "torch": torch.__version__,
        "command": " ".join(["python -m ganrun.bench --quality", *(sys.argv[1:] if argv is None else argv)]),
        "configs": {c: CONFIGS[c] for c in args.configs},
        "steps": args.steps,
        "seeds": args.seeds,
        "num_samples": args.num,
        "classifier": {"id": record["id"], "test_accuracy": record["test_accuracy"]},
        "table": table,
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    write_grid(Path(args.grid), shown, args.steps, rows, args.seeds[0], args.variants)
    print(f"wrote {args.out} and {args.grid}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
