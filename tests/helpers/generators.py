"""Small generators of every model family, with seeded random weights, as checkpoints the way ganrun writes them
(what the export, ONNX and resolver tests read; scripts/onnx_agreement.py measures with them too)."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import OmegaConf

MNIST = ["dataset=mnist"]
CIFAR = ["dataset=cifar10"]
FOLDER96 = ["dataset=folder", "dataset.root=photos", "dataset.image_size=96"]
# family → (its data set, small widths, whether it has a class-conditional variant)
FAMILIES = {
    "dcgan": (MNIST, ["model.width=8", "model.z_dim=8"], True),
    "dcgan28": (MNIST, ["model.hidden=8", "model.z_dim=8"], True),
    "dcgan96": (FOLDER96, ["model.width=4", "model.z_dim=8"], False),
    "upsample": (CIFAR, ["model.z_dim=8"], False),
    "resnet": (CIFAR, ["model.width=8", "model.z_dim=8"], True),
    "r3gan": (CIFAR, ["model.widths=16", "model.blocks=1", "model.group_width=8", "model.z_dim=8"], True),
}
CASES = [(family, cond) for family, (_, _, can) in FAMILIES.items() for cond in ((False, True) if can else (False,))]
CLASS_NAMES = ["cat", "dog", "fox"]


def family_overrides(family: str, conditional: bool) -> list[str]:
    data, small, _ = FAMILIES[family]
    extra = ["model.conditional=true", f"model.num_classes={len(CLASS_NAMES)}"] if conditional else []
    return [*data, f"model={family}", *small, *extra, "loss=bce"]


@torch.no_grad()
def family_state(family: str, conditional: bool = False, seed: int = 0) -> dict:
    """A checkpoint-shaped state of a small `family` network pair: weights and batch-norm statistics drawn at random
    (every layer counts), an EMA that differs from the generator, a conditional generator's class prior with one
    class never seen (class 1)."""
    from ganrun.build import build_gan
    from helpers.configs import compose_with

    overrides = family_overrides(family, conditional)
    cfg = compose_with(*overrides)
    torch.manual_seed(seed)
    generator, critic, _ = build_gan(cfg)
    for module in (generator, critic):
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        for name, b in module.named_buffers():
            if name.endswith("running_var"):
                b.copy_(torch.rand_like(b) + 0.5)
            elif name.endswith("running_mean"):
                b.copy_(torch.randn_like(b) * 0.1)
    if conditional:
        generator.class_prior.copy_(torch.tensor([0.5, 0.0, 0.5]))
    ema = {k: v.clone() for k, v in generator.state_dict().items()}
    for k, v in ema.items():
        if v.is_floating_point() and not k.endswith(("class_prior", "running_var")):
            v.add_(torch.randn_like(v) * 0.02)
    return {
        "step": 5,
        "generator": generator.state_dict(),
        "critic": critic.state_dict(),
        "ema": ema,
        "config": OmegaConf.to_container(cfg, resolve=True, enum_to_str=True),
        "classes": list(CLASS_NAMES) if conditional else None,
        "overrides": overrides,
        "init": None,
        "best": {},
    }


def family_checkpoint(run: Path, family: str, conditional: bool = False, seed: int = 0, name: str = "last.pt") -> Path:
    """family_state saved as <run>/checkpoints/<name>; returns its path."""
    path = Path(run) / "checkpoints" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(family_state(family, conditional, seed), path)
    return path
