"""The quality metrics' names, which way each is better, and which one best.pt follows (no heavy imports)."""

INCEPTION = ("fid", "kid", "isc")  # in torch-fidelity's Inception features (weights downloaded once)
# In the features of a classifier trained on the data set itself (offline): → what each one measures.
CLASSIFIER = {"classifier_fd": "fd", "classifier_kid": "kid",
              "classifier_precision": "precision", "classifier_recall": "recall"}
NAMES = (*INCEPTION, *CLASSIFIER)
HIGHER_IS_BETTER = ("isc", "classifier_precision", "classifier_recall")
BEST = ("fid", "classifier_fd", "kid", "classifier_kid", "isc")  # what best.pt follows by default: the first logged


def higher_is_better(tag: str) -> bool:
    """Whether a larger value of a logged tag is better: IS, the classifier's precision and recall, and speed
    (perf/it_per_s); for every other metric and loss lower is better."""
    return tag in {f"metrics/{name}" for name in HIGHER_IS_BETTER} or tag == "perf/it_per_s"


def best_metric(values: dict, chosen: str | None = None) -> str | None:
    """The metric best.pt follows among `values` ("metrics/<name>": value): `chosen`, else the first of BEST."""
    names = [chosen] if chosen else list(BEST)
    return next((name for name in names if f"metrics/{name}" in values), None)


def is_better(name: str, value: float, best: dict) -> bool:
    """Whether `value` of metric `name` beats the best so far ({"step", <name>: value}). A best of another
    metric (e.g. from before a resume on a machine without Inception weights) is beaten by any value."""
    if name not in best:
        return True
    return value > best[name] if name in HIGHER_IS_BETTER else value < best[name]
