"""Sample-quality metrics by torch-fidelity: FID, KID and IS in Inception's features, and the Fréchet distance,
KID and precision/recall in the features of a classifier trained on the data set (offline); real features cached."""

import hashlib
import json
import logging
import os
import re
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch_fidelity
from torch.utils.data import Dataset
from torch_fidelity.metric_fid import fid_featuresdict_to_statistics, fid_input_id_to_statistics_cached
from torch_fidelity.metric_isc import isc_featuresdict_to_metric
from torch_fidelity.metric_kid import kid_featuresdict_to_metric
from torch_fidelity.metric_prc import prc_featuresdict_to_metric
from torch_fidelity.utils import (create_feature_extractor, extract_featuresdict_from_input_id,
                                  extract_featuresdict_from_input_id_cached)

from ganrun.quality import classifier
from ganrun.quality import inception
from ganrun.errors import UsageError
from ganrun.quality.inception import hub_weights_path  # noqa: F401  (part of this module's interface)
from ganrun.data.files import STORAGE_KEYS, SUBSET_KEYS, ImageSet
from ganrun.data.labelled import LabelledSource
from ganrun.quality.names import CLASSIFIER as CLASSIFIER_METRICS, NAMES
from ganrun.streams import own_streams

log = logging.getLogger("ganrun")

# Our names (config `metrics.names`, TensorBoard `metrics/<name>`) → the Inception features each one reads.
FEATURES = {"fid": "2048", "kid": "2048", "isc": "logits_unbiased"}
KID_SUBSET_SIZE = 1000  # torch-fidelity's default; smaller only when there are fewer samples
SEED = 2020  # torch-fidelity's default rng_seed: the real subset, KID subsets and IS splits are fixed


def cache_root() -> Path:
    """$GANRUN_CACHE/fidelity (default ~/.cache/ganrun/fidelity): torch-fidelity's cache of real features."""
    return Path(os.environ.get("GANRUN_CACHE") or Path.home() / ".cache" / "ganrun") / "fidelity"


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


def dataset_cache_key(dataset_cfg: dict) -> str:
    """A readable key for a data set configuration: its loader's name and a hash of its keys (but `download`, how it is
    packed and stored (`workers`, `storage`, `readers`), and
    `limit`: the real images of the metrics are the whole data set, whatever subset a run trains on)."""
    keys = {k: v for k, v in dict(dataset_cfg).items()
            if k not in ("download", "workers", *SUBSET_KEYS, *STORAGE_KEYS)}
    digest = hashlib.sha256(json.dumps(keys, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"{str(keys.get('_target_', 'data')).rsplit('.', 1)[-1]}-{digest}"


class _Images(Dataset):
    """uint8 N×C×H×W images as torch-fidelity reads them: uint8 3×H×W each, grayscale replicated to RGB."""

    def __init__(self, images: torch.Tensor):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        image = self.images[i]
        return image.expand(3, -1, -1) if image.shape[0] == 1 else image


def _check_images(images, what: str) -> None:
    ok = torch.is_tensor(images) and images.dtype == torch.uint8 and images.dim() == 4 and images.shape[1] in (1, 3)
    if not ok:
        desc = f"{images.dtype} {tuple(images.shape)}" if torch.is_tensor(images) else type(images).__name__
        raise ValueError(f"{what} must be uint8 N×C×H×W with C = 1 or 3, got {desc}")


def _cache_name(cache_key: str, real: torch.Tensor, weights_id: str) -> str:
    """torch-fidelity's cache entry for `real`: the key and a fingerprint of the images and weights themselves."""
    # The fingerprint: changed data files under the same config, or other weights, never reuse stale statistics.
    digest = hashlib.sha256(repr((cache_key, len(real), weights_id)).encode())
    digest.update(real.contiguous().numpy().data)
    return f"ganrun-{re.sub(r'[^A-Za-z0-9_.-]', '_', cache_key)[:48]}-{digest.hexdigest()[:16]}"


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return os.access(folder, os.W_OK)
    except OSError:
        return False


class _Space:
    """One feature extractor and the metrics measured in its features; built on first use, or found missing."""

    def __init__(self, layers: dict[str, str], load: Callable[[], tuple[torch.nn.Module, str]]):
        self.layers, self.load = layers, load  # layers: our metric name → its feature layer
        self.enabled, self.extractor, self.weights_id = True, None, None

    def ready(self) -> bool:
        """Build the extractor once; on a UsageError (no weights, no labels) say so once and stay off."""
        if self.enabled and self.extractor is None:
            try:
                self.extractor, self.weights_id = self.load()
            except UsageError as exc:  # a metric must never end a long run: say how to fix it and go on
                self.enabled = False
                log.warning("%s: off for the rest of this run: %s", ", ".join(self.layers), exc)
        return self.enabled


class QualityMetrics:
    """Quality of generated images against a fixed subset of the real ones (at most `num_samples`).

    Args:
        names: a subset of NAMES: fid, kid, isc (Inception) and classifier_fd, classifier_kid,
            classifier_precision, classifier_recall (a classifier trained on `labelled`).
        real_images: the data set: uint8 N×C×H×W (on any device), or an ImageSet (read only where sampled).
        cache_key: names the data set configuration in the cache (see `dataset_cache_key`).
        inception_weights: a state-dict file of torch-fidelity's InceptionV3; None downloads it once.
        option: how the user sets the weights file, for messages.
        labelled: the labelled data set the classifier learns from (None: the data have no labels).
    """

    def __init__(self, names: Sequence[str], num_samples: int, real_images: torch.Tensor, cache_key: str,
                 inception_weights: str | None = None, device: torch.device | str = "cpu", batch_size: int = 64,
                 option: str = "metrics.inception_weights=", labelled: LabelledSource | None = None):
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else [str(n) for n in names]
        unknown = sorted(set(names) - set(NAMES))
        if unknown or not names:
            raise UsageError(f"metrics.names={','.join(names) or '[]'} is not a non-empty subset of {', '.join(NAMES)}")
        if num_samples < 2:
            raise UsageError(f"metrics.num_samples={num_samples} is out of range: it must be >= 2")
        self.names = list(dict.fromkeys(names))
        self.num_samples, self.batch_size, self.device = num_samples, batch_size, torch.device(device)
        self.inception_weights = Path(inception_weights).expanduser() if inception_weights else None
        self.option, self.labelled = option, labelled
        self.classifier_record, self.classifier_path = None, None  # set when the classifier is loaded
        if self.inception_weights is not None:
            inception.check_weights_file(self.inception_weights, option)
        spaces = [_Space({n: FEATURES[n] for n in self.names if n in FEATURES}, self._inception),
                  _Space({n: classifier.FEATURES for n in self.names if n in CLASSIFIER_METRICS}, self._classifier)]
        self.spaces = [space for space in spaces if space.layers]

        # A seeded random subset, so the statistics cover every class of a data set stored class by class.
        count = min(num_samples, len(real_images))
        order = torch.randperm(len(real_images), generator=torch.Generator().manual_seed(SEED))[:count]
        # Only these rows are read: a packed data set larger than memory stays on disk.
        self.real = real_images[order if isinstance(real_images, ImageSet) else order.to(real_images.device)].cpu()
        _check_images(self.real, "real_images")
        self.kid_subset_size = min(KID_SUBSET_SIZE, num_samples, count)
        if any(n in ("kid", "classifier_kid") for n in self.names) and self.kid_subset_size < KID_SUBSET_SIZE:
            log.info("KID subset size %d instead of %d: there are only %d generated and %d real images",
                     self.kid_subset_size, KID_SUBSET_SIZE, num_samples, count)
        self.cache_key = cache_key
        self.cache = _writable(cache_root())
        if not self.cache:
            log.warning("not caching real-image statistics: cannot write %s; set GANRUN_CACHE=<writable folder> "
                        "to compute them once instead of at every evaluation", cache_root())

    @property
    def enabled(self) -> bool:
        """False once every requested metric proved impossible here (no weights, no labels)."""
        return any(space.enabled for space in self.spaces)

    def _inception(self) -> tuple[torch.nn.Module, str]:
        """torch-fidelity's InceptionV3, and an id of its weights file."""
        path = inception.weights_path(self.inception_weights, self.option)
        layers = list(dict.fromkeys(FEATURES[name] for name in self.names if name in FEATURES))
        stat = path.stat()
        return inception.build(path, layers, self.option).to(self.device), repr((str(path.resolve()), stat.st_size,
                                                                                 stat.st_mtime_ns))

    def _classifier(self) -> tuple[torch.nn.Module, str]:
        """The data set's classifier as a torch-fidelity feature extractor (trained first if not cached), its id."""
        self.classifier_path, self.classifier_record = classifier.classifier_for(self.labelled, self.device)
        extractor = create_feature_extractor(classifier.EXTRACTOR, [classifier.FEATURES], cuda=False, verbose=False,
                                             feature_extractor_weights_path=str(self.classifier_path))
        return extractor.to(self.device), self.classifier_record["id"]

    def prepare(self) -> None:
        """Build every feature extractor now; the first that cannot be had raises its UsageError."""
        for space in self.spaces:
            space.extractor, space.weights_id = space.load()

    def compute(self, generate: Callable[[int], torch.Tensor]) -> dict[str, float]:
        """{"metrics/<name>": value} of `generate(num_samples)`'s images; {} once no metric can be had."""
        # Streams of their own: building a feature extractor runs it on random input, torch's DataLoader draws a
        # seed, and training must not notice the metrics (a resumed run would otherwise diverge from an
        # uninterrupted one). torch.cuda.device: torch-fidelity moves batches to the current GPU.
        cuda = self.device.type == "cuda"
        with own_streams(), (torch.cuda.device(self.device) if cuda else nullcontext()):
            spaces = [space for space in self.spaces if space.ready()]
            if not spaces:
                return {}
            fake = generate(self.num_samples)
            _check_images(fake, "generated images")
            values = {}
            for space in spaces:
                values.update(self._measure(space, fake, cuda))
        return {f"metrics/{name}": float(values[name]) for name in self.names if name in values}

    def _measure(self, space: _Space, fake: torch.Tensor, cuda: bool) -> dict[str, float]:
        """The space's metrics of `fake`, by torch-fidelity's pipeline step by step (so the network is built once
        per run): features of the generated images; the real ones' features and statistics from its disk cache."""
        options = dict(input1=_Images(fake.cpu()), input2=_Images(self.real), cuda=cuda,
                       input2_cache_name=_cache_name(self.cache_key, self.real, space.weights_id),
                       cache=self.cache, cache_root=str(cache_root()), batch_size=self.batch_size,
                       kid_subset_size=self.kid_subset_size, isc_splits=min(10, self.num_samples), rng_seed=SEED,
                       save_cpu_ram=True, verbose=False)  # save_cpu_ram: no DataLoader worker processes
        extractor, values = space.extractor, {}
        generated = extract_featuresdict_from_input_id(1, extractor, **options)
        for name, layer in space.layers.items():
            measure = CLASSIFIER_METRICS.get(name, name)
            if measure in ("fid", "fd"):
                real = fid_input_id_to_statistics_cached(2, extractor, layer, **options)
                stats = fid_featuresdict_to_statistics(generated, layer)
                values[name] = frechet_distance(stats["mu"], stats["sigma"], real["mu"], real["sigma"])
            elif measure == "kid":
                real = extract_featuresdict_from_input_id_cached(2, extractor, **options)
                values[name] = kid_featuresdict_to_metric(generated, real, layer, **options)[
                    torch_fidelity.KEY_METRIC_KID_MEAN]
            elif measure == "isc":
                values[name] = isc_featuresdict_to_metric(generated, layer, **options)[
                    torch_fidelity.KEY_METRIC_ISC_MEAN]
            elif name not in values:  # precision and recall (Kynkäänniemi et al. 2019, k = 3): both from one pass
                real = extract_featuresdict_from_input_id_cached(2, extractor, **options)
                prc = prc_featuresdict_to_metric(generated, real, layer, **options)
                values.update({n: prc[m] for n, m in CLASSIFIER_METRICS.items() if n in space.layers and m in prc})
        return values

