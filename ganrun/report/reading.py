"""Reading a sweep: its job folders, each job's overrides, status.json and TensorBoard events (scalars, the newest
sample grid, the protocols of the scores)."""

import json
import logging
import re
from pathlib import Path
from typing import NamedTuple

import yaml

from ganrun.base.errors import UsageError
from ganrun.quality.protocol import TEXT_TAG, by_metric
from ganrun.runstate.loggers import csv as metrics_csv
from ganrun.runstate.overrides import split_override

SAMPLES_TAG = "samples"  # the fixed-noise grid the loop logs (runstate/loggers/tensorboard.py)


def job_dirs(sweep_dir: Path) -> list[Path]:
    """The job folders of a sweep, by job number (the folder name's leading digits) when numbered, else by name."""
    jobs = [d for d in sweep_dir.iterdir() if (d / ".hydra" / "overrides.yaml").is_file()] if sweep_dir.is_dir() else []
    if not jobs:
        raise UsageError(f"{sweep_dir} is not a sweep folder: expected job folders with .hydra/overrides.yaml")
    numbered = {d: re.match(r"\d+", d.name) for d in jobs}
    return sorted(jobs, key=lambda d: (0, int(numbered[d].group()), d.name) if numbered[d] else (1, 0, d.name))


def read_overrides(job: Path) -> dict[str, str]:
    """The job's overrides as key → value strings, in the order given ("+key=v" counts as key)."""
    items = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()) or []
    return {key: value or "" for key, value in map(split_override, items)}


def read_status(job: Path) -> dict:
    """status.json, or a stand-in saying why there is none."""
    path = job / "status.json"
    if not path.is_file():
        return {"status": "unknown", "error": "no status.json"}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:  # a half-written file must not cost the other rows
        return {"status": "unknown", "error": f"unreadable status.json: {e}".splitlines()[0]}


class Events(NamedTuple):
    """A job as TensorBoard shows it."""

    curves: dict[str, list[tuple[int, float]]]  # each scalar tag's (step, value) by step
    samples: tuple[int, bytes] | None  # the newest fixed-noise grid: (step, PNG bytes)
    protocols: dict[str, dict]  # metrics/<name> → the protocol of its newest score


def read_events(job: Path) -> Events:
    """The job as TensorBoard shows it: each scalar tag's curve [(step, value)] by step, the newest fixed-noise
    grid (step, PNG bytes) or None, and how each metric's newest score was measured. Its event files are read in
    order, a resumed run's purge dropping what the run before it logged past the checkpoint it resumed from; of two
    values at one step the later one counts. A job logged without TensorBoard (logger=csv) has its curves from
    metrics.csv, its protocols from protocols.json beside it, and no grid."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not any(job.glob("events.out.tfevents.*")):
        csv_path = job / metrics_csv.FILENAME
        curves = metrics_csv.read_curves(csv_path) if csv_path.is_file() else {}
        return Events(curves, None, metrics_csv.read_protocols(job / metrics_csv.PROTOCOLS))
    # TensorBoard's file watcher says "No path found after …" at INFO for every job: noise in a sweep's log.
    logging.getLogger("tensorboard").setLevel(logging.WARNING)
    events = EventAccumulator(str(job), size_guidance={"scalars": 0, "images": 0, "tensors": 0})  # 0: keep all
    events.Reload()
    curves = {tag: [(step, e.value) for step, e in by_step(events.Scalars(tag))] for tag in events.Tags()["scalars"]}
    grids = events.Images(SAMPLES_TAG) if SAMPLES_TAG in events.Tags()["images"] else []
    newest = max(grids, key=lambda e: (e.step, e.wall_time), default=None)
    return Events(curves, (newest.step, newest.encoded_image_string) if newest else None, read_protocols(events))


def by_step(events: list) -> list[tuple[int, object]]:
    """(step, event) by step, the later of two events at one step counting."""
    found = {e.step: e for e in sorted(events, key=lambda e: e.wall_time)}
    return sorted(found.items())


def read_protocols(events) -> dict[str, dict]:
    """metrics/<name> → the protocol of the newest score, from the texts protocol/<name> the loop logs beside it."""
    return by_metric(
        by_step(events.Tensors(tag))[-1][1].tensor_proto.string_val[0].decode()
        for tag in events.Tags().get("tensors", [])
        if tag.startswith(TEXT_TAG) and tag.endswith("/text_summary")
    )


def last_values(curves: dict[str, list[tuple[int, float]]]) -> tuple[dict[str, float], int | None]:
    """Each curve's value at its highest step, and the highest step of any (None: nothing logged)."""
    return {tag: c[-1][1] for tag, c in curves.items()}, max((c[-1][0] for c in curves.values()), default=None)


def last_scalars(job: Path) -> tuple[dict[str, float], int | None]:
    """Each scalar tag's value at its highest step in the job's events, and the highest step of any tag."""
    return last_values(read_events(job).curves)


def collect(jobs: list[Path]) -> list[dict]:
    """One record per job: folder, overrides, status fields, final values (status.json's first), curves, the
    newest sample grid, the search objective it reported, and how its metrics were measured."""
    records = []
    for job in jobs:
        status = read_status(job)
        curves, samples, protocols = read_events(job)
        scalars, top_step = last_values(curves)
        error = status.get("error")
        records.append(
            {
                "job": job.name,
                "overrides": read_overrides(job),
                "status": status.get("status", "unknown"),
                "error": str(error).splitlines()[0] if error else None,
                "step": status.get("step", top_step),
                "steps": status.get("steps"),
                "wall_time_s": status.get("wall_time_s"),
                "final": {**scalars, **(status.get("final") or {})},
                "curves": curves,
                "samples": samples,
                "objective": status.get("objective"),
                "protocols": protocols,
            }
        )
    return records
