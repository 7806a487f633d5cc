"""Checkpoints written by hand, with the keys ganrun writes."""

from pathlib import Path

import torch

from helpers.cli import REPO

# What decides a run's future: everything in a checkpoint but its config, its best score, its overrides and where it
# started from (init=PATH). Two runs that agree on these train alike from here on.
FUTURE = (
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


def write_checkpoint(folder: Path, mnist_root: Path, ema: bool) -> Path:
    """A checkpoint with the keys ganrun writes, its generator tiny, and an EMA generator different from it."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from ganrun.app import resolvers, schema
    from ganrun.build import build_gan

    schema.register()
    resolvers.register_resolvers()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                "dataset=mnist",
                f"dataset.root={mnist_root}",
                "dataset.download=false",
                "model=dcgan28",
                "model.hidden=8",
            ],
        )
    torch.manual_seed(0)
    generator, critic, _ = build_gan(cfg)
    state = {
        "step": 7,
        "generator": {k: v.clone() for k, v in generator.state_dict().items()},
        "critic": critic.state_dict(),
        "config": OmegaConf.to_container(cfg, resolve=True, enum_to_str=True),
    }
    if ema:
        with torch.no_grad():
            for p in generator.parameters():
                p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
        state["ema"] = generator.state_dict()
    path = folder / "checkpoints" / "step_0000007.pt"
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    return path
