"""Sample-quality metrics (FID, KID, IS) by torch-fidelity's Inception and metrics; real features cached on disk."""

import hashlib
import json
import logging
import os
import re
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, Sequence
from urllib.parse import urlparse

import numpy as np
import torch
import torch_fidelity
from torch.utils.data import Dataset
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3, FeatureExtractorInceptionV3
from torch_fidelity.metric_fid import fid_featuresdict_to_statistics, fid_input_id_to_statistics_cached
from torch_fidelity.metric_isc import isc_featuresdict_to_metric
from torch_fidelity.metric_kid import kid_featuresdict_to_metric
from torch_fidelity.utils import extract_featuresdict_from_input_id, extract_featuresdict_from_input_id_cached

from ganrun.errors import UsageError

log = logging.getLogger("ganrun")

# Our names (config `metrics.names`, TensorBoard `metrics/<name>`) → the Inception features each one reads.
FEATURES = {"fid": "2048", "kid": "2048", "isc": "logits_unbiased"}
EXTRACTOR = "inception-v3-compat"  # torch-fidelity's name for it, part of its cache file names
KID_SUBSET_SIZE = 1000  # torch-fidelity's default; smaller only when there are fewer samples
SEED = 2020  # torch-fidelity's default rng_seed: the real subset, KID subsets and IS splits are fixed


def cache_root() -> Path:
    """$GANRUN_CACHE/fidelity (default ~/.cache/ganrun/fidelity): torch-fidelity's cache of real features."""
    return Path(os.environ.get("GANRUN_CACHE") or Path.home() / ".cache" / "ganrun") / "fidelity"


def hub_weights_path() -> Path:
    """Where torch-fidelity's Inception weights land when downloaded (the torch hub cache)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(URL_INCEPTION_V3).path).name


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
    """A readable key for a data set configuration: its loader's name and a hash of its keys (but `download`)."""
    keys = {k: v for k, v in dict(dataset_cfg).items() if k != "download"}
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


def _check_weights_file(path: Path, option: str) -> None:
    """UsageError unless `path` holds a state dict of torch-fidelity's InceptionV3 (checked with weights_only)."""
    if not path.is_file():
        raise UsageError(f"{option}{path} does not exist; give the path of torch-fidelity's "
                         f"InceptionV3 weights ({hub_weights_path().name}) or leave it null to download them")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign or truncated files
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise UsageError(f"{option}{path} is unreadable: {first.strip()}") from None
    fc = state.get("fc.weight") if isinstance(state, dict) else None
    if not torch.is_tensor(fc) or tuple(fc.shape) != (1008, 2048):
        raise UsageError(f"{option}{path} is not a state dict of torch-fidelity's InceptionV3 "
                         f"(no fc.weight of shape 1008×2048); use {hub_weights_path().name} from torch-fidelity")


def _cache_name(cache_key: str, real: torch.Tensor, weights: Path | None) -> str:
    """torch-fidelity's cache entry for `real`: the key and a fingerprint of the images and weights themselves."""
    # The fingerprint: changed data files under the same config, or other weights, never reuse stale statistics.
    weights_id = (str(weights.resolve()), weights.stat().st_size, weights.stat().st_mtime_ns) if weights else ""
    digest = hashlib.sha256(repr((cache_key, len(real), weights_id)).encode())
    digest.update(real.contiguous().numpy().data)
    return f"ganrun-{re.sub(r'[^A-Za-z0-9_.-]', '_', cache_key)[:48]}-{digest.hexdigest()[:16]}"


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return os.access(folder, os.W_OK)
    except OSError:
        return False


class QualityMetrics:
    """FID/KID/IS of generated images against a fixed subset of the real ones (at most `num_samples`).

    Args:
        names: a subset of fid, kid, isc.
        real_images: the data set as uint8 N×C×H×W (on any device).
        cache_key: names the data set configuration in the cache (see `dataset_cache_key`).
        inception_weights: a state-dict file of torch-fidelity's InceptionV3; None downloads it once.
        option: how the user sets the weights file, for messages.
    """

    def __init__(self, names: Sequence[str], num_samples: int, real_images: torch.Tensor, cache_key: str,
                 inception_weights: str | None = None, device: torch.device | str = "cpu", batch_size: int = 64,
                 option: str = "metrics.inception_weights="):
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else [str(n) for n in names]
        unknown = sorted(set(names) - set(FEATURES))
        if unknown or not names:
            raise UsageError(f"metrics.names={','.join(names) or '[]'} is not a non-empty subset of fid, kid, isc")
        if num_samples < 2:
            raise UsageError(f"metrics.num_samples={num_samples} is out of range: it must be >= 2")
        _check_images(real_images, "real_images")
        self.names = list(dict.fromkeys(names))
        self.num_samples, self.batch_size, self.device = num_samples, batch_size, torch.device(device)
        self.inception_weights = Path(inception_weights).expanduser() if inception_weights else None
        self.option = option
        if self.inception_weights is not None:
            _check_weights_file(self.inception_weights, option)
        self.enabled, self._inception = True, None

        # A seeded random subset, so the statistics cover every class of a data set stored class by class.
        count = min(num_samples, len(real_images))
        order = torch.randperm(len(real_images), generator=torch.Generator().manual_seed(SEED))[:count]
        self.real = real_images[order.to(real_images.device)].cpu()
        self.kid_subset_size = min(KID_SUBSET_SIZE, num_samples, count)
        if "kid" in self.names and self.kid_subset_size < KID_SUBSET_SIZE:
            log.info("KID subset size %d instead of %d: there are only %d generated and %d real images",
                     self.kid_subset_size, KID_SUBSET_SIZE, num_samples, count)

        self.cache_name = _cache_name(cache_key, self.real, self.inception_weights)
        self.cache = _writable(cache_root())
        if not self.cache:
            log.warning("not caching real-image statistics: cannot write %s; set GANRUN_CACHE=<writable folder> "
                        "to compute them once instead of at every evaluation", cache_root())

    def weights_path(self) -> Path:
        """The Inception weights file: `inception_weights`, else the torch hub cache, downloading it there once."""
        if self.inception_weights is not None:
            return self.inception_weights
        path = hub_weights_path()
        if not path.is_file():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                torch.hub.download_url_to_file(URL_INCEPTION_V3, str(path), progress=False)  # temp file, then rename
            except Exception as exc:  # no network is URLError, OSError, SSL or HTTP errors: all mean the same here
                reason = " ".join(str(exc).split()) or type(exc).__name__
                raise UsageError(f"cannot get the Inception weights for FID/KID/IS ({reason}); offline, set "
                                 f"{self.option}PATH to a copy of {URL_INCEPTION_V3} or put that "
                                 f"file at {path} (the torch hub cache torch-fidelity uses)") from None
        return path

    def inception(self) -> FeatureExtractorInceptionV3:
        """torch-fidelity's InceptionV3 on our device, built once; UsageError if its weights cannot be had."""
        if self._inception is None:
            path = self.weights_path()
            layers = list(dict.fromkeys(FEATURES[name] for name in self.names))
            try:
                with torch.random.fork_rng(devices=[]):  # its random initialization (then overwritten) draws too
                    self._inception = FeatureExtractorInceptionV3(EXTRACTOR, layers,
                                                                  feature_extractor_weights_path=str(path))
            except Exception as exc:  # a truncated download or a foreign file in the hub cache
                raise UsageError(f"the Inception weights {path} do not load ({' '.join(str(exc).split())[:200]}); "
                                 f"delete the file to download it again, or set {self.option}PATH") from None
            self._inception.to(self.device)
        return self._inception

    def compute(self, generate: Callable[[int], torch.Tensor]) -> dict[str, float]:
        """{"metrics/<name>": value} of `generate(num_samples)`'s images; {} once the weights proved unavailable."""
        if not self.enabled:
            return {}
        try:
            inception = self.inception()
        except UsageError as exc:
            # A metric must never end a long run: say once how to fix it and go on without metrics.
            self.enabled = False
            log.warning("metrics are off for the rest of this run: %s", exc)
            return {}
        cuda = [self.device] if self.device.type == "cuda" else []
        # fork_rng: torch's DataLoader draws a seed from the global RNG, and training must not notice the metrics
        # (a resumed run would otherwise diverge from an uninterrupted one). torch.cuda.device: torch-fidelity
        # moves batches to the current GPU.
        with torch.random.fork_rng(devices=cuda), (torch.cuda.device(self.device) if cuda else nullcontext()):
            fake = generate(self.num_samples)
            _check_images(fake, "generated images")
            # torch-fidelity's pipeline, step by step so that the network is built once per run: features of the
            # generated images; the real ones' features and FID statistics from its disk cache (made on a miss).
            options = dict(input1=_Images(fake.cpu()), input2=_Images(self.real), input2_cache_name=self.cache_name,
                           cache=self.cache, cache_root=str(cache_root()), cuda=bool(cuda), batch_size=self.batch_size,
                           kid_subset_size=self.kid_subset_size, isc_splits=min(10, self.num_samples), rng_seed=SEED,
                           save_cpu_ram=True, verbose=False)  # save_cpu_ram: no DataLoader worker processes
            values = {}
            generated = extract_featuresdict_from_input_id(1, inception, **options)
            if "fid" in self.names:
                real = fid_input_id_to_statistics_cached(2, inception, FEATURES["fid"], **options)
                stats = fid_featuresdict_to_statistics(generated, FEATURES["fid"])
                values["fid"] = frechet_distance(stats["mu"], stats["sigma"], real["mu"], real["sigma"])
            if "kid" in self.names:
                real = extract_featuresdict_from_input_id_cached(2, inception, **options)
                kid = kid_featuresdict_to_metric(generated, real, FEATURES["kid"], **options)
                values["kid"] = kid[torch_fidelity.KEY_METRIC_KID_MEAN]
            if "isc" in self.names:
                isc = isc_featuresdict_to_metric(generated, FEATURES["isc"], **options)
                values["isc"] = isc[torch_fidelity.KEY_METRIC_ISC_MEAN]
        return {f"metrics/{name}": float(values[name]) for name in self.names}
