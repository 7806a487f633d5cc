"""Data benchmark (issue 20): the storage tiers' speed, packing, start-up time and memory, measured on a folder of
JPEG images (scripts/make_folder.py makes a synthetic one). Results in docs/reports/data.md.

    python -m ganrun.bench --data tiers   --folder F64 --size 64   # it/s: stream against in-memory, interleaved
    python -m ganrun.bench --data pack    --folder F10k            # images/s and peak RSS, 1 and 2 decoders
    python -m ganrun.bench --data startup --folder F10k            # command to first step, on a packed cache
    python -m ganrun.bench --data cgroup  --folder F500k --limit-gb 2   # a run inside a memory cgroup

Each prints a table and writes --json. Timings are wall-clock on whatever else the machine is doing: run on a
quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from ganrun.base.commands import description
from ganrun.base.errors import UsageError
from ganrun.data import image_folder
from ganrun.data.tiers import TIERS


def gib(size: float) -> str:
    return f"{size / 2**30:.2f} GB"


# ---------------------------------------------------------------- tiers: it/s of the same run in each tier


def time_tier(data, tier: str, steps: int, warmup: int, batch_size: int, readers: int) -> float:
    """Seconds for `steps` generator steps of WGAN-GP (dcgan, 5 critic steps) with the images in `tier`."""
    from ganrun.bench.timing import loop_settings
    from ganrun.models import dcgan
    from ganrun.objectives.losses import WGANGP
    from ganrun.objectives.objective import Objective
    from ganrun.training import optimizers
    from ganrun.training.loop import Hooks, fit
    from ganrun.training.parts import Parts

    torch.manual_seed(0)
    generator, critic = dcgan.build(data.shape[-1], data.shape[1], z_dim=64, width=32)
    options = {"workers": readers} if tier == "stream" else {}
    source = TIERS[tier](data, "cpu", 0, labelled=False, **options)
    parts = Parts(
        generator=generator,
        critic=critic,
        opt_g=optimizers.adam(generator.parameters(), 1e-4, (0.5, 0.9)),
        opt_d=optimizers.adam(critic.parameters(), 1e-4, (0.5, 0.9)),
        objective=Objective(WGANGP()),
        data=source,
        fixed_noise=torch.randn(4, 64),
    )
    started = {}

    def clock(step: int) -> bool:
        if step == warmup:
            started["t"] = time.perf_counter()
        return False

    settings = loop_settings(warmup + steps, batch_size, 5, "fp32", False)
    fit(parts, settings, Hooks.quiet(should_stop=clock))
    source.close()
    return time.perf_counter() - started["t"]


def bench_tiers(args) -> list[dict]:
    data = image_folder(str(args.folder), image_size=args.size)
    rows, times = [], {"device": [], "stream": []}
    for _ in range(args.repeats):  # interleaved: drift in the machine's load hits both alike
        for tier in times:
            times[tier].append(time_tier(data, tier, args.steps, args.warmup, args.batch_size, args.readers))
    base = args.steps / statistics.median(times["device"])
    for tier, seconds in times.items():
        it_s = args.steps / statistics.median(seconds)
        rows.append(
            {
                "size": args.size,
                "images": len(data),
                "tier": tier,
                "it_per_s": round(it_s, 3),
                "ratio": round(it_s / base, 3),
                "seconds": [round(s, 2) for s in seconds],
            }
        )
    return rows


# ---------------------------------------------------------------- pack, startup, cgroup: ganrun in a child


def child(code: str, env: dict, cgroup: Path | None = None, timeout: float = 7200) -> tuple[str, float]:
    """Run Python `code` in a child process (inside `cgroup`); its stdout and stderr, and its wall seconds."""
    started = time.perf_counter()
    join = (lambda: (cgroup / "cgroup.procs").write_text(str(os.getpid()))) if cgroup else None
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        text=True,
        timeout=timeout,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=join,
    )
    return result.stdout, time.perf_counter() - started


# The child's peak RSS, and its own children's (the packing's decoder processes).
PEAK = (
    "import resource; print('PEAK_RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "
    "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)"
)


def peaks(output: str) -> tuple[int, int]:
    found = re.findall(r"PEAK_RSS (\d+) (\d+)", output)
    return tuple(map(int, found[-1])) if found else (0, 0)


def bench_pack(args) -> list[dict]:
    rows = []
    for workers in (1, 2):
        with tempfile.TemporaryDirectory(dir=args.cache_parent) as cache:
            code = (
                f"from ganrun.data import image_folder; import time; t = time.perf_counter(); "
                f"d = image_folder({str(args.folder)!r}, image_size={args.size}, workers={workers}); "
                f"print('PACKED', len(d), time.perf_counter() - t); {PEAK}"
            )
            output, _ = child(code, {"GANRUN_CACHE": cache})
            count, seconds = re.search(r"PACKED (\d+) ([\d.]+)", output).groups()
            own, decoders = peaks(output)
            rows.append(
                {
                    "images": int(count),
                    "size": args.size,
                    "workers": workers,
                    "images_per_s": round(int(count) / float(seconds), 1),
                    "seconds": round(float(seconds), 1),
                    "peak_rss": gib(own),
                    "peak_rss_decoder": gib(decoders),
                }
            )
    return rows


def cli(folder: Path, size: int, *extra: str) -> str:
    """`python -m ganrun` on the folder as a child's code, printing when it started (its first line)."""
    overrides = [
        "dataset=anime_faces",
        f"dataset.root={folder}",
        f"dataset.image_size={size}",
        "model.width=32",
        "train.steps=1",
        "log.every=1",
        "metrics.names=[]",
        "train.ema=0",
        *extra,
    ]
    return (
        f"import time, sys, runpy; print('START', time.time()); sys.argv = ['ganrun', *{overrides!r}]\n"
        "try:\n    runpy.run_module('ganrun', run_name='__main__')\n"
        "except SystemExit as e:\n    print('EXIT', e.code)\n"
        f"{PEAK}"
    )


def logged_at(output: str, pattern: str) -> float:
    """The time of the first log line matching `pattern` (after its `[date time,ms][logger][LEVEL] - `)."""
    stamp = re.search(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]\[[\w.]+\]\[INFO\] - " + pattern, output)
    return time.mktime(time.strptime(stamp.group(1)[:19], "%Y-%m-%d %H:%M:%S")) + int(stamp.group(1)[20:]) / 1000


def seconds_to_first_step(output: str) -> tuple[float, float]:
    """From the child's first line to the run's start (the `run folder …` line: data ready, networks built, the loop
    next) and to the log line of its first training step (one step's compute later)."""
    start = float(re.search(r"START ([\d.]+)", output).group(1))
    return logged_at(output, "run folder ") - start, logged_at(output, "step 1:") - start


def bench_startup(args) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(dir=args.cache_parent) as work:
        env = {"GANRUN_CACHE": args.cache or str(Path(work) / "cache")}
        child(cli(args.folder, args.size, f"hydra.run.dir={work}/pack"), env)  # packs; the timed runs read it
        for storage in ("device", "stream"):
            output, _ = child(
                cli(args.folder, args.size, f"dataset.storage={storage}", f"hydra.run.dir={work}/{storage}"), env
            )
            ready, stepped = seconds_to_first_step(output)
            rows.append(
                {
                    "images": args.images_hint,
                    "storage": storage,
                    "seconds_to_start": round(ready, 2),
                    "seconds_to_first_step": round(stepped, 2),
                    "peak_rss": gib(peaks(output)[0]),
                }
            )
    return rows


def memory_cgroup(limit: int) -> Path:
    """A child of this process's memory cgroup (v1) with `limit` bytes."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            folder = Path("/sys/fs/cgroup/memory") / path.lstrip("/") / f"ganrun-bench-{os.getpid()}"
            folder.mkdir()
            (folder / "memory.limit_in_bytes").write_text(str(limit))
            return folder
    raise UsageError("no cgroup v1 memory controller here: the cgroup benchmark needs /sys/fs/cgroup/memory")


def bench_cgroup(args) -> list[dict]:
    cgroup, rows = memory_cgroup(int(args.limit_gb * 2**30)), []
    try:
        with tempfile.TemporaryDirectory(dir=args.cache_parent) as work:
            env = {"GANRUN_CACHE": args.cache or str(Path(work) / "cache")}
            for storage in ("auto", "device"):
                output, wall = child(
                    cli(
                        args.folder,
                        args.size,
                        f"dataset.storage={storage}",
                        "train.steps=20",
                        f"hydra.run.dir={work}/{storage}",
                    ),
                    env,
                    cgroup,
                )
                tier = re.search(r"in storage tier (\w+)", output)
                error = [line for line in output.splitlines() if line.startswith("Error:")]
                peak = int((cgroup / "memory.max_usage_in_bytes").read_text())
                rows.append(
                    {
                        "storage": storage,
                        "tier": tier.group(1) if tier else None,
                        "completed": "step 20:" in output,
                        "peak_rss": gib(peaks(output)[0]),
                        "error": error[0] if error else None,
                        "seconds": round(wall, 1),
                        "cgroup_peak": gib(peak),
                        "limit": gib(args.limit_gb * 2**30),
                    }
                )
                (cgroup / "memory.max_usage_in_bytes").write_text("0")
    finally:
        cgroup.rmdir()
    return rows


BENCHES = {"tiers": bench_tiers, "pack": bench_pack, "startup": bench_startup, "cgroup": bench_cgroup}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganrun.bench --data", description=description(__doc__))
    parser.add_argument("what", choices=sorted(BENCHES))
    parser.add_argument("--folder", type=Path, required=True, help="a folder of images (scripts/make_folder.py)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--limit-gb", type=float, default=2.0)
    parser.add_argument("--images-hint", type=int, default=None, help="the folder's image count, for the table")
    parser.add_argument("--cache", default=None, help="a GANRUN_CACHE that already holds the pack")
    parser.add_argument("--cache-parent", default=None, help="where temporary caches go (default: /tmp)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"--folder {args.folder} is not a folder")
    rows = BENCHES[args.what](args)
    for row in rows:
        print(json.dumps(row))
    if args.json:
        args.json.write_text(
            json.dumps({"bench": args.what, "args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=2)
            + "\n"
        )
    return 0
