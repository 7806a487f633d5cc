"""Which image files a folder holds and, for a labelled folder, each one's class: from its first-level subfolder
(`dataset.labels=folders`, torchvision's ImageFolder layout) or from a labels file in the folder
(`dataset.labels=dataset.json`, StyleGAN2-ADA's `{"labels": [["relative/path.png", 3], …]}`).

Everything here reads names and small files only, never an image, so a bad labelling stops in one line before
anything is decoded or packed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ganrun.data.reading import DatasetError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
UNLABELLED, BY_FOLDER = "none", "folders"  # dataset.labels: none, folders, or the name of a labels file


def list_images(root: Path) -> tuple[list[str], str]:
    """The image files under `root` (recursively, sorted by relative path, '/'-separated) and a digest of every
    one's relative path, size and modification time; one scandir pass, so a second run on half a million files
    starts fast."""
    found, folders = [], [(root, "")]
    while folders:
        folder, prefix = folders.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                name = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    folders.append((entry.path, name + "/"))
                elif entry.name.lower().endswith(IMAGE_EXTENSIONS) and entry.is_file():
                    info = entry.stat()
                    found.append((name, info.st_size, info.st_mtime_ns))
    found.sort()
    digest = hashlib.sha256()
    for name, size, mtime in found:
        digest.update(f"{name}\0{size}\0{mtime}\n".encode())
    return [name for name, _, _ in found], digest.hexdigest()


@dataclass(frozen=True)
class Labelling:
    """Each listed file's class (an index into `names`), and what the labels were read from (for the pack's key)."""

    labels: list[int]
    names: list[str]
    source: tuple  # the labels file's (path, size, mtime), or the mode: part of the packed cache's key


def first_names(names: Sequence[str], limit: int = 3) -> str:
    """A few names of a long list, for a one-line message."""
    shown = ", ".join(names[:limit])
    return shown + (f" … ({len(names)} in all)" if len(names) > limit else "")


def label_files(root: Path, files: list[str], labels: str) -> Labelling | None:
    """The classes of `files` (relative paths under `root`) as `dataset.labels` says; None for `none`. A file with
    no label, a label naming a missing file, an empty class folder or an unreadable labels file is a one-line
    DatasetError."""
    if labels in (None, UNLABELLED):
        return None
    if labels == BY_FOLDER:
        return _by_folder(root, files)
    return _by_file(root, files, str(labels))


def class_folders(root: Path) -> list[str]:
    """The first-level subfolders of `root`, each a class, sorted by name (hidden ones left out)."""
    with os.scandir(root) as entries:
        return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))


def _by_folder(root: Path, files: list[str]) -> Labelling:
    names = class_folders(root)
    loose = [f for f in files if "/" not in f]
    if loose:
        raise DatasetError(
            f"dataset.labels=folders: {len(loose)} image files lie in {root} itself, outside a class folder, and "
            f"have no label ({first_names(loose)}); move them into a class folder or set dataset.labels=none"
        )
    counts = dict.fromkeys(names, 0)
    for f in files:
        counts[f.split("/", 1)[0]] += 1
    empty = [name for name, count in counts.items() if count == 0]
    if empty:
        raise DatasetError(
            f"dataset.labels=folders: the class folders {first_names(empty)} in {root} hold no image files "
            f"({'/'.join(IMAGE_EXTENSIONS)}); add images or remove the folders"
        )
    index = {name: i for i, name in enumerate(names)}
    return Labelling([index[f.split("/", 1)[0]] for f in files], names, (BY_FOLDER,))


def labels_file(root: Path, labels: str) -> Path:
    """The labels file `dataset.labels` names: relative to the folder, or absolute."""
    path = Path(labels).expanduser()
    return path if path.is_absolute() else root / path


def read_labels_file(root: Path, labels: str) -> dict[str, int | str]:
    """{relative path: label} of a labels file: {"labels": [[path, label], …]} (StyleGAN2-ADA's dataset.json), or
    {"labels": {path: label}}; labels are class indices (ints >= 0) or class names (strings)."""
    path = labels_file(root, labels)
    fix = f"give dataset.labels=none, folders, or a JSON file in {root} such as dataset.json"
    try:
        found = json.loads(path.read_text())["labels"]
    except FileNotFoundError:
        raise DatasetError(f"dataset.labels={labels}: there is no {path}; {fix}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"dataset.labels={labels}: cannot read {path} ({exc!r}); {fix}") from None
    pairs = found.items() if isinstance(found, dict) else found
    try:
        mapping = {str(name).replace("\\", "/").removeprefix("./"): label for name, label in pairs}
    except (TypeError, ValueError):
        raise DatasetError(
            f"dataset.labels={labels}: {path} holds no [path, label] pairs under 'labels'; {fix}"
        ) from None
    kinds = {type(label) for label in mapping.values()}
    ints = kinds == {int} and all(label >= 0 for label in mapping.values())
    if not mapping or not (ints or kinds == {str}):
        raise DatasetError(
            f"dataset.labels={labels}: the labels in {path} must be all class indices >= 0 or all class names "
            f"(found {', '.join(sorted(k.__name__ for k in kinds)) or 'none'}); {fix}"
        )
    return mapping


def _by_file(root: Path, files: list[str], labels: str) -> Labelling:
    mapping = read_labels_file(root, labels)
    path = labels_file(root, labels)
    listed = set(files)
    missing = sorted(set(mapping) - listed)
    if missing:
        raise DatasetError(
            f"dataset.labels={labels}: {path} names {len(missing)} images that are not image files under {root} "
            f"({first_names(missing)}); correct the paths (relative to {root}) or remove those entries"
        )
    unlabelled = [f for f in files if f not in mapping]
    if unlabelled:
        raise DatasetError(
            f"dataset.labels={labels}: {len(unlabelled)} image files under {root} have no label in {path} "
            f"({first_names(unlabelled)}); add them to it or move them out of the folder"
        )
    values = [mapping[f] for f in files]
    if isinstance(values[0], int):
        names = [str(i) for i in range(max(values) + 1)]
        indices = values
    else:
        names = sorted(set(values))
        index = {name: i for i, name in enumerate(names)}
        indices = [index[v] for v in values]
    info = path.stat()
    return Labelling(indices, names, (str(path), info.st_size, info.st_mtime_ns))


def folder_class_names(root, labels) -> list[str] | None:
    """A labelled folder's class names, from names alone (no image is read); None for `labels=none`: what a
    class-conditional model is sized from before the data are loaded."""
    root = Path(root).expanduser().absolute()
    if labels in (None, UNLABELLED) or not root.is_dir():
        return None
    if labels == BY_FOLDER:
        return class_folders(root)
    values = list(read_labels_file(root, str(labels)).values())
    return [str(i) for i in range(max(values) + 1)] if isinstance(values[0], int) else sorted(set(values))


def pick_classes(classes, names: list[str], where: Path) -> tuple[int, ...] | None:
    """dataset.classes of a labelled folder as class indices: each item a class name, else an index into the
    sorted names; null: all."""
    if classes is None:
        return None
    items = list(classes) if isinstance(classes, Sequence) and not isinstance(classes, str) else [classes]
    picked = []
    for item in items:
        if str(item) in names:
            picked.append(names.index(str(item)))
        elif isinstance(item, int) and not isinstance(item, bool) and 0 <= item < len(names):
            picked.append(item)
        else:
            raise DatasetError(
                f"dataset.classes={classes!r}: {item!r} is neither a class of {where} nor an index "
                f"0..{len(names) - 1}; its classes are {first_names(names, 10)}"
            )
    if not picked:
        raise DatasetError("dataset.classes=[] picks no class; give class names or indices, or null for all")
    return tuple(sorted(set(picked)))
