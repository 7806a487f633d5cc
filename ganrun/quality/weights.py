"""What the feature spaces share about their networks: downloading weights once, reading a weights file checked
with weights_only (a check that runs once per file), and torch-fidelity's interface for ganrun's own feature
extractors."""

import functools
import socket
from pathlib import Path

import torch
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from ganrun.base.errors import UsageError


def download(url: str, path: Path, what: str, option: str, timeout: float = 20.0) -> None:
    """Download `url` to `path` once (temp file, then rename); a UsageError in one line when it cannot be had.
    `timeout`: seconds a silent connection may hang (a firewall that drops packets), so that a run's start never
    waits for long."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # torch.hub's urlopen takes no timeout of its own
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(path), progress=False)
    except Exception as exc:  # no network is URLError, OSError, SSL or HTTP errors: all mean the same here
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise UsageError(
            f"cannot get {what} ({reason}); offline, set {option}PATH to a copy of {url} or put that file at "
            f"{path} (the torch hub cache)"
        ) from None
    finally:
        socket.setdefaulttimeout(previous)


def read_state(path: Path, option: str, wanted: str) -> dict:
    """The state dict in the file `path` ({} when it holds something else); UsageError in one line when it is
    missing or unreadable. `wanted`: what to give instead, for the message."""
    if not path.is_file():
        raise UsageError(f"{option}{path} does not exist; give the path of {wanted} or leave it null to download it")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign or truncated files
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise UsageError(f"{option}{path} is unreadable: {first.strip()}") from None
    return state if isinstance(state, dict) else {}


_PASSED: set[tuple] = set()  # the checks passed in this process, keyed by the file's contents as its stat tells


def once_per_file(check):
    """`check(path, *args)` runs once for a file's contents: a run's start asks whether the weights are good in
    several places (the metrics' options, the decision which spaces can be computed, a search's objective), and a
    DINOv2 ViT-L file is 1.2 GB to read each time. A file rewritten since (another size or modification time) is
    checked again; a failed check is not remembered."""

    @functools.wraps(check)
    def checked(path: Path, *args) -> None:
        try:
            stat = Path(path).stat()
        except OSError:
            return check(path, *args)  # missing: the check says so in its own words
        key = (check.__qualname__, str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, args)
        if key not in _PASSED:
            check(path, *args)
            _PASSED.add(key)

    return checked


class OwnExtractor(FeatureExtractorBase):
    """torch-fidelity's interface for ganrun's own feature extractors: the features named in PROVIDED, the first of
    them read by every metric; never compiled."""

    PROVIDED: tuple[str, ...] = ()

    @classmethod
    def get_provided_features_list(cls):
        return cls.PROVIDED

    @classmethod
    def get_default_feature_layer_for_metric(cls, metric):
        return cls.PROVIDED[0]

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
