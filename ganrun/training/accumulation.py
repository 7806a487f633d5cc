"""Gradient accumulation (`train.accumulate=K`): each critic and generator update sums the gradients of K chunks of
its batch, each chunk's loss divided by K, so a batch of 512 trains where 128 fit. Without batch statistics the
update is the one-batch update (training/step.py draws the whole batch's noise first); batch norm takes its
statistics over a chunk, so there it differs, and the run says so once (app/validate.py)."""

from __future__ import annotations

import logging

import torch

log = logging.getLogger("ganrun")


def chunks(count: int, *tensors: torch.Tensor | None) -> list[tuple]:
    """The tensors (each batch-first, or None) cut along the batch into `count` equal chunks, as tuples of the
    chunks at one position."""
    if count == 1:
        return [tensors]
    pieces = [[None] * count if t is None else t.chunk(count) for t in tensors]
    return list(zip(*pieces))


def has_batchnorm(net: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules())
