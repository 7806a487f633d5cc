"""MNIST and Fashion-MNIST: the idx files, in torchvision's layout (ROOT/<Name>/raw) or Debian's (ROOT)."""

from __future__ import annotations

import gzip
import struct
import zlib
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

CLASS_NAMES = {  # the names of labels 0..9
    "MNIST": [str(digit) for digit in range(10)],
    "FashionMNIST": [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
}


def mnist(root: str = "data", download: bool = True, image_size: int = 28, channels: int = 1, classes=None) -> ImageSet:
    """The 60,000 MNIST training images (those of `classes` when given) and their labels."""
    return idx_dataset("MNIST", root, download, image_size, channels, classes)


def fashion_mnist(
    root: str = "data", download: bool = True, image_size: int = 28, channels: int = 1, classes=None
) -> ImageSet:
    """The 60,000 Fashion-MNIST training images (those of `classes` when given) and their labels."""
    return idx_dataset("FashionMNIST", root, download, image_size, channels, classes)


def idx_dataset(name: str, root: str, download: bool, image_size: int, channels: int, classes=None) -> ImageSet:
    """Load train-images-idx3-ubyte[.gz] from root/<name>/raw (torchvision) or root itself (Debian), and the
    train-labels file beside it when there is one (labels None otherwise; dataset.classes then needs it)."""
    check_options(image_size, channels)
    classes = check_classes(classes)
    root = Path(root).expanduser().absolute()
    folders = (root / name / "raw", root)
    names = ("train-images-idx3-ubyte", "train-images-idx3-ubyte.gz")  # the plain file reads faster
    candidates = [d / n for d in folders for n in names]
    path = locate(
        name,
        lambda: next((p for p in candidates if p.is_file()), None),
        lambda: torchvision_download(name, root),
        download,
        f"{names[0]}[.gz] in {folders[0]} or {folders[1]}",
    )
    # Pack the one-channel images: delivering three replicates the channel after each gather, so the pack (and
    # a tier holding it) stays a third of the size.
    gray, _ = packed(
        name.lower(),
        (name, stat(path), image_size),
        (1, image_size, image_size),
        lambda writer: writer.append(to_shape(read_idx(path), image_size, 1).numpy()),
    )
    labels = _train_labels(path.parent, len(gray))
    if labels is None and classes is not None:
        raise DatasetError(
            f"dataset.classes needs the labels file train-labels-idx1-ubyte[.gz] beside {path}; "
            "copy it there, or set dataset.classes=null"
        )
    names = None if labels is None else CLASS_NAMES.get(name)
    return select_classes(ImageSet(gray, labels, channels=channels, classes=names), classes, name, path.parent)


def _train_labels(folder: Path, count: int) -> torch.Tensor | None:
    """The train-labels-idx1-ubyte[.gz] beside the images, or None when there is none."""
    found = next(
        (p for p in (folder / "train-labels-idx1-ubyte", folder / "train-labels-idx1-ubyte.gz") if p.is_file()), None
    )
    if found is None:
        return None
    labels = read_idx_labels(found)
    if len(labels) != count:
        raise DatasetError(f"{found} holds {len(labels)} labels for {count} images; delete both and get them again")
    return labels


def read_idx_array(path: Path, dims: int, unit: str) -> np.ndarray:
    """Parse an idx file (plain or gzip) of uint8 with `dims` dimensions (1: labels, 3: images)."""
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"cannot read {path} ({e}); the file is damaged: delete it and get it again") from e
    header = 4 + 4 * dims
    if len(data) < header or struct.unpack(">I", data[:4])[0] != 0x800 + dims:
        raise DatasetError(f"{path} is not an idx {unit} file (bad magic number); delete it and get it again")
    shape = struct.unpack(f">{dims}I", data[4:header])
    if len(data) != header + int(np.prod(shape)):
        raise DatasetError(
            f"{path} is truncated or damaged: its header promises {'x'.join(map(str, shape))} {unit} "
            f"but it holds {len(data) - header}; delete it and get it again"
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def read_idx(path: Path) -> torch.Tensor:
    """An idx3 image file as N×1×H×W uint8."""
    return torch.from_numpy(read_idx_array(path, 3, "pixels")[:, None].copy())


def read_idx_labels(path: Path) -> torch.Tensor:
    """An idx1 label file as int64 labels."""
    return torch.from_numpy(read_idx_array(path, 1, "labels").astype(np.int64))
