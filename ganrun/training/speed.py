"""Speed options of the training step: bf16 autocast, channels_last, torch.compile."""

import contextlib

import torch

from ganrun.base.errors import UsageError
from ganrun.training.devices import capturing


def _float_scores(module, inputs, output):
    # Scores leave the critic in fp32, so every loss reduction and penalty is computed in fp32 under bf16.
    return output.float()


def autocast(device: torch.device, precision: str):
    """The context the step's forward passes run in: bf16 autocast, or nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "bf16":
        # No cache of cast weights while a CUDA graph is captured (PyTorch's advice): the casts are replayed.
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16, cache_enabled=not capturing())
    raise UsageError(f"train.precision={precision} is not allowed: it must be fp32 or bf16")


def prepare(generator, critic, precision: str, channels_last: bool, compile_models: bool, wrap=None):
    """Apply the options to the networks; returns (generator, critic) to train with; `wrap` (DDP)
    wraps each network before compilation.

    Compiled modules share their parameters with the originals, and the gradient penalty runs on the
    original critic (`_orig_mod`), since torch.compile cannot differentiate twice.
    """
    if precision == "bf16":
        critic.register_forward_hook(_float_scores)
    if channels_last:
        generator.to(memory_format=torch.channels_last)
        critic.to(memory_format=torch.channels_last)
    if wrap is not None:
        generator, critic = wrap(generator), wrap(critic)
    if compile_models:
        generator, critic = torch.compile(generator), torch.compile(critic)
    return generator, critic
