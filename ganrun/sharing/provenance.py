"""What the model card says about how a generator was trained and how well it does, read from what its run left:
the config in the checkpoint, the run folder's status.json (wall time, start) and ganrun.log (the device), and
scores with their protocols (ganrun.evaluate's `<checkpoint>.metrics.json`, else the run's own last evaluation)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ganrun.quality.protocol import describe

NO_OP = ("Regularizer", "Augment")  # the base classes that do nothing: regularizer=none, augment=none
DEVICE_LINE = re.compile(r"run folder .* on (\S+): \d+ images")  # app/run.py's first log line


def option(config: dict, overrides: list[str], group: str) -> str:
    """The option of a config group as the command line named it (`loss=bce`), else its class's name."""
    for override in overrides:
        key, _, value = override.lstrip("+").partition("=")
        if key == group:
            return value
    parts = str((config.get(group) or {}).get("_target_", "none")).split(".")
    name = parts[-2] if parts[-1] == "build" and len(parts) > 1 else parts[-1]  # a model family's build function
    return "none" if name in NO_OP else name


def run_folder(source) -> Path | None:
    """The run folder a checkpoint sits in (<run>/checkpoints/x.pt), or None."""
    path = Path(source.path)
    if path.is_file() and path.parent.name == "checkpoints":
        return path.parent.parent
    return None


def read_json(path: Path) -> dict:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def device_of(run: Path | None) -> str | None:
    """The device the run trained on, from its log's first line."""
    try:
        text = (run / "ganrun.log").read_text(errors="replace") if run else ""
    except OSError:
        return None
    return match.group(1) if (match := DEVICE_LINE.search(text)) else None


def keys(node: dict) -> str:
    """A config group's settings (its keys but the target), e.g. `lambda_gp=10`."""
    return ", ".join(f"{k}={v}" for k, v in (node or {}).items() if not k.startswith("_")) or "defaults"


def training_facts(config: dict, source) -> dict:
    """Name, data set and the rows of the card's "How it was trained" table."""
    run_config, overrides = config["run"], config.get("overrides") or []
    dataset = option(run_config, overrides, "dataset")
    dataset_cfg = run_config.get("dataset") or {}
    train = run_config.get("train") or {}
    folder = run_folder(source)
    status = read_json(folder / "status.json") if folder else {}
    model, loss = option(run_config, overrides, "model"), option(run_config, overrides, "loss")
    image = f"{config['image']['channels']}×{config['image']['size']}×{config['image']['size']}"
    classes = config.get("classes") or []
    wall = status.get("wall_time_s")
    trained_by = (config.get("source") or {}).get("trained_by")  # a network ganrun did not train (an R3GAN pickle)
    table = [
        ("model", f"`model={model}` ({keys(config['model'])})"),
        ("objective", f"`loss={loss}` ({keys(run_config.get('loss'))})"),
        ("regularizer", f"`regularizer={option(run_config, overrides, 'regularizer')}`"),
        ("augmentation", f"`augment={option(run_config, overrides, 'augment')}`"),
        ("data", f"`dataset={dataset}`, {image}" + (f", {len(classes)} classes" if classes else "")),
        (
            "steps",
            f"{config['step']} generator steps, batch {train.get('batch_size', '?')}, "
            f"{train.get('n_critic', '?')} critic step(s) each",
        ),
        ("images seen", f"{config['images_seen']:,} real images shown to the critic"),
        ("wall time", duration(wall) if wall else "not recorded"),
        ("machine", device_of(folder) or "not recorded"),
        ("started", status.get("started") or "not recorded"),
        ("seed", str(run_config.get("seed"))),
        ("initialized from", origin_text(config.get("init"))),
        ("generator", "the EMA of the weights" if config["generator"] == "ema" else "the trained weights (no EMA)"),
        ("command", "`python -m ganrun " + " ".join(overrides) + "`" if overrides else "not recorded"),
    ]
    if trained_by:
        keep = ("model", "data", "images seen", "generator")
        table = [("trained by", trained_by), *[row for row in table if row[0] in keep]]
        loss = "rpgan"  # its objective, in ganrun's terms (with regularizer=r1r2)
    return {
        "title": f"ganrun {model} · {loss} · {dataset}",
        "model": model,
        "loss": loss,
        "dataset": dataset,
        "dataset_text": f"`{dataset}`"
        + (f" ({Path(str(dataset_cfg.get('root'))).name})" if dataset == "folder" else ""),
        "image_text": image,
        "table": table,
    }


def origin_text(origin: dict | None) -> str:
    if not origin:
        return "scratch"
    return f"{origin.get('path')} at step {origin.get('step')} (weights {origin.get('weights')})"


def scores(source) -> list[dict]:
    """[{metric, value, protocol_text}] of this generator: ganrun.evaluate's file beside the checkpoint, else the
    run's last evaluation when it was of this step (status.json's final values; protocol from best.pt's entry)."""
    path = Path(source.path)
    exported = source.state.get("exported")
    if exported is not None:  # an export re-exported: its card's scores came with it
        return list(exported.get("scores") or [])
    evaluated = read_json(path.with_name(f"{path.stem}.metrics.json")) if path.is_file() else {}
    if evaluated.get("metrics") and evaluated.get("step") == source.state.get("step"):
        protocols = evaluated.get("protocols") or {}
        return [score(name, value, protocols.get(name)) for name, value in evaluated["metrics"].items()]
    folder = run_folder(source)
    status = read_json(folder / "status.json") if folder else {}
    if status.get("step") != source.state.get("step"):
        return []
    best = source.state.get("best") or {}
    found = []
    for tag, value in (status.get("final") or {}).items():
        if tag.startswith("metrics/"):
            name = tag.split("/", 1)[1]
            found.append(score(name, value, best.get("protocol") if name in best else None))
    return found


def score(name: str, value: float, protocol: dict | None) -> dict:
    text = describe(protocol, metric=False) if protocol else "by the run at its last step (protocol not recorded)"
    return {"metric": name, "value": float(value), "protocol_text": text, "protocol": protocol}


def duration(seconds: float) -> str:
    return (
        f"{seconds:.0f} s"
        if seconds < 600
        else f"{seconds / 60:.0f} min"
        if seconds < 7200
        else f"{seconds / 3600:.1f} h"
    )
