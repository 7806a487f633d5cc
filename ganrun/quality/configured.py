"""The metrics of a run or a command from its `metrics` settings: the reference (a split of the data set or a
statistics file), the networks and their options, and which scores can be computed here, decided at the start."""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from ganrun.base.errors import UsageError
from ganrun.data.labelled import classifier_source
from ganrun.quality import classifier, dinov2, inception, resize
from ganrun.quality.metrics import CONFIG_OPTIONS, QualityMetrics, dataset_cache_key, file_id
from ganrun.quality.reference import SPLITS, reference_images, reference_name

log = logging.getLogger("ganrun")


def from_settings(
    metrics: dict,
    dataset_cfg: dict,
    training_images: Callable,
    device: torch.device | str,
    init: str | None = None,
    options: dict | None = None,
) -> QualityMetrics:
    """QualityMetrics as the `metrics` settings (a run's metrics config node as plain values: names, num_samples,
    reference, inception_weights, inception_resize, dinov2.model, dinov2.weights) ask, for the data set of
    `dataset_cfg` (its training images: `training_images()`). `options`: how the user sets each choice, for
    messages (default: the config keys)."""
    options = {**CONFIG_OPTIONS, **(options or {})}
    reference = str(metrics.get("reference") or "train")
    real, file, named = None, None, None
    if reference in SPLITS:
        real = reference_images(dataset_cfg, reference, training_images, options["reference"])
        named = reference_name(dataset_cfg, real)
    else:
        file = reference
    chosen = metrics.get("dinov2") or {}
    return QualityMetrics(
        metrics["names"],
        int(metrics["num_samples"]),
        real,
        dataset_cache_key(dataset_cfg),
        metrics.get("inception_weights"),
        device,
        option=options["inception_weights"],
        labelled=classifier_source(dataset_cfg),
        split=reference if file is None else "file",
        reference=named,
        init=init,
        inception_resize=str(metrics.get("inception_resize") or resize.TENSORFLOW),
        dinov2_model=str(chosen.get("model") or dinov2.DEFAULT),
        dinov2_weights=chosen.get("weights"),
        reference_file=file,
        options=options,
    )


def decide_available(quality: QualityMetrics) -> None:
    """Find out now, before training, which spaces can be computed here, cheaply (weights in the cache or one
    download with a short timeout, labels for the classifier), and turn each that cannot off with one warning that
    says what is off and how to get it, so that no run learns it after its last step. A reference file made with
    other weights stops the run now (UsageError), as every bad input does."""
    for space in quality.spaces:
        try:
            weights = weights_here(quality, space.kind)
        except UsageError as exc:
            space.off(str(exc))
            continue
        if quality.file is not None and weights is not None:
            quality.check_file(space, weights)


def weights_here(quality: QualityMetrics, kind: str) -> str | None:
    """An id of the weights of the space `kind` (found in the cache, given, or downloaded now), None for the
    classifier (trained at its first use); UsageError when the space cannot be had here."""
    if kind == inception.EXTRACTOR:
        path = inception.weights_path(quality.inception_weights, quality.option)
        inception.check_weights_file(path, quality.option)  # also a truncated download in the hub cache
        return file_id(path)
    if kind.startswith("dinov2"):
        dinov2.require_timm()
        option = quality.options["dinov2_weights"]
        path = dinov2.weights_path(quality.dinov2_weights, quality.dinov2, option)
        dinov2.check_weights_file(path, quality.dinov2, option)
        return file_id(path)
    if quality.labelled is None:
        raise UsageError(classifier.no_labels(quality.options.get("instead_of_classifier")))
    return None
