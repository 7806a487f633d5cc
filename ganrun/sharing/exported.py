"""The exported folder's format, read back: `config.json` (what rebuilds and calls the generator) and
`model.safetensors` (its weights as `generator.*`, and the critic's as `critic.*` when it was exported), loaded
without running any code (safetensors holds tensors only)."""

from __future__ import annotations

import json
from pathlib import Path

from ganrun.base.errors import UsageError

FORMAT, FORMAT_VERSION = "ganrun-export", 1
CONFIG, WEIGHTS, CARD, SAMPLES, ONNX = "config.json", "model.safetensors", "README.md", "samples.png", "generator.onnx"
GENERATOR, CRITIC = "generator.", "critic."
SHARE_HINT = 'pip install "ganrun[share]"'


def needs(package: str, what: str):
    """Import an optional package of the `share` extra, or stop in one line naming the extra."""
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError:
        raise UsageError(
            f"{what} needs the package {package.split('.')[0]}, which is not installed: {SHARE_HINT}"
        ) from None


def is_export(folder: Path) -> bool:
    return (Path(folder) / CONFIG).is_file() and (Path(folder) / WEIGHTS).is_file()


def read_config(folder: Path, label: str) -> dict:
    try:
        config = json.loads((Path(folder) / CONFIG).read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{label}: its {CONFIG} is unreadable ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise UsageError(f'{label}: its {CONFIG} is not a ganrun export\'s (no "format": "{FORMAT}" in it)')
    if int(config.get("format_version", 0)) > FORMAT_VERSION:
        raise UsageError(
            f"{label} is an export of format version {config['format_version']}, newer than this ganrun reads "
            f"({FORMAT_VERSION}); update ganrun"
        )
    return config


def read_weights(folder: Path, label: str) -> tuple[dict, dict | None]:
    """(generator weights, critic weights or None) of model.safetensors."""
    safetensors_torch = needs("safetensors.torch", f"reading the export {label}")
    try:
        tensors = safetensors_torch.load_file(str(Path(folder) / WEIGHTS))
    except Exception as exc:  # safetensors raises its own error types for truncated or foreign files
        raise UsageError(f"{label}: its {WEIGHTS} is unreadable (truncated or not safetensors): {exc}") from None
    generator = {k.removeprefix(GENERATOR): v for k, v in tensors.items() if k.startswith(GENERATOR)}
    critic = {k.removeprefix(CRITIC): v for k, v in tensors.items() if k.startswith(CRITIC)}
    if not generator:
        raise UsageError(f"{label}: its {WEIGHTS} holds no generator weights (no generator.* tensors)")
    return generator, critic or None


def read(folder: Path, label: str) -> dict:
    """An exported folder as a checkpoint-shaped state: the exported generator as `generator` (no separate EMA:
    it is the EMA when config.json says so), the critic where it was exported, the run's config, class names,
    step and origin, and config.json itself as `exported`."""
    config = read_config(folder, label)
    generator, critic = read_weights(folder, label)
    return {
        "step": int(config.get("step") or 0),
        "generator": generator,
        "critic": critic,
        "ema": None,
        "config": config["run"],
        "classes": config.get("classes"),
        "init": config.get("init"),
        "overrides": list(config.get("overrides") or []),
        "exported": config,
    }
