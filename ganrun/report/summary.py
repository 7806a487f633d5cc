"""Everything a sweep's folder gets from its jobs: summary.csv, summary.md, summary.png, summary_groups.csv (with
seeds), summary_samples.png and summary_curves.png."""

from dataclasses import dataclass
from pathlib import Path

import yaml

from ganrun.report.pictures import write_pictures
from ganrun.report.plots import write_plot
from ganrun.report.protocols import separate
from ganrun.report.reading import collect, job_dirs
from ganrun.report.stats import LEVEL, group_rows, seed_groups, verdict
from ganrun.report.table import (
    best_job_line,
    choose_metric,
    common_overrides,
    fmt,
    markdown_table,
    ranks_jobs,
    swept_keys,
    table,
    value_tags,
    write_csv,
)

# In the order the CLI names them; summary_groups.csv only when seeds are swept.
FILES = ("summary.csv", "summary.md", "summary.png", "summary_groups.csv", "summary_samples.png", "summary_curves.png")


@dataclass(frozen=True)
class Summary:
    path: Path  # summary.md
    verdict: str  # its line naming the best job or group (or why none is named)


def write_report(sweep_dir: Path, metric: str | None = None) -> Summary:
    """Write the summaries in sweep_dir from its job folders."""
    return write_summary(Path(sweep_dir), collect(job_dirs(Path(sweep_dir))), metric)


def write_summary(sweep_dir: Path, records: list[dict], metric: str | None = None) -> Summary:
    """write_report for job records already collected."""
    records, measured = separate(records)  # one column per protocol of each metric
    keys = swept_keys(records)
    chosen, metric = metric, choose_metric(records, metric)
    ranked = ranks_jobs(metric, records, chosen)
    columns, rows = table(records, keys, metric)
    write_csv(sweep_dir / "summary.csv", columns, rows)
    shared = common_overrides(records)
    lines = [f"Every job ran with: {' '.join(shared)}", ""] if shared else []
    lines += markdown_table(columns, rows) + measured
    groups = seed_groups(rows, keys)
    if groups:  # seeds repeat each setting: the groups' statistics decide, not the luckiest seed
        tags = [metric] + [t for t in value_tags(records, metric) if t != metric]
        group_columns, stats = group_rows(groups, keys, tags)
        write_csv(sweep_dir / "summary_groups.csv", group_columns, stats)
        lines += [
            "",
            f"## Over seeds: mean, sd and {LEVEL:.0%} confidence interval of each final value "
            f"(Student's t, n − 1 degrees of freedom, cut to the range a value lies in: a distance is never below "
            f"0; n counts the completed jobs)",
            "",
        ]
        shown = [{**row, "95% CI": interval_text(row)} for row in stats]
        lines += markdown_table([c for c in group_columns if c not in ("ci_low", "ci_high")] + ["95% CI"], shown)
        said = verdict(groups, metric, ranked)
    else:
        (sweep_dir / "summary_groups.csv").unlink(missing_ok=True)  # from an earlier report of this folder
        said = best_job_line(rows, keys, metric, ranked)
    lines += ["", said, *optuna_lines(sweep_dir, records)]
    (sweep_dir / "summary.md").write_text("\n".join(lines) + "\n")
    write_plot(sweep_dir / "summary.png", rows, keys, metric, groups)
    write_pictures(sweep_dir, records, keys, metric)
    return Summary(sweep_dir / "summary.md", said)


def interval_text(row: dict) -> str:
    return f"{fmt(row['ci_low'])} – {fmt(row['ci_high'])}" if row["ci_low"] is not None else ""


def optuna_lines(sweep_dir: Path, records: list[dict]) -> list[str]:
    """An Optuna search's own verdict (its optimization_results.yaml, written when the study ends), and its trials."""
    path = sweep_dir / "optimization_results.yaml"
    results = yaml.safe_load(path.read_text()) if path.is_file() else None
    if not isinstance(results, dict) or "best_params" not in results:  # no study, a running one, or multi-objective
        return []
    params = " ".join(f"{k}={fmt(v)}" for k, v in results["best_params"].items())
    objective = next((r["objective"] for r in records if r.get("objective")), "its objective")
    completed = sum(r["status"] == "completed" for r in records)
    return [
        "",
        f"Optuna's best trial by {objective}: {params} with {fmt(results['best_value'])} "
        f"({len(records)} trials: {completed} completed, {len(records) - completed} failed or unfinished).",
    ]
