"""Short real runs whose trained weights are pinned by hash (tests/properties/test_pinned_weights.py).

Each run goes through the real CLI in a subprocess with portable numerics: one thread, ATen's plain (not
vectorized) CPU kernels, MKL's compatible code path and oneDNN at SSE4.1, so that the same code trains the same
bits on any x86-64 CPU, not only on the one the hashes were made on. What is hashed is everything a checkpoint
holds that decides the run's future (weights, optimizers, EMA, data order, augmentation and regularizer state,
RNG), not its config.

    python tests/helpers/pinned_runs.py     # print the hashes of every pinned configuration (to update the pins,
                                            # which only an issue that asks for other weights may do)
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))

# The data: tiny_data's 64-image MNIST (idx, gz) and its 240-image CIFAR-10 (pickles), made the same everywhere.
TINY = [
    "model.z_dim=16",
    "train.batch_size=8",
    "log.num_samples=4",
    "metrics.names=[]",
    "train.steps=6",
    "log.every=3",
    "log.images_every=3",
    "ckpt.every=3",
    "seed=5",
    "train.deterministic=true",
]
MNIST = ["dataset=mnist", "dataset.download=false"]
CIFAR = ["dataset=cifar10_horse", "dataset.download=false", "dataset.classes=null"]
# name -> (data set, overrides): the losses, models, regularizers, augmentations and a conditional model.
CONFIGS: dict[str, tuple[str, list[str]]] = {
    "wgan_gp_dcgan28": ("mnist", ["model=dcgan28", "model.hidden=8", "loss=wgan_gp", "train.n_critic=2"]),
    "bce_dcgan": ("mnist", ["model=dcgan", "model.width=8", "loss=bce"]),
    "wgan_clip_rmsprop": (
        "mnist",
        [
            "model=dcgan28",
            "model.hidden=8",
            "loss=wgan",
            "train.n_critic=2",
            "optim.generator.name=rmsprop",
            "optim.critic.name=rmsprop",
            "train.ema=0",
        ],
    ),
    "wgan_div": ("mnist", ["model=dcgan28", "model.hidden=8", "loss=wgan_div", "train.n_critic=2"]),
    "hinge_sn_diffaugment": (
        "mnist",
        ["model=dcgan", "model.width=8", "loss=hinge", "regularizer=spectral_norm", "augment=diffaugment"],
    ),
    "lsgan_lazy_r1": (
        "mnist",
        [
            "model=dcgan",
            "model.width=8",
            "loss=lsgan",
            "regularizer=r1",
            "regularizer.every=2",
            "model.critic_norm=layer",
        ],
    ),
    "hinge_adaptive_lecam": (
        "mnist",
        [
            "model=dcgan28",
            "model.hidden=8",
            "loss=hinge",
            "augment=adaptive",
            "augment.interval=1",
            "augment.speed_kimg=0.05",
            "regularizer=lecam",
        ],
    ),
    "conditional_hinge": ("mnist", ["model=dcgan28", "model.hidden=8", "loss=hinge", "model.conditional=true"]),
    "resnet_wgan_gp": ("cifar", ["model=resnet", "model.width=16", "loss=wgan_gp", "train.n_critic=2"]),
    # no EMA: re-estimating its batch norms (4,096 samples of seed 003's wide net) at every checkpoint takes a minute
    "upsample_bce": ("cifar", ["model=upsample", "loss=bce", "train.ema=0"]),
    # issue 27's objectives: the generator step draws a real batch of its own; R1 + R2, lazy, conditional
    "rpgan_r1r2_dcgan": ("mnist", ["model=dcgan", "model.width=8", "loss=rpgan", "regularizer=r1r2"]),
    # R3GAN's network with its loss, R1 + R2 and schedules (lr, beta2, gamma, EMA half-life), conditional
    "r3gan_rpgan_schedules": (
        "mnist",
        [
            "model=r3gan",
            "model.widths=8",
            "model.blocks=1",
            "model.group_width=4",
            "model.conditional=true",
            "loss=rpgan",
            "regularizer=r1r2",
            "optim.generator.lr={start: 4e-4, end: 1e-4, length: 48, unit: images}",
            "optim.critic.betas=[0, {start: 0.9, end: 0.99, length: 6, unit: steps, shape: linear}]",
            "regularizer.gamma={start: 0.5, end: 0.05, length: 6, unit: steps}",
            "train.ema_halflife={start: 0, end: 32, length: 6, unit: steps}",
        ],
    ),
    # ADA's pipeline: a scheduled p on R3GAN's network (colour images), an adaptive p on the seeds' network
    "r3gan_ada_scheduled_cifar": (
        "cifar",
        [
            "model=r3gan",
            "model.widths=8",
            "model.blocks=1",
            "model.group_width=4",
            "loss=rpgan",
            "regularizer=r1r2",
            "augment=ada",
            "augment.p={start: 0.3, end: 0.9, length: 6, unit: steps}",
        ],
    ),
    # the CPU preset as a whole (its schedules over the run's 6 steps), at tiny widths
    "r3gan_small_preset": ("mnist", ["experiment=r3gan_small", "model.widths=8", "model.group_width=4"]),
    "hinge_ada_adaptive": (
        "mnist",
        [
            "model=dcgan28",
            "model.hidden=8",
            "loss=hinge",
            "augment=ada",
            "augment.interval=1",
            "augment.speed_kimg=0.05",
        ],
    ),
    "ragan_lazy_r1r2_conditional": (
        "mnist",
        [
            "model=dcgan28",
            "model.hidden=8",
            "loss=ragan",
            "regularizer=r1r2",
            "regularizer.every=2",
            "model.conditional=true",
        ],
    ),
    # issue 28: mirrored images drawn by the order; each update summed over two chunks of the batch
    "wgan_gp_xflip_accumulate": (
        "mnist",
        [
            "model=dcgan28",
            "model.hidden=8",
            "loss=wgan_gp",
            "train.n_critic=2",
            "dataset.xflip=true",
            "train.accumulate=2",
        ],
    ),
    "conditional_hinge_freeze_critic": (
        "mnist",
        ["model=dcgan28", "model.hidden=8", "loss=hinge", "model.conditional=true", "train.freeze_critic=1"],
    ),
}
PORTABLE = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_CBWR": "COMPATIBLE",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "CUDA_VISIBLE_DEVICES": "",
}


def digest(value, hasher) -> None:
    """Feed a nested checkpoint structure into `hasher`: keys in order, tensors by dtype, shape and bytes."""
    if torch.is_tensor(value):
        hasher.update(f"{value.dtype}{tuple(value.shape)}".encode())
        hasher.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            hasher.update(repr(key).encode())
            digest(value[key], hasher)
    elif isinstance(value, (list, tuple)):
        hasher.update(f"[{len(value)}".encode())
        for item in value:
            digest(item, hasher)
    else:
        hasher.update(repr(value).encode())


def state_hash(checkpoint: Path) -> str:
    state = torch.load(checkpoint, weights_only=True)
    hasher = hashlib.sha256()
    from helpers.checkpoints import FUTURE  # here: the file also runs as a script, tests/ then on sys.path

    digest({key: state.get(key) for key in FUTURE}, hasher)
    return hasher.hexdigest()[:16]


def write_data(folder: Path) -> dict[str, Path]:
    from helpers.tiny_data import write_cifar10, write_mnist

    return {"mnist": write_mnist(folder / "mnist"), "cifar": write_cifar10(folder / "cifar", per_class=4)}


def run_cli(args: list[str], folder: Path) -> None:
    """`python -m ganrun ARGS` in `folder` with portable numerics and a cache of its own."""
    env = {**os.environ, **PORTABLE, "GANRUN_CACHE": str(folder / "cache")}
    result = subprocess.run(
        [sys.executable, "-m", "ganrun", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        raise RuntimeError(f"python -m ganrun {' '.join(args)} failed:\n{result.stderr[-3000:]}")


def train(name: str, data: dict[str, Path], folder: Path) -> str:
    """Train configuration `name` through the CLI in `folder`; the hash of its last checkpoint."""
    which, overrides = CONFIGS[name]
    base = MNIST if which == "mnist" else CIFAR
    run_cli([*base, f"dataset.root={data[which]}", *TINY, *overrides, f"hydra.run.dir={folder / name}"], folder)
    return state_hash(folder / name / "checkpoints" / "last.pt")


def resume(name: str, checkpoint: Path, data: dict[str, Path], folder: Path) -> str:
    """Resume configuration `name` from `checkpoint` to its last step (its data at `data`); the hash of the
    checkpoint it ends with."""
    which, _ = CONFIGS[name]
    run_cli([f"resume={checkpoint}", f"dataset.root={data[which]}"], folder)
    return state_hash(checkpoint.parent / "last.pt")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        data = write_data(Path(tmp))
        for name in sys.argv[1:] or CONFIGS:
            print(f'    "{name}": "{train(name, data, Path(tmp))}",', flush=True)
