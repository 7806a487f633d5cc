"""`python scripts/onnx_agreement.py`: for every model family, conditional and not, the largest difference between
onnxruntime's images and PyTorch's for generator.onnx as `ganrun.export --onnx` writes it (small widths, seeded random
weights: tests/helpers/generators.py, as tests/sharing/test_onnx_export.py checks them to 1e-4), on a batch of 16 other
than the one traced; a markdown table for docs/sharing.md."""

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the checkout's ganrun and the tests' small generators

import torch  # noqa: E402

from ganrun.build import generator_of  # noqa: E402
from ganrun.sharing.onnx_export import Sampler, example_inputs, export_onnx, onnx_difference  # noqa: E402
from helpers.generators import CASES, family_state  # noqa: E402


def main() -> int:
    print("| model | conditional | max abs diff (batch 16) | image scale |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for family, conditional in CASES:
            generator = generator_of(family_state(family, conditional), torch.device("cpu"), use_ema=False)
            path = Path(folder) / f"{family}-{conditional}.onnx"
            export_onnx(generator, path)
            inputs = example_inputs(generator, 16, seed=7)
            worst = onnx_difference(Sampler(generator), path, inputs)
            with torch.no_grad():
                scale = float(Sampler(generator)(*inputs).abs().max())
            print(f"| {family} | {'yes' if conditional else 'no'} | {worst:.2e} | {scale:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
