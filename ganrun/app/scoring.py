"""The loop's `evaluate()`: the sampling generator's scores with their protocols, as metrics.* asks (None when
metrics are off); built after the parts, from the run's plan."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ganrun.app.resolve import Plan
from ganrun.build import build_dataset
from ganrun.data.labelled import classifier_source
from ganrun.quality.protocol import origin_text
from ganrun.training.parts import Parts
from ganrun.training.sampling import generate

log = logging.getLogger("ganrun")


def announce_first_classifier(names: list[str], dataset_cfg: dict, every: int) -> None:
    """Say at the start what a first run does once at its first evaluation: train the data set's classifier for the
    classifier_* metrics (minutes on a CPU), so that a newcomer is not surprised by it at the end."""
    from ganrun.quality import classifier
    from ganrun.quality.names import CLASSIFIER

    source = classifier_source(dataset_cfg)
    if source is None or not any(name in CLASSIFIER for name in names) or classifier.is_trained(source):
        return
    when = f"at step {every}" if every else "at the end of this run"
    log.info(
        "metrics: the first evaluation (%s) trains the %s classifier for %s, once (minutes on a CPU: its progress "
        "and the time left are logged as it trains); cached in %s for every later run",
        when,
        source.name,
        ", ".join(name for name in names if name in CLASSIFIER),
        classifier.cache_root(),
    )


def make_evaluate(plan: Plan, parts: Parts, set_aside: Callable[[float], None] = lambda seconds: None):
    """The loop's `evaluate()`: the sampling generator's scores with their protocols, or None when metrics are off.
    Which spaces can be had (weights, labels) is decided here, at the start, and said once. `set_aside(seconds)`
    hears the time spent training the data set's classifier, once for every later run (status.json keeps it
    apart from the run's own)."""
    cfg, device, dataset_cfg = plan.cfg, plan.device, plan.config["dataset"]
    if not cfg.metrics.names:
        return None
    from ganrun.quality.configured import decide_available, from_settings  # torch-fidelity takes seconds to import

    announce_first_classifier(list(cfg.metrics.names), dataset_cfg, cfg.metrics.every)
    # Against the whole data set: a run that trains on dataset.limit images is judged by how well it learned the
    # distribution, not by how well it copies its subset (as ADA's paper measures limited-data runs).
    quality = from_settings(
        plan.config["metrics"],
        dataset_cfg,
        lambda: build_dataset(dataset_cfg, subset=False) if dataset_cfg.get("limit") else parts.data.data,
        device,
        init=origin_text(plan.origin),
    )
    decide_available(quality)  # what cannot be computed here is said now, not after the last step
    sampler = "ema" if parts.ema is not None else "raw"

    def evaluate():
        # The same seeded noise at every evaluation, so differences come from the generator alone.
        scores = quality.compute(lambda n: generate(parts.sampler, n, cfg.seed, device), sampler)
        set_aside(quality.classifier_training_s)
        return scores

    return evaluate
