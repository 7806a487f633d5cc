"""The per-job table of a sweep: its columns, the metric it ranks by, the best job, CSV and Markdown cells."""

import csv
import math
from pathlib import Path

from ganrun.base import reported
from ganrun.base.errors import UsageError
from ganrun.quality import names as metric_names
from ganrun.quality.names import higher_is_better as names_higher_is_better
from ganrun.report.protocols import base_tag

LOSS_TAGS = list(reported.HPARAM_COLUMNS)  # the losses and the W-losses' estimate and penalty


def swept_keys(records: list[dict]) -> list[str]:
    """Override keys whose value differs between jobs (missing counts as a value), in first-seen order."""
    keys = list(dict.fromkeys(k for r in records for k in r["overrides"]))
    return [k for k in keys if len({r["overrides"].get(k) for r in records}) > 1]


def choose_metric(records: list[dict], metric: str | None) -> str:
    """--metric, else the jobs' search objective (search.objective, recorded in status.json) when logged, else the
    first logged of the metrics best.pt follows (metrics/fid, metrics/classifier_fd, …), else critic/wasserstein
    (W-losses), else loss/generator; of a metric split by protocol, its column [A] (the protocol most jobs share)."""
    logged = {tag for r in records for tag in r["final"]}

    def column(tag: str) -> str | None:
        return tag if tag in logged else next((t for t in sorted(logged) if base_tag(t) == tag), None)

    if metric is not None:
        if column(metric) is None and any(r["final"] for r in records):
            raise UsageError(f"no job logged the metric {metric!r}; logged: {', '.join(sorted(logged))}")
        return column(metric) or metric
    objectives = list(dict.fromkeys(r["objective"] for r in records if r.get("objective")))
    preferred = objectives[:1] + [f"metrics/{name}" for name in metric_names.BEST] + ["critic/wasserstein"]
    return next((column(t) for t in preferred if column(t)), "loss/generator")


def ranks_jobs(metric: str, records: list[dict], chosen: str | None) -> bool:
    """Whether a summary names a best job by `metric`: a quality metric, or a value the user chose (--metric,
    search.objective); a loss or a Wasserstein estimate it fell back to is not comparable across jobs."""
    objectives = {r.get("objective") for r in records}
    return metric.startswith("metrics/") or chosen is not None or base_tag(metric) in objectives


def unranked_line(metric: str, what: str = "job") -> str:
    """Why no best job (or group) is named by a loss or a Wasserstein estimate, and which metric to turn on."""
    return (
        f"Best {what}: not named. No job has logged a quality metric, and {metric} is not comparable across "
        "jobs: a critic held to a stronger penalty reports a smaller Wasserstein estimate, not a better "
        "generator, and losses mean different things under other λ, losses and models. Turn a metric on, e.g. "
        "metrics.names=[classifier_fd] (offline, for MNIST, Fashion-MNIST and CIFAR-10) or metrics.names=[fid]; "
        "or rank by a value of your choice with python -m ganrun.report SWEEP_DIR --metric TAG."
    )


NOT_QUALITY = {"loss/": "a loss", "critic/": "the critic's own estimate", "regularizer/": "a regularizer's term"}


def not_comparable_note(metric: str) -> str:
    """A caveat for a loss or Wasserstein estimate the user chose to rank by: it does not measure the generator."""
    what = next((what for prefix, what in NOT_QUALITY.items() if metric.startswith(prefix)), None)
    if what is None:
        return ""
    return (
        f" ({metric} is {what}, not a quality measure: it is not comparable across λ, losses or models, and a "
        "better value is not a better generator; rank by a metric of metrics.names to compare generators.)"
    )


def value_tags(records: list[dict], metric: str) -> list[str]:
    """The final values a summary shows: the losses some job logged (a BCE sweep has no Wasserstein estimate), every
    logged metric, and the ranking metric."""
    logged = {tag for r in records for tag in r["final"]}
    tags = [t for t in LOSS_TAGS if t in logged] + sorted(t for t in logged if t.startswith("metrics/"))
    return tags + ([metric] if metric not in tags else [])


def common_overrides(records: list[dict]) -> list[str]:
    """The overrides every job ran with (what the sweep's command line fixed), as key=value."""
    if not records:
        return []
    first = records[0]["overrides"]
    return [f"{k}={v}" for k, v in first.items() if all(r["overrides"].get(k, None) == v for r in records)]


def table(records: list[dict], keys: list[str], metric: str) -> tuple[list[str], list[dict]]:
    """Column names and one row per job (None for a missing value); the overrides column shows what sets a job apart
    from the others (what they all share is said once, common_overrides)."""
    tags = value_tags(records, metric)
    common = set(common_overrides(records))
    columns = ["job", *keys, "overrides", "status", "error", "step", "steps", *tags, "wall_time_s"]
    rows = [
        {
            "job": r["job"],
            **{k: r["overrides"].get(k) for k in keys},
            "overrides": " ".join(f"{k}={v}" for k, v in r["overrides"].items() if f"{k}={v}" not in common),
            **{c: r[c] for c in ("status", "error", "step", "steps", "wall_time_s")},
            **{t: r["final"].get(t) for t in tags},
        }
        for r in records
    ]
    return columns, rows


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def best_job(rows: list[dict], metric: str) -> dict | None:
    """The job with the best finite value of the metric, or None; a failed job's last value is not ranked."""
    scored = [r for r in rows if r["status"] != "failed" and is_number(r[metric])]
    pick = max if higher_is_better(metric) else min
    return pick(scored, key=lambda r: r[metric]) if scored else None


def direction(metric: str) -> str:
    return "higher" if higher_is_better(metric) else "lower"


def higher_is_better(tag: str) -> bool:
    """quality.names.higher_is_better of a column's logged tag (a column split by protocol: metrics/fid [B])."""
    return names_higher_is_better(base_tag(tag))


def fmt(value) -> str:
    """A Markdown cell: floats to 4 significant digits, None empty, '|' escaped."""
    if value is None:
        return ""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|")


def markdown_table(columns: list[str], rows: list[dict]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(fmt(row[c]) for c in columns) + " |" for row in rows]


def best_job_line(rows: list[dict], keys: list[str], metric: str, ranked: bool = True) -> str:
    """The sentence naming the best job by the metric, by its swept values (what tells it apart); when the metric
    does not rank jobs (not `ranked`), why none is named."""
    if not ranked:
        return unranked_line(metric)
    best = best_job(rows, metric)
    if best is None:
        return f"Best job by {metric}: none yet (no job that has not failed has logged it)."
    named = " ".join(f"{k}={best[k]}" for k in keys if best[k] is not None) or best["overrides"] or "no overrides"
    return (
        f"Best job by {metric} ({direction(metric)} is better): {best['job']} ({named}) with "
        f"{fmt(best[metric])}.{not_comparable_note(metric)}"
    )


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows({c: "" if row[c] is None else row[c] for c in columns} for row in rows)
