"""An exponential moving average of the generator's weights, the usual model to sample from and evaluate."""

import copy

import torch
from torch import nn

from ganrun.errors import UsageError


class EMA:
    """θ_ema ← decay·θ_ema + (1−decay)·θ at each generator step; buffers (batch-norm statistics) are copied."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0 <= decay < 1:
            raise UsageError(f"train.ema={decay} is out of range: it must be in [0, 1) (0 turns the EMA off)")
        self.decay = float(decay)
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        # Lists made once: update() is then two fused multi-tensor kernels, not a Python loop per tensor.
        self._params = list(self.module.parameters())
        self._buffers = list(self.module.buffers())

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards `model`'s current weights (the model the EMA was made from)."""
        torch._foreach_lerp_(self._params, list(model.parameters()), 1.0 - self.decay)
        if self._buffers:
            torch._foreach_copy_(self._buffers, list(model.buffers()))

    def state_dict(self) -> dict:
        """The averaged generator's state dict (plain tensors: loads with weights_only=True into a generator)."""
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state)


def load_ema_weights(generator: nn.Module, state: dict, use_ema: bool = True) -> bool:
    """Load a checkpoint's EMA weights ("ema") into `generator` if it has them and use_ema; True if it did."""
    if not use_ema or state.get("ema") is None:
        return False
    generator.load_state_dict(state["ema"])
    return True
