"""The labelled splits (train and test images with their class labels) of MNIST, Fashion-MNIST and CIFAR-10, and of
a labelled image folder (a seeded tenth held out as its test split).

The quality classifier learns from these; the GAN loaders of `ganrun.data` read the same files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from ganrun.data.cifar import CIFAR_BATCHES, read_cifar_batches
from ganrun.data.idx import read_idx, read_idx_labels
from ganrun.data.listing import UNLABELLED
from ganrun.data.reading import DatasetError, locate, stat, torchvision_download

IDX_SPLITS = {"train": "train", "test": "t10k"}  # our split name → the idx files' prefix
CIFAR_SPLITS = {"train": CIFAR_BATCHES[:5], "test": CIFAR_BATCHES[5:]}


@dataclass(frozen=True)
class LabelledSource:
    """A data set with class labels: where its files are and how to read a split of it."""

    name: str  # mnist | fashion_mnist | cifar10: what the classifier is trained on
    root: Path
    download: bool
    read: Callable[[LabelledSource, str], tuple[torch.Tensor, torch.Tensor]]
    files: Callable[[LabelledSource], list]  # stat()s of the files it reads: a fingerprint for caches

    def split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(uint8 N×C×H×W images at the data set's own size, int64 labels) of "train" or "test"."""
        return self.read(self, split)


# ---------------------------------------------------------------- idx (MNIST, Fashion-MNIST)

_IDX_FOLDERS = {
    "mnist": "MNIST",
    "fashion_mnist": "FashionMNIST",
}


def _idx_file(source: LabelledSource, prefix: str, kind: str) -> Path:
    """<prefix>-<kind>-idx?-ubyte[.gz] in root/<Name>/raw (torchvision's layout) or in root (Debian's)."""
    folder_name = _IDX_FOLDERS[source.name]  # torchvision's name of the data set and of its folder
    base = f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte"
    candidates = [d / n for d in (source.root / folder_name / "raw", source.root) for n in (base, base + ".gz")]
    return locate(
        folder_name,
        lambda: next((p for p in candidates if p.is_file()), None),
        lambda: torchvision_download(folder_name, source.root, train=prefix == "train"),
        source.download,
        f"{base}[.gz] in {candidates[0].parent} or {source.root}",
    )


def _read_idx_split(source: LabelledSource, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    images_path = _idx_file(source, IDX_SPLITS[split], "images")
    labels_path = _idx_file(source, IDX_SPLITS[split], "labels")
    images, labels = read_idx(images_path), read_idx_labels(labels_path)
    if len(images) != len(labels):
        raise DatasetError(
            f"{images_path} holds {len(images)} images but {labels_path} {len(labels)} labels; "
            "delete both and get them again"
        )
    return images, labels


def _idx_files(source: LabelledSource) -> list:
    return [stat(_idx_file(source, prefix, kind)) for prefix in IDX_SPLITS.values() for kind in ("images", "labels")]


# ---------------------------------------------------------------- CIFAR-10 (python pickles)


def _cifar_folder(source: LabelledSource) -> Path:
    folder = source.root / "cifar-10-batches-py"
    return locate(
        "CIFAR-10",
        lambda: folder if all((folder / b).is_file() for b in CIFAR_BATCHES) else None,
        lambda: torchvision_download("CIFAR10", source.root),
        source.download,
        f"{', '.join(CIFAR_BATCHES)} in {folder}",
    )


def _read_cifar_split(source: LabelledSource, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    return read_cifar_batches(_cifar_folder(source), CIFAR_SPLITS[split])


def _cifar_files(source: LabelledSource) -> list:
    folder = _cifar_folder(source)
    return [stat(folder / b) for b in CIFAR_BATCHES]


# ---------------------------------------------------------------- which data sets have labels

_READERS = {
    "mnist": (_read_idx_split, _idx_files),
    "fashion_mnist": (_read_idx_split, _idx_files),
    "cifar10": (_read_cifar_split, _cifar_files),
}
LABELLED = ("mnist", "fashion_mnist", "cifar10")  # the loader names (ganrun.data.<name>) that have labels


def labelled_source(dataset_cfg: dict) -> LabelledSource | None:
    """The labelled data set behind a dataset config (its `_target_` loader), or None when it has no labels."""
    loader = str(dataset_cfg.get("_target_", "")).rsplit(".", 1)[-1]
    if loader not in _READERS:
        return None
    read, files = _READERS[loader]
    root = Path(str(dataset_cfg.get("root", "data"))).expanduser().absolute()
    return LabelledSource(loader, root, bool(dataset_cfg.get("download", False)), read, files)


# ---------------------------------------------------------------- a labelled image folder (dataset=folder)

FOLDER_TEST_SHARE = 10  # one image in ten held out (seeded) to measure the folder's classifier on
FOLDER_LOADER = "image_folder"


def _folder_settings(dataset_cfg: dict) -> dict:
    """What the folder's images and labels are read with: the classifier sees the images as the run does."""
    keys = {"image_size": 64, "channels": 3, "labels": UNLABELLED, "crop": "center"}
    return {key: dataset_cfg.get(key, default) for key, default in keys.items()}


def _read_folder_split(source: LabelledSource, split: str, settings: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded tenth of the folder's images is the test split, the rest the train split (every class; all read)."""
    from ganrun.data.folder import image_folder

    data = image_folder(str(source.root), **settings)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
    held = max(1, len(order) // FOLDER_TEST_SHARE)
    rows = order[:held] if split == "test" else order[held:]
    rows = rows.sort().values  # read in file order
    return data[rows], data.labels[rows]


def _folder_files(source: LabelledSource, settings: dict) -> list:
    from ganrun.data.listing import list_images

    return [list_images(source.root)[1], sorted(settings.items())]


def classifier_source(dataset_cfg: dict) -> LabelledSource | None:
    """The labelled data a classifier for the classifier_* metrics learns from: a labelled preset's, or a folder's
    with dataset.labels=folders or a labels file (its classes, size and channels); None when there are no labels."""
    source = labelled_source(dataset_cfg)
    loader = str(dataset_cfg.get("_target_", "")).rsplit(".", 1)[-1]
    settings = _folder_settings(dataset_cfg)
    if source is not None or loader != FOLDER_LOADER or settings["labels"] in (None, UNLABELLED):
        return source
    root = Path(str(dataset_cfg.get("root"))).expanduser().absolute()
    return LabelledSource(
        "folder",
        root,
        False,
        partial(_read_folder_split, settings=settings),
        partial(_folder_files, settings=settings),
    )
