"""The speed half of scripts/r3gan_reference.py: one training step of loss=rpgan regularizer=r1r2 (a critic update
with R1 and R2, a generator update against a real batch of its own, Adam β₁ 0) of R3GAN's reference code and of
ganrun's model=r3gan, at the same widths, blocks, groups, batch and image size, timed in one process with
interleaved repeats; optionally where each spends its time (torch.profiler)."""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from ganrun.data import DeviceBatches, ImageSet
from ganrun.models import factor_size, r3gan
from ganrun.objectives.losses import RpGAN
from ganrun.objectives.objective import Objective
from ganrun.objectives.regularizers import R1R2
from ganrun.training import optimizers
from ganrun.training.divergence import UpdateGuard
from ganrun.training.parts import Parts
from ganrun.training.settings import Settings
from ganrun.training.stats import RunningMeans
from ganrun.training.step import next_batches, train_step


def parse(argv) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="r3gan_reference.py speed")
    p.add_argument("--width", type=int, default=32, help="every stage's width (default 32)")
    p.add_argument("--blocks", type=int, default=2, help="residual blocks per stage (default 2, as R3GAN's presets)")
    p.add_argument("--group-width", type=int, default=16)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=32, help="image size (32: four stages from 4×4, as CIFAR-10's)")
    p.add_argument("--gamma", type=float, default=0.05)
    p.add_argument("--steps", type=int, default=5, help="timed steps per repeat")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--profile", action="store_true", help="also print each one's top operators by CPU time")
    p.add_argument("--device", default="cpu", help="cpu or cuda (each one's peak GPU memory is recorded too)")
    return p.parse_args(argv)


def stages(size: int) -> int:
    return factor_size("r3gan", size)[1] + 1


def images(args) -> torch.Tensor:
    data = torch.randint(0, 256, (4096, 3, args.size, args.size), dtype=torch.uint8, generator=torch.Generator())
    return data.to(args.device)


class Reference:
    """R3GAN's own training step (training_loop.py's phases D then G with R3GAN/Trainer.py's losses)."""

    def __init__(self, networks, args, data):
        from r3gan_reference import reference_pair

        n = stages(args.size)
        preset = {
            "widths": [args.width] * n,
            "blocks": [args.blocks] * n,
            "cardinality": [args.width * 2 // args.group_width] * n,
            "z_dim": 64,
            "expansion": 2,
        }
        torch.manual_seed(0)
        self.G, self.D = (net.to(args.device) for net in reference_pair(networks, preset))
        self.G.requires_grad_(False), self.D.requires_grad_(False)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.0, 0.99), eps=1e-8)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.0, 0.99), eps=1e-8)
        import R3GAN.Trainer as trainer

        self.trainer = trainer.AdversarialTraining(self.G, self.D)
        self.data, self.batch, self.gamma, self.device = data, args.batch, args.gamma, torch.device(args.device)

    def real(self):
        return self.data[torch.randint(len(self.data), (self.batch,), device=self.device)].float() / 127.5 - 1

    def step(self):
        for name, module, opt in (("D", self.D, self.opt_d), ("G", self.G, self.opt_g)):
            opt.zero_grad(set_to_none=True)
            module.requires_grad_(True)
            noise = torch.randn(self.batch, 64, device=self.device)
            if name == "D":
                self.trainer.AccumulateDiscriminatorGradients(noise, self.real(), None, self.gamma)
            else:
                self.trainer.AccumulateGeneratorGradients(noise, self.real(), None)
            module.requires_grad_(False)
            opt.step()


class Ganrun:
    """ganrun's training step (training/step.py) on model=r3gan, loss=rpgan, regularizer=r1r2."""

    def __init__(self, args, data):
        torch.manual_seed(0)
        n = stages(args.size)
        device = torch.device(args.device)
        G, D = (
            net.to(device) for net in r3gan.build(args.size, 3, 64, [args.width] * n, args.blocks, args.group_width, 2)
        )
        self.parts = Parts(
            generator=G,
            critic=D,
            opt_g=optimizers.adam(G.parameters(), 2e-4, (0.0, 0.99), device),
            opt_d=optimizers.adam(D.parameters(), 2e-4, (0.0, 0.99), device),
            objective=Objective(RpGAN(), R1R2(gamma=args.gamma)),
            data=DeviceBatches(ImageSet(data.cpu()), device, 0),
            fixed_noise=torch.randn(4, 64, device=device),
        )
        self.settings = Settings(
            steps=1, batch_size=args.batch, n_critic=1, log_every=1, images_every=1, ckpt_every=1, progress=False
        )
        self.means, self.guard, self.done = RunningMeans(), UpdateGuard("stop", device), 0

    def step(self):
        batches = next_batches(self.parts, self.settings)
        train_step(self.parts, self.settings, batches, self.done, self.means, self.guard)
        self.done += 1


def timed(make, args) -> tuple[float, float | None]:
    """Steps per second of a fresh `make()` after its warm-up, and its peak GPU memory in GB (None on a CPU)."""
    cuda = torch.device(args.device).type == "cuda"
    sync = torch.cuda.synchronize if cuda else lambda: None
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    trainer = make()
    for _ in range(args.warmup):
        trainer.step()
    sync()
    start = time.perf_counter()
    for _ in range(args.steps):
        trainer.step()
    sync()
    rate = args.steps / (time.perf_counter() - start)
    return rate, torch.cuda.max_memory_allocated() / 1e9 if cuda else None


def profile(make, args, rows: int = 12) -> str:
    trainer = make()
    trainer.step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(2):
            trainer.step()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def speed(networks, argv) -> dict:
    args = parse(argv)
    data = images(args)
    makers = {"reference": lambda: Reference(networks, args, data), "ganrun": lambda: Ganrun(args, data)}
    rates, memory = {name: [] for name in makers}, {}
    for _ in range(args.repeats):  # interleaved: a change in the machine's load hits both alike
        for name, make in makers.items():
            rate, memory[name] = timed(make, args)
            rates[name].append(rate)
    result = {
        "setting": {k: v for k, v in vars(args).items() if k != "profile"},
        "threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),
        "it_per_s": {name: statistics.median(r) for name, r in rates.items()},
        "images_per_s": {name: statistics.median(r) * args.batch for name, r in rates.items()},
        "peak_gb": memory,
        "all_it_per_s": rates,
    }
    result["ratio"] = result["it_per_s"]["ganrun"] / result["it_per_s"]["reference"]
    if args.profile:
        for name, make in makers.items():
            print(f"--- {name}\n{profile(make, args)}")
    return result
