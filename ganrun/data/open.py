"""The training images of a run as a batch source: loaded (packed on first use), checked, and put in the storage
tier `dataset.storage` asks for (auto: the one they fit in), decided here from their size and this machine."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

import torch

from ganrun.data.imageset import ImageSet
from ganrun.data.reading import DatasetError
from ganrun.data.tier_choice import check_storage, choose_tier
from ganrun.data.tiers import TIERS, BatchSource

log = logging.getLogger("ganrun")


def refuse_forced_tier(storage: str, limit: int | None, device: torch.device, rows: int, row_bytes: int) -> None:
    """Before a pack is written: a forced device or host tier must hold the rows the run will train on (the
    files found, or dataset.limit of them), or the run stops here in one line, not after the packing."""
    if storage in ("device", "host"):
        choose_tier(storage, min(rows, limit or rows) * row_bytes, device)


def check_labels(data: ImageSet, num_classes: int) -> None:
    """A class-conditional model with `num_classes` classes needs the data's labels, all of them below num_classes
    (that it needs two classes is known before the data are read: app/validate.py)."""
    if data.labels is None:
        raise DatasetError(
            "model.conditional=true needs the data set's labels, and none were found beside its images "
            "(for MNIST/Fashion-MNIST: train-labels-idx1-ubyte[.gz]; for a folder: dataset.labels=folders or a "
            "labels file); add them"
        )
    if int(data.labels.max()) >= num_classes:
        raise DatasetError(
            f"model.num_classes={num_classes} but the data set has label {int(data.labels.max())}; set "
            "model.num_classes=null (the data set's number of classes)"
        )


def open_source(
    load: Callable[..., ImageSet],
    *,
    device: torch.device,
    seed: int,
    storage: str = "auto",
    readers: int = 2,
    limit: int | None = None,
    rank: int = 0,
    world: int = 1,
    num_classes: int = 0,
    xflip: bool = False,
) -> BatchSource:
    """`load(before_packing=check)`'s images (and labels, for a model of `num_classes` > 0 classes) in their storage
    tier, this rank's share of one global order seeded by `seed` (over the images and their mirror images, with
    `xflip`). `check(rows, row_bytes)` is what a loader calls before it writes a pack: a forced tier that cannot
    hold the data is refused before hours of decoding."""
    check_storage(storage, readers)
    data = load(before_packing=partial(refuse_forced_tier, storage, limit, device))
    if num_classes:
        check_labels(data, num_classes)
    choice = choose_tier(storage, data.nbytes, device)
    shape = "×".join(map(str, data.shape[1:]))
    flips = " and their mirror images (dataset.xflip)" if xflip else ""
    log.info("data: %d images of %s%s in storage tier %s: %s", len(data), shape, flips, choice.tier, choice.reason)
    options = {"workers": readers} if choice.tier == "stream" else {}
    return TIERS[choice.tier](data, device, seed, rank, world, labelled=bool(num_classes), xflip=xflip, **options)
