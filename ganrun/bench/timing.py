"""The two loops the speed benchmark times: the textbook loop, and ganrun's `fit` with a variant's options."""

from __future__ import annotations

import dataclasses
import time

import torch
from torch.utils.data import DataLoader

from ganrun.bench.textbook import (
    BETAS,
    DIV_K,
    DIV_P,
    LAMBDA_GP,
    LR,
    N_CRITIC,
    Z_DIM,
    TextbookImages,
    build_models,
    reference_critic_step,
    reference_generator_step,
    textbook_transform,
)
from ganrun.data import DeviceBatches, ImageSet
from ganrun.objectives import losses
from ganrun.objectives.objective import Objective
from ganrun.training import optimizers, speed
from ganrun.training.ema import EMA
from ganrun.training.graphs import WARMUP_STEPS, require_cuda
from ganrun.training.loop import Hooks, fit
from ganrun.training.parts import Parts
from ganrun.training.settings import Settings

# What a variant may join with "+"; "eager" alone is plain fp32.
OPTIONS = ("bf16", "channels_last", "compile", "cuda_graphs")


# ---------------------------------------------------------------- data


def synthetic_images(n: int, seed: int = 0, size: int = 28, channels: int = 1) -> torch.Tensor:
    """n deterministic random channels×size×size uint8 images (no download needed)."""
    return torch.randint(
        0, 256, (n, channels, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed)
    )


# ---------------------------------------------------------------- the two loops, timed


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so a clock read after it measures the work itself."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_textbook(
    loss: str, images: torch.Tensor, device, batch_size: int, steps: int, warmup: int, seed: int, model: str = "dcgan28"
) -> float:
    """Seconds for `steps` generator steps of the textbook loop, after `warmup` untimed ones."""
    G, D = build_models(device, seed, model)
    opt_g = torch.optim.Adam(G.parameters(), lr=LR, betas=BETAS)
    opt_d = torch.optim.Adam(D.parameters(), lr=LR, betas=BETAS)
    dataset = TextbookImages(images, textbook_transform())
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


def make_loss(loss: str) -> losses.Loss:
    return {
        "bce": lambda: losses.BCE(),
        "wgan_gp": lambda: losses.WGANGP(lambda_gp=LAMBDA_GP),
        "wgan_div": lambda: losses.WGANDiv(k=DIV_K, p=DIV_P, points="real_fake"),
    }[loss]()


def ganrun_parts(
    loss: str,
    images: torch.Tensor,
    device,
    seed: int,
    precision: str = "fp32",
    channels_last: bool = False,
    compile_models: bool = False,
    ema: float = 0.0,
    model: str = "dcgan28",
) -> Parts:
    """Parts as the app's setup (app/assemble.py) makes them for `model`, regularizer=none, without Hydra."""
    G, D = build_models(device, seed, model)
    parts = Parts(
        generator=G,
        critic=D,
        opt_g=optimizers.adam(G.parameters(), LR, BETAS, device),
        opt_d=optimizers.adam(D.parameters(), LR, BETAS, device),
        objective=Objective(make_loss(loss)),
        data=DeviceBatches(ImageSet(images), device, seed),
        fixed_noise=torch.randn(64, Z_DIM, device=device),
        ema=EMA(G, ema) if ema > 0 else None,
    )
    fast_g, fast_d = speed.prepare(G, D, precision, channels_last, compile_models)
    return dataclasses.replace(parts, fast_generator=fast_g, fast_critic=fast_d) if compile_models else parts


def loop_settings(
    steps: int, batch_size: int, n_critic: int, precision: str, channels_last: bool, cuda_graphs: bool = False
) -> Settings:
    """Settings for `fit` with logging, samples and checkpoints only at the end, and no progress bar."""
    never = 10**9
    extra = {"progress": False} if "progress" in {f.name for f in dataclasses.fields(Settings)} else {}
    if cuda_graphs:
        extra["cuda_graphs"] = True
    return Settings(
        steps=steps,
        batch_size=batch_size,
        n_critic=n_critic,
        log_every=never,
        images_every=never,
        ckpt_every=never,
        nan_policy="stop",
        metrics_every=0,
        precision=precision,
        channels_last=channels_last,
        **extra,
    )


def time_ganrun(
    loss: str,
    images: torch.Tensor,
    device,
    batch_size: int,
    steps: int,
    warmup: int,
    seed: int,
    variant: str,
    ema: float = 0.0,
    model: str = "dcgan28",
) -> float:
    """Seconds for `steps` generator steps of ganrun's `fit`, after `warmup` untimed ones, in one `fit` call
    (so that CUDA graphs, captured during the warm-up, are replayed in the timed steps). The clock stops at the end
    of the last step, as the textbook loop's does: the end of a run (its last log and grid, for which an EMA
    re-estimates its batch-norm statistics) is not a step."""
    opts = parse_variant(variant)
    if opts["cuda_graphs"]:
        require_cuda(torch.device(device))
        warmup = max(warmup, WARMUP_STEPS + 1)  # eager warm-up steps, then the capture
    parts = ganrun_parts(
        loss, images, device, seed, opts["precision"], opts["channels_last"], opts["compile"], ema, model
    )
    torch.manual_seed(seed)
    started: dict[int, float] = {}

    def clock(step: int) -> bool:  # fit asks after every step whether to stop: the timed steps lie in between
        if step in (warmup, warmup + steps):
            sync(device)
            started[step] = time.perf_counter()
        return False

    clock(0)
    settings = loop_settings(
        warmup + steps, batch_size, N_CRITIC[loss], opts["precision"], opts["channels_last"], opts["cuda_graphs"]
    )
    fit(parts, settings, Hooks.quiet(should_stop=clock))
    return started[warmup + steps] - started[warmup]


def parse_variant(name: str) -> dict:
    """ "eager" → fp32; otherwise options joined by "+", e.g. "bf16+channels_last+cuda_graphs"."""
    tokens = [t.strip() for t in name.split("+") if t.strip()]
    unknown = [t for t in tokens if t not in OPTIONS + ("eager", "fp32")]
    if unknown or not tokens or ("eager" in tokens and "compile" in tokens):
        raise ValueError(f"variant {name!r} is not eager or a '+'-joined set of {', '.join(OPTIONS)}")
    if "compile" in tokens and "cuda_graphs" in tokens:
        raise ValueError(f"variant {name!r}: compile and cuda_graphs do not go together (as in training)")
    return {
        "precision": "bf16" if "bf16" in tokens else "fp32",
        "channels_last": "channels_last" in tokens,
        "compile": "compile" in tokens,
        "cuda_graphs": "cuda_graphs" in tokens,
    }
