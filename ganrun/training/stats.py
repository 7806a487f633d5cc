"""Running means of named scalars, kept on the device so the training step never waits for the host."""

import contextlib
from collections import Counter

import torch

from ganrun.training.devices import capturing


class RunningMeans:
    """Accumulates detached scalar tensors by name; `read()` syncs once and resets.

    Each name's sum is one tensor, added into in place and zeroed in place by `read()`, never replaced: a CUDA
    graph that captured the adds keeps adding into the very tensors this object reads. The counts are host
    integers; a graph's replay adds the counts its capture recorded (`counting`, `add_counts`)."""

    def __init__(self):
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: Counter = Counter()
        self._recording: Counter | None = None

    def add(self, name: str, value: torch.Tensor) -> None:
        value = value.detach().float()
        if name not in self._sums:
            if capturing():  # a sum made inside a capture would be re-made (zeroed) by every replay
                raise RuntimeError(f"{name} was first logged inside a CUDA graph capture; run one eager step first")
            self._sums[name] = torch.zeros_like(value)
        self._sums[name].add_(value)
        # While a graph is captured, nothing runs yet: its count waits for the replays.
        (self._counts if self._recording is None else self._recording)[name] += 1

    def add_all(self, prefix_by_name: dict[str, str], terms: dict) -> None:
        """Add each term whose name is in the mapping, under its mapped tag."""
        for name, tag in prefix_by_name.items():
            if name in terms:
                self.add(tag, terms[name])

    @contextlib.contextmanager
    def counting(self):
        """Yields the Counter of the adds made inside the block, which are not counted: what each replay of a
        graph captured there adds (`add_counts`)."""
        self._recording = added = Counter()
        try:
            yield added
        finally:
            self._recording = None

    def add_counts(self, counts: Counter) -> None:
        """Count adds that ran without Python (a CUDA graph's replay)."""
        self._counts.update(counts)

    def read(self) -> dict[str, float]:
        """Means since the last read, as Python floats (one device sync for all of them)."""
        names = [n for n in self._sums if self._counts[n]]
        if not names:
            return {}
        means = torch.stack([self._sums[n] / self._counts[n] for n in names]).tolist()
        for total in self._sums.values():
            total.zero_()
        self._counts.clear()
        return dict(zip(names, means))
