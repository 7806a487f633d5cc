"""Speed benchmark: a textbook GAN loop and ganrun's loop, side by side in one process (issue 7).

`python -m ganrun.bench` (or `python scripts/bench.py`) times N generator steps of, for each loss:
(a) "textbook": a torchvision-style Dataset of PIL images with per-image ToTensor + Normalize, a DataLoader,
    fresh noise each step, `.item()` on both losses every step, eager fp32, plain Adam;
(b) ganrun's own `fit` loop (data on the device, no host sync per step, fused Adam on CUDA) with the options
    of each variant: `eager` (fp32), `bf16`, `channels_last`, `compile`, or several joined by `+`.
Both loops use the same network (ganrun.models.dcgan28), the same math, the same hyper-parameters, the same
seeds and the same real images per generator step (batch × n_critic). Warm-up steps are not timed.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from ganrun import losses, speed
from ganrun.config import pick_device
from ganrun.data import ImageBank
from ganrun.ema import EMA
from ganrun.errors import UsageError
from ganrun.loop import Parts, Settings, fit
from ganrun.models import dcgan28
from ganrun.regularizers import Regularizer
from ganrun.train import make_optimizer

# ganrun's defaults (conf/train.yaml, conf/loss/*.yaml, conf/model/dcgan28.yaml); tests/test_bench.py checks them.
Z_DIM, LR, BETAS = 64, 2e-4, (0.5, 0.999)
LAMBDA_GP, DIV_K, DIV_P = 10.0, 2.0, 6.0
N_CRITIC = {"bce": 1, "wgan_gp": 5, "wgan_div": 5}
OPTIONS = ("bf16", "channels_last", "compile")  # what a variant may join with "+"; "eager" alone is plain fp32


# ---------------------------------------------------------------- data

def synthetic_images(n: int, seed: int = 0) -> torch.Tensor:
    """n deterministic random 1×28×28 uint8 images (no download needed)."""
    return torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


class TextbookImages(Dataset):
    """Like torchvision.datasets.MNIST: uint8 arrays, a PIL image and the transform per item, (image, label)."""

    def __init__(self, images: torch.Tensor, transform):
        self.images, self.transform = images[:, 0].numpy(), transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i])), 0


# ---------------------------------------------------------------- the textbook math, written plainly

def reference_critic_step(G, D, opt_d, real: torch.Tensor, loss: str) -> torch.Tensor:
    """One critic update; draws its randoms in ganrun's order (noise, then the interpolation ε)."""
    z = torch.randn(real.shape[0], Z_DIM, device=real.device)
    with torch.no_grad():
        fake = G(z)
    if loss == "bce":
        real_logits, fake_logits = D(real), D(fake)
        d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    elif loss == "wgan_gp":  # Gulrajani et al. 2017: λ E[(‖∇D(x̂)‖ − 1)²], x̂ = εx + (1 − ε)G(z)
        real_out, fake_out = D(real), D(fake)
        eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        out = D(x_hat)
        (grad,) = torch.autograd.grad(out, x_hat, grad_outputs=torch.ones_like(out), create_graph=True)
        gp = ((grad.view(grad.shape[0], -1).norm(2, dim=1) - 1) ** 2).mean()
        d_loss = fake_out.mean() - real_out.mean() + LAMBDA_GP * gp
    elif loss == "wgan_div":  # Wu et al. 2018 as in PyTorch-GAN: (k/2) E[‖∇D(x)‖^p + ‖∇D(G(z))‖^p]
        real, fake = real.detach().requires_grad_(True), fake.requires_grad_(True)
        real_out, fake_out = D(real), D(fake)  # one forward each serves the loss and the gradient
        (real_grad,) = torch.autograd.grad(real_out, real, torch.ones_like(real_out), create_graph=True)
        (fake_grad,) = torch.autograd.grad(fake_out, fake, torch.ones_like(fake_out), create_graph=True)
        real_norm = real_grad.view(real.shape[0], -1).pow(2).sum(1) ** (DIV_P / 2)
        fake_norm = fake_grad.view(fake.shape[0], -1).pow(2).sum(1) ** (DIV_P / 2)
        d_loss = fake_out.mean() - real_out.mean() + torch.mean(real_norm + fake_norm) * DIV_K / 2
    else:
        raise ValueError(f"unknown loss {loss!r}; use one of {', '.join(N_CRITIC)}")
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    return d_loss.detach()


def reference_generator_step(G, D, opt_g, batch_size: int, loss: str, device) -> torch.Tensor:
    """One generator update: non-saturating BCE, or −E[D(G(z))] for the W-losses."""
    scores = D(G(torch.randn(batch_size, Z_DIM, device=device)))
    if loss == "bce":
        g_loss = F.softplus(-scores).mean()  # −log σ(D(G(z))), i.e. BCE-with-logits against the label 1
    else:
        g_loss = -scores.mean()
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    return g_loss.detach()


# ---------------------------------------------------------------- the two loops, timed

def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so a clock read after it measures the work itself."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build_models(device: torch.device, seed: int):
    """The dcgan28 pair ganrun builds for 28×28 one-channel data, seeded like train.build_parts."""
    torch.manual_seed(seed)
    generator, critic = dcgan28.build(28, 1, z_dim=Z_DIM)
    return generator.to(device), critic.to(device)


def time_textbook(loss: str, images: torch.Tensor, device, batch_size: int, steps: int, warmup: int,
                  seed: int) -> float:
    """Seconds for `steps` generator steps of the textbook loop, after `warmup` untimed ones."""
    G, D = build_models(device, seed)
    opt_g = torch.optim.Adam(G.parameters(), lr=LR, betas=BETAS)
    opt_d = torch.optim.Adam(D.parameters(), lr=LR, betas=BETAS)
    dataset = TextbookImages(images, transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]))
    # num_workers=0: on a 2-core machine, worker processes would take cores from the training math that
    # ganrun's loop keeps to itself, so in-process loading is the fair (and the tutorials') setting.
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=0)
    torch.manual_seed(seed)
    n_critic, done, critic_updates, start = N_CRITIC[loss], 0, 0, time.perf_counter()
    while True:
        for real, _ in loader:
            reference_critic_step(G, D, opt_d, real.to(device), loss).item()  # a tutorial prints it: one sync
            critic_updates += 1
            if critic_updates % n_critic:
                continue
            reference_generator_step(G, D, opt_g, batch_size, loss, device).item()
            done += 1
            if done == warmup:
                sync(device)
                start = time.perf_counter()
            if done == warmup + steps:
                sync(device)
                return time.perf_counter() - start


class _Nothing:
    """Logger and checkpointer that do nothing (the benchmark times training, not I/O)."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def make_loss(loss: str) -> losses.Loss:
    return {"bce": lambda: losses.BCE(),
            "wgan_gp": lambda: losses.WGANGP(lambda_gp=LAMBDA_GP),
            "wgan_div": lambda: losses.WGANDiv(k=DIV_K, p=DIV_P, points="real_fake")}[loss]()


def ganrun_parts(loss: str, images: torch.Tensor, device, seed: int, precision: str = "fp32",
                 channels_last: bool = False, compile_models: bool = False, ema: float = 0.0) -> Parts:
    """Parts as train.build_parts makes them for model=dcgan28, regularizer=none, without Hydra."""
    G, D = build_models(device, seed)
    adam = SimpleNamespace(name="adam", lr=LR, betas=list(BETAS))
    parts = Parts(generator=G, critic=D, opt_g=make_optimizer(G.parameters(), adam, device),
                  opt_d=make_optimizer(D.parameters(), adam, device), loss=make_loss(loss),
                  regularizer=Regularizer(), data=ImageBank(images, device, seed),
                  fixed_noise=torch.randn(64, Z_DIM, device=device), ema=EMA(G, ema) if ema > 0 else None)
    fast_g, fast_d = speed.prepare(G, D, precision, channels_last, compile_models)
    if compile_models:
        parts.fast_generator, parts.fast_critic = fast_g, fast_d
    return parts


def loop_settings(steps: int, batch_size: int, n_critic: int, precision: str, channels_last: bool) -> Settings:
    """Settings for `fit` with logging, samples and checkpoints only at the end, and no progress bar."""
    never = 10 ** 9
    extra = {"progress": False} if "progress" in {f.name for f in dataclasses.fields(Settings)} else {}
    return Settings(steps=steps, batch_size=batch_size, n_critic=n_critic, log_every=never, images_every=never,
                    ckpt_every=never, nan_policy="stop", metrics_every=0, precision=precision,
                    channels_last=channels_last, **extra)


def time_ganrun(loss: str, images: torch.Tensor, device, batch_size: int, steps: int, warmup: int, seed: int,
                variant: str, ema: float = 0.0) -> float:
    """Seconds for `steps` generator steps of ganrun's `fit`, after `warmup` untimed ones."""
    opts = parse_variant(variant)
    parts = ganrun_parts(loss, images, device, seed, opts["precision"], opts["channels_last"], opts["compile"], ema)
    torch.manual_seed(seed)

    def run(start: int, stop: int) -> None:
        settings = loop_settings(stop, batch_size, N_CRITIC[loss], opts["precision"], opts["channels_last"])
        fit(parts, settings, _Nothing(), _Nothing(), lambda step: {}, start_step=start)

    if warmup:
        run(0, warmup)
    sync(device)
    start = time.perf_counter()
    run(warmup, warmup + steps)
    sync(device)
    return time.perf_counter() - start


# ---------------------------------------------------------------- variants, table, command line

def parse_variant(name: str) -> dict:
    """"eager" → fp32; otherwise options joined by "+", e.g. "bf16+channels_last+compile"."""
    tokens = [t.strip() for t in name.split("+") if t.strip()]
    unknown = [t for t in tokens if t not in OPTIONS + ("eager", "fp32")]
    if unknown or not tokens or ("eager" in tokens and "compile" in tokens):
        raise ValueError(f"variant {name!r} is not eager or a '+'-joined set of {', '.join(OPTIONS)}")
    return {"precision": "bf16" if "bf16" in tokens else "fp32",
            "channels_last": "channels_last" in tokens, "compile": "compile" in tokens}


def default_variants(device: torch.device) -> list[str]:
    """On CUDA the GPU options; on a CPU plain fp32 and channels_last (bf16 and compile are slow or costly there)."""
    if device.type == "cuda":
        return ["eager", "bf16", "bf16+channels_last", "compile"]
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
    return {"loss": loss, "variant": variant, "loop": loop, "n_critic": N_CRITIC[loss], "it_per_s": it_s,
            "images_per_s": it_s * args.batch_size * N_CRITIC[loss], "ratio": it_s / base if base else 1.0,
            "seconds": seconds}


def format_table(rows: list[dict]) -> str:
    lines = [f"{'loss':<10} {'variant':<28} {'it/s':>9} {'images/s':>10} {'ratio':>6}"]
    for r in rows:
        if r.get("error"):
            lines.append(f"{r['loss']:<10} {r['variant']:<28} failed: {r['error']}")
        else:
            lines.append(f"{r['loss']:<10} {r['variant']:<28} {r['it_per_s']:>9.2f} {r['images_per_s']:>10.0f} "
                         f"{r['ratio']:>6.2f}")
    return "\n".join(lines)


def parse_args(argv) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ganrun.bench", description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=50, help="timed generator steps per row (default 50)")
    p.add_argument("--warmup", type=int, default=5, help="untimed generator steps before them (default 5)")
    p.add_argument("--losses", default="bce,wgan_gp,wgan_div")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--images", type=int, default=10_000, help="size of the synthetic data set")
    p.add_argument("--variants", help="ganrun configurations, comma-separated, each 'eager' or options joined "
                   "by '+' (bf16, channels_last, compile); default: eager,bf16,bf16+channels_last,compile "
                   "on CUDA, eager,channels_last on a CPU")
    p.add_argument("--precision", choices=["fp32", "bf16"], help="one variant instead of --variants")
    p.add_argument("--channels-last", action="store_true", help="one variant instead of --variants")
    p.add_argument("--compile", action="store_true", help="one variant instead of --variants")
    p.add_argument("--ema", type=float, default=0.0, help="ganrun's generator EMA decay (default 0: off, "
                   "as the textbook loop has none; ganrun's own default is 0.999)")
    p.add_argument("--repeats", type=int, default=1, help="time every row this many times, report the median")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="bench.json", help="where to write the JSON table")
    args = p.parse_args(argv)
    single = args.precision is not None or args.channels_last or args.compile
    if single and args.variants:
        p.error("give either --variants or --precision/--channels-last/--compile, not both")
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
    prog = ["-m", "ganrun.bench"] if started.resolve() == Path(__file__).resolve() else [str(started)]
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
    images = synthetic_images(args.images, args.seed)
    shared = dict(images=images, device=device, batch_size=args.batch_size, steps=args.steps, warmup=args.warmup,
                  seed=args.seed)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    if load_before and load_before[0] >= 0.5 * (os.cpu_count() or 1):
        print(f"warning: the machine is busy (load average {load_before[0]:.2f} on {os.cpu_count()} cores); "
              "timings will be slow and noisy", file=sys.stderr)
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
                rows.append({"loss": loss, "variant": v, "loop": "ganrun", "n_critic": N_CRITIC[loss],
                             "error": errors[v], "it_per_s": None, "images_per_s": None, "ratio": None})
            else:
                rows.append(row(loss, v, "ganrun", times[v], args, base["it_per_s"]))
    print(format_table(rows))
    report = {
        "device": device_name(device), "device_type": device.type, "torch": torch.__version__,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "steps": args.steps, "warmup": args.warmup, "batch_size": args.batch_size, "images": args.images,
        "repeats": args.repeats, "losses": args.losses, "variants": variants,
        "options": {"seed": args.seed, "ema": args.ema, "z_dim": Z_DIM, "lr": LR, "betas": list(BETAS),
                    "lambda_gp": LAMBDA_GP, "wgan_div_k": DIV_K, "wgan_div_p": DIV_P, "n_critic": N_CRITIC,
                    "cudnn_benchmark": True, "textbook_num_workers": 0},
        "load_average": {"before": load_before, "after": os.getloadavg() if load_before else None},
        "command": " ".join(["python", *command_of_this_run(argv)]),
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 1 if any(r.get("error") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
