"""What every reader shares: the one-line data error, finding (or downloading) files, shaping images."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from ganrun.base.errors import UsageError
from ganrun.data.imageset import ImageSet

FIXES = "set dataset.download=true on a machine with network, or dataset.root=<folder holding a local copy>"
SUBSET_KEYS = ("limit", "limit_seed")  # dataset keys that pick a subset of what the loader reads
STORAGE_KEYS = ("storage", "readers")  # dataset keys that say where the images are kept, not which they are
DRAWING_KEYS = ("xflip",)  # dataset keys that say how batches are drawn from the images, not which they are
NUM_CLASSES = 10  # MNIST, Fashion-MNIST and CIFAR-10 all have ten


class DatasetError(UsageError):
    """A data-set problem the user can fix; str(e) is ONE line that says what is wrong and what to do."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # causes quoted inside may hold newlines


def locate(name: str, find: Callable, fetch: Callable, download: bool, expected: str) -> Path:
    """Return find()'s path, downloading first when it is missing and download is on."""
    found = find()
    if found is None and download:
        try:
            fetch()
        except Exception as e:  # every download failure (usually: no network) is the same problem for the user
            raise DatasetError(f"{name} download failed ({type(e).__name__}: {e}); expected {expected}; {FIXES}") from e
        found = find()
    if found is None:
        raise DatasetError(f"{name} not found: expected {expected}; {FIXES}")
    return found


def torchvision_download(dataset: str, root, train: bool = True) -> None:
    """torchvision.datasets.<dataset>(root, train, download=True). torchvision is imported where it is used: its
    package loads its model zoo, a second and a half before a run's first step on a small CPU."""
    import torchvision

    getattr(torchvision.datasets, dataset)(str(root), train=train, download=True)


def to_shape(x: torch.Tensor, image_size: int, channels: int) -> torch.Tensor:
    """Convert N×C×H×W uint8 to `channels` and, if needed, a square image_size (shorter side, center crop)."""
    if x.shape[1] == 3 and channels == 1:
        # ITU-R 601-2 luma in PIL's fixed point, so every loader grays exactly like Image.convert("L")
        luma = torch.tensor([19595, 38470, 7471], dtype=torch.int32).view(1, 3, 1, 1)
        x = (((x.int() * luma).sum(1, keepdim=True) + 0x8000) >> 16).to(torch.uint8)
    if x.shape[-2:] != (image_size, image_size):
        import torchvision.transforms.functional as TF  # here: torchvision's import is slow (torchvision_download)

        # chunks bound the size of the resize's float temporaries
        x = torch.cat([TF.center_crop(TF.resize(c, image_size, antialias=True), image_size) for c in x.split(4096)])
    if x.shape[1] == 1 and channels == 3:
        x = x.expand(-1, 3, -1, -1)  # after the resize: one channel is cheaper to resize than three
    return x.contiguous()


def check_options(image_size: int, channels: int) -> None:
    """Reject image sizes and channel counts the loaders cannot produce."""
    if channels not in (1, 3):
        raise DatasetError(f"dataset.channels={channels} is not supported; use 1 (grayscale) or 3 (RGB)")
    if not isinstance(image_size, int) or image_size < 1:
        raise DatasetError(f"dataset.image_size={image_size} must be a positive integer")


def stat(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path), st.st_size, st.st_mtime_ns


def check_classes(classes) -> tuple[int, ...] | None:
    """Validate dataset.classes (a list of labels 0..9, or one int; null: all) and return them sorted and unique."""
    if classes is None:
        return None
    values = list(classes) if isinstance(classes, Sequence) else [classes]
    if not values or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c < NUM_CLASSES for c in values):
        raise DatasetError(
            f"dataset.classes={classes!r} must be null (all) or a non-empty list of class labels "
            f"0..{NUM_CLASSES - 1} (e.g. [7] for CIFAR-10's horses)"
        )
    return tuple(sorted(set(values)))


def select_classes(data: ImageSet, classes: tuple[int, ...] | None, name: str, where: Path) -> ImageSet:
    """The images (and labels) of data set `name` whose label is in `classes` (all when None), in file order."""
    if classes is None:
        return data
    keep = torch.isin(data.labels, torch.tensor(classes))
    if not keep.any():
        raise DatasetError(f"no {name} images with labels {list(classes)} in {where}; check dataset.classes")
    return data.subset(torch.nonzero(keep)[:, 0].numpy())


def take_subset(data: ImageSet, limit: int | None, seed: int = 0) -> ImageSet:
    """`limit` images drawn at random without replacement (seeded by `seed`, kept in file order); all when None
    or when the data set is not larger."""
    if limit is None:
        return data
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise DatasetError(f"dataset.limit={limit!r} must be null (all images) or a positive number of images")
    if limit >= len(data):
        return data
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(int(seed)))[:limit].sort().values
    return data.subset(pick.numpy())
