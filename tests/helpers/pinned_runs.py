"""Short real runs whose trained weights are pinned by hash (tests/test_pinned_weights.py).

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
    # mirrored images drawn by the order; each update summed over two chunks of the batch
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
# What decides a run's future: everything in a checkpoint but its config, best score and overrides.
HASHED = (
    "step",
    "generator",
    "critic",
    "opt_g",
    "opt_d",
    "ema",
    "data",
    "fixed_noise",
    "augment",
    "regularizer",
    "rng",
)
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
    digest({key: state.get(key) for key in HASHED}, hasher)
    return hasher.hexdigest()[:16]


def write_data(folder: Path) -> dict[str, Path]:
    from helpers.tiny_data import write_cifar10, write_mnist

    return {"mnist": write_mnist(folder / "mnist"), "cifar": write_cifar10(folder / "cifar", per_class=4)}


def train(name: str, data: dict[str, Path], folder: Path) -> str:
    """Train configuration `name` through the CLI in `folder`; the hash of its last checkpoint."""
    which, overrides = CONFIGS[name]
    base = MNIST if which == "mnist" else CIFAR
    args = [*base, f"dataset.root={data[which]}", *TINY, *overrides, f"hydra.run.dir={folder / name}"]
    env = {**os.environ, **PORTABLE, "GANRUN_CACHE": str(folder / "cache")}
    result = subprocess.run(
        [sys.executable, "-m", "ganrun", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{result.stderr[-3000:]}")
    return state_hash(folder / name / "checkpoints" / "last.pt")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        data = write_data(Path(tmp))
        for name in sys.argv[1:] or CONFIGS:
            print(f'    "{name}": "{train(name, data, Path(tmp))}",', flush=True)
