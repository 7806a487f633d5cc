"""A search's objective: `search.objective` (a final logged value), which way is better, whether it can be
computed here (checked before any trial), and each run's value of it, which the Hydra task function returns."""

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from ganrun.base import reported
from ganrun.base.errors import UsageError
from ganrun.quality.names import CLASSIFIER, DINOV2, INCEPTION, best_metric, higher_is_better

log = logging.getLogger("ganrun")

# Final values a run logs besides metrics/<name>: what search.objective may name.
SCALARS = reported.SEARCHABLE
OFFLINE = "metrics.names=[classifier_fd] search.objective=metrics/classifier_fd"


def objective_name(objective: str | None, metric_names, best: str | None) -> str | None:
    """search.objective, or (null) the metric best.pt follows: metrics.best, else the first of fid, classifier_fd,
    kid, … in metrics.names, else the first of metrics.names; None when metrics are off and none is named."""
    if objective:
        return str(objective)
    names = [str(n) for n in metric_names]
    name = best_metric({f"metrics/{n}": None for n in names}, best) or next(iter(names), None)
    return f"metrics/{name}" if name else None


def direction(objective: str | None, metric_names, best: str | None) -> str:
    """Optuna's direction for the objective: maximize for IS, classifier precision and recall, else minimize.
    The `ganrun_direction` resolver, in ganrun's defaults of the Optuna sweeper (register_sweeper_defaults)."""
    name = objective_name(objective, list(metric_names or []), best)
    return "maximize" if name and higher_is_better(name) else "minimize"


def check_objective(cfg) -> str:
    """The objective's name; a UsageError saying what to pass when this run cannot compute it, so that a search
    stops before its first trial rather than failing every one."""
    names = [str(n) for n in cfg.metrics.names]
    name = objective_name(cfg.search.objective, names, cfg.metrics.best)
    if name is None:
        raise UsageError(
            f"a search needs an objective, and metrics are off (metrics.names=[]): pass {OFFLINE}, "
            "or search.objective=<a final value, e.g. loss/generator>"
        )
    metric = name.removeprefix("metrics/")
    if name.startswith("metrics/") and metric not in names:
        raise UsageError(
            f"search.objective={name} is not computed: add {metric} to metrics.names (now [{','.join(names)}])"
        )
    if not name.startswith("metrics/") and name not in SCALARS:
        raise UsageError(
            f"search.objective={name} is not a value a run logs; choose metrics/<one of metrics.names> "
            f"or one of {', '.join(SCALARS)}"
        )
    if metric in INCEPTION:
        from ganrun.quality import inception  # torch-fidelity takes seconds to import: only when it is needed

        given = cfg.metrics.inception_weights
        try:
            path = Path(given).expanduser() if given else None
            if path is not None:
                inception.check_weights_file(path, "metrics.inception_weights=")
            inception.weights_path(path, "metrics.inception_weights=")  # downloads them once, if there is a network
        except UsageError as exc:
            raise UsageError(
                f"search.objective={name} cannot be computed: {exc}; or search with the offline yardstick: {OFFLINE}"
            ) from None
    if metric in DINOV2:
        from ganrun.quality import dinov2

        chosen = cfg.metrics.dinov2
        model, given = dinov2.model_of(str(getattr(chosen.model, "value", chosen.model))), chosen.weights
        try:
            path = dinov2.weights_path(Path(given).expanduser() if given else None, model, "metrics.dinov2.weights=")
            dinov2.check_weights_file(path, model, "metrics.dinov2.weights=")
        except UsageError as exc:
            raise UsageError(
                f"search.objective={name} cannot be computed: {exc}; or search with the offline yardstick: {OFFLINE}"
            ) from None
    from ganrun.data.labelled import classifier_source  # torch: only when a search starts

    if metric in CLASSIFIER and classifier_source(OmegaConf.to_container(cfg.dataset, resolve=True)) is None:
        raise UsageError(
            f"search.objective={name} needs a data set with class labels (mnist, fashion_mnist, cifar10_horse, or "
            "dataset=folder with dataset.labels=folders or a labels file); search this one with metrics/fid"
        )
    return name


def is_optuna(sweeper) -> bool:
    """Whether Hydra's sweeper config (`hydra.sweeper`) is the Optuna sweeper (hydra/sweeper=optuna)."""
    return "optuna" in str(sweeper.get("_target_", "")).lower()


def objective_value(name: str | None, values: dict, searching: bool = True) -> float | None:
    """The run's final value of the objective; None (a failed trial to Optuna) when it is missing or not finite,
    which a search is told in a warning (`searching`: a plain run, whose FID may be off offline, is not)."""
    if name is None:
        return None
    value = values.get(name)
    if value is None or not math.isfinite(value):
        if not searching:
            return None
        log.warning(
            "search objective %s is %s at the end of this run: a search counts it as a failed trial",
            name,
            "missing" if value is None else value,
        )
        return None
    return float(value)


def register_sweeper_defaults() -> None:
    """ganrun's defaults for `hydra/sweeper=optuna` (when hydra-optuna-sweeper is installed): the plugin's own
    schema and sweeper, with the direction following search.objective, a failed or diverged trial counted as failed
    while the study goes on (max_failure_rate 1, the plugin's 0 stops the study), and one trial at a time (n_jobs 1;
    with a parallel launcher, n_jobs trials run at once)."""
    from hydra.core.plugins import Plugins

    # Hydra executes every plugin's modules once per process, when it first needs its plugins; the plugin's config
    # module stores its `optuna` then. Scan now, so that ganrun's node stored below is the one that stays.
    Plugins.instance()
    try:
        from hydra_plugins.hydra_optuna_sweeper.config import OptunaSweeperConf
    except ImportError:
        return

    @dataclass
    class GanrunOptunaSweeperConf(OptunaSweeperConf):
        direction: Any = "${ganrun_direction:${search.objective},${metrics.names},${metrics.best}}"
        n_jobs: int = 1
        max_failure_rate: float = 1.0

    ConfigStore.instance().store(group="hydra/sweeper", name="optuna", node=GanrunOptunaSweeperConf, provider="ganrun")
