"""Running means of named scalars, kept on the device so the training step never waits for the host."""

import torch


class RunningMeans:
    """Accumulates detached scalar tensors by name; `read()` syncs once and resets."""

    def __init__(self):
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}

    def add(self, name: str, value: torch.Tensor) -> None:
        value = value.detach().float()
        if name in self._sums:
            self._sums[name] += value
        else:
            self._sums[name] = value.clone()
        self._counts[name] = self._counts.get(name, 0) + 1

    def add_all(self, prefix_by_name: dict[str, str], terms: dict) -> None:
        """Add each term whose name is in the mapping, under its mapped tag."""
        for name, tag in prefix_by_name.items():
            if name in terms:
                self.add(tag, terms[name])

    def read(self) -> dict[str, float]:
        """Means since the last read, as Python floats (one device sync for all of them)."""
        if not self._sums:
            return {}
        names = list(self._sums)
        means = torch.stack([self._sums[n] / self._counts[n] for n in names]).tolist()
        self._sums.clear()
        self._counts.clear()
        return dict(zip(names, means))
