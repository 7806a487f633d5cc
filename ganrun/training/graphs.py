"""`train.cuda_graphs`: each generator step (n_critic critic updates with their penalties' double backward and
optimizer steps, then the generator update) captured once in a CUDA graph and replayed, so a small GAN's step
costs one launch instead of hundreds.

A replay runs the captured kernels on the captured memory and no Python at all. So everything a step reads
sits in tensors that never move: the real batches are copied into static buffers before each replay, the
noise comes from the CUDA generator (graph-safe: each replay draws fresh numbers, as eager steps would), the
logged sums, the divergence watch, LeCam's anchors and the optimizers' step counts are updated in place, scheduled
values sit in device tensors filled before each replay (training/graph_values.py), and the moving average of G
(whose decay changes every step) is updated eagerly after the replay. A step runs eagerly,
on a side stream, until its phase has run `warmup` times (optimizer state, cuDNN's autotuning and every logged
tag exist before capture); a lazy penalty has one phase per pattern of due critic steps, each with its graph.
What a graph cannot replay (a host decision per step) is refused at the start, in one line (app/validate.py).
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable

import torch

from ganrun.base.errors import SetupError, UsageError
from ganrun.training.graph_values import to_device_values
from ganrun.training.step import next_batches, train_step

log = logging.getLogger(__name__)

WARMUP_STEPS = 3  # eager steps of each phase before its capture (PyTorch's whole-network example takes 3)


def require_cuda(device: torch.device) -> None:
    """A one-line SetupError unless `device` is a CUDA GPU."""
    if device.type != "cuda":
        raise SetupError(
            f"train.cuda_graphs=true needs a CUDA GPU and this run is on {device}; "
            "use device=cuda on a GPU machine, or drop train.cuda_graphs"
        )


class CudaGraphs:
    """Warm-up on a side stream and capture with torch.cuda.graph, as PyTorch's whole-network capture does."""

    def __init__(self, device: torch.device):
        require_cuda(device)
        self.stream = torch.cuda.Stream(device)

    @contextlib.contextmanager
    def warmup(self):
        self.stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.stream):
            yield
        torch.cuda.current_stream().wait_stream(self.stream)

    def capture(self, step: Callable[[], object]) -> Callable[[], None]:
        """Record `step()`'s kernels (nothing runs); returns what runs them."""
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            step()
        return graph.replay


@contextlib.contextmanager
def capturable(*optimizers: torch.optim.Optimizer):
    """The optimizers in their graph-safe form for a capture (step counts on the device, no host reads), and
    back afterwards: eager steps keep their usual path, and PyTorch does not warn about capturable steps run
    uncaptured. The math is the same either way."""
    before = [[group.get("capturable", False) for group in opt.param_groups] for opt in optimizers]
    for opt in optimizers:
        for group in opt.param_groups:
            group["capturable"] = True
        for param, state in opt.state.items():
            step = state.get("step")
            if torch.is_tensor(step) and step.device != param.device:  # a non-capturable optimizer keeps it on the CPU
                state["step"] = step.to(param.device, torch.float32)
    try:
        yield
    finally:
        for opt, flags in zip(optimizers, before):
            for group, flag in zip(opt.param_groups, flags):
                group["capturable"] = flag


class GraphedSteps:
    """Runs each generator step from a CUDA graph of it (EagerSteps' counterpart; `backend` captures)."""

    def __init__(self, parts, settings, means, guard, backend, warmup: int = WARMUP_STEPS):
        self.parts, self.settings, self.means, self.guard, self.backend = parts, settings, means, guard, backend
        self.warmup = warmup
        to_device_values(parts)  # each scheduled value in a tensor the captured step reads
        self.static: list | None = None  # the real batches (and labels) every graph reads
        self.graphs: dict = {}  # phase → (replay, the logged values each replay adds)
        self.eager_runs: Counter = Counter()  # phase → eager steps run so far

    def run(self, step: int) -> bool:
        """Train generator step `step` + 1 (its generator update is always applied: nan_policy=skip is refused)."""
        self._fill(next_batches(self.parts, self.settings))
        first = step * self.settings.n_critic
        phase = tuple(self.parts.objective.phase(first + i) for i in range(self.settings.n_critic))
        if phase not in self.graphs:
            if self.eager_runs[phase] < self.warmup:
                self.eager_runs[phase] += 1
                with self.backend.warmup():
                    return self._step(first)
            self.graphs[phase] = self._capture(first)
            log.info("training step captured in a CUDA graph (phase %s) at step %d", phase, step + 1)
        replay, counts = self.graphs[phase]
        replay()
        self.means.add_counts(counts)
        return True

    def _step(self, first_critic_update: int) -> bool:
        return train_step(self.parts, self.settings, self.static, first_critic_update, self.means, self.guard)

    def _capture(self, first_critic_update: int):
        try:
            with self.means.counting() as counts, capturable(self.parts.opt_g, self.parts.opt_d):
                replay = self.backend.capture(lambda: self._step(first_critic_update))
        except RuntimeError as exc:  # e.g. an operation of a custom loss that waits for the host
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UsageError(
                f"this configuration's training step could not be captured in a CUDA graph ({reason}); "
                "run it without train.cuda_graphs"
            ) from exc
        return replay, counts

    def _fill(self, batches: list) -> None:
        """Copy this step's batches into the static buffers (made from the first batches, in their layout)."""
        if self.static is None:
            self.static = [(real.clone(), None if labels is None else labels.clone()) for real, labels in batches]
            return
        for (static_real, static_labels), (real, labels) in zip(self.static, batches):
            static_real.copy_(real)
            if labels is not None:
                static_labels.copy_(labels)
