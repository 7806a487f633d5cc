"""Speed benchmark: a textbook GAN loop and ganrun's loop, side by side in one process (issue 7).

`python -m ganrun.bench` (or `python scripts/bench.py`) times N generator steps of, for each loss:
(a) "textbook": a torchvision-style Dataset of PIL images with per-image ToTensor + Normalize, a DataLoader,
    fresh noise each step, `.item()` on both losses every step, eager fp32, plain Adam;
(b) ganrun's own `fit` loop (data on the device, no host sync per step, fused Adam on CUDA) with the options
    of each variant: `eager` (fp32), `bf16`, `channels_last`, `compile`, or several joined by `+`.
Both loops use the same network (--model: ganrun.models.dcgan28 on 28×28 grayscale images by default, dcgan or
resnet on 32×32 RGB ones), the same math, the same hyper-parameters, the same
seeds and the same real images per generator step (batch × n_critic). Warm-up steps are not timed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
from pathlib import Path

import torch

from ganrun.base.commands import description
from ganrun.base.errors import UsageError
from ganrun.bench.textbook import BETAS, DIV_K, DIV_P, LAMBDA_GP, LR, MODELS, N_CRITIC, Z_DIM
from ganrun.bench.timing import OPTIONS, parse_variant, synthetic_images, time_ganrun, time_textbook
from ganrun.training.devices import pick_device


def default_variants(device: torch.device) -> list[str]:
    """On CUDA the GPU options; on a CPU plain fp32 and channels_last (bf16 and compile are slow or costly there,
    CUDA graphs do not exist)."""
    if device.type == "cuda":
        return ["eager", "bf16", "bf16+channels_last", "compile", "cuda_graphs", "bf16+channels_last+cuda_graphs"]
    return ["eager", "channels_last"]


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads"


def row(loss: str, variant: str, loop: str, seconds: list[float], args, base: float | None) -> dict:
    it_s = args.steps / statistics.median(seconds)
    return {
        "loss": loss,
        "variant": variant,
        "loop": loop,
        "n_critic": N_CRITIC[loss],
        "it_per_s": it_s,
        "images_per_s": it_s * args.batch_size * N_CRITIC[loss],
        "ratio": it_s / base if base else 1.0,
        "seconds": seconds,
    }


def format_table(rows: list[dict]) -> str:
    lines = [f"{'loss':<10} {'variant':<28} {'it/s':>9} {'images/s':>10} {'ratio':>6}"]
    for r in rows:
        if r.get("error"):
            lines.append(f"{r['loss']:<10} {r['variant']:<28} failed: {r['error']}")
        else:
            lines.append(
                f"{r['loss']:<10} {r['variant']:<28} {r['it_per_s']:>9.2f} {r['images_per_s']:>10.0f} "
                f"{r['ratio']:>6.2f}"
            )
    return "\n".join(lines)


def parse_args(argv) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ganrun.bench", description=description(__doc__))
    p.add_argument("--steps", type=int, default=50, help="timed generator steps per row (default 50)")
    p.add_argument("--warmup", type=int, default=5, help="untimed generator steps before them (default 5)")
    p.add_argument("--losses", default="bce,wgan_gp,wgan_div")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument(
        "--model",
        choices=list(MODELS),
        default="dcgan28",
        help="the networks, for 28×28 grayscale (dcgan28) or 32×32 RGB images (dcgan, resnet)",
    )
    p.add_argument("--images", type=int, default=10_000, help="size of the synthetic data set")
    p.add_argument(
        "--variants",
        help="ganrun configurations, comma-separated, each 'eager' or options joined "
        "by '+' (bf16, channels_last, compile, cuda_graphs); default: eager,bf16,bf16+channels_last,"
        "compile,cuda_graphs,bf16+channels_last+cuda_graphs on CUDA, eager,channels_last on a CPU",
    )
    p.add_argument("--precision", choices=["fp32", "bf16"], help="one variant instead of --variants")
    p.add_argument("--channels-last", action="store_true", help="one variant instead of --variants")
    p.add_argument("--compile", action="store_true", help="one variant instead of --variants")
    p.add_argument("--cuda-graphs", action="store_true", help="one variant instead of --variants")
    p.add_argument(
        "--ema",
        type=float,
        default=0.0,
        help="ganrun's generator EMA decay (default 0: off, "
        "as the textbook loop has none; ganrun's own default is 0.999)",
    )
    p.add_argument("--repeats", type=int, default=1, help="time every row this many times, report the median")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="bench.json", help="where to write the JSON table")
    args = p.parse_args(argv)
    single = args.precision is not None or args.channels_last or args.compile or args.cuda_graphs
    if single and args.variants:
        p.error("give either --variants or --precision/--channels-last/--compile/--cuda-graphs, not both")
    if single:
        args.variants = "+".join([args.precision or "fp32"] + [o for o in OPTIONS[1:] if getattr(args, o)])
    for name, low in [("steps", 1), ("warmup", 0), ("batch_size", 1), ("repeats", 1)]:
        if getattr(args, name) < low:
            p.error(f"--{name.replace('_', '-')} must be >= {low}")
    args.losses = [x.strip() for x in args.losses.split(",") if x.strip()]
    if bad := [x for x in args.losses if x not in N_CRITIC]:
        p.error(f"unknown loss {bad[0]!r}; choose from {', '.join(N_CRITIC)}")
    if args.images < args.batch_size:
        p.error("--images must be at least --batch-size")
    if args.variants:
        args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        for v in args.variants:
            try:
                parse_variant(v)
            except ValueError as exc:
                p.error(str(exc))
    return args


def command_of_this_run(argv) -> list[str]:
    """How this benchmark was started, for the record."""
    started = Path(sys.argv[0])
    ours = started.name == "__main__.py" and started.resolve().parent == Path(__file__).resolve().parent
    prog = ["-m", "ganrun.bench"] if ours else [str(started)]
    return [*prog, *(sys.argv[1:] if argv is None else argv)]


def main(argv=None) -> int:
    """Run the benchmark, print the table, write the JSON; 1 if some variant failed."""
    args = parse_args(argv)
    try:
        device = pick_device(args.device)
    except UsageError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    variants = args.variants or default_variants(device)
    torch.backends.cudnn.benchmark = True  # as ganrun runs set it (train.deterministic=false); global, so both loops
    _, size, channels = MODELS[args.model]
    images = synthetic_images(args.images, args.seed, size, channels)
    shared = dict(
        images=images,
        device=device,
        batch_size=args.batch_size,
        steps=args.steps,
        warmup=args.warmup,
        seed=args.seed,
        model=args.model,
    )
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    if load_before and load_before[0] >= 0.5 * (os.cpu_count() or 1):
        print(
            f"warning: the machine is busy (load average {load_before[0]:.2f} on {os.cpu_count()} cores); "
            "timings will be slow and noisy",
            file=sys.stderr,
        )
    rows = []
    for loss in args.losses:
        times: dict[str, list] = {"textbook": [], **{v: [] for v in variants}}
        errors: dict[str, str] = {}
        for _ in range(args.repeats):  # interleaved, so a change in machine load hits every row alike
            times["textbook"].append(time_textbook(loss, **shared))
            print(f"{loss} textbook: {args.steps / times['textbook'][-1]:.2f} it/s", file=sys.stderr, flush=True)
            for v in variants:
                if v in errors:
                    continue
                try:
                    times[v].append(time_ganrun(loss, variant=v, ema=args.ema, **shared))
                    print(f"{loss} ganrun {v}: {args.steps / times[v][-1]:.2f} it/s", file=sys.stderr, flush=True)
                except Exception as exc:  # one failing option (e.g. compile without a compiler) spares the rest
                    errors[v] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                    print(f"{loss} ganrun {v} failed: {errors[v]}", file=sys.stderr, flush=True)
        base = row(loss, "textbook", "textbook", times["textbook"], args, None)
        rows.append(base)
        for v in variants:
            if v in errors:
                rows.append(
                    {
                        "loss": loss,
                        "variant": v,
                        "loop": "ganrun",
                        "n_critic": N_CRITIC[loss],
                        "error": errors[v],
                        "it_per_s": None,
                        "images_per_s": None,
                        "ratio": None,
                    }
                )
            else:
                rows.append(row(loss, v, "ganrun", times[v], args, base["it_per_s"]))
    print(format_table(rows))
    report = {
        "device": device_name(device),
        "device_type": device.type,
        "torch": torch.__version__,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "steps": args.steps,
        "warmup": args.warmup,
        "batch_size": args.batch_size,
        "images": args.images,
        "model": args.model,
        "image_shape": [channels, size, size],
        "repeats": args.repeats,
        "losses": args.losses,
        "variants": variants,
        "options": {
            "seed": args.seed,
            "ema": args.ema,
            "z_dim": Z_DIM,
            "lr": LR,
            "betas": list(BETAS),
            "lambda_gp": LAMBDA_GP,
            "wgan_div_k": DIV_K,
            "wgan_div_p": DIV_P,
            "n_critic": N_CRITIC,
            "cudnn_benchmark": True,
            "textbook_num_workers": 0,
        },
        "load_average": {"before": load_before, "after": os.getloadavg() if load_before else None},
        "command": " ".join(["python", *command_of_this_run(argv)]),
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 1 if any(r.get("error") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
