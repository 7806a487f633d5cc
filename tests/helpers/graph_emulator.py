"""A CUDA graph's semantics on the CPU, for testing train.cuda_graphs on machines without a GPU.

Capturing records every aten operation a function runs (below autograd and autocast, as CUDA records kernels)
and then undoes its effects: memory that existed before the capture gets its old contents back and the RNG its
old state, since a real capture runs nothing. A replay runs the recorded operations again on the recorded
tensors, writing each result where the capture put it, and runs no Python: state the function keeps in Python
(a counter, a float, a tensor it rebinds) stays as the capture left it, exactly as on a GPU. Host syncs
(`.item()`, data-dependent shapes) and tensors made from host data fail the capture, as they would there.
"""

from __future__ import annotations

import contextlib

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

aten = torch.ops.aten
# Operations a CUDA capture refuses or cannot record: they wait for the device or copy host memory in.
NOT_CAPTURABLE = {
    aten._local_scalar_dense.default: "reads a value on the host (.item(), bool(), float())",
    aten.is_nonzero.default: "reads a value on the host (bool of a tensor)",
    aten.nonzero.default: "has a data-dependent shape",
    aten.masked_select.default: "has a data-dependent shape",
    aten.equal.default: "reads a value on the host",
    aten.lift_fresh.default: "copies host data in (torch.tensor(...))",
}


def _tensors(value) -> list[torch.Tensor]:
    return [t for t in tree_flatten(value)[0] if isinstance(t, torch.Tensor)]


def _key(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


class Recording(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops: list = []
        self.saved: dict[int, tuple] = {}  # storage → its contents before the capture
        self.made: set[int] = set()  # storages the capture allocated

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in NOT_CAPTURABLE:
            raise RuntimeError(f"not capturable in a CUDA graph: {func} {NOT_CAPTURABLE[func]}")
        schema = func._schema
        # Every input that existed before the capture is saved, not only those the schema marks as written:
        # some kernels write what their schema does not say (native_batch_norm's running statistics).
        for t in _tensors((args, kwargs)):
            key = _key(t)
            if key and key not in self.made and key not in self.saved:
                self.saved[key] = (t.untyped_storage(), t.untyped_storage().clone())
        inputs = {_key(t) for t in _tensors((args, kwargs))}
        out = func(*args, **kwargs)
        aliases = [r.alias_info is not None for r in schema.returns]
        self.made.update(_key(t) for t in _tensors(out) if _key(t) not in inputs)
        self.ops.append((func, args, kwargs, out, aliases))
        return out


class EmulatedGraph:
    def __init__(self, recording: Recording):
        self.ops = recording.ops

    @torch.no_grad()
    def replay(self) -> None:
        for func, args, kwargs, out, aliases in self.ops:
            if func.namespace == "profiler":
                continue  # record_function markers: no kernels
            writes = any(a.alias_info is not None and a.alias_info.is_write for a in func._schema.arguments)
            if aliases and all(aliases) and not writes:
                continue  # a view: it aliases memory that the other operations write
            result = func(*args, **kwargs)
            for old, new, alias in zip(_returns(out, aliases), _returns(result, aliases), aliases):
                if alias:
                    continue  # written in place by the operation itself
                for old_t, new_t in zip(_tensors(old), _tensors(new)):
                    old_t.copy_(new_t)  # where the capture put it, as a graph's kernel writes


def _returns(value, aliases: list) -> list:
    """An operation's results, one per return of its schema."""
    if len(aliases) <= 1:
        return [value][: len(aliases)]
    return list(value)


class EmulatedGraphs:
    """The backend GraphedSteps takes (ganrun.training.graphs.CudaGraphs' stand-in); counts its captures."""

    def __init__(self):
        self.captures = 0

    def warmup(self):
        return contextlib.nullcontext()

    def capture(self, step):
        rng = torch.get_rng_state()
        recording = Recording()
        with recording:
            step()
        for storage, before in recording.saved.values():  # a capture runs nothing
            storage.copy_(before)
        torch.set_rng_state(rng)
        self.captures += 1
        return EmulatedGraph(recording).replay
