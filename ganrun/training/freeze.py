"""FreezeD (Mo et al. 2020): `train.freeze_critic=K` keeps the critic's first K blocks fixed while the rest of it
and the generator train, a fine-tuning recipe for small data. The frozen parameters take no gradient, so no
optimizer moves them; they stay in the optimizer, whose state then matches a checkpoint's as before."""

from __future__ import annotations

from torch import nn


def critic_blocks(critic: nn.Module) -> list[nn.Module] | None:
    """The critic's blocks from the input on (its `blocks()`), or None when it does not say."""
    return critic.blocks() if callable(getattr(critic, "blocks", None)) else None


def freeze_critic_blocks(critic: nn.Module, count: int) -> list[str]:
    """Stop the gradients of the critic's first `count` blocks (app/validate.py has checked it has them); the names
    of their parameters."""
    if not count:
        return []
    frozen = {id(p) for block in critic_blocks(critic)[:count] for p in block.parameters()}
    names = [name for name, p in critic.named_parameters() if id(p) in frozen]
    for p in critic.parameters():
        if id(p) in frozen:
            p.requires_grad_(False)
    return names
