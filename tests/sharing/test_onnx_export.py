"""Spec of `ganrun.export --onnx` (ganrun/sharing/onnx_export.py): for every model family, conditional and not, the
generator under onnxruntime computes PyTorch's images to 1e-4 for a batch size other than the one traced. The full
suite only: each export takes a few seconds."""

import numpy as np
import onnxruntime
import pytest
import torch

from ganrun.build import generator_of
from ganrun.sharing.onnx_export import Sampler, example_inputs, export_onnx
from helpers.generators import CASES, family_state


@pytest.mark.slow
@pytest.mark.parametrize(("family", "conditional"), CASES)
def test_onnxruntime_computes_pytorchs_images(tmp_path, family, conditional):
    generator = generator_of(family_state(family, conditional), torch.device("cpu"), use_ema=False)
    path = tmp_path / "generator.onnx"
    export_onnx(generator, path)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == (["z", "labels"] if conditional else ["z"])
    for batch in (1, 7):  # the batch axis is dynamic
        inputs = example_inputs(generator, batch, seed=batch)
        (images,) = session.run(["images"], {name: x.numpy() for name, x in zip(("z", "labels"), inputs)})
        with torch.no_grad():
            expected = Sampler(generator)(*inputs).numpy()
        assert images.shape == expected.shape
        np.testing.assert_allclose(images, expected, rtol=0, atol=1e-4)
