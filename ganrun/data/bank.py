"""Every training image as one uint8 tensor on the training device; batches drawn by index there."""
from __future__ import annotations

import torch

from ganrun.data.files import DatasetError


class ImageBank:
    """Every training image as one uint8 tensor on the training device; batches drawn by index there."""

    def __init__(self, images: torch.Tensor, device: torch.device | str, seed: int):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"ImageBank wants N×C×H×W uint8 images, got {images.dtype} {tuple(images.shape)}")
        self.device = torch.device(device)
        self.images = images.to(self.device)  # uint8 keeps device memory at one byte per pixel
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

    def _new_perm(self) -> torch.Tensor:
        return torch.randperm(self.num_images, generator=self._generator, device=self.device)

    def next_batch(self, batch_size: int) -> torch.Tensor:
        """The next batch_size images of the epoch's permutation as float32 in [-1, 1]; leftovers are dropped."""
        if batch_size > self.num_images:
            raise DatasetError(f"train.batch_size={batch_size} is larger than the data set "
                               f"({self.num_images} images); lower train.batch_size")
        if self._pos + batch_size > self.num_images:
            self._perm, self._pos = self._new_perm(), 0
        idx = self._perm[self._pos:self._pos + batch_size]
        self._pos += batch_size
        return self.images[idx].float() / 127.5 - 1

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
