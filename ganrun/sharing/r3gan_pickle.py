"""Network pickles of R3GAN's (StyleGAN3-derived) training loop read as data, running none of their code.

A `network-snapshot-*.pkl` is `pickle.dump` of a dict of whole modules (G, D, G_ema), the training set's settings
and the optimizer states. Unpickling it normally imports R3GAN's classes and, for StyleGAN3's persistent classes
(torch_utils/persistence.py), executes the module source stored in the file. Here every class is looked up in an
allow-list instead: torch's tensor rebuilding (the storages through torch.load(weights_only=True)), plain containers
and dtypes, and R3GAN's module classes, which become `Recorded` objects holding their class name and their state
(parameters, buffers, submodules, constructor settings) as data; a persistent class's stored source is kept as text
and never executed. Anything else stops the read in one line naming it.
"""

from __future__ import annotations

import collections
import io
import pickle
from pathlib import Path

import torch

from ganrun.base.errors import UsageError

# R3GAN's modules under the names its pickles use (BaselineGAN and training.networks_baseline: its earlier names,
# which its legacy.py maps to these), and the torch.nn layers inside them.
R3GAN_MODULES = ("training.networks", "training.networks_baseline", "R3GAN.", "BaselineGAN.")
TORCH_LAYERS = {
    "torch.nn.modules.conv": {"Conv2d"},
    "torch.nn.modules.linear": {"Linear"},
    "torch.nn.modules.container": {"ModuleList", "Sequential"},
    "torch.nn.modules.activation": {"LeakyReLU"},
}
PERSISTENT = ("torch_utils.persistence", "_reconstruct_persistent_obj")
TENSOR_REBUILDERS = {
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_tensor_v3"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
}
CONTAINERS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
}
# Networks ganrun has no model for, by what their classes are called.
FOREIGN = (
    (("stylegan", "SynthesisNetwork", "MappingNetwork", "SynthesisLayer"), "a StyleGAN2/3 network"),
    (("biggan", "BigGAN"), "a BigGAN network"),
)


class Recorded:
    """A module of the pickle kept as data: `kind` (module.Class), `state` (its __dict__: _parameters, _buffers,
    _modules and its attributes), and for a StyleGAN3 persistent class the source it carries, unexecuted."""

    kind = "?"

    def __init__(self, *args, **kwargs):
        self.state: dict = {}
        self.source: str | None = None

    def __setstate__(self, state) -> None:
        self.state = dict(state) if isinstance(state, dict) else {"_state": state}

    @property
    def name(self) -> str:
        return self.kind.rsplit(".", 1)[-1]

    def children(self) -> dict:
        return dict(self.state.get("_modules") or {})

    def child(self, name: str) -> Recorded | None:
        return self.children().get(name)

    def tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Every parameter and persistent buffer below this module, by its state-dict name."""
        found = {prefix + k: v for k, v in (self.state.get("_parameters") or {}).items() if v is not None}
        skip = set(self.state.get("_non_persistent_buffers_set") or ())
        found.update(
            {prefix + k: v for k, v in (self.state.get("_buffers") or {}).items() if v is not None and k not in skip}
        )
        for name, module in self.children().items():
            if isinstance(module, Recorded):
                found.update(module.tensors(f"{prefix}{name}."))
        return found


class EasyDict(dict):
    """dnnlib's EasyDict (a dict with attribute access) as a plain dict: its state is its items."""

    def __setstate__(self, state) -> None:
        pass


def recorded_class(module: str, name: str) -> type[Recorded]:
    return type(name, (Recorded,), {"kind": f"{module}.{name}"})


def load_storage(data: bytes):
    """A storage pickle.dump wrote as torch.save bytes, read back with weights_only (tensors only)."""
    return torch.load(io.BytesIO(data), weights_only=True)


def persistent_object(meta: dict) -> Recorded:
    """StyleGAN3's persistent class as data: its name, its state and its stored source as text (never executed)."""
    meta = dict(meta)
    source, class_name = str(meta.get("module_src") or ""), str(meta.get("class_name") or "?")
    refuse_foreign(source, class_name, f"a persistent class {class_name}")
    if not any(mark in source for mark in ("R3GAN.", "BaselineGAN.", "WidthPerStage")):
        raise UsageError(
            f"the pickle holds a persistent class {class_name} that is not R3GAN's; ganrun reads R3GAN's networks"
        )
    obj = recorded_class("persistent", class_name)()
    obj.__setstate__(meta.get("state") or {})
    obj.source = source
    return obj


def refuse_foreign(text: str, name: str, what: str) -> None:
    for marks, network in FOREIGN:
        if any(mark.lower() in text.lower() or mark == name for mark in marks):
            raise UsageError(
                f"the pickle is {network} ({what}); ganrun has no model for it: it reads R3GAN's network pickles "
                "(model=r3gan)"
            )


class DataUnpickler(pickle.Unpickler):
    """An unpickler whose classes come from the allow-list above."""

    def find_class(self, module: str, name: str):
        if (module, name) in TENSOR_REBUILDERS:
            return super().find_class(module, name)
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            return load_storage
        if (module, name) in CONTAINERS:
            return CONTAINERS[(module, name)]
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if (module, name) == PERSISTENT:
            return persistent_object
        if (module, name) == ("dnnlib.util", "EasyDict"):
            return EasyDict
        refuse_foreign(module, name, f"{module}.{name}")
        if name in TORCH_LAYERS.get(module, ()) or module.startswith(R3GAN_MODULES):
            return recorded_class(module, name)
        raise UsageError(
            f"the pickle needs {module}.{name}, which is not a tensor, a plain container or one of R3GAN's module "
            "classes; ganrun reads R3GAN network pickles without running their code and refuses anything else"
        )

    def persistent_load(self, pid):
        raise UsageError(f"the pickle refers to an outside object ({str(pid)[:60]}); it is not a network pickle")


def load(path: Path) -> dict:
    """The pickle's top-level dict, its modules as Recorded data; one line for anything else."""
    try:
        with open(path, "rb") as f:
            data = DataUnpickler(f).load()
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, RuntimeError) as exc:
        raise UsageError(f"{path} is not a readable network pickle (truncated or another format): {exc}") from None
    if isinstance(data, Recorded):  # a bare network: treat it as the generator
        data = {"G_ema": data}
    if not isinstance(data, dict) or not any(isinstance(data.get(k), Recorded) for k in ("G", "G_ema")):
        raise UsageError(f"{path} holds no generator (a network pickle is a dict with G, D and G_ema)")
    return data
