"""Gradient accumulation (`train.accumulate=K`): each critic and generator update sums the gradients of K chunks of
its batch, each chunk's loss divided by K, so a batch of 512 trains where 128 fit. Without batch statistics the
update is the one-batch update (training/step.py draws the whole batch's noise first); batch norm takes its
statistics over a chunk, so there it differs, and the run says so once."""

from __future__ import annotations

import logging

import torch

from ganrun.base.errors import UsageError

log = logging.getLogger("ganrun")


def chunks(count: int, *tensors: torch.Tensor | None) -> list[tuple]:
    """The tensors (each batch-first, or None) cut along the batch into `count` equal chunks, as tuples of the
    chunks at one position."""
    if count == 1:
        return [tensors]
    pieces = [[None] * count if t is None else t.chunk(count) for t in tensors]
    return list(zip(*pieces))


def check_accumulation(
    count: int, batch: int, generator: torch.nn.Module, critic: torch.nn.Module, loss: object = None
) -> None:
    """train.accumulate=`count` divides the `batch` each process trains; with batch norm, or a loss that compares
    scores with a batch mean (ragan), the update is not the one-batch update (the statistics are the chunks'), said
    once."""
    if batch % count:
        raise UsageError(
            f"train.accumulate={count} must cut the batch of {batch} images (each process's) into equal chunks; "
            f"use a divisor of {batch}"
        )
    norms = [name for name, net in (("generator", generator), ("critic", critic)) if has_batchnorm(net)]
    if count > 1 and norms:
        log.warning(
            "train.accumulate=%d: the %s %s batch norm, whose statistics are taken over chunks of %d images, not "
            "the batch of %d, so an update differs from the one-batch update (docs/own_data.md)",
            count,
            " and the ".join(norms),
            "have" if len(norms) > 1 else "has",
            batch // count,
            batch,
        )
    if count > 1 and loss is not None and loss.uses_batch_means:
        log.warning(
            "train.accumulate=%d: the loss compares each score with the mean of the other batch, here of a chunk of "
            "%d images, not of %d, so an update differs from the one-batch update (docs/own_data.md)",
            count,
            batch // count,
            batch,
        )


def has_batchnorm(net: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules())
