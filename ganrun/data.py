"""Data sets as one uint8 N×C×H×W tensor (decoded once, cached as .npy) and an on-device batch sampler."""
from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import struct
import tempfile
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torchvision
import torchvision.transforms.functional as TF
from PIL import Image

from .errors import UsageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
CIFAR_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
_FIXES = "set dataset.download=true on a machine with network, or dataset.root=<folder holding a local copy>"


class DatasetError(UsageError):
    """A data-set problem the user can fix; str(e) is ONE line that says what is wrong and what to do."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # causes quoted inside may hold newlines


# ---------------------------------------------------------------- loaders (Hydra _target_s)

def mnist(root: str = "data", download: bool = True, image_size: int = 28, channels: int = 1) -> torch.Tensor:
    """The 60,000 MNIST training images."""
    return _idx_dataset("MNIST", torchvision.datasets.MNIST, root, download, image_size, channels)


def fashion_mnist(root: str = "data", download: bool = True, image_size: int = 28, channels: int = 1) -> torch.Tensor:
    """The 60,000 Fashion-MNIST training images."""
    return _idx_dataset("FashionMNIST", torchvision.datasets.FashionMNIST, root, download, image_size, channels)


def cifar10(root: str = "data", download: bool = True, image_size: int = 32, channels: int = 3,
            classes: Sequence[int] = (7,)) -> torch.Tensor:
    """CIFAR-10 images (train and test batches) whose label is in `classes` (7 = horse)."""
    _check_options(image_size, channels)
    classes = _check_classes(classes)
    root = Path(root).expanduser().absolute()
    folder = root / "cifar-10-batches-py"
    found = _locate("CIFAR-10", lambda: folder if all((folder / b).is_file() for b in CIFAR_BATCHES) else None,
                    lambda: torchvision.datasets.CIFAR10(str(root), train=True, download=True),
                    download, f"{', '.join(CIFAR_BATCHES)} in {folder}")
    key = ("cifar10", [_stat(found / b) for b in CIFAR_BATCHES], image_size, channels, classes)
    return _cached("cifar10", key, lambda: _to_shape(_read_cifar(found, classes), image_size, channels))


def image_folder(root: str, image_size: int = 64, channels: int = 3, download: bool = False) -> torch.Tensor:
    """Every JPG/PNG/BMP/WebP image under `root` (recursively, sorted by path), resized and center-cropped."""
    if download:
        raise DatasetError("an image folder has no automatic download (set dataset.download=false); "
                           "get the anime faces as the README describes and set dataset.root=<that folder>")
    _check_options(image_size, channels)
    root = Path(root).expanduser().absolute()
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist; set dataset.root=<a folder of JPG/PNG images> "
                           "(the README says where to get anime faces)")
    files = sorted((p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()),
                   key=lambda p: p.relative_to(root).as_posix())
    if not files:
        raise DatasetError(f"no image files ({'/'.join(IMAGE_EXTENSIONS)}) under {root}; "
                           "set dataset.root=<a folder of JPG/PNG images>")
    listing = [(p.relative_to(root).as_posix(), *_stat(p)[1:]) for p in files]
    key = ("image_folder", str(root), listing, image_size, channels)
    return _cached("image_folder", key, lambda: _decode_folder(root, files, image_size, channels))


# ---------------------------------------------------------------- finding, reading, shaping

def _idx_dataset(name: str, fetcher: Callable, root: str, download: bool, image_size: int,
                 channels: int) -> torch.Tensor:
    """Load train-images-idx3-ubyte[.gz] from root/<name>/raw (torchvision) or root itself (Debian)."""
    _check_options(image_size, channels)
    root = Path(root).expanduser().absolute()
    folders = (root / name / "raw", root)
    names = ("train-images-idx3-ubyte", "train-images-idx3-ubyte.gz")  # the plain file reads faster
    candidates = [d / n for d in folders for n in names]
    path = _locate(name, lambda: next((p for p in candidates if p.is_file()), None),
                   lambda: fetcher(str(root), train=True, download=True),
                   download, f"{names[0]}[.gz] in {folders[0]} or {folders[1]}")
    # cache the one-channel images: replicating to three is cheap, and caching it would triple the file
    gray = _cached(name.lower(), (name, _stat(path), image_size), lambda: _to_shape(_read_idx(path), image_size, 1))
    return _to_shape(gray, image_size, channels)


def _locate(name: str, find: Callable, fetch: Callable, download: bool, expected: str) -> Path:
    """Return find()'s path, downloading first when it is missing and download is on."""
    found = find()
    if found is None and download:
        try:
            fetch()
        except Exception as e:  # every download failure (usually: no network) is the same problem for the user
            raise DatasetError(f"{name} download failed ({type(e).__name__}: {e}); expected {expected}; {_FIXES}") from e
        found = find()
    if found is None:
        raise DatasetError(f"{name} not found: expected {expected}; {_FIXES}")
    return found


def _read_idx_array(path: Path, dims: int, unit: str) -> np.ndarray:
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
        raise DatasetError(f"{path} is truncated or damaged: its header promises {'x'.join(map(str, shape))} {unit} "
                           f"but it holds {len(data) - header}; delete it and get it again")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def _read_idx(path: Path) -> torch.Tensor:
    """An idx3 image file as N×1×H×W uint8."""
    return torch.from_numpy(_read_idx_array(path, 3, "pixels")[:, None].copy())


def _read_idx_labels(path: Path) -> torch.Tensor:
    """An idx1 label file as int64 labels."""
    return torch.from_numpy(_read_idx_array(path, 1, "labels").astype(np.int64))


def _read_cifar_batches(folder: Path, batches: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
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


def _read_cifar(folder: Path, classes: tuple[int, ...]) -> torch.Tensor:
    """The images of all six CIFAR-10 pickles whose label is in `classes`, as N×3×32×32 uint8."""
    images, labels = _read_cifar_batches(folder, CIFAR_BATCHES)
    selected = images[torch.isin(labels, torch.tensor(classes))]
    if len(selected) == 0:
        raise DatasetError(f"no CIFAR-10 images with labels {list(classes)} in {folder}; check dataset.classes")
    return selected


def _decode_image(path: Path, image_size: int, mode: str) -> np.ndarray | None:
    """One image file as H×W[×3] uint8, resized and center-cropped to image_size; None if unreadable."""
    try:
        with Image.open(path) as img:
            img.draft(mode, (image_size, image_size))  # JPEG: decode at a smaller scale that still covers image_size
            img = img.convert(mode)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return np.asarray(TF.center_crop(TF.resize(img, image_size), image_size))


def _decode_folder(root: Path, files: list[Path], image_size: int, channels: int) -> torch.Tensor:
    """Decode `files` in a few threads (PIL releases the GIL), skipping unreadable ones with one warning."""
    mode = "L" if channels == 1 else "RGB"
    with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
        images = [a for a in pool.map(lambda p: _decode_image(p, image_size, mode), files) if a is not None]
    if len(images) < len(files):
        warnings.warn(f"skipped {len(files) - len(images)} unreadable image files under {root}", stacklevel=2)
    if not images:
        raise DatasetError(f"none of the {len(files)} image files under {root} could be read; "
                           "set dataset.root=<a folder of JPG/PNG images>")
    array = np.stack(images).reshape(len(images), image_size, image_size, channels)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(0, 3, 1, 2)))


def _to_shape(x: torch.Tensor, image_size: int, channels: int) -> torch.Tensor:
    """Convert N×C×H×W uint8 to `channels` and, if needed, a square image_size (shorter side, center crop)."""
    if x.shape[1] == 3 and channels == 1:
        # ITU-R 601-2 luma in PIL's fixed point, so every loader grays exactly like Image.convert("L")
        luma = torch.tensor([19595, 38470, 7471], dtype=torch.int32).view(1, 3, 1, 1)
        x = (((x.int() * luma).sum(1, keepdim=True) + 0x8000) >> 16).to(torch.uint8)
    if x.shape[-2:] != (image_size, image_size):
        # chunks bound the size of the resize's float temporaries
        x = torch.cat([TF.center_crop(TF.resize(c, image_size, antialias=True), image_size) for c in x.split(4096)])
    if x.shape[1] == 1 and channels == 3:
        x = x.expand(-1, 3, -1, -1)  # after the resize: one channel is cheaper to resize than three
    return x.contiguous()


def _check_options(image_size: int, channels: int) -> None:
    """Reject image sizes and channel counts the loaders cannot produce."""
    if channels not in (1, 3):
        raise DatasetError(f"dataset.channels={channels} is not supported; use 1 (grayscale) or 3 (RGB)")
    if not isinstance(image_size, int) or image_size < 1:
        raise DatasetError(f"dataset.image_size={image_size} must be a positive integer")


def _check_classes(classes) -> tuple[int, ...]:
    """Validate CIFAR-10 labels (a list, or one int) and return them sorted and unique."""
    values = list(classes) if isinstance(classes, Sequence) else [classes]
    if not values or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 9 for c in values):
        raise DatasetError(f"dataset.classes={classes!r} must be a non-empty list of CIFAR-10 labels 0..9 "
                           "(e.g. [7] for horse)")
    return tuple(sorted(set(values)))


def _stat(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path), st.st_size, st.st_mtime_ns


# ---------------------------------------------------------------- cache

def _cached(name: str, key: tuple, build: Callable[[], torch.Tensor]) -> torch.Tensor:
    """build()'s tensor, read from a .npy under $GANRUN_CACHE (or ~/.cache/ganrun) when one matches `key`."""
    cache_dir = Path(os.environ.get("GANRUN_CACHE") or Path.home() / ".cache" / "ganrun")
    path = cache_dir / f"{name}-{hashlib.sha256(repr(key).encode()).hexdigest()[:24]}.npy"
    try:
        array = np.load(path, allow_pickle=False)
        if array.dtype == np.uint8 and array.ndim == 4:
            return torch.from_numpy(array)
    except (OSError, ValueError, EOFError):
        pass  # missing or corrupt: rebuild below
    images = build()
    tmp = None
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=path.stem, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.save(f, images.numpy())
        os.replace(tmp, path)  # atomic: a concurrent or killed run never sees half a file
    except OSError as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        warnings.warn(f"not caching the decoded data set: cannot write {cache_dir} ({e}); "
                      "set GANRUN_CACHE=<writable folder> to start faster next time", stacklevel=2)
    return images


# ---------------------------------------------------------------- sampling

class ImageBank:
    """Every training image as one uint8 tensor on the training device; batches drawn by index there."""

    def __init__(self, images: torch.Tensor, device: torch.device | str, seed: int):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"ImageBank wants N×C×H×W uint8 images, got {images.dtype} {tuple(images.shape)}")
        self.device = torch.device(device)
        self.images = images.to(self.device)  # uint8 keeps device memory at one byte per pixel
        self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(seed)
        self._perm = self._new_perm()
        self._pos = 0

    @property
    def num_images(self) -> int:
        return self.images.shape[0]

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    def _new_perm(self) -> torch.Tensor:
        return torch.randperm(self.num_images, generator=self._generator, device=self.device)

    def next_batch(self, batch_size: int) -> torch.Tensor:
        """The next batch_size images of the epoch's permutation as float32 in [-1, 1]; leftovers are dropped."""
        if batch_size > self.num_images:
            raise DatasetError(f"train.batch_size={batch_size} is larger than the data set "
                               f"({self.num_images} images); lower train.batch_size")
        if self._pos + batch_size > self.num_images:
            self._perm, self._pos = self._new_perm(), 0
        idx = self._perm[self._pos:self._pos + batch_size]
        self._pos += batch_size
        return self.images[idx].float() / 127.5 - 1

    def state_dict(self) -> dict:
        """Where the sampler stands, as tensors and ints (loadable with weights_only=True)."""
        return {"generator": self._generator.get_state(), "perm": self._perm.cpu(), "pos": self._pos}

    def load_state_dict(self, state: dict) -> None:
        """Continue exactly where state_dict() left off."""
        if len(state["perm"]) != self.num_images:
            raise DatasetError(f"the checkpoint was trained on {len(state['perm'])} images but the data set now has "
                               f"{self.num_images}; resume with the same dataset settings or start a new run")
        self._generator.set_state(state["generator"])
        self._perm = state["perm"].to(self.device)
        self._pos = int(state["pos"])
