"""The real images scores are measured against (`metrics.reference`: the data set's train or test split), the
held-out split that gives each score's floor, and the name of the reference in a score's protocol.

The labelled sets have both splits. MNIST and Fashion-MNIST train on their train split, so `train` is the training
images themselves, handed in (indexed, never copied: they may be large); CIFAR-10's loaders train on all six
batches, as the seed tutorials did, so its splits (the five data batches, the test batch) are read apart. A folder
of images has one split, what it trains on.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ganrun.base.errors import UsageError
from ganrun.data.labelled import LABELLED, labelled_source
from ganrun.data.options import dataset_option
from ganrun.data.reading import ImageSet, check_classes, select_classes, to_shape

SPLITS = ("train", "test")
TRAIN_SPLIT_IS_TRAINED_ON = ("mnist", "fashion_mnist")  # their loaders read exactly the train split's files


def loader_name(dataset_cfg: dict) -> str:
    return str(dataset_cfg.get("_target_", "data")).rsplit(".", 1)[-1]


def reference_name(dataset_cfg: dict, images: torch.Tensor | ImageSet) -> str:
    """The data set as a score's protocol names it: its loader, its classes, the images' shape (not its folder,
    which differs between machines that hold the same files)."""
    classes = dataset_cfg.get("classes")
    if classes is not None:  # labelled sets name classes by label, a folder by name or index
        classes = list(check_classes(classes)) if labelled_source(dataset_cfg) is not None else classes
    chosen = f" classes={classes}" if classes is not None else ""
    return f"{loader_name(dataset_cfg)}{chosen} {'×'.join(map(str, images.shape[1:]))}"


def split_images(dataset_cfg: dict, split: str) -> torch.Tensor:
    """A labelled data set's `split` (uint8 N×C×H×W), shaped as its loader shapes the training images: the same
    classes, size and channels."""
    source = labelled_source(dataset_cfg)
    images, labels = source.split(split)
    images = select_classes(
        ImageSet(images, labels), check_classes(dataset_cfg.get("classes")), source.name, source.root
    ).images
    return to_shape(
        images,
        int(dataset_cfg.get("image_size") or images.shape[-1]),
        int(dataset_cfg.get("channels") or images.shape[1]),
    )


def check_split(dataset_cfg: dict, split: str, option: str = "metrics.reference=") -> None:
    """UsageError unless the data set has the split (a folder of images has only what it trains on)."""
    if split not in SPLITS:
        raise UsageError(f"{option}{split} is not a split; use train or test")
    if split != "train" and labelled_source(dataset_cfg) is None:
        raise UsageError(
            f"{option}{split}: {dataset_option(dataset_cfg)} has no {split} split (only "
            f"dataset={', '.join(LABELLED)} have one); use train"
        )


def reference_images(
    dataset_cfg: dict,
    split: str,
    training_images: Callable[[], torch.Tensor | ImageSet],
    option: str = "metrics.reference=",
) -> torch.Tensor | ImageSet:
    """The real images of `split`: `training_images()` where they are that split, else the split read apart."""
    check_split(dataset_cfg, split, option)
    source = labelled_source(dataset_cfg)
    if source is None or (split == "train" and source.name in TRAIN_SPLIT_IS_TRAINED_ON):
        return training_images()
    return split_images(dataset_cfg, split)


def held_out_split(split: str) -> str:
    """The split that is not the reference: its images score what real images score, each metric's floor."""
    return "test" if split == "train" else "train"


def seeded_subset(images: torch.Tensor | ImageSet, count: int, seed: int) -> torch.Tensor:
    """`count` of the images (all when there are not more) drawn without replacement by `seed`, on the CPU; only
    those are read, so that a data set stored class by class is covered and a large one (a packed cache larger than
    memory) is never copied whole."""
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:count]
    return images[order if isinstance(images, ImageSet) else order.to(images.device)].cpu()
