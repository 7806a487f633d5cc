"""For notebooks: `load(PATH_OR_ID)` gives a callable generator with its config, from anything the tools take (an
exported folder, `hf://user/repo`, a checkpoint, a run folder, an R3GAN pickle).

    from ganrun.sharing import load
    generator = load("hf://user/repo")           # or "exported/", "outputs", "network-snapshot.pkl"
    images = generator.sample(16, seed=0)        # uint8 16×C×H×W, as ganrun.sample makes them
    x = generator(torch.randn(16, generator.z_dim))   # floats in [-1, 1], N×C×H×W

Why not huggingface_hub's PyTorchModelHubMixin: docs/sharing.md#why-not-pytorchmodelhubmixin.
"""

from __future__ import annotations

import torch
from torch import nn

from ganrun.models.conditional import trained_classes
from ganrun.sharing.source import Source, resolve
from ganrun.training.sampling import generate_labelled


class Generator(nn.Module):
    """A loaded generator: call it on z (and labels when class-conditional), or `sample` uint8 images."""

    def __init__(self, network: nn.Module, source: Source):
        super().__init__()
        self.network = network.eval()
        self.source = source
        self.config = source.state["config"]
        self.z_dim = int(network.z_dim)
        self.num_classes = int(getattr(network, "num_classes", 0))
        self.classes = source.state.get("classes")

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes and labels is None:
            raise ValueError(f"a class-conditional generator ({self.num_classes} classes) needs labels")
        return self.network(z) if not self.num_classes else self.network(z, labels)

    @torch.no_grad()
    def sample(self, num: int, seed: int = 0, label: int | str | None = None, truncation: float | None = None):
        """`num` uint8 images (N×C×H×W, on the CPU) of noise seed `seed`, as `ganrun.sample --seed` draws them;
        `label`: one class (its index or name), else classes drawn from the generator's class prior."""
        if isinstance(label, str):
            label = (self.classes or []).index(label) if label in (self.classes or []) else int(label)
        device = next(self.network.parameters()).device
        images, _ = generate_labelled(self.network, num, seed, device, label=label, truncation=truncation)
        return images

    @property
    def trained_classes(self) -> list[int] | None:
        found = trained_classes(self.network)
        return None if found is None else found.tolist()


def load(path_or_id: str, device: str | torch.device = "cpu", ema: bool = True) -> Generator:
    """The generator `path_or_id` names (what ganrun.sample takes), on `device`, in eval mode: its EMA unless not
    `ema`."""
    source = resolve(path_or_id)
    return Generator(source.generator(torch.device(device), use_ema=ema), source)
