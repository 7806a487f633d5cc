"""Batches of training images from one of three storage tiers behind one interface (the loop never knows where the
images live):

- `device`: every image on the training device as uint8, batches gathered there;
- `host`: every image in one host tensor (pinned on CUDA), each batch gathered there and copied asynchronously;
- `stream`: the packed cache read batch by batch by background threads into a few (pinned) buffers, ahead of
  training; on CUDA the next batch is copied on a side stream while the current one trains. Host memory is
  bounded by a few batches and device memory by two, whatever the set's size.

All three draw the same batches for the same seed and position (data/order.py).
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ganrun.base.pixels import to_unit_range
from ganrun.data.imageset import ImageSet
from ganrun.data.order import EpochOrder

PREFETCH = 4  # batches the stream tier's readers keep ready ahead of training


class BatchSource:
    """What every tier shares: the order, the labels (small, on the device), sizes and the checkpoint state."""

    tier = ""

    def __init__(self, data: ImageSet, device, seed: int, rank: int = 0, world: int = 1, labelled: bool = True):
        self.data, self.device = data, torch.device(device)
        self.order = EpochOrder(len(data), seed, rank, world)
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

    def preview(self, n: int) -> torch.Tensor:
        """The first n images as uint8 on the CPU (the `real` grid); draws nothing, so the order stays as it is."""
        return self.data.read(np.arange(min(n, len(self.data))))

    def next_labelled_batch(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The next batch as float32 in [-1, 1] on the device, with its labels (None when the set has none)."""
        indices = self.order.next_indices(batch_size)
        return to_unit_range(self._images(indices)), self._labels(indices)

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
        self.order.load_state_dict(state)

    def close(self) -> None:
        """Stop background readers (the stream tier's)."""


class DeviceBatches(BatchSource):
    """Every image on the training device as uint8 (one byte per pixel); batches gathered there."""

    tier = "device"

    def __init__(self, data: ImageSet, device, seed: int, rank: int = 0, world: int = 1, labelled: bool = True):
        super().__init__(data, device, seed, rank, world, labelled)
        self.images = data.read_stored(np.arange(len(data))).to(self.device)

    def _images(self, indices: torch.Tensor) -> torch.Tensor:
        return self.data.deliver(self.images[indices.to(self.device)])


class HostBatches(BatchSource):
    """Every image in one host tensor (pinned for a CUDA device); each batch gathered into pinned memory and
    copied to the device asynchronously."""

    tier = "host"

    def __init__(self, data: ImageSet, device, seed: int, rank: int = 0, world: int = 1, labelled: bool = True):
        super().__init__(data, device, seed, rank, world, labelled)
        self.cuda = self.device.type == "cuda"
        self.images = data.read_stored(np.arange(len(data)), pin=self.cuda)

    def _images(self, indices: torch.Tensor) -> torch.Tensor:
        if not self.cuda:
            return self.data.deliver(self.images[indices])
        batch = torch.empty((len(indices), *self.images.shape[1:]), dtype=torch.uint8, pin_memory=True)
        torch.index_select(self.images, 0, indices, out=batch)
        # torch's caching host allocator does not hand this pinned block out again before the copy has run.
        return self.data.deliver(batch.to(self.device, non_blocking=True))


class StreamedBatches(BatchSource):
    """The packed cache read batch by batch: `workers` threads read the next `prefetch` batches of the order (a
    copy of it that runs ahead) into (pinned) buffers while training runs."""

    tier = "stream"

    def __init__(
        self,
        data: ImageSet,
        device,
        seed: int,
        rank: int = 0,
        world: int = 1,
        labelled: bool = True,
        workers: int = 2,
        prefetch: int = PREFETCH,
    ):
        super().__init__(data, device, seed, rank, world, labelled)
        self.cuda = self.device.type == "cuda"
        self.workers, self.prefetch = max(1, workers), max(1, prefetch)
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="ganrun-reader")
        self.copies = torch.cuda.Stream(self.device) if self.cuda else None
        self._ahead: EpochOrder | None = None  # where the readers stand in the order
        self._pending: deque = deque()  # (indices, future of the uint8 host batch), oldest first
        self._on_device = None  # (indices, uint8 device batch) copied ahead on the side stream (CUDA)
        self._batch_size: int | None = None

    def _read(self, indices: torch.Tensor) -> torch.Tensor:
        return self.data.read_stored(indices.numpy(), pin=self.cuda)

    def _fill(self, batch_size: int) -> None:
        """Keep `prefetch` reads in flight, in the order's sequence."""
        if self._batch_size != batch_size:
            self._drop()
            self._batch_size = batch_size
        if self._ahead is None:
            self._ahead = self.order.ahead()
        while len(self._pending) < self.prefetch:
            indices = self._ahead.next_indices(batch_size)
            self._pending.append((indices, self.pool.submit(self._read, indices)))

    def _next_read(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        self._fill(batch_size)
        indices, future = self._pending.popleft()
        host = future.result()
        self._fill(batch_size)  # the readers go on while this batch trains
        return indices, host

    def next_labelled_batch(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        self._fill(batch_size)  # (the readers' copy of the order starts where training's stands)
        expected = self.order.next_indices(batch_size)  # the order moves as in every tier
        if not self.cuda:
            indices, images = self._next_read(batch_size)
        else:
            if self._on_device is None:
                self._on_device = self._copy(*self._next_read(batch_size))
            (indices, images), self._on_device = self._on_device, None
            torch.cuda.current_stream(self.device).wait_stream(self.copies)
            images.record_stream(torch.cuda.current_stream(self.device))
            self._on_device = self._copy(*self._next_read(batch_size))  # copied while this batch trains
        if not torch.equal(indices, expected):
            raise RuntimeError("the stream tier's readers drew another order than training")
        return to_unit_range(self.data.deliver(images)), self._labels(indices)

    def _copy(self, indices: torch.Tensor, host: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.cuda.stream(self.copies):
            return indices, host.to(self.device, non_blocking=True)

    def _drop(self) -> None:
        """Forget what was read ahead (the order moved, or the batch size changed)."""
        for _, future in self._pending:
            future.cancel()
        for _, future in self._pending:
            if not future.cancelled():
                future.exception()  # wait: its buffer must not be written after this
        self._pending.clear()
        self._ahead, self._on_device = None, None

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self._drop()

    def close(self) -> None:
        self._drop()
        self.pool.shutdown(wait=True)


TIERS = {"device": DeviceBatches, "host": HostBatches, "stream": StreamedBatches}
