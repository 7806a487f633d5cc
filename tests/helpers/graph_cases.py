"""The cases and the harness of the CUDA-graph tests: a run trained in process, eagerly or from (emulated or
real) graphs, and its state compared bit for bit."""

from __future__ import annotations

import copy
import io

import torch
from hydra import compose, initialize_config_dir
from torch.testing import assert_close

from ganrun.app import resolvers, schema
from ganrun.build import enum_value
from ganrun.training.graph_values import to_device_values
from ganrun.training.loop import Hooks, fit
from ganrun.training.settings import Settings
from helpers.cli import FAST, REPO
from helpers.setup import set_up

CPU = torch.device("cpu")


CASES = {
    "wgan_gp": ["loss=wgan_gp", "train.n_critic=2"],
    "wgan_div": ["loss=wgan_div", "train.n_critic=2"],
    "bce": ["loss=bce"],
    "wgan_clip_rmsprop": ["loss=wgan", "train.n_critic=2", "optim.critic.name=rmsprop", "optim.generator.name=rmsprop"],
    "lazy_r1_hinge": ["loss=hinge", "regularizer=r1", "regularizer.every=3", "train.n_critic=2"],
    "lecam": ["loss=hinge", "regularizer=lecam"],
    "spectral_norm": ["loss=hinge", "regularizer=spectral_norm"],
    "diffaugment": ["loss=bce", "augment=diffaugment"],
    "conditional": ["loss=hinge", "model.conditional=true"],
    # R3GAN's network with the relativistic loss (a real batch for the generator) and R1 + R2, conditional
    "r3gan_rpgan_r1r2": [
        "model=r3gan",
        "model.widths=8",
        "model.blocks=1",
        "model.group_width=4",
        "model.z_dim=8",
        "model.conditional=true",
        "loss=rpgan",
        "regularizer=r1r2",
        "train.channels_last=true",
    ],
    "bf16_channels_last": ["loss=wgan_gp", "train.n_critic=2", "train.precision=bf16", "train.channels_last=true"],
}


TINY_R3GAN = ["model=r3gan", "model.widths=8", "model.blocks=1", "model.group_width=4", "model.z_dim=8"]
LR = "optim.generator.lr={start: 4e-4, end: 1e-4, length: 96, unit: images}"
CRITIC_LR = (
    "optim.critic.lr={start: 3e-4, end: 1e-5, length: 12, unit: steps, shape: linear, warmup: 3, warmup_from: 1e-5}"
)
GAMMA = "regularizer.gamma={start: 1.3, end: 0.07, length: 12, unit: steps}"
# Runs with schedules: every R3GAN preset sized down (learning rates, β₂, γ, the EMA's half-life and ADA's p, all
# scheduled), and scheduled learning rates and γ with accumulation, FreezeD, x-flips and a conditional model.
SCHEDULED = {
    "r3gan_small_preset": ["experiment=r3gan_small", *TINY_R3GAN],
    "r3gan_cifar10_preset": ["experiment=r3gan_cifar10", *TINY_R3GAN, "train.batch_size=8"],
    "r3gan_ffhq64_preset": ["experiment=r3gan_ffhq64", *TINY_R3GAN, "train.batch_size=8", "dataset.image_size=28"],
    "lr_gamma_accumulate": [
        "loss=rpgan",
        "regularizer=r1r2",
        "regularizer.every=3",
        LR,
        CRITIC_LR,
        GAMMA,
        "train.accumulate=2",
    ],
    "lr_freeze_critic_conditional": ["loss=hinge", LR, CRITIC_LR, "train.freeze_critic=1", "model.conditional=true"],
    "lr_xflip_ema_halflife": [
        "loss=bce",
        LR,
        "dataset.xflip=true",
        "train.ema_halflife={start: 0, end: 32, length: 6, unit: steps}",
    ],
}
# A scheduled β₂ makes the graphed run's Adam a GraphAdam (training/graph_values.py): its steps are those of the
# eager run in graph form, bit for bit, and agree with fused Adam's to float32 rounding.
BETA2_SCHEDULED = ("r3gan_small_preset", "r3gan_cifar10_preset", "r3gan_ffhq64_preset")


class Checkpoints:
    """Keeps each checkpoint as torch.save wrote it (the loop's state changes in place afterwards)."""

    def __init__(self):
        self.saved = {}

    def save(self, state, step, periodic=True):
        buffer = io.BytesIO()
        torch.save(state, buffer)
        self.saved[step] = buffer.getvalue()

    def save_best(self, state):
        pass

    def load(self, step):
        return torch.load(io.BytesIO(self.saved[step]), weights_only=True)


def compose_run(overrides, data_root, device="cpu"):
    schema.register()
    resolvers.register_resolvers()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(
            config_name="train",
            overrides=[
                # FAST's small dcgan28, unless the case picks a model of its own
                *(o for o in FAST if not (o.startswith("model") and any(x.startswith("model=") for x in overrides))),
                "dataset=mnist",
                f"dataset.root={data_root}",
                "dataset.download=false",
                f"device={device}",
                *overrides,
            ],
        )


def fused_adam(params, lr, betas, device=None):
    """Adam fused on the CPU too: its step count stays a tensor, graph-safe as on CUDA (the CPU's default Adam reads
    it on the host)."""
    return torch.optim.Adam(params, lr=float(lr), betas=tuple(float(b) for b in betas), fused=True)


def build(cfg, device=CPU):
    """(parts, run state) as a run sets them up; on the CPU with fused Adam."""
    if device.type == "cpu":
        for role in ("generator", "critic"):
            if enum_value(cfg.optim[role].name) == "adam":
                cfg.optim[role]._target_ = "helpers.graph_cases.fused_adam"
    parts, state, _ = set_up(cfg)
    return parts, state


def settings_for(cfg, steps, **extra):
    return Settings(
        steps=steps,
        batch_size=cfg.train.batch_size,
        n_critic=cfg.train.n_critic,
        log_every=steps,
        images_every=10**9,
        ckpt_every=extra.pop("ckpt_every", 10**9),
        progress=False,
        precision=enum_value(cfg.train.precision),
        channels_last=cfg.train.channels_last,
        **extra,
    )


def train(
    cfg, steps, graphed, backend=None, device=CPU, start=None, checkpoints=None, ckpt_every=10**9, device_values=False
):
    """Train a fresh run (or continue `start`, a checkpoint) to `steps`; returns (parts, outcome). `device_values`:
    an eager run with its scheduled values where a graph reads them (what a graphed run's steps compute)."""
    parts, state = build(cfg, device)
    torch.manual_seed(cfg.seed)
    start_step = 0 if start is None else state.restore(start)
    if device_values and not graphed:
        to_device_values(parts)
    settings = settings_for(cfg, steps, cuda_graphs=graphed, ckpt_every=ckpt_every)
    hooks = Hooks.quiet(capture=state.capture, graph_backend=backend)
    if checkpoints is not None:
        hooks.checkpointer = checkpoints
    outcome = fit(parts, settings, hooks, start_step)
    return parts, outcome


def state_of(parts) -> dict:
    """Everything the run's future depends on, compared bit for bit."""
    return copy.deepcopy(
        {
            "generator": parts.generator.state_dict(),
            "critic": parts.critic.state_dict(),
            "opt_g": parts.opt_g.state_dict()["state"],
            "opt_d": parts.opt_d.state_dict()["state"],
            "ema": parts.ema.state_dict(),
            "regularizer": parts.objective.regularizer.state_dict(),
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state() if torch.cuda.is_available() else None,
        }
    )


def assert_same_run(graphed, eager):
    (parts_g, out_g), (parts_e, out_e) = graphed, eager
    assert {k: v for k, v in out_g.values.items() if not k.startswith("perf/")} == {
        k: v for k, v in out_e.values.items() if not k.startswith("perf/")
    }  # logged means, bit for bit (not the speed and memory a graph changes)
    # check_device=False: a capture leaves an optimizer's step count on the GPU (graphs.capturable), where an eager
    # run's non-capturable RMSprop keeps it on the CPU (seen on an H200); the counts and everything else bit for bit.
    assert_close(state_of(parts_g), state_of(parts_e), rtol=0, atol=0, check_device=False)
