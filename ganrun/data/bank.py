"""Every training image (and its class label) as one tensor on the training device; batches drawn by index there."""
from __future__ import annotations

import torch

from ganrun.data.files import DatasetError


class ImageBank:
    """Every training image as one uint8 tensor on the training device, with its class label when `labels` are
    given (class-conditional models); batches drawn by index there."""

    def __init__(self, images: torch.Tensor, device: torch.device | str, seed: int,
                 labels: torch.Tensor | None = None):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"ImageBank wants N×C×H×W uint8 images, got {images.dtype} {tuple(images.shape)}")
        if labels is not None and labels.shape != images.shape[:1]:
            raise ValueError(f"ImageBank wants one label per image, got {tuple(labels.shape)} for {len(images)} images")
        self.device = torch.device(device)
        self.images = images.to(self.device)  # uint8 keeps device memory at one byte per pixel
        self.labels = None if labels is None else labels.to(self.device, torch.long)
        self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(seed)
        self._perm = self._new_perm()
        self._pos = 0

    @property
    def num_images(self) -> int:
        return self.images.shape[0]

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    def preview(self, n: int) -> torch.Tensor:
        """The first n images as uint8 on the CPU (the `real` grid); draws nothing, so the order stays as it is."""
        return self.images[:n].cpu()

    def _new_perm(self) -> torch.Tensor:
        return torch.randperm(self.num_images, generator=self._generator, device=self.device)

    def _next_indices(self, batch_size: int) -> torch.Tensor:
        """The next batch_size indices of the epoch's permutation; leftovers are dropped."""
        if batch_size > self.num_images:
            raise DatasetError(f"train.batch_size={batch_size} is larger than the data set "
                               f"({self.num_images} images); lower train.batch_size")
        if self._pos + batch_size > self.num_images:
            self._perm, self._pos = self._new_perm(), 0
        idx = self._perm[self._pos:self._pos + batch_size]
        self._pos += batch_size
        return idx

    def next_batch(self, batch_size: int) -> torch.Tensor:
        """The next batch_size images of the epoch's permutation as float32 in [-1, 1]; leftovers are dropped."""
        return self.images[self._next_indices(batch_size)].float() / 127.5 - 1

    def next_labelled_batch(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The next batch as next_batch() draws it, with its labels (None when the bank has none)."""
        idx = self._next_indices(batch_size)
        return self.images[idx].float() / 127.5 - 1, None if self.labels is None else self.labels[idx]

    def random_labels(self, n: int) -> torch.Tensor | None:
        """n labels of images drawn uniformly from the bank (the data's class frequencies), from torch's global
        generator (a checkpoint holds it); None when the bank has no labels."""
        if self.labels is None:
            return None
        return self.labels[torch.randint(self.num_images, (n,), device=self.device)]

    def class_frequencies(self, num_classes: int) -> torch.Tensor:
        """The fraction of images of each class 0..num_classes-1 (float32, sums to 1)."""
        return torch.bincount(self.labels, minlength=num_classes).float() / self.num_images

    def state_dict(self) -> dict:
        """Where the sampler stands, as tensors and ints (loadable with weights_only=True)."""
        return {"generator": self._generator.get_state(), "perm": self._perm.cpu(), "pos": self._pos}

    def load_state_dict(self, state: dict) -> None:
        """Continue exactly where state_dict() left off."""
        if len(state["perm"]) != self.num_images:
            raise DatasetError(f"the checkpoint was trained on {len(state['perm'])} images but the data set now has "
                               f"{self.num_images}; resume with the same dataset settings or start a new run")
        self._generator.set_state(state["generator"])
        self._perm = state["perm"].to(self.device)
        self._pos = int(state["pos"])
