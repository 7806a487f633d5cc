"""FreezeD (Mo et al. 2020): `train.freeze_critic=K` keeps the critic's first K blocks fixed while the rest of it
and the generator train, a fine-tuning recipe for small data. The frozen parameters take no gradient, so no
optimizer moves them; they stay in the optimizer, whose state then matches a checkpoint's as before."""

from __future__ import annotations

from torch import nn

from ganrun.base.errors import UsageError


def freeze_critic_blocks(critic: nn.Module, count: int) -> list[str]:
    """Stop the gradients of the critic's first `count` blocks (its `blocks()`); the names of their parameters."""
    if not count:
        return []
    blocks = critic.blocks() if callable(getattr(critic, "blocks", None)) else None
    if blocks is None:
        raise UsageError(
            f"train.freeze_critic={count} needs the critic's blocks, and {type(critic).__qualname__} has no "
            "blocks() method (its blocks from the input on); add one, or set train.freeze_critic=0"
        )
    if count > len(blocks):
        raise UsageError(
            f"train.freeze_critic={count}, but the critic has {len(blocks)} blocks before its head; freeze at most "
            f"{len(blocks)}"
        )
    frozen = {id(p) for block in blocks[:count] for p in block.parameters()}
    names = [name for name, p in critic.named_parameters() if id(p) in frozen]
    for p in critic.parameters():
        if id(p) in frozen:
            p.requires_grad_(False)
    return names
