"""The quality metrics' names, what each measures, which way each is better, and which one best.pt follows (no
heavy imports)."""

from ganrun.base import reported
from ganrun.quality.protocol import comparable

# In torch-fidelity's Inception features (weights downloaded once): name → what it measures.
INCEPTION = {
    "fid": "fd",
    "kid": "kid",
    "isc": "isc",
    "precision": "precision",
    "recall": "recall",
    "density": "density",
    "coverage": "coverage",
}
# In the features of a classifier trained on the data set itself (offline): name → what it measures.
CLASSIFIER = {
    "classifier_fd": "fd",
    "classifier_kid": "kid",
    "classifier_precision": "precision",
    "classifier_recall": "recall",
    "classifier_density": "density",
    "classifier_coverage": "coverage",
}
# In DINOv2's features (Stein et al. 2023; EDM2 names the first fd_dinov2): name → what it measures.
DINOV2 = {
    "fd_dinov2": "fd",
    "kid_dinov2": "kid",
    "precision_dinov2": "precision",
    "recall_dinov2": "recall",
    "density_dinov2": "density",
    "coverage_dinov2": "coverage",
}
MEASURES = {**INCEPTION, **CLASSIFIER, **DINOV2}
NAMES = tuple(MEASURES)
# Precision, recall, density and coverage count generated (or real) images inside k-NN balls: more is better.
HIGHER_IS_BETTER = tuple(name for name, measure in MEASURES.items() if measure not in ("fd", "kid"))
# Where each measure's value lies (None: no bound): a distance is never negative, IS never below 1, precision, recall
# and coverage are fractions; density (a mean count over k) is not bounded above.
RANGES = {
    "fd": (0.0, None),
    "kid": (0.0, None),  # a single KID estimate may dip below 0 (it is unbiased), the squared MMD it estimates not
    "isc": (1.0, None),
    "precision": (0.0, 1.0),
    "recall": (0.0, 1.0),
    "density": (0.0, None),
    "coverage": (0.0, 1.0),
}
# What best.pt follows by default: the first logged. FD in DINOv2's features first, where it is asked for: it agrees
# with people's judgement better than FID (Stein et al. 2023).
BEST = ("fd_dinov2", "fid", "classifier_fd", "kid_dinov2", "kid", "classifier_kid", "isc")


def higher_is_better(tag: str) -> bool:
    """Whether a larger value of a logged tag is better: IS, precision, recall, density, coverage, and speed
    (perf/it_per_s); for every other metric and loss lower is better."""
    return tag in {reported.metric(name) for name in HIGHER_IS_BETTER} or tag == reported.IT_PER_S


def value_range(tag: str) -> tuple[float | None, float | None]:
    """The bounds of a logged tag's true value (metrics/<name>, or a reported value that cannot be negative)."""
    name = tag.removeprefix(reported.METRICS)
    if tag.startswith(reported.METRICS) and name in MEASURES:
        return RANGES[MEASURES[name]]
    return (0.0, None) if tag in reported.NON_NEGATIVE else (None, None)


def best_metric(values: dict, chosen: str | None = None) -> str | None:
    """The metric best.pt follows among `values` ("metrics/<name>": value): `chosen`, else the first of BEST."""
    names = [chosen] if chosen else list(BEST)
    return next((name for name in names if f"metrics/{name}" in values), None)


def is_better(name: str, value: float, best: dict, protocol: dict | None = None) -> bool:
    """Whether `value` of metric `name`, measured by `protocol`, beats the best so far ({"step", <name>: value,
    "protocol"}). A best of another metric (e.g. from before a resume on a machine without Inception weights) or
    measured by another protocol (other metrics.num_samples, reference, weights) is not comparable: any value
    beats it."""
    other = best.get("protocol")
    if name not in best or (protocol is not None and other is not None and comparable(protocol) != comparable(other)):
        return True
    return value > best[name] if name in HIGHER_IS_BETTER else value < best[name]
