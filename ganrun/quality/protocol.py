"""How a score was measured (its protocol), carried beside the score into every output: the TensorBoard text
`protocol/<name>`, best.pt's `best`, ganrun.evaluate's JSON and the sweep summaries. Two scores are comparable only
when their protocols agree in everything but the step; no heavy imports (the report reads these too)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from ganrun.base import reported

TEXT_TAG = reported.PROTOCOL  # TensorBoard: protocol/<name>, one text per evaluation


@dataclass(frozen=True)
class Protocol:
    """What a score depends on besides the generator's weights, as plain strings and numbers."""

    metric: str  # e.g. classifier_fd
    reference: str  # the data set the real images come from, as configured (not where it lives): fashion_mnist 1×28×28
    split: str  # the reference's split: train | test; file: statistics read from the file `reference` names
    real_images: int | None  # real images scored (a seeded subset of the split); None: a statistics file's, unknown
    generated_images: int  # generated (or held-out real) images scored
    generator: str  # ema | raw | held-out <split> split: what made the scored images
    truncation: float | None  # ψ of truncated noise (resampled outside ±ψ); None: plain normal noise
    features: str  # the feature extractor and layer, e.g. inception-v3-compat 2048
    weights: str  # an id of the extractor's weights (a hash of the file)
    resize: str  # how images reach the extractor, e.g. 28×28 → 299×299 (bilinear as TensorFlow 1)
    settings: str  # the metric's own knobs: k of the k-NN balls, KID subsets, IS splits
    step: int | None = None  # the generator step (None: not known where it was made)
    init: str | None = None  # where the generator's run started (init=PATH: its path, step, weights); None: scratch
    schedules: str | None = None  # the schedules the generator trained under and their last values (None: none)

    def to_dict(self) -> dict:
        return asdict(self)


FIELDS = tuple(f.name for f in fields(Protocol))
# What tells apart the generators scored (where a run started, how far it trained, under which schedules), not how
# they were scored: two runs' scores compare whatever these are.
OF_THE_GENERATOR = ("step", "init", "schedules")


def origin_text(origin: dict | None) -> str | None:
    """Where a run started, for its scores' protocols: `PATH at step N, weights ID`; None from scratch."""
    return None if origin is None else f"{origin['path']} at step {origin['step']}, weights {origin['weights']}"


def comparable(protocol: dict) -> tuple:
    """What must agree for two scores of one metric to be compared: every field but those of the generator."""
    return tuple((key, protocol.get(key)) for key in FIELDS if key not in OF_THE_GENERATOR)


def differences(protocols: list[dict]) -> list[str]:
    """The fields (but those of the generator) in which the protocols differ, in field order."""
    return [
        key for key in FIELDS if key not in OF_THE_GENERATOR and len({json.dumps(p.get(key)) for p in protocols}) > 1
    ]


def against(p: dict) -> str:
    """What the generated images were compared with: real images of a split, or a statistics file."""
    if p["split"] == "file":
        images = f", {p['real_images']} images" if p.get("real_images") else ""
        return f"{p['reference']}{images}"
    return f"{p['real_images']} of {p['reference']} ({p['split']} split)"


def describe(protocol: dict, metric: bool = True) -> str:
    """One line for people: what was compared with what, by which features (`metric`: starting with the metric's
    name and ending with its settings)."""
    p = protocol
    made = (
        f"by the {p['generator'].upper()} generator"
        if p["generator"] in ("ema", "raw")
        else f"from the {p['generator']}"
    )
    step = f" at step {p['step']}" if p.get("step") is not None else ""
    step += f" (a run started from {p['init']})" if p.get("init") else ""
    truncation = f", noise truncated at ±{p['truncation']:g}" if p.get("truncation") is not None else ""
    step += f" (trained with {p['schedules']})" if p.get("schedules") else ""
    line = (
        f"{p['generated_images']} images {made}{step}{truncation} against {against(p)}; "
        f"features {p['features']}, weights {p['weights']}; "
        f"resize {p['resize']}"
    )
    return f"{p['metric']}: {line}" + (f"; {p['settings']}" if p.get("settings") else "") if metric else line


def describe_all(protocols: list[dict]) -> list[str]:
    """describe() of many protocols, those that differ only in the metric and its settings on one line."""
    groups: dict[str, list[dict]] = {}
    for protocol in protocols:
        groups.setdefault(describe(protocol, metric=False), []).append(protocol)
    return [
        ", ".join(p["metric"] + (f" ({p['settings']})" if p.get("settings") else "") for p in group) + f": {line}"
        for line, group in groups.items()
    ]


def to_text(protocol: dict) -> str:
    """The TensorBoard text of a protocol: the line for people, then the fields as JSON (indented: Markdown code)."""
    return f"{describe(protocol)}\n\n    {json.dumps(protocol, sort_keys=True)}"


def from_text(text: str) -> dict | None:
    """The fields of a protocol's TensorBoard text; None when it is not one."""
    try:
        found = json.loads(text.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    return found if isinstance(found, dict) and "metric" in found else None


def by_metric(texts) -> dict[str, dict]:
    """metrics/<name> → the protocol each of `texts` (a protocol's text per metric, newest last) holds; texts that
    are not protocols are passed over."""
    return {f"metrics/{p['metric']}": p for p in map(from_text, texts) if p is not None}


class Scores(dict):
    """Scores {"metrics/<name>": value}, a plain dict to loggers and status.json, with `protocols` beside them:
    {"<name>": Protocol fields}, each without its step until `at(step)` fills it in."""

    def __init__(self, values: dict | None = None, protocols: dict[str, dict] | None = None):
        super().__init__(values or {})
        self.protocols = dict(protocols or {})

    def at(self, step: int, schedules: str | None = None) -> dict[str, dict]:
        """The protocols of these scores, measured at generator step `step` of a generator trained under
        `schedules` (base.schedules.in_force)."""
        extra = {"schedules": schedules} if schedules else {}
        return {name: {**protocol, "step": step, **extra} for name, protocol in self.protocols.items()}


def protocols_at(scores: dict, step: int, schedules: str | None = None) -> dict[str, dict]:
    """The protocols of an evaluation's scores at `step` (under `schedules`); {} for plain values that carry none."""
    return scores.at(step, schedules) if isinstance(scores, Scores) else {}
