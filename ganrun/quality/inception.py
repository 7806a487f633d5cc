"""torch-fidelity's InceptionV3 (FID, KID, IS): where its weights are, checking a given file, building it."""

from pathlib import Path
from urllib.parse import urlparse

import torch
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3, FeatureExtractorInceptionV3

from ganrun.base.errors import UsageError
from ganrun.quality import resize
from ganrun.quality.weights import download, once_per_file, read_state

EXTRACTOR = "inception-v3-compat"  # torch-fidelity's name for it, part of its cache file names


def hub_weights_path() -> Path:
    """Where torch-fidelity's Inception weights land when downloaded (the torch hub cache)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(URL_INCEPTION_V3).path).name


@once_per_file
def check_weights_file(path: Path, option: str) -> None:
    """UsageError unless `path` holds a state dict of torch-fidelity's InceptionV3 (checked with weights_only)."""
    state = read_state(path, option, f"torch-fidelity's InceptionV3 weights ({hub_weights_path().name})")
    fc = state.get("fc.weight")
    if not torch.is_tensor(fc) or tuple(fc.shape) != (1008, 2048):
        raise UsageError(
            f"{option}{path} is not a state dict of torch-fidelity's InceptionV3 "
            f"(no fc.weight of shape 1008×2048); use {hub_weights_path().name} from torch-fidelity"
        )


def weights_path(given: Path | None, option: str) -> Path:
    """The Inception weights file: `given`, else the torch hub cache, downloading it there once."""
    if given is not None:
        return given
    path = hub_weights_path()
    if not path.is_file():
        download(URL_INCEPTION_V3, path, "the Inception weights for FID/KID/IS", option)
    return path


class CleanResizedInceptionV3(FeatureExtractorInceptionV3):
    """torch-fidelity's InceptionV3 behind clean-fid's resize (metrics.inception_resize=clean)."""

    def forward(self, x):
        with resize.clean_inside_inception():
            return super().forward(x)


def build(path: Path, layers: list[str], option: str, resized: str = resize.TENSORFLOW) -> FeatureExtractorInceptionV3:
    """torch-fidelity's InceptionV3 with the weights at `path`, resizing as `resized` says; UsageError if they do not
    load."""
    network = CleanResizedInceptionV3 if resized == resize.CLEAN else FeatureExtractorInceptionV3
    try:
        with torch.random.fork_rng(devices=[]):  # its random initialization (then overwritten) draws too
            return network(EXTRACTOR, layers, feature_extractor_weights_path=str(path))
    except Exception as exc:  # a truncated download or a foreign file in the hub cache
        raise UsageError(
            f"the Inception weights {path} do not load ({' '.join(str(exc).split())[:200]}); "
            f"delete the file to download it again, or set {option}PATH"
        ) from None


def input_size() -> int:
    """The side torch-fidelity's Inception resizes every image to (299, TensorFlow's)."""
    return FeatureExtractorInceptionV3.INPUT_IMAGE_SIZE
