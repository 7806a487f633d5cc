"""A small classifier trained on the labelled data set itself, whose features make an offline quality yardstick.

FID needs Inception weights from the network. MNIST, Fashion-MNIST and CIFAR-10 come with labels, and so does a
folder with dataset.labels, so a small convolutional net trained once on them (minutes on a CPU) gives features in
which a Fréchet distance, KID and precision/recall of generated images can be measured anywhere. The net is cached under
$GANRUN_CACHE/classifiers with its test accuracy; numbers are comparable only between runs scored by the same
classifier file (same data set, same files), never with FID.
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import logging
import time
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor
from torch_fidelity.utils import create_feature_extractor

from ganrun.base import disk
from ganrun.base.disk import save_atomic
from ganrun.base.errors import UsageError
from ganrun.base.pixels import to_unit_range
from ganrun.data.labelled import LABELLED, LabelledSource
from ganrun.quality.weights import OwnExtractor

log = logging.getLogger("ganrun")

EXTRACTOR = "ganrun-classifier"  # its name in torch-fidelity's registry (and in torch-fidelity's cache files)
FEATURES = "features"  # the 128 pooled activations before the last layer: what FD, KID and PR are measured on
VERSION = 1  # bump when the architecture or the training recipe changes: old cache files are then not used
RECIPE = {"epochs": 4, "batch_size": 128, "lr": 2e-3, "seed": 0}
PROGRESS_EVERY = 30.0  # seconds between the progress lines of its training


class Classifier(nn.Module):
    """Three conv blocks (32, 64, 128 channels) and global average pooling → 128 features → class logits."""

    def __init__(self, channels: int, classes: int = 10, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(True),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 4 * width, 3, padding=1),
            nn.BatchNorm2d(4 * width),
            nn.ReLU(True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(4 * width, classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, logits) of images in [-1, 1]."""
        features = self.net(x)
        return features, self.head(features)


@torch.no_grad()
def accuracy(net: Classifier, images: torch.Tensor, labels: torch.Tensor, device, batch: int = 1000) -> float:
    net.eval()
    right = sum(
        (net(to_unit_range(x.to(device)))[1].argmax(1).cpu() == y).sum().item()
        for x, y in zip(images.split(batch), labels.split(batch))
    )
    return right / len(labels)


def train(train_set, test_set, device, recipe: dict = RECIPE) -> tuple[Classifier, float]:
    """A classifier trained on (images, labels) with Adam and a one-cycle schedule; returns it and its test accuracy."""
    images, labels = train_set
    batch = min(recipe["batch_size"], len(images))
    per_epoch = len(images) // batch
    with torch.random.fork_rng(devices=[device] if torch.device(device).type == "cuda" else []):
        torch.manual_seed(recipe["seed"])  # the same files give the same classifier on the same kind of device
        net = Classifier(images.shape[1], int(labels.max()) + 1).to(device).train()
        opt = torch.optim.Adam(net.parameters(), lr=recipe["lr"])
        schedule = torch.optim.lr_scheduler.OneCycleLR(opt, recipe["lr"], total_steps=recipe["epochs"] * per_epoch)
        progress = Progress(recipe["epochs"] * per_epoch)
        for _ in range(recipe["epochs"]):
            order = torch.randperm(len(images))
            for pick in order[: per_epoch * batch].view(per_epoch, batch):
                loss = F.cross_entropy(net(to_unit_range(images[pick]).to(device))[1], labels[pick].to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                schedule.step()
                progress.step()
    return net.eval(), accuracy(net, *test_set, device)


class Progress:
    """Logs the classifier's training every PROGRESS_EVERY seconds, with the time left as measured so far."""

    def __init__(self, steps: int):
        self.steps, self.done = steps, 0
        self.start = self.last = time.perf_counter()

    def step(self) -> None:
        self.done += 1
        now = time.perf_counter()
        if now - self.last >= PROGRESS_EVERY and self.done < self.steps:
            self.last, spent = now, now - self.start
            left = spent / self.done * (self.steps - self.done)
            log.info("classifier: step %d of %d, %.0f s so far, about %.0f s left", self.done, self.steps, spent, left)


# ---------------------------------------------------------------- trained once, cached


def cache_root() -> Path:
    """$GANRUN_CACHE/classifiers: the trained classifiers, one file per data set's files and recipe."""
    return disk.cache_root() / "classifiers"


def cache_path(source: LabelledSource, recipe: dict = RECIPE) -> Path:
    """The cache file of the classifier for `source`: named by the data set, keyed by its files and the recipe."""
    key = repr((VERSION, source.name, source.files(source), sorted(recipe.items())))
    return cache_root() / f"{source.name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"


@contextmanager
def _locked(path: Path):
    """An exclusive lock beside `path`, so that parallel sweep jobs train one classifier, not one each."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _load(path: Path) -> dict | None:
    """The cached classifier record, or None if missing or unreadable (then it is trained again)."""
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
        return record if isinstance(record, dict) and record.get("version") == VERSION else None
    except Exception:  # truncated or foreign: retrain rather than fail a run
        return None


def _train_and_save(source: LabelledSource, path: Path, device, recipe: dict) -> dict:
    log.info("training the %s classifier for the classifier_* metrics (once; cached in %s)", source.name, path)
    start = time.perf_counter()
    train_set, test_set = source.split("train"), source.split("test")
    net, test_accuracy = train(train_set, test_set, device, recipe)
    record = {
        "version": VERSION,
        "source": source.name,
        "channels": int(train_set[0].shape[1]),
        "image_size": int(train_set[0].shape[-1]),
        "classes": int(train_set[1].max()) + 1,
        "test_accuracy": test_accuracy,
        "train_images": len(train_set[1]),
        "test_images": len(test_set[1]),
        "recipe": dict(recipe),
        "seconds": time.perf_counter() - start,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "state_dict": {k: v.cpu() for k, v in net.state_dict().items()},
    }
    # An id of the weights themselves: classifier_* numbers are comparable only under the same id.
    record["id"] = hashlib.sha256(b"".join(v.numpy().tobytes() for v in record["state_dict"].values())).hexdigest()[:12]
    save_atomic(record, path)
    log.info(
        "%s classifier %s: test accuracy %.2f%% on %d images, trained in %.0f s",
        source.name,
        record["id"],
        100 * test_accuracy,
        len(test_set[1]),
        record["seconds"],
    )
    return record


def is_trained(source: LabelledSource, recipe: dict = RECIPE) -> bool:
    """Whether the classifier of `source` is in the cache already (else the first evaluation trains it)."""
    return _load(cache_path(source, recipe)) is not None


def no_labels(instead: str | None = None) -> str:
    """Why there is no classifier for this data set, and what to do: label it, or (`instead`) use another space."""
    return (
        f"the classifier_* metrics need class labels: a labelled data set ({', '.join(LABELLED)}) or a folder with "
        "dataset.labels=folders (a subfolder per class) or a labels file; "
        + (instead or "for this one use fid or fd_dinov2 (Inception's, DINOv2's features)")
    )


def classifier_for(
    source: LabelledSource | None, device, recipe: dict = RECIPE, *, instead: str | None = None
) -> tuple[Path, dict]:
    """The cached classifier of `source` (trained first if there is none): its file and its record. `instead`: what
    the UsageError for data without labels suggests (default: the other metrics)."""
    if source is None:
        raise UsageError(no_labels(instead))
    path = cache_path(source, recipe)
    record = _load(path)
    if record is None:
        with _locked(path):
            record = _load(path) or _train_and_save(source, path, device, recipe)  # another job may have trained it
    return path, record


# ---------------------------------------------------------------- as a torch-fidelity feature extractor


def feature_extractor(path: Path, device) -> OwnExtractor:
    """The cached classifier at `path` as torch-fidelity's feature extractor of its 128 features."""
    return create_feature_extractor(
        EXTRACTOR, [FEATURES], cuda=False, verbose=False, feature_extractor_weights_path=str(path)
    ).to(device)


class ClassifierFeatures(OwnExtractor):
    """torch-fidelity's view of a cached classifier: uint8 N×3×H×W in, its 128 features (and logits) out."""

    PROVIDED = (FEATURES, "logits")

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        if feature_extractor_weights_path is None:
            raise UsageError(f"{EXTRACTOR} needs feature_extractor_weights_path=<a cached classifier .pt file>")
        record = torch.load(feature_extractor_weights_path, map_location="cpu", weights_only=True)
        self.channels, self.image_size = record["channels"], record["image_size"]
        self.net = Classifier(self.channels, record["classes"])
        self.net.load_state_dict(record["state_dict"])
        self.net.eval()

    def forward(self, x: torch.Tensor):
        x = to_unit_range(x)
        # torch-fidelity hands over 3 channels (gray images are replicated): back to the classifier's channels.
        x = x.mean(1, keepdim=True) if self.channels == 1 else x
        if x.shape[-1] != self.image_size:  # e.g. MNIST trained at 32×32: scored at the classifier's own size
            x = F.interpolate(
                x, size=(self.image_size, self.image_size), mode="bilinear", antialias=True, align_corners=False
            )
        features, logits = self.net(x)
        provided = {FEATURES: features, "logits": logits}
        return tuple(provided[name] for name in self.features_list)


if EXTRACTOR not in FEATURE_EXTRACTORS_REGISTRY:
    register_feature_extractor(EXTRACTOR, ClassifierFeatures)
