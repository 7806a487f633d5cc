"""CIFAR-10: the python pickles of ROOT/cifar-10-batches-py, the images of chosen classes."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ganrun.data.pack import packed
from ganrun.data.reading import (
    DatasetError,
    ImageSet,
    check_classes,
    check_options,
    locate,
    select_classes,
    stat,
    to_shape,
    torchvision_download,
)

CIFAR_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def cifar10(
    root: str = "data",
    download: bool = True,
    image_size: int = 32,
    channels: int = 3,
    classes: Sequence[int] | None = (7,),
) -> ImageSet:
    """CIFAR-10 images (train and test batches) whose label is in `classes` (7 = horse; null: all), with labels."""
    check_options(image_size, channels)
    classes = check_classes(classes)
    root = Path(root).expanduser().absolute()
    folder = root / "cifar-10-batches-py"
    found = locate(
        "CIFAR-10",
        lambda: folder if all((folder / b).is_file() for b in CIFAR_BATCHES) else None,
        lambda: torchvision_download("CIFAR10", root),
        download,
        f"{', '.join(CIFAR_BATCHES)} in {folder}",
    )
    # All six batches are packed once (with their labels); a class selection only picks rows of the pack.
    key = ("cifar10", [stat(found / b) for b in CIFAR_BATCHES], image_size, channels)

    def fill(writer) -> np.ndarray:
        images, labels = read_cifar_batches(found, CIFAR_BATCHES)
        writer.append(to_shape(images, image_size, channels).numpy())
        return labels.numpy()

    images, labels = packed("cifar10", key, (channels, image_size, image_size), fill, labelled=True)
    data = ImageSet(images, torch.from_numpy(np.asarray(labels)), classes=CLASS_NAMES)
    return select_classes(data, classes, "CIFAR-10", found)


def read_cifar_batches(folder: Path, batches: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image (N×3×32×32 uint8) and label (int64) of the given CIFAR-10 batch files, in file order."""
    data, labels = [], []
    for name in batches:
        try:
            with open(folder / name, "rb") as f:
                batch = pickle.load(f, encoding="bytes")  # Python 2 pickles: keys are bytes
            data.append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32))  # rows are CHW
            labels.append(np.asarray(batch[b"labels"], np.int64))
        except (OSError, EOFError, pickle.UnpicklingError, KeyError, ValueError) as e:
            raise DatasetError(f"cannot read {folder / name} ({e!r}); delete {folder} and get it again") from e
    return torch.from_numpy(np.concatenate(data)), torch.from_numpy(np.concatenate(labels))
