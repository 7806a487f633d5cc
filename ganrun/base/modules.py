"""Calling a network as the stages do: conditional or not, and the eager module behind a compiled or DDP wrapper."""

from __future__ import annotations

import torch


def call(net, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """net(x), or net(x, labels) for a class-conditional network."""
    return net(x) if labels is None else net(x, labels)


def eager(module):
    """The uncompiled module behind a torch.compile wrapper (for double backward), or the module itself;
    a wrapper of ganrun's own (the augmented critic D∘T) gives its eager form itself."""
    if hasattr(module, "eager"):
        return module.eager()
    return getattr(module, "_orig_mod", module)
