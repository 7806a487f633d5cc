"""Write tiny data sets in the exact on-disk formats the real ones use (idx, CIFAR-10 pickles, image folders)."""

from __future__ import annotations

import gzip
import json
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image


def pattern(n: int, size: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    """Deterministic n×channels×size×size uint8 images: a gradient with a bright square at a random place."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 120, size, dtype=np.float32)
    images = np.empty((n, channels, size, size), np.uint8)
    for i in range(n):
        for c in range(channels):
            image = ramp[None, :] * (1 + c) / channels + ramp[:, None] * rng.random()
            y, x = rng.integers(0, size // 2, 2)
            image[y : y + size // 3, x : x + size // 3] = rng.integers(128, 256)
            images[i, c] = image.clip(0, 255)
    return images


def _write(path: Path, data: bytes, gz: bool) -> Path:
    path = path.with_name(path.name + ".gz") if gz else path
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def write_idx_images(folder: Path, n: int = 64, size: int = 28, gz: bool = True, prefix: str = "train") -> Path:
    """Write <prefix>-images-idx3-ubyte[.gz] holding pattern(n, size, seed=n) and a matching labels file."""
    folder.mkdir(parents=True, exist_ok=True)
    images = pattern(n, size, seed=n)[:, 0]
    labels = np.arange(n, dtype=np.uint8) % 10
    _write(folder / f"{prefix}-labels-idx1-ubyte", struct.pack(">II", 0x801, n) + labels.tobytes(), gz)
    return _write(
        folder / f"{prefix}-images-idx3-ubyte", struct.pack(">IIII", 0x803, n, size, size) + images.tobytes(), gz
    )


def write_mnist(root: Path, n: int = 64, gz: bool = True, folder_name: str = "MNIST") -> Path:
    """torchvision's layout: root/<folder_name>/raw/ with train (n images) and t10k (n // 2) files; returns root."""
    raw = root / folder_name / "raw"
    write_idx_images(raw, n, gz=gz)
    write_idx_images(raw, n // 2, gz=gz, prefix="t10k")
    return root


def write_debian_fashion(root: Path, n: int = 64) -> Path:
    """Debian's dataset-fashion-mnist layout: just the four .gz files in root; returns root."""
    write_idx_images(root, n)
    write_idx_images(root, n // 2, prefix="t10k")
    return root


def cifar_images(per_class: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The images (N×3×32×32) and labels that write_cifar10 spreads over its six batches, in batch order."""
    n = 6 * 10 * per_class
    return pattern(n, 32, channels=3, seed=per_class), np.arange(n) % 10


def write_cifar10(root: Path, per_class: int = 4) -> Path:
    """root/cifar-10-batches-py/ as Python pickles with bytes keys; each of the six batches holds per_class images
    of every class (so 6 * per_class images per class in all); returns root."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = cifar_images(per_class)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name, batch_images, batch_labels in zip(names, np.split(images, 6), np.split(labels, 6)):
        batch = {
            b"batch_label": name.encode(),
            b"labels": batch_labels.tolist(),
            b"data": batch_images.reshape(len(batch_images), 3072),  # each row: 1024 R, 1024 G, 1024 B
            b"filenames": [f"{name}_{i}.png".encode() for i in range(len(batch_images))],
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {
        b"num_cases_per_batch": 10 * per_class,
        b"num_vis": 3072,
        b"label_names": [s.encode() for s in ("airplane automobile bird cat deer dog frog horse ship truck").split()],
    }
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return root


def write_image_folder(root: Path, n: int = 6, size: int = 40, broken: int = 1) -> Path:
    """Nested folders of n images: even ones size×size lossless PNG (pattern(n, size, 3), some with an upper-case
    extension), odd ones wider JPEGs; plus `broken` garbage files with an image extension and a notes.txt; returns
    root."""
    images = pattern(n, size, channels=3).transpose(0, 2, 3, 1)
    for i in range(n):
        folder = root / ("a" if i % 3 == 0 else "b/c")
        folder.mkdir(parents=True, exist_ok=True)
        if i % 2 == 0:
            Image.fromarray(images[i]).save(folder / f"img{i:02d}.{'PNG' if i % 4 == 0 else 'png'}")
        else:
            wide = np.concatenate([images[i], images[i][:, : size // 2]], axis=1)
            Image.fromarray(wide).save(folder / f"img{i:02d}.jpg", quality=95)
    for i in range(broken):
        (root / f"broken{i}.jpg").write_bytes(b"this is not a JPEG" * (i + 1))
    (root / "notes.txt").write_text("not an image, ignored\n")
    return root


def separable(n: int, size: int = 28, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n images (n×1×size×size uint8) whose class c = i % 10 is a bright band at rows 2c+4..2c+5, on faint noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = rng.integers(0, 40, (n, 1, size, size)).astype(np.uint8)
    for i, c in enumerate(labels):
        images[i, 0, 2 * c + 4 : 2 * c + 6] = 230
    return images, labels


def write_separable_mnist(root: Path, n: int = 200, folder_name: str = "MNIST") -> Path:
    """torchvision's layout with separable() train (n) and t10k (n // 2) images and their labels; returns root."""
    raw = root / folder_name / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, count, seed in (("train", n, 0), ("t10k", n // 2, 1)):
        images, labels = separable(count, seed=seed)
        _write(
            raw / f"{prefix}-labels-idx1-ubyte",
            struct.pack(">II", 0x801, count) + labels.astype(np.uint8).tobytes(),
            True,
        )
        _write(raw / f"{prefix}-images-idx3-ubyte", struct.pack(">IIII", 0x803, count, 28, 28) + images.tobytes(), True)
    return root


CLASSES = ("cat", "dog", "fox")


def write_labelled_folder(
    root: Path, layout: str = "folders", per_class: tuple[int, ...] = (4, 3, 5), size: int = 32
) -> Path:
    """A labelled folder of pattern(sum(per_class), size, 3) images, image i of class CLASSES[c] for the c-th run of
    per_class[c] images, in one of the two layouts: `folders` (root/<class>/…, torchvision's ImageFolder) or `json`
    (the images in nested folders, classes by index in root/dataset.json as StyleGAN2-ADA writes it). Even images
    are lossless PNGs (some upper-case .PNG), odd ones wider JPEGs (3:2, center-cropped back to the pattern's
    square); returns root."""
    images = pattern(sum(per_class), size, channels=3, seed=sum(per_class)).transpose(0, 2, 3, 1)
    classes = [c for c, count in enumerate(per_class) for _ in range(count)]
    entries = []
    for i, (image, label) in enumerate(zip(images, classes)):
        folder = f"{CLASSES[label]}/{'deep/' if i % 4 == 3 else ''}" if layout == "folders" else f"part{i % 2}/"
        (root / folder).mkdir(parents=True, exist_ok=True)
        if i % 2 == 0:
            name = f"{folder}img{i:02d}.{'PNG' if i % 4 == 0 else 'png'}"
            Image.fromarray(image).save(root / name)
        else:
            name = f"{folder}img{i:02d}.jpg"
            Image.fromarray(np.concatenate([image[:, : size // 4], image, image[:, : size // 4]], axis=1)).save(
                root / name, quality=95
            )
        entries.append([name, label])
    if layout == "json":
        (root / "dataset.json").write_text(json.dumps({"labels": entries}))
    return root


def labelled_pattern(per_class: tuple[int, ...] = (4, 3, 5), size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """The N×3×size×size images and labels write_labelled_folder writes, in its image order."""
    images = pattern(sum(per_class), size, channels=3, seed=sum(per_class))
    return images, np.array([c for c, count in enumerate(per_class) for _ in range(count)])
