"""`ganrun.export`'s folder: the generator ganrun samples from by default (the EMA where there is one) as
model.safetensors, config.json, a model card README.md with samples.png, and generator.onnx on request. It is
written into a temporary folder beside OUT and renamed into place, so a failed export leaves nothing half-written."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

import ganrun
from ganrun.base.errors import UsageError
from ganrun.base.schedules import images_per_step
from ganrun.build import generator_of
from ganrun.runstate.loggers.grids import save_grid
from ganrun.sharing import card, exported, provenance
from ganrun.sharing.source import Source
from ganrun.training.sampling import grid_samples, normal_noise

SAMPLES, SAMPLES_SEED = 64, 0  # the card's grid: 64 samples of seed 0 (ganrun.sample's defaults)


@dataclass(frozen=True)
class Options:
    raw: bool = False  # the trained generator instead of its EMA
    critic: bool = False  # the critic too (init= can then fine-tune from the export)
    onnx: bool = False
    repo_id: str | None = None  # where the card says it is (--push)


def export(source: Source, out: Path, options: Options, force: bool = False) -> Path:
    """Write the export of `source` to `out` (replacing a non-empty one only when `force`); returns `out`."""
    out = Path(out)
    check_target(out, force)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        write_folder(source, tmp, options, f"hf://{options.repo_id}" if options.repo_id else str(out))
        replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def check_target(out: Path, force: bool) -> None:
    """OUT must be new or empty (or --force); its parent folder must be writable. One line each."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is a file; give a folder to export into")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UsageError(f"{out} exists and is not empty; give a new folder, or --force to replace it")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {out.parent}: {exc.strerror or exc}") from None
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write into {out.parent} (permission denied); export somewhere writable")


def replace(tmp: Path, out: Path) -> None:
    """Put the finished folder at `out`: a rename (an old `out` is moved aside first and removed after), with the
    permissions of a folder made by hand (the temporary one was private)."""
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)
    for path in tmp.iterdir():
        path.chmod(0o666 & ~umask)
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_folder(source: Source, folder: Path, options: Options, where: str) -> None:
    state = source.state
    if options.critic and not state.get("critic"):
        raise UsageError(f"{source.label} holds no critic to export; leave out --critic")
    if options.raw and state.get("ema") is None and source.used_ema:
        raise UsageError(f"{source.label} holds the EMA generator only; leave out --raw")
    generator = generator_of(state, torch.device("cpu"), use_ema=not options.raw)
    write_weights(folder / exported.WEIGHTS, generator, state.get("critic") if options.critic else None)
    config = export_config(source, generator, options)
    (folder / exported.CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    write_samples(generator, folder / exported.SAMPLES, state.get("classes"))
    if options.onnx:
        from ganrun.sharing.onnx_export import export_onnx

        export_onnx(generator, folder / exported.ONNX)
    (folder / exported.CARD).write_text(card.model_card(config, source, where))


def write_weights(path: Path, generator: torch.nn.Module, critic: dict | None) -> None:
    """generator.* (every tensor of its state dict, as sampled) and critic.* in one safetensors file."""
    save_file = exported.needs("safetensors.torch", "ganrun.export").save_file
    tensors = {exported.GENERATOR + k: v for k, v in generator.state_dict().items()}
    tensors.update({exported.CRITIC + k: v for k, v in (critic or {}).items()})
    # safetensors stores each tensor on its own: no shared or strided storage.
    save_file({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}, str(path), {"format": "pt"})


def export_config(source: Source, generator: torch.nn.Module, options: Options) -> dict:
    """config.json: what rebuilds and calls the generator, and where it came from."""
    state = source.state
    run = state["config"]
    dataset = run.get("dataset") or {}
    classes = state.get("classes")
    trained = getattr(generator, "class_prior", None)
    previous = state.get("exported") or {}
    return {
        "format": exported.FORMAT,
        "format_version": exported.FORMAT_VERSION,
        "ganrun_version": ganrun.__version__,
        "generator": "raw" if options.raw or not source.used_ema else "ema",
        "critic": bool(options.critic),
        "model": run["model"],
        "z_dim": int(generator.z_dim),
        "image": {
            "channels": int(dataset.get("channels") or 0) or None,
            "size": int(dataset.get("image_size") or 0) or None,
            "range": [-1, 1],  # pixels p in 0..255 are (x + 1) * 127.5
        },
        "conditional": bool(getattr(generator, "num_classes", 0)),
        "num_classes": int(getattr(generator, "num_classes", 0)),
        "classes": classes,
        "trained_classes": None if trained is None else torch.nonzero(trained > 0).flatten().tolist(),
        "step": int(state.get("step") or 0),
        "images_seen": images_seen(state),
        "seed": run.get("seed"),
        "init": state.get("init"),
        "source": previous.get("source") or source_description(source),
        "overrides": list(state.get("overrides") or []),
        "onnx": exported.ONNX if options.onnx else None,
        "scores": provenance.scores(source),
        "run": run,
    }


def source_description(source: Source) -> dict:
    """Where the export was made from: the path given and the file read, and what kind it was."""
    info = {"kind": source.kind, "path": str(source.path.absolute())}
    info.update(source.state.get("source_info") or {})
    return info


def write_samples(generator: torch.nn.Module, path: Path, names: list[str] | None) -> None:
    """The card's grid: one row per class (named) for a conditional generator, else 8×8; seed 0."""
    rng = torch.Generator().manual_seed(SAMPLES_SEED)
    images, nrow = grid_samples(generator, normal_noise(SAMPLES, generator.z_dim, rng), names)
    save_grid(images, path, nrow)


def images_seen(state: dict) -> int:
    """Real images the critic saw: recorded (an export, an R3GAN pickle's count), else steps × images a step."""
    recorded = (state.get("exported") or {}).get("images_seen", state.get("images_seen"))
    return int(recorded) if recorded is not None else int(state.get("step") or 0) * images_per_step(state["config"])
