"""A feature space (Inception's, DINOv2's or the offline classifier's) and the metrics measured in it, by
torch-fidelity's pipeline step by step, so that each network is built once per run: features of the generated
images, the real ones' statistics and features (from ganrun's statistics cache, or a reference file), then each
metric from those features."""

import hashlib
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch_fidelity
from torch.utils.data import Dataset
from torch_fidelity.metric_fid import fid_featuresdict_to_statistics
from torch_fidelity.metric_isc import isc_featuresdict_to_metric
from torch_fidelity.metric_kid import kid_featuresdict_to_metric
from torch_fidelity.metric_prc import prc_featuresdict_to_metric
from torch_fidelity.utils import extract_featuresdict_from_input_id

from ganrun.base import disk
from ganrun.base.errors import UsageError
from ganrun.quality import statistics
from ganrun.quality.names import MEASURES
from ganrun.quality.neighbours import DC_K, density_coverage, kth_neighbour_radii
from ganrun.quality.statistics import Entry

log = logging.getLogger("ganrun")

# Our Inception metrics → the Inception features each one reads (the tests swap in smaller ones).
FEATURES = {
    "fid": "2048",
    "kid": "2048",
    "isc": "logits_unbiased",
    "precision": "2048",
    "recall": "2048",
    "density": "2048",
    "coverage": "2048",
}
KID_SUBSET_SIZE, KID_SUBSETS = 1000, 100  # torch-fidelity's defaults; the size smaller only with fewer images
PRC_K = 3  # torch-fidelity's (and Kynkäänniemi et al.'s) k for precision and recall
SEED = 2020  # torch-fidelity's default rng_seed: the real subset, KID subsets and IS splits are fixed


def cache_root() -> Path:
    """$GANRUN_CACHE/statistics (default ~/.cache/ganrun/statistics): the real images' statistics and features, in
    ganrun's statistics format (quality/statistics.py)."""
    return disk.cache_root() / "statistics"


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """‖μ1−μ2‖² + tr(Σ1 + Σ2 − 2(Σ1Σ2)^½): the Fréchet distance of two Gaussians."""
    mu1, mu2 = (np.atleast_1d(np.asarray(mu, np.float64)) for mu in (mu1, mu2))
    sigma1, sigma2 = (np.atleast_2d(np.asarray(sigma, np.float64)) for sigma in (sigma1, sigma2))
    if not (mu1.shape == mu2.shape and sigma1.shape == sigma2.shape == mu1.shape * 2):
        raise ValueError(f"mismatched shapes: mu {mu1.shape}, {mu2.shape}, sigma {sigma1.shape}, {sigma2.shape}")
    # tr (Σ1Σ2)^½ = tr (Σ1^½ Σ2 Σ1^½)^½, of a symmetric PSD matrix: symmetric eigensolvers are several times
    # faster than the general eigvals/sqrtm of Σ1Σ2 and give real eigenvalues; the slightly negative ones that
    # rounding makes of the zero eigenvalues of rank-deficient covariances (fewer samples than features) are clipped.
    w, v = np.linalg.eigh(sigma1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = root1 @ sigma2 @ root1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


class Images(Dataset):
    """uint8 N×C×H×W images as torch-fidelity reads them: uint8 3×H×W each, grayscale replicated to RGB."""

    def __init__(self, images: torch.Tensor):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        image = self.images[i]
        return image.expand(3, -1, -1) if image.shape[0] == 1 else image


def check_images(images, what: str) -> None:
    ok = torch.is_tensor(images) and images.dtype == torch.uint8 and images.dim() == 4 and images.shape[1] in (1, 3)
    if not ok:
        desc = f"{images.dtype} {tuple(images.shape)}" if torch.is_tensor(images) else type(images).__name__
        raise ValueError(f"{what} must be uint8 N×C×H×W with C = 1 or 3, got {desc}")


def cache_name(cache_key: str, real: torch.Tensor, weights_id: str) -> str:
    """torch-fidelity's cache entry for `real`: the key and a fingerprint of the images and weights themselves."""
    # The fingerprint: changed data files under the same config, or other weights, never reuse stale statistics.
    digest = hashlib.sha256(repr((cache_key, len(real), weights_id)).encode())
    digest.update(real.contiguous().numpy().data)
    return f"ganrun-{re.sub(r'[^A-Za-z0-9_.-]', '_', cache_key)[:48]}-{digest.hexdigest()[:16]}"


def writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return os.access(folder, os.W_OK)
    except OSError:
        return False


def settings(measure: str, options: dict) -> str:
    """A metric's own knobs, as its protocol records them."""
    return {
        "kid": f"{options['kid_subsets']} subsets of {options['kid_subset_size']} images",
        "isc": f"{options['isc_splits']} splits",
        "precision": f"k={PRC_K}",
        "recall": f"k={PRC_K}",
        "density": f"k={DC_K}",
        "coverage": f"k={DC_K}",
    }.get(measure, "")


class Space:
    """One feature extractor (`kind`: its name, e.g. inception-v3-compat, dinov2-vitl14, ganrun-classifier) and the
    metrics measured in its features; built on first use, or found missing."""

    def __init__(self, kind: str, layers: dict[str, str], load: Callable[[], tuple[torch.nn.Module, str]], resize: str):
        self.kind, self.layers, self.load = kind, layers, load  # layers: our metric name → its feature layer
        self.resize = resize  # how images reach the network, as reference statistics record it
        self.enabled, self.extractor, self.weights_id = True, None, None
        self.radii: dict[str, torch.Tensor] = {}  # layer → the real features' k-NN radii, the same all run

    def name(self, layer: str) -> str:
        """The space of `layer` as protocols and statistics files name it: network and layer."""
        return f"{self.kind} {layer}"

    def real_layers(self) -> list[str]:
        """The layers whose real features or statistics the metrics read (IS reads the generated images' only)."""
        return list(dict.fromkeys(layer for name, layer in self.layers.items() if MEASURES[name] != "isc"))

    def off(self, reason: str) -> None:
        """Say once what is off and why (how to get it back), and stay off."""
        self.enabled = False
        log.warning("%s: off for the rest of this run: %s", ", ".join(self.layers), reason)

    def ready(self) -> bool:
        """Build the extractor once; on a UsageError (no weights, no labels) say so once and stay off."""
        if self.enabled and self.extractor is None:
            try:
                self.extractor, self.weights_id = self.load()
            except UsageError as exc:  # a metric must never end a long run: say how to fix it and go on
                self.off(str(exc))
        return self.enabled

    def measure(self, options: dict, real: Callable[[str], Entry]) -> dict[str, float]:
        """The space's metrics of input 1 (generated, in torch-fidelity's `options`) against the real statistics
        and features `real(layer)` gives."""
        generated = extract_featuresdict_from_input_id(1, self.extractor, **options)
        values = {}
        for name, layer in self.layers.items():
            measure = MEASURES[name]
            if name in values:
                continue
            if measure == "fd":
                stats, mine = real(layer), fid_featuresdict_to_statistics(generated, layer)
                values[name] = frechet_distance(mine["mu"], mine["sigma"], stats.mu, stats.sigma)
                continue
            if measure == "isc":
                values[name] = isc_featuresdict_to_metric(generated, layer, **options)[
                    torch_fidelity.KEY_METRIC_ISC_MEAN
                ]
                continue
            reference = torch.from_numpy(real(layer).features)
            both = {layer: generated[layer]}, {layer: reference}
            if measure == "kid":
                values[name] = kid_featuresdict_to_metric(*both, layer, **options)[torch_fidelity.KEY_METRIC_KID_MEAN]
            elif measure in ("precision", "recall"):  # Kynkäänniemi et al. 2019, by torch-fidelity: both in one pass
                values.update(self._of_layer(layer, prc_featuresdict_to_metric(*both, layer, **options)))
            else:  # density and coverage (Naeem et al. 2020): both in one pass, the real radii computed once
                if layer not in self.radii:
                    self.radii[layer] = kth_neighbour_radii(reference, DC_K)
                values.update(
                    self._of_layer(layer, density_coverage(reference, generated[layer], DC_K, self.radii[layer]))
                )
        return values

    def _of_layer(self, layer: str, measured: dict) -> dict[str, float]:
        """Our names of this space's metrics read from `layer` whose measures are in `measured`."""
        return {
            n: float(measured[MEASURES[n]])
            for n, lay in self.layers.items()
            if lay == layer and MEASURES[n] in measured
        }


def real_statistics(space: Space, options: dict, path: Path | None, about: dict) -> dict[str, Entry]:
    """The real images' (input 2 of `options`) statistics and features in each of `space`'s layers, keyed by the
    space's name: read from ganrun's statistics file `path` when it is there, else computed and written to it
    (None: not cached). `about`: the protocol written beside them."""
    names = {space.name(layer): layer for layer in space.real_layers()}
    if path is not None and path.is_file():
        try:
            found = statistics.read(path).entries
            if set(names) <= set(found):
                return found
        except UsageError:  # a truncated cache file: computed again
            pass
    features = extract_featuresdict_from_input_id(2, space.extractor, **options)
    entries = {}
    for name, layer in names.items():
        stats = fid_featuresdict_to_statistics(features, layer)
        meta = {**about, "weights": space.weights_id, "resize": space.resize, "images": len(features[layer])}
        entries[name] = Entry(stats["mu"], stats["sigma"], features[layer].numpy(), meta)
    if path is not None:
        statistics.write(path, entries)
    return entries
