"""The per-job table of a sweep: its columns, the metric it ranks by, the best job, CSV and Markdown cells."""

import csv
import math
from pathlib import Path

from ganrun.errors import UsageError
from ganrun.quality import names as metric_names
from ganrun.quality.names import higher_is_better

LOSS_TAGS = ["loss/critic", "loss/generator", "critic/wasserstein", "critic/penalty"]


def swept_keys(records: list[dict]) -> list[str]:
    """Override keys whose value differs between jobs (missing counts as a value), in first-seen order."""
    keys = list(dict.fromkeys(k for r in records for k in r["overrides"]))
    return [k for k in keys if len({r["overrides"].get(k) for r in records}) > 1]


def choose_metric(records: list[dict], metric: str | None) -> str:
    """--metric, else the jobs' search objective (search.objective, recorded in status.json) when logged, else the
    first logged of the metrics best.pt follows (metrics/fid, metrics/classifier_fd, …), else critic/wasserstein
    (W-losses), else loss/generator."""
    logged = {tag for r in records for tag in r["final"]}
    if metric is not None:
        if metric not in logged and any(r["final"] for r in records):
            raise UsageError(f"no job logged the metric {metric!r}; logged: {', '.join(sorted(logged))}")
        return metric
    objectives = list(dict.fromkeys(r["objective"] for r in records if r.get("objective")))
    preferred = objectives[:1] + [f"metrics/{name}" for name in metric_names.BEST] + ["critic/wasserstein"]
    return next((t for t in preferred if t in logged), "loss/generator")


def value_tags(records: list[dict], metric: str) -> list[str]:
    """The final values a summary shows: the losses, every logged metric, and the ranking metric."""
    logged = {tag for r in records for tag in r["final"]}
    tags = LOSS_TAGS + sorted(t for t in logged if t.startswith("metrics/"))
    return tags + ([metric] if metric not in tags else [])


def table(records: list[dict], keys: list[str], metric: str) -> tuple[list[str], list[dict]]:
    """Column names and one row per job (None for a missing value)."""
    tags = value_tags(records, metric)
    columns = ["job", *keys, "overrides", "status", "error", "step", "steps", *tags, "wall_time_s"]
    rows = [{
        "job": r["job"], **{k: r["overrides"].get(k) for k in keys},
        "overrides": " ".join(f"{k}={v}" for k, v in r["overrides"].items()),
        **{c: r[c] for c in ("status", "error", "step", "steps", "wall_time_s")},
        **{t: r["final"].get(t) for t in tags},
    } for r in records]
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


def fmt(value) -> str:
    """A Markdown cell: floats to 4 significant digits, None empty, '|' escaped."""
    if value is None:
        return ""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|")


def markdown_table(columns: list[str], rows: list[dict]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(fmt(row[c]) for c in columns) + " |" for row in rows]


def best_job_line(rows: list[dict], keys: list[str], metric: str) -> str:
    """The sentence naming the best job by the metric, by its swept values (what tells it apart)."""
    best = best_job(rows, metric)
    if best is None:
        return f"Best job by {metric}: none yet (no job that has not failed has logged it)."
    named = " ".join(f"{k}={best[k]}" for k in keys if best[k] is not None) or best["overrides"] or "no overrides"
    return f"Best job by {metric} ({direction(metric)} is better): {best['job']} ({named}) with {fmt(best[metric])}."


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows({c: "" if row[c] is None else row[c] for c in columns} for row in rows)
