"""What every storage tier's batch source shares (ganrun/data/tiers.py has the tiers): the order, over the images
and, with `xflip`, their mirror images (position i ≥ N of the order draws image i − N flipped left to right, as
StyleGAN2-ADA's --mirror), the labels, the class names, the `real` grid's sample and the checkpoint state."""

from __future__ import annotations

import torch

from ganrun.base.named_rows import with_names
from ganrun.base.pixels import to_unit_range
from ganrun.data.imageset import ImageSet
from ganrun.data.order import EpochOrder
from ganrun.data.reading import DatasetError

PREVIEW_SEED = 0x5EA1  # the `real` grid's draw: the same training images in every run of a data set


class BatchSource:
    """What every tier shares: the order (over the images, and their mirror images with `xflip`), the labels (small,
    on the device), sizes and the checkpoint state."""

    tier = ""

    def __init__(
        self,
        data: ImageSet,
        device,
        seed: int,
        rank: int = 0,
        world: int = 1,
        labelled: bool = True,
        xflip: bool = False,
    ):
        self.data, self.device, self.xflip = data, torch.device(device), xflip
        self.order = EpochOrder(len(data) * (2 if xflip else 1), seed, rank, world)
        self.labels = data.labels.to(self.device, torch.long) if labelled and data.labels is not None else None

    @property
    def num_images(self) -> int:
        return len(self.data)

    @property
    def image_size(self) -> int:
        return self.data.shape[-1]

    @property
    def channels(self) -> int:
        return self.data.shape[1]

    @property
    def class_names(self) -> list[str] | None:
        """The names of the classes (by label), where the data set has them."""
        return self.data.classes

    def preview(self, n: int) -> tuple[torch.Tensor, int | None]:
        """The `real` grid: a seeded random sample of about n training images as uint8 on the CPU, and its row
        length; with labels in the batches, a row per class with the class names beside the rows (one picture),
        else about square (None). Drawn from a generator of its own: the order and training's streams stay as
        they are."""
        rng = torch.Generator().manual_seed(PREVIEW_SEED)
        if self.labels is None:
            return self.data.read(torch.randperm(self.num_images, generator=rng)[:n].numpy()), None
        labels = self.labels.cpu()
        classes = torch.unique(labels)
        columns = max(1, n // len(classes))
        rows = []
        for label in classes:
            members = torch.nonzero(labels == label)[:, 0]
            drawn = members[torch.randperm(len(members), generator=rng)]
            rows.append(drawn.repeat(-(-columns // len(drawn)))[:columns])  # a small class repeats its images
        return with_names(self.data.read(torch.cat(rows).numpy()), columns, classes, self.class_names)

    def next_labelled_batch(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The next batch as float32 in [-1, 1] on the device, with its labels (None when the set has none)."""
        indices = self.order.next_indices(batch_size)
        rows = self._rows(indices)
        return to_unit_range(self._mirrored(self._images(rows), indices)), self._labels(rows)

    def _rows(self, indices: torch.Tensor) -> torch.Tensor:
        """The images that positions of the order draw: i, and i − N for the mirror image i ≥ N (xflip)."""
        return indices % len(self.data) if self.xflip else indices

    def _mirrored(self, images: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """The images of the order's positions ≥ N flipped left to right (xflip)."""
        if not self.xflip:
            return images
        flip = (indices >= len(self.data)).to(images.device).view(-1, 1, 1, 1)
        return torch.where(flip, images.flip(-1), images)

    def next_batch(self, batch_size: int) -> torch.Tensor:
        return self.next_labelled_batch(batch_size)[0]

    def _images(self, indices: torch.Tensor) -> torch.Tensor:
        """The uint8 images at `indices` (CPU int64) on the device, as delivered."""
        raise NotImplementedError

    def _labels(self, indices: torch.Tensor) -> torch.Tensor | None:
        return None if self.labels is None else self.labels[indices.to(self.device)]

    def random_labels(self, n: int) -> torch.Tensor | None:
        """n labels of images drawn uniformly from the set (the data's class frequencies), from torch's global
        generator (a checkpoint holds it); None when the set has no labels."""
        if self.labels is None:
            return None
        return self.labels[torch.randint(self.num_images, (n,), device=self.device)]

    def class_frequencies(self, num_classes: int) -> torch.Tensor:
        """The fraction of images of each class 0..num_classes-1 (float32, sums to 1)."""
        return torch.bincount(self.labels, minlength=num_classes).float() / self.num_images

    def state_dict(self) -> dict:
        """Where the order stands (loadable with weights_only=True)."""
        return self.order.state_dict()

    def load_state_dict(self, state: dict) -> None:
        """Continue exactly where state_dict() left off."""
        drawn = len(state["perm"])
        if drawn != self.order.num_images and drawn in (len(self.data), 2 * len(self.data)):
            was = "true" if drawn == 2 * len(self.data) else "false"
            raise DatasetError(f"the checkpoint was trained with dataset.xflip={was}; resume with it")
        self.order.load_state_dict(state)

    def close(self) -> None:
        """Stop background readers (the stream tier's)."""
