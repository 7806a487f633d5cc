"""The `stream` storage tier: the packed cache read batch by batch by background threads into a few (pinned)
buffers, ahead of training; on CUDA the next batch is copied on a side stream while the current one trains."""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor

import torch

from ganrun.base.pixels import to_unit_range
from ganrun.data.batches import BatchSource
from ganrun.data.imageset import ImageSet
from ganrun.data.order import EpochOrder

PREFETCH = 4  # batches the stream tier's readers keep ready ahead of training


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
        workers: int = 2,
        prefetch: int = PREFETCH,
        **options,
    ):
        super().__init__(data, device, seed, rank, world, **options)
        self.cuda = self.device.type == "cuda"
        self.workers, self.prefetch = max(1, workers), max(1, prefetch)
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="ganrun-reader")
        self.copies = torch.cuda.Stream(self.device) if self.cuda else None
        self._ahead: EpochOrder | None = None  # where the readers stand in the order
        self._pending: deque = deque()  # (indices, future of the uint8 host batch), oldest first
        self._on_device = None  # (indices, uint8 device batch) copied ahead on the side stream (CUDA)
        self._batch_size: int | None = None

    def _read(self, indices: torch.Tensor) -> torch.Tensor:
        return self.data.read_stored(self._rows(indices).numpy(), pin=self.cuda)

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
        return to_unit_range(self._mirrored(self.data.deliver(images), indices)), self._labels(self._rows(indices))

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
