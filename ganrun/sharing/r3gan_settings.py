"""The settings of ganrun's `model=r3gan` read from an R3GAN network pickle's generator (its layers, and its
constructor arguments where a persistent pickle stores them): widths, blocks, group width, expansion, z, classes,
resolution. Nothing is guessed: what does not fit ganrun's r3gan is one line.

R3GAN's generator: MainLayers[0] = [GenerativeBasis, blocks…], MainLayers[i] = [UpsampleLayer, blocks…],
AggregationLayer; a block is LinearLayer1..3 (R3GAN's Convolution, a torch conv inside as `Layer`)."""

from __future__ import annotations

from pathlib import Path

import torch

from ganrun.base.errors import UsageError
from ganrun.models.r3gan_layers import lowpass_kernel
from ganrun.sharing.r3gan_pickle import Recorded

KERNEL = 3  # ganrun's r3gan: 3×3 grouped convolutions
CONSTRUCTOR = {"NoiseDimension": "z_dim", "WidthPerStage": "widths", "BlocksPerStage": "blocks"}


def model_of(wrapper: Recorded, path: Path) -> Recorded:
    """The R3GAN network inside training.networks' wrapper (its `Model`)."""
    model = wrapper.child("Model")
    if model is None or model.child("MainLayers") is None:
        raise UsageError(f"{path}: {wrapper.kind} is not an R3GAN network (no Model.MainLayers in it)")
    return model


def stages_of(model: Recorded) -> list[list[Recorded]]:
    return [list(stage.child("Layers").children().values()) for stage in model.child("MainLayers").children().values()]


def conv(layer: Recorded) -> Recorded:
    """The torch conv inside R3GAN's Convolution (its `Layer`)."""
    return layer.child("Layer")


def generator_settings(wrapper: Recorded, path: Path) -> dict:
    """ganrun's r3gan keys read from the generator's layers."""
    model = model_of(wrapper, path)
    stages = stages_of(model)
    widths, blocks, groups, expansions = [], [], [], set()
    for layers in stages:
        width = layers[0].state["_parameters"]["Basis"].shape[0] if len(widths) == 0 else None
        for block in layers[1:]:
            first, spatial = conv(block.child("LinearLayer1")), conv(block.child("LinearLayer2"))
            width = first.state["in_channels"]
            expansions.add(first.state["out_channels"] // width)
            groups.append(spatial.state["out_channels"] // spatial.state["groups"])
            if tuple(spatial.state["kernel_size"]) != (KERNEL, KERNEL):
                raise UsageError(f"{path}: R3GAN's kernel size {spatial.state['kernel_size']} is not ganrun's 3×3")
        if width is None:  # a stage without blocks: its width is its transition conv's
            width = conv(layers[0].child("LinearLayer")).state["out_channels"]
        widths.append(int(width))
        blocks.append(len(layers) - 1)
        for layer in layers:
            check_kernel(layer, path)
    if len(set(groups)) > 1 or len(expansions) > 1:
        raise UsageError(
            f"{path}: its stages use group widths {sorted(set(groups))} and expansions {sorted(expansions)}; ganrun's "
            "model.group_width and model.expansion are one number each"
        )
    embedding = model.child("EmbeddingLayer")
    z_dim = int(wrapper.state.get("z_dim") or (wrapper.state.get("_init_kwargs") or {}).get("NoiseDimension") or 0)
    if not z_dim:
        raise UsageError(f"{path}: its generator does not say the size of z (no z_dim); not an R3GAN generator")
    settings = {
        "image_size": int(wrapper.state["img_resolution"]),
        "channels": int(conv(model.child("AggregationLayer")).state["out_channels"]),
        "z_dim": z_dim,
        "widths": widths,
        "blocks": blocks,
        "group_width": groups[0] if groups else 16,
        "expansion": expansions.pop() if expansions else 2,
        "conditional": embedding is not None,
        "num_classes": int(embedding.state["in_features"]) if embedding is not None else None,
    }
    if embedding is not None and embedding.state["out_features"] != z_dim:
        raise UsageError(
            f"{path}: its class embedding has {embedding.state['out_features']} dimensions and z {z_dim}; ganrun's "
            "r3gan embeds the class in as many dimensions as z"
        )
    check_constructor(wrapper, settings, path)
    return settings


def check_kernel(layer: Recorded, path: Path) -> None:
    """A resampler's filter must be R3GAN's [1,2,1] interpolation filter, which ganrun's r3gan has built in."""
    resampler = layer.child("Resampler")
    kernel = None if resampler is None else (resampler.state.get("_buffers") or {}).get("Kernel")
    if kernel is not None and not torch.allclose(kernel.double(), lowpass_kernel().double()):
        raise UsageError(f"{path}: a resampling filter other than R3GAN's [1,2,1] one, which ganrun's r3gan has")


def check_constructor(wrapper: Recorded, settings: dict, path: Path) -> None:
    """Where the pickle stores its constructor arguments (a persistent class), they must say what the layers say."""
    kwargs = wrapper.state.get("_init_kwargs") or {}
    for theirs, ours in CONSTRUCTOR.items():
        if theirs not in kwargs:
            continue
        said = list(kwargs[theirs]) if isinstance(kwargs[theirs], (list, tuple)) else kwargs[theirs]
        if said != settings[ours]:
            raise UsageError(f"{path}: its constructor says {theirs}={said}, its layers {settings[ours]}")
