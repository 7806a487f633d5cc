"""Where an eager step's host work goes: the operators ganrun's `fit` dispatches per generator step, by the file of
ganrun's that asked for them, beside the same math written out plainly (the textbook step functions on a batch
already on the device: no PIL, no DataLoader, no logging).

On networks as small as seed 000's a GPU step is bound by kernel launches and the Python around them
(docs/benchmarks.md): each operator that computes is about one launch. The counts say how much of an eager step is
ganrun's own bookkeeping (running means, the divergence watch, the data order, the EMA) and how much is the math that
any loop launches. Counting is slow (a traceback per operator), so the steps are then timed again uncounted, each
loop on its own. The counts hardly depend on the device, but for the optimizer (fused Adam on a GPU: one operator a
step; on a CPU, several per parameter).

    python scripts/eager_profile.py --loss wgan_gp --device cpu
"""

from __future__ import annotations

import argparse
import collections
import json
import time
import traceback

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ganrun.bench.textbook import BETAS, LR, N_CRITIC, build_models, reference_critic_step, reference_generator_step
from ganrun.bench.timing import ganrun_parts, loop_settings, sync, synthetic_images, time_ganrun
from ganrun.training.loop import Hooks, fit

# Operators that only make a view or read metadata: no kernel runs for them.
NO_KERNEL = {
    "detach", "view", "_unsafe_view", "expand", "transpose", "t", "as_strided", "slice", "select", "unsqueeze",
    "squeeze", "permute", "alias", "_reshape_alias", "reshape", "empty", "empty_strided", "promote_types", "lift_fresh",
    "_to_copy_noop", "unbind", "split", "split_with_sizes", "flatten", "_local_scalar_dense", "is_nonzero",
}  # fmt: skip


class Launches(TorchDispatchMode):
    """Counts the operators that compute, by the innermost file of ganrun (or this script) that dispatched them,
    while `on`."""

    def __init__(self):
        super().__init__()
        self.on, self.by_file, self.by_op = False, collections.Counter(), collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if self.on and name not in NO_KERNEL:
            frames = [
                f for f in traceback.extract_stack()[:-1] if "/ganrun/" in f.filename or "eager_profile" in f.filename
            ]
            where = frames[-1].filename.split("/ganrun/")[-1] if frames else "torch"
            self.by_file[where] += 1
            self.by_op[(where, name)] += 1
        return func(*args, **(kwargs or {}))


def count_ganrun(args, images, device) -> Launches:
    """`fit` for warm-up + steps generator steps; counted from the end of the warm-up to the end of the last step
    (the end of a run, its last log, grid and checkpoint, is not a step)."""
    parts = ganrun_parts(args.loss, images, device, args.seed, ema=args.ema)
    torch.manual_seed(args.seed)
    launches = Launches()

    def switch(step: int) -> bool:  # fit asks after each step whether to stop: count the steps in between
        launches.on = args.warmup <= step < args.warmup + args.steps
        return False

    settings = loop_settings(args.warmup + args.steps, args.batch_size, N_CRITIC[args.loss], "fp32", False)
    with launches:
        fit(parts, settings, Hooks.quiet(should_stop=switch))
    return launches


def plain_step(args, images, device):
    """One generator step of the textbook step functions, with Adam as ganrun makes it (fused on a GPU), on one
    batch already on the device."""
    G, D = build_models(device, args.seed)
    fused = device.type == "cuda"
    opt_g = torch.optim.Adam(G.parameters(), lr=LR, betas=BETAS, fused=fused)
    opt_d = torch.optim.Adam(D.parameters(), lr=LR, betas=BETAS, fused=fused)
    real = images[: args.batch_size].to(device).float() / 127.5 - 1

    def step():
        for _ in range(N_CRITIC[args.loss]):
            reference_critic_step(G, D, opt_d, real, args.loss)
        reference_generator_step(G, D, opt_g, args.batch_size, args.loss, device)

    return step


def count_plain(args, images, device) -> Launches:
    step = plain_step(args, images, device)
    for _ in range(args.warmup):
        step()
    launches = Launches()
    with launches:
        launches.on = True
        for _ in range(args.steps):
            step()
    return launches


def time_plain(args, images, device) -> float:
    """Seconds per generator step of the plain math, after the warm-up."""
    step = plain_step(args, images, device)
    for _ in range(args.warmup):
        step()
    sync(device)
    started = time.perf_counter()
    for _ in range(args.time_steps):
        step()
    sync(device)
    return (time.perf_counter() - started) / args.time_steps


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--loss", default="wgan_gp", choices=list(N_CRITIC))
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--ema", type=float, default=0.999, help="ganrun's EMA decay (its default; 0: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-steps", type=int, default=20, help="steps timed uncounted, each loop (0: no timing)")
    p.add_argument("--out", help="a JSON file for the counts and times")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    images = synthetic_images(max(512, args.batch_size))
    ours, plain = count_ganrun(args, images, device), count_plain(args, images, device)
    n = args.steps
    total, plain_total = sum(ours.by_file.values()) / n, sum(plain.by_file.values()) / n
    print(f"{args.loss}, batch {args.batch_size}, EMA {args.ema}, {device}: operators that compute, per generator step")
    print(f"  ganrun's fit  {total:7.1f}")
    print(f"  plain math    {plain_total:7.1f}")
    seconds = {}
    if args.time_steps:
        ema = args.ema
        timed = time_ganrun(
            args.loss, images, device, args.batch_size, args.time_steps, args.warmup, args.seed, "eager", ema
        )
        seconds = {"ganrun": timed / args.time_steps, "plain": time_plain(args, images, device)}
        print(
            f"  ms per step, uncounted: ganrun's fit {seconds['ganrun'] * 1e3:.2f}, plain {seconds['plain'] * 1e3:.2f}"
        )
    print("  ganrun's, by the file that asked:")
    for where, count in ours.by_file.most_common():
        print(f"    {count / n:7.1f}  {where}")
    if args.out:
        record = {
            "args": vars(args),
            "device": str(device),
            "per_step": {"ganrun": total, "plain": plain_total},
            "seconds_per_step": seconds,
            "ganrun_by_file": {k: v / n for k, v in ours.by_file.items()},
            "ganrun_by_op": {f"{w} {o}": v / n for (w, o), v in ours.by_op.items()},
            "plain_by_op": {f"{w} {o}": v / n for (w, o), v in plain.by_op.items()},
        }
        with open(args.out, "w") as f:
            json.dump(record, f, indent=2)


if __name__ == "__main__":
    main()
