"""Reference statistics in files: ganrun's own (every space, with the protocol; the real-image cache is written in
it too), clean-fid's `.npz` (mu, sigma) and EDM2's `.pkl` (detector name → mu, sigma), read, checked and written.

ganrun's format is a NumPy `.npz` (read with allow_pickle=False): `format`, `protocol` (JSON: for each space, the
network and layer, a hash of its weights, the resize, the images and where they came from) and, per space,
`<space>/mu`, `<space>/sigma` and optionally `<space>/features` (the real features: KID, precision, recall, density
and coverage need them, the Fréchet distance only mu and sigma). A space is named as a protocol's `features` field
names it: `inception-v3-compat 2048`, `dinov2-vitl14 cls`, `ganrun-classifier features`.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ganrun.base.errors import UsageError

FORMAT = "ganrun statistics 1"
INCEPTION = "inception-v3-compat 2048"  # torch-fidelity's extractor and layer: FID's space
DINOV2_RESIZE = "bicubic-antialiased"  # how DINOv2's 224×224 inputs are made (EDM2's: dinov2.preprocess)


@dataclass
class Entry:
    """One space's statistics of a set of real images, and what is known of how they were made."""

    mu: np.ndarray
    sigma: np.ndarray
    features: np.ndarray | None = None  # the real features themselves, where the file has them
    about: dict = field(default_factory=dict)  # weights, resize, images, reference (None: not known)


@dataclass
class ReferenceFile:
    path: Path
    kind: str  # ganrun | clean-fid | EDM2
    entries: dict[str, Entry]  # space (a protocol's features field) → its statistics

    def describe(self) -> str:
        """The reference as a protocol names it: the file's name, its kind and a hash of its contents."""
        return f"{self.kind} statistics {self.path.name} ({file_hash(self.path)})"


def file_hash(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


# ---------------------------------------------------------------- writing


def write(path: Path, entries: dict[str, Entry]) -> None:
    """ganrun's format at `path` (atomically: a temp file renamed over it)."""
    arrays = {"format": np.array(FORMAT), "protocol": np.array(json.dumps({k: e.about for k, e in entries.items()}))}
    for space, entry in entries.items():
        arrays[f"{space}/mu"], arrays[f"{space}/sigma"] = entry.mu, entry.sigma
        if entry.features is not None:
            arrays[f"{space}/features"] = entry.features
    _save_npz(path, arrays)


def write_cleanfid(path: Path, entry: Entry) -> None:
    """clean-fid's format: an .npz of mu and sigma alone (as its make_custom_stats writes them)."""
    _save_npz(path, {"mu": entry.mu, "sigma": entry.sigma})


def _save_npz(path: Path, arrays: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- reading


def read(path: Path, option: str = "metrics.reference=") -> ReferenceFile:
    """The statistics in `path` (ganrun's .npz, clean-fid's .npz or EDM2's .pkl); UsageError in one line if it is
    none of them."""
    if not path.is_file():
        raise UsageError(f"{option}{path} does not exist; give a statistics file (.npz or .pkl), train or test")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as found:
                arrays = {key: found[key] for key in found.files}
            return _from_ganrun(path, arrays) if "format" in arrays else _from_cleanfid(path, arrays, option)
        if suffix == ".pkl":
            return _from_edm2(path, safe_unpickle(path.read_bytes(), option + str(path)), option)
    except UsageError:
        raise
    except Exception as exc:  # a truncated or foreign file: zip, pickle and value errors alike
        raise UsageError(f"{option}{path} is unreadable: {' '.join(str(exc).split())[:160]}") from None
    raise UsageError(f"{option}{path}: statistics files are .npz (ganrun's or clean-fid's) or .pkl (EDM2's)")


def _from_ganrun(path: Path, arrays: dict) -> ReferenceFile:
    if str(arrays["format"]) != FORMAT:
        raise ValueError(f"format {arrays['format']}, this ganrun reads {FORMAT}")
    about = json.loads(str(arrays["protocol"]))
    entries = {
        space: Entry(arrays[f"{space}/mu"], arrays[f"{space}/sigma"], arrays.get(f"{space}/features"), meta)
        for space, meta in about.items()
    }
    return ReferenceFile(path, "ganrun", entries)


def cleanfid_resize(name: str) -> str | None:
    """The resize clean-fid's file name says (`<name>_<mode>_<split>_<res>.npz`): clean-fid's `clean`, its
    `legacy_tensorflow` (TensorFlow 1's bilinear, ganrun's `tensorflow`), or None when the name says neither."""
    from ganrun.quality.resize import CLEANFID_MODES

    for ours, mode in CLEANFID_MODES.items():
        if re.search(rf"(^|_){mode}(_|$)", Path(name).stem.lower()):
            return ours
    return None


def _from_cleanfid(path: Path, arrays: dict, option: str) -> ReferenceFile:
    from ganrun.quality import dinov2

    if not {"mu", "sigma"} <= set(arrays):
        raise UsageError(f"{option}{path} has no mu and sigma (it holds {', '.join(sorted(arrays)) or 'nothing'})")
    dim = int(np.atleast_1d(arrays["mu"]).shape[0])
    models = [m for m in dinov2.MODELS.values() if m.dim == dim]
    if dim == 2048:
        space, about = INCEPTION, {"resize": cleanfid_resize(path.name)}
        if about["resize"] is None:
            raise UsageError(
                f"{option}{path}: its name does not say which resize made it; clean-fid names its files "
                "<name>_clean_… or <name>_legacy_tensorflow_…: rename it so"
            )
    elif models:  # as ganrun writes a DINOv2 space in clean-fid's format
        space, about = f"dinov2-{models[0].name} cls", {"resize": DINOV2_RESIZE}
    else:
        raise UsageError(
            f"{option}{path} holds {dim}-dimensional statistics: neither Inception's (2048) nor DINOv2's "
            f"({', '.join(f'{m.name} {m.dim}' for m in dinov2.MODELS.values())})"
        )
    return ReferenceFile(path, "clean-fid", {space: Entry(arrays["mu"], arrays["sigma"], None, about)})


EDM2_SPACES = {"fid": (INCEPTION, "tensorflow"), "fd_dinov2": ("dinov2-vitl14 cls", DINOV2_RESIZE)}


def _from_edm2(path: Path, found, option: str) -> ReferenceFile:
    if not isinstance(found, dict):
        raise UsageError(f"{option}{path} is not EDM2's reference statistics (a dict of detector → mu, sigma)")
    entries = {}
    for detector, (space, resized) in EDM2_SPACES.items():
        stats = found.get(detector)
        if isinstance(stats, dict) and {"mu", "sigma"} <= set(stats):
            images = found.get("num_images")
            about = {"resize": resized, "images": int(images) if isinstance(images, int) else None}
            entries[space] = Entry(np.asarray(stats["mu"]), np.asarray(stats["sigma"]), None, about)
    if not entries:
        raise UsageError(
            f"{option}{path} has neither fid nor fd_dinov2 statistics (keys: {', '.join(map(str, found))})"
        )
    return ReferenceFile(path, "EDM2", entries)


# ---------------------------------------------------------------- a pickle without code


# numpy's arrays and dtypes pickle through these (numpy 1 names them numpy.core, numpy 2 numpy._core); _codecs.encode
# makes bytes in pickles of protocol 2. Each builds an array, a dtype or bytes from data; nothing else is looked up,
# so no other callable can run.
SAFE_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),  # protocol 5: an array from its bytes
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class _PlainUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, where: str):
        super().__init__(io.BytesIO(data))
        self.where = where

    def find_class(self, module: str, name: str):
        if (module, name) not in SAFE_GLOBALS:
            raise UsageError(
                f"{self.where} is a pickle that asks for {module}.{name}; ganrun reads pickles of plain containers "
                "and numpy arrays only: write the statistics as an .npz of mu and sigma"
            )
        return super().find_class(module, name)

    def persistent_load(self, pid):
        raise UsageError(f"{self.where} is a pickle with persistent ids; ganrun reads plain containers and arrays")


def safe_unpickle(data: bytes, where: str):
    """The object pickled in `data`, built from plain containers and numpy arrays only; a pickle that asks for any
    other class or function is refused in one line before anything of it runs."""
    return _PlainUnpickler(data, where).load()


# ---------------------------------------------------------------- checking a file against a score


def entry_for(
    reference: ReferenceFile,
    space: str,
    resize: str,
    weights: str | None,
    needs_features: list[str],
    option: str = "metrics.reference=",
) -> Entry:
    """The statistics of `space` in the file, made with this `resize` (and these weights, where the file knows
    them), with features when `needs_features` (the metrics that read them) is not empty; UsageError saying what
    the file has otherwise."""
    where = f"{option}{reference.path}"
    if space not in reference.entries:
        held = "; ".join(f"{s} ({e.about.get('resize')})" for s, e in reference.entries.items())
        raise UsageError(f"{where} has no statistics in {space}'s features; it holds {held}")
    entry = reference.entries[space]
    if entry.about.get("resize") != resize:
        raise UsageError(
            f"{where} was made with the resize {entry.about.get('resize')}, this score uses {resize}"
            + (f"; set metrics.inception_resize={entry.about.get('resize')}" if space == INCEPTION else "")
        )
    if weights is not None and entry.about.get("weights") not in (None, weights):
        raise UsageError(f"{where} was made with {space}'s weights {entry.about['weights']}, this run has {weights}")
    if needs_features and entry.features is None:
        raise UsageError(
            f"{where} has mu and sigma only, and {', '.join(needs_features)} need the real features; score the "
            "Fréchet distance alone against it, or write the statistics with python -m ganrun.statistics --features"
        )
    return entry
