"""The order training images are drawn in: a function of the seed and a position, the same in every storage tier,
with any number of reader threads, and on every rank (each takes its own share of one global order)."""

from __future__ import annotations

import copy

import torch

from ganrun.data.reading import DatasetError


class EpochOrder:
    """Each epoch a permutation of the set, drawn on the CPU from one generator seeded by `seed`; read in global
    batches of batch_size·world images, of which rank r takes the r-th part; an epoch's leftovers are dropped.
    `state_dict` is where the order stands (the generator, the epoch's permutation and the position in it)."""

    def __init__(self, num_images: int, seed: int, rank: int = 0, world: int = 1):
        self.num_images, self.rank, self.world = num_images, rank, world
        self._generator = torch.Generator(device="cpu").manual_seed(seed)
        self._perm = self._new_perm()
        self._pos = 0

    def _new_perm(self) -> torch.Tensor:
        return torch.randperm(self.num_images, generator=self._generator)

    def next_indices(self, batch_size: int) -> torch.Tensor:
        """This rank's next batch_size indices (int64, on the CPU)."""
        share = batch_size * self.world
        if share > self.num_images:
            raise DatasetError(
                f"train.batch_size={share} is larger than the data set ({self.num_images} images); "
                "lower train.batch_size"
            )
        if self._pos + share > self.num_images:
            self._perm, self._pos = self._new_perm(), 0
        start = self._pos + self.rank * batch_size
        self._pos += share
        return self._perm[start : start + batch_size]

    def ahead(self) -> EpochOrder:
        """An independent copy that continues from here: what a reader draws ahead of training."""
        return copy.deepcopy(self)

    def state_dict(self) -> dict:
        """Where the order stands, as tensors and ints (loadable with weights_only=True)."""
        return {"generator": self._generator.get_state(), "perm": self._perm.clone(), "pos": self._pos}

    def load_state_dict(self, state: dict) -> None:
        """Continue exactly where state_dict() left off."""
        if len(state["perm"]) != self.num_images:
            raise DatasetError(
                f"the checkpoint was trained on {len(state['perm'])} images but the data set now has "
                f"{self.num_images}; resume with the same dataset settings or start a new run"
            )
        self._generator.set_state(state["generator"])
        self._perm = state["perm"].cpu()
        self._pos = int(state["pos"])
