"""torch-fidelity's Inception architecture with random weights: the metrics' pipeline without a download."""

from pathlib import Path
from unittest import mock

import torch
import torch_fidelity.feature_extractor_inceptionv3 as inception
from torch import nn


class _RandomInception(inception.FeatureExtractorInceptionV3):
    """torch-fidelity's InceptionV3 that keeps its random initialization instead of loading weights."""

    def load_state_dict(self, *args, **kwargs):
        return None


def random_inception_weights(folder: Path) -> Path:
    """A state-dict file of torch-fidelity's InceptionV3 architecture with random (seeded) weights."""
    torch.manual_seed(0)
    with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: {}):  # no download
        net = _RandomInception("inception-v3-compat", ["2048"])
    for module in net.modules():
        if isinstance(module, nn.Conv2d):  # keeps activations O(1) through 90 layers (the default shrinks them)
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    path = folder / "random-inception.pth"
    torch.save(nn.Module.state_dict(net), path)
    return path
