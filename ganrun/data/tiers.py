"""Batches of training images from one of three storage tiers behind one interface (the loop never knows where the
images live):

- `device`: every image on the training device as uint8, batches gathered there;
- `host`: every image in one host tensor (pinned on CUDA), each batch gathered there and copied asynchronously;
- `stream`: the packed cache read batch by batch by background threads into a few (pinned) buffers, ahead of
  training (ganrun/data/streamed.py). Host memory is bounded by a few batches and device memory by two, whatever
  the set's size.

All three draw the same batches for the same seed and position (data/order.py), x-flips included
(ganrun/data/batches.py).
"""

from __future__ import annotations

import numpy as np
import torch

from ganrun.data.batches import BatchSource
from ganrun.data.imageset import ImageSet
from ganrun.data.streamed import PREFETCH, StreamedBatches

__all__ = ["BatchSource", "DeviceBatches", "HostBatches", "StreamedBatches", "TIERS", "PREFETCH"]


class DeviceBatches(BatchSource):
    """Every image on the training device as uint8 (one byte per pixel); batches gathered there."""

    tier = "device"

    def __init__(self, data: ImageSet, device, seed: int, rank: int = 0, world: int = 1, **options):
        super().__init__(data, device, seed, rank, world, **options)
        self.images = data.read_stored(np.arange(len(data))).to(self.device)

    def _images(self, indices: torch.Tensor) -> torch.Tensor:
        return self.data.deliver(self.images[indices.to(self.device)])


class HostBatches(BatchSource):
    """Every image in one host tensor (pinned for a CUDA device); each batch gathered into pinned memory and
    copied to the device asynchronously."""

    tier = "host"

    def __init__(self, data: ImageSet, device, seed: int, rank: int = 0, world: int = 1, **options):
        super().__init__(data, device, seed, rank, world, **options)
        self.cuda = self.device.type == "cuda"
        self.images = data.read_stored(np.arange(len(data)), pin=self.cuda)

    def _images(self, indices: torch.Tensor) -> torch.Tensor:
        if not self.cuda:
            return self.data.deliver(self.images[indices])
        batch = torch.empty((len(indices), *self.images.shape[1:]), dtype=torch.uint8, pin_memory=True)
        torch.index_select(self.images, 0, indices, out=batch)
        # torch's caching host allocator does not hand this pinned block out again before the copy has run.
        return self.data.deliver(batch.to(self.device, non_blocking=True))


TIERS = {"device": DeviceBatches, "host": HostBatches, "stream": StreamedBatches}
