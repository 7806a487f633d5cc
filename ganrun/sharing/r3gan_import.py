"""An R3GAN network pickle as a ganrun state: the settings of `model=r3gan` read from the networks
(r3gan_settings.py), and every R3GAN parameter moved to the ganrun parameter that holds the same numbers (the pairing
of scripts/r3gan_reference.py, by name; scripts/r3gan_pickles.py checks the result against R3GAN's code).

R3GAN's generator: MainLayers[0] = [GenerativeBasis, blocks…], MainLayers[i] = [UpsampleLayer, blocks…],
AggregationLayer; its discriminator: ExtractionLayer, MainLayers[i] = [blocks…, DownsampleLayer], the last
[blocks…, DiscriminativeBasis]; a block is LinearLayer1..3 with NonLinearity1..2 (each holds the bias of the conv
before it); a class-conditional network has an EmbeddingLayer (a linear map of the one-hot class).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ganrun.base.errors import UsageError
from ganrun.build import build_gan
from ganrun.sharing.r3gan_pickle import Recorded, load
from ganrun.sharing.r3gan_settings import conv, generator_settings, model_of, stages_of

BLOCK = {"LinearLayer1": "expand", "LinearLayer2": "spatial", "LinearLayer3": "project"}
BIASES = {"NonLinearity1": "expand", "NonLinearity2": "spatial"}


def read(path: Path) -> dict:
    """The pickle at `path` as a checkpoint-shaped state: generator (G), critic (D), ema (G_ema), config."""
    data = load(path)
    g_ema = data.get("G_ema") or data.get("G")
    settings = generator_settings(g_ema, path)
    config = ganrun_config(settings, data.get("training_set_kwargs") or {})
    state = {
        "step": 0,  # R3GAN counts images, not steps: images_seen has them
        "images_seen": int(data.get("cur_nimg") or 0),
        "generator": generator_weights(data.get("G") or g_ema, settings, path),
        "ema": generator_weights(g_ema, settings, path),
        "critic": critic_weights(data["D"], settings, path) if isinstance(data.get("D"), Recorded) else None,
        "config": config,
        "classes": None,
        "init": None,
        "overrides": [],
        "source_info": {
            "format": "R3GAN network pickle",
            "trained_by": "R3GAN's own training loop (brownvc/R3GAN): the relativistic pairing loss with R1 and R2",
        },
    }
    check_builds(state, path)
    return state


def ganrun_config(settings: dict, training_set: dict) -> dict:
    """A run config that rebuilds the networks (model=r3gan with the settings read), and the data set R3GAN trained
    on as an image folder (its dataset zip unpacked; `--data-root` points there)."""
    root = str(training_set.get("path") or "DATASET")
    return {
        "seed": training_set.get("random_seed"),
        "model": {"_target_": "ganrun.models.r3gan.build", **settings},
        "regularizer": {"_target_": "ganrun.objectives.regularizers.Regularizer"},
        "dataset": {
            "_target_": "ganrun.data.image_folder",
            "root": root.removesuffix(".zip"),
            "image_size": settings["image_size"],
            "channels": settings["channels"],
            "labels": "dataset.json" if training_set.get("use_labels") else "none",
            "xflip": bool(training_set.get("xflip", False)),
            "download": False,
        },
    }


def block_weights(block: Recorded, prefix: str) -> dict:
    found = {
        f"{prefix}.{ours}.weight": conv(block.child(theirs)).state["_parameters"]["weight"]
        for theirs, ours in BLOCK.items()
    }
    found.update(
        {f"{prefix}.{ours}.bias": block.child(theirs).state["_parameters"]["Bias"] for theirs, ours in BIASES.items()}
    )
    return found


def change_weight(transition: Recorded, key: str) -> dict:
    """A transition's 1×1 conv to the next width, where the width changes."""
    linear = transition.child("LinearLayer")
    return {} if linear is None else {key: conv(linear).state["_parameters"]["weight"]}


def generator_weights(wrapper: Recorded, settings: dict, path: Path) -> dict:
    """The generator's parameters under ganrun's names."""
    model = model_of(wrapper, path)
    stages = stages_of(model)
    basis = stages[0][0].state
    weights = {
        "basis.basis": basis["_parameters"]["Basis"],
        "basis.linear": basis["_modules"]["LinearLayer"].state["_parameters"]["weight"],
    }
    for i, layers in enumerate(stages):
        if i > 0:
            weights.update(change_weight(layers[0], f"stages.{i}.change.weight"))
        for j, block in enumerate(layers[1:]):
            weights.update(block_weights(block, f"stages.{i}.blocks.{j}"))
    weights["to_image.weight"] = conv(model.child("AggregationLayer")).state["_parameters"]["weight"]
    if settings["conditional"]:
        weights["embed.weight"] = model.child("EmbeddingLayer").state["_parameters"]["weight"].T  # one-hot map: lookup
        weights["class_prior"] = torch.full((settings["num_classes"],), 1.0 / settings["num_classes"])
    return {k: v.detach().float().contiguous() for k, v in weights.items()}


def critic_weights(wrapper: Recorded, settings: dict, path: Path) -> dict:
    """The discriminator's parameters under ganrun's critic names."""
    model = model_of(wrapper, path)
    stages = stages_of(model)
    weights = {"from_image.weight": conv(model.child("ExtractionLayer")).state["_parameters"]["weight"]}
    for i, layers in enumerate(stages):
        for j, block in enumerate(layers[:-1]):
            weights.update(block_weights(block, f"stages.{i}.blocks.{j}"))
        if i < len(stages) - 1:
            weights.update(change_weight(layers[-1], f"stages.{i}.change.weight"))
    basis = stages[-1][-1]
    weights["basis.basis"] = basis.child("Basis").state["_parameters"]["weight"][:, 0]  # depthwise C×1×b×b → C×b×b
    weights["basis.linear"] = basis.child("LinearLayer").state["_parameters"]["weight"]
    if settings["conditional"]:
        weights["embed.weight"] = model.child("EmbeddingLayer").state["_parameters"]["weight"].T
    return {k: v.detach().float().contiguous() for k, v in weights.items()}


def networks(state: dict):
    """ganrun's (generator, critic, regularizer) for an imported state's config."""
    from omegaconf import OmegaConf

    return build_gan(OmegaConf.create(state["config"]))


def check_builds(state: dict, path: Path) -> None:
    """Every weight read must fit ganrun's networks built from the settings read: a layer the reading missed or
    misplaced is one line here, not a wrong picture later."""
    generator, critic, _ = networks(state)
    for what, module, weights in (("generator", generator, state["ema"]), ("critic", critic, state["critic"])):
        if weights is None:
            continue
        own = module.state_dict()
        missing = sorted(set(own) - set(weights))
        extra = sorted(set(weights) - set(own))
        wrong = sorted(k for k in set(own) & set(weights) if own[k].numel() != weights[k].numel())
        if missing or extra or wrong:
            raise UsageError(
                f"{path}: the R3GAN {what} does not map onto ganrun's r3gan (missing {missing[:3]}, "
                f"unexpected {extra[:3]}, other shapes {wrong[:3]})"
            )
    for what, module in (("generator", generator), ("ema", generator), ("critic", critic)):
        if state[what] is not None:
            own = module.state_dict()
            state[what] = {k: v.reshape(own[k].shape) for k, v in state[what].items()}
