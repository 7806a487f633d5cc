"""`ganrun.export --onnx`: the generator as generator.onnx, taking `z` (N×z_dim float32) and, when class-conditional,
`labels` (N int64), and returning `images` (N×C×H×W in [-1, 1]) for any batch size N; checked under onnxruntime
against PyTorch before the export is kept."""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import torch
from torch import nn

from ganrun.base.errors import UsageError
from ganrun.sharing.exported import needs

ATOL = 1e-4  # onnxruntime's images against PyTorch's (float32, on the CPU)
CHECK_BATCH = 3  # another batch size than the one traced: the batch axis must be dynamic


class Sampler(nn.Module):
    """z (and labels) → images: the generator in eval mode, with named inputs."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator.eval()
        self.conditional = bool(getattr(generator, "num_classes", 0))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.generator(z, labels) if self.conditional else self.generator(z)


def example_inputs(generator: nn.Module, batch: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, generator.z_dim, generator=rng)
    classes = int(getattr(generator, "num_classes", 0))
    return (z, torch.randint(classes, (batch,), generator=rng)) if classes else (z,)


def export_onnx(generator: nn.Module, path: Path) -> float:
    """Write generator.onnx and check it under onnxruntime (another batch size than traced); returns the largest
    difference from PyTorch's images. A difference over ATOL stops the export in one line."""
    needs("onnx", "--onnx")
    needs("onnxscript", "--onnx (torch.onnx's exporter)")
    sampler = Sampler(generator.cpu().float()).eval()
    inputs = example_inputs(generator, 2)
    names = ["z", "labels"][: len(inputs)]
    batch = torch.export.Dim("batch", min=1)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                sampler,
                inputs,
                str(path),
                input_names=names,
                output_names=["images"],
                dynamic_shapes={name: {0: batch} for name in names},
                dynamo=True,
                external_data=False,
            )
    except Exception as exc:  # the exporter raises many types for what it cannot translate
        raise UsageError(f"--onnx: torch.onnx cannot export this generator: {str(exc).splitlines()[0]}") from None
    worst = onnx_difference(sampler, path, example_inputs(generator, CHECK_BATCH, seed=1))
    if not worst <= ATOL:
        raise UsageError(f"--onnx: onnxruntime's images differ from PyTorch's by {worst:.3g} (> {ATOL}); not exported")
    return worst


@torch.no_grad()
def onnx_difference(sampler: nn.Module, path: Path, inputs: tuple[torch.Tensor, ...]) -> float:
    """The largest |onnxruntime − PyTorch| of the images of `inputs`."""
    ort = needs("onnxruntime", "--onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {arg.name: value.numpy() for arg, value in zip(session.get_inputs(), inputs)}
    (images,) = session.run(["images"], feeds)
    return float((torch.from_numpy(images) - sampler(*inputs)).abs().max())
