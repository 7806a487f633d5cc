"""A sweep's summary.csv, summary.md and summary.png, rebuilt from its job folders (also mid-sweep)."""

import argparse
import csv
import json
import math
import re
import sys
from pathlib import Path

import yaml

from ganrun.quality import names as metric_names
from ganrun.errors import UsageError
from ganrun.runstate.overrides import split_override

LOSS_TAGS = ["loss/critic", "loss/generator", "critic/wasserstein", "critic/penalty"]
HIGHER_IS_BETTER = {*(f"metrics/{name}" for name in metric_names.HIGHER_IS_BETTER), "perf/it_per_s"}  # others: lower


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


def last_scalars(job: Path) -> tuple[dict[str, float], int | None]:
    """Each scalar tag's value at its highest step, as TensorBoard shows the job: its event files read in order,
    a resumed run's purge dropping what the run before it logged past the checkpoint it resumed from."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not any(job.glob("events.out.tfevents.*")):
        return {}, None
    events = EventAccumulator(str(job), size_guidance={"scalars": 0})  # the folder: every file, purges applied
    events.Reload()
    last = {tag: max(events.Scalars(tag), key=lambda e: (e.step, e.wall_time)) for tag in events.Tags()["scalars"]}
    return {tag: e.value for tag, e in last.items()}, max((e.step for e in last.values()), default=None)


def collect(jobs: list[Path]) -> list[dict]:
    """One record per job: folder, overrides, status fields and final values (status.json's first)."""
    records = []
    for job in jobs:
        status = read_status(job)
        scalars, top_step = last_scalars(job)
        final = {**scalars, **(status.get("final") or {})}
        error = status.get("error")
        records.append({
            "job": job.name, "overrides": read_overrides(job), "status": status.get("status", "unknown"),
            "error": str(error).splitlines()[0] if error else None,
            "step": status.get("step", top_step), "steps": status.get("steps"),
            "wall_time_s": status.get("wall_time_s"), "final": final,
        })
    return records


def swept_keys(records: list[dict]) -> list[str]:
    """Override keys whose value differs between jobs (missing counts as a value), in first-seen order."""
    keys = list(dict.fromkeys(k for r in records for k in r["overrides"]))
    return [k for k in keys if len({r["overrides"].get(k) for r in records}) > 1]


def choose_metric(records: list[dict], metric: str | None) -> str:
    """--metric, else the first logged of the metrics best.pt follows (metrics/fid, metrics/classifier_fd, …),
    else critic/wasserstein (W-losses), else loss/generator."""
    logged = {tag for r in records for tag in r["final"]}
    if metric is not None:
        if metric not in logged and any(r["final"] for r in records):
            raise UsageError(f"no job logged the metric {metric!r}; logged: {', '.join(sorted(logged))}")
        return metric
    preferred = [f"metrics/{name}" for name in metric_names.BEST] + ["critic/wasserstein"]
    return next((t for t in preferred if t in logged), "loss/generator")


def table(records: list[dict], keys: list[str], metric: str) -> tuple[list[str], list[dict]]:
    """Column names and one row per job (None for a missing value)."""
    logged = {tag for r in records for tag in r["final"]}
    tags = LOSS_TAGS + sorted(t for t in logged if t.startswith("metrics/"))
    tags += [metric] if metric not in tags else []
    columns = ["job", *keys, "overrides", "status", "error", "step", "steps", *tags, "wall_time_s"]
    rows = [{
        "job": r["job"], **{k: r["overrides"].get(k) for k in keys},
        "overrides": " ".join(f"{k}={v}" for k, v in r["overrides"].items()),
        **{c: r[c] for c in ("status", "error", "step", "steps", "wall_time_s")},
        **{t: r["final"].get(t) for t in tags},
    } for r in records]
    return columns, rows


def best_job(rows: list[dict], metric: str) -> dict | None:
    """The job with the best finite value of the metric, or None; a failed job's last value is not ranked."""
    scored = [r for r in rows if r["status"] != "failed"
              and isinstance(r[metric], (int, float)) and math.isfinite(r[metric])]
    pick = max if metric in HIGHER_IS_BETTER else min
    return pick(scored, key=lambda r: r[metric]) if scored else None


def fmt(value) -> str:
    """A Markdown cell: floats to 4 significant digits, None empty, '|' escaped."""
    if value is None:
        return ""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|")


def write_markdown(path: Path, columns: list[str], rows: list[dict], metric: str) -> None:
    """The table in Markdown, then a line naming the best job by the metric."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(row[c]) for c in columns) + " |" for row in rows]
    best, keys = best_job(rows, metric), columns[1:columns.index("overrides")]
    direction = "higher" if metric in HIGHER_IS_BETTER else "lower"
    if best is None:
        lines += ["", f"Best job by {metric}: none yet (no job that has not failed has logged it)."]
    else:  # named by its swept values, which is what tells it apart from the others
        named = " ".join(f"{k}={best[k]}" for k in keys if best[k] is not None) or best["overrides"] or "no overrides"
        lines += ["", f"Best job by {metric} ({direction} is better): {best['job']} ({named}) with {fmt(best[metric])}."]
    path.write_text("\n".join(lines) + "\n")


def x_axis(ax, values: list) -> tuple[list[float], bool]:
    """Positions of a swept key's values, and whether they are categories (strings, or a key unset in some jobs)."""
    try:
        xs = [float(v) for v in values]
    except (TypeError, ValueError):
        categories = list(dict.fromkeys("(unset)" if v is None else str(v) for v in values))
        ax.set_xticks(range(len(categories)), categories, rotation=30 if len(categories) > 4 else 0)
        return [categories.index("(unset)" if v is None else str(v)) for v in values], True
    if xs and min(xs) > 0 and max(xs) / min(xs) > 10:
        ax.set_xscale("log")
    ticks = dict(sorted(zip(xs, map(str, values))))
    if len(ticks) <= 10:  # a sweep's few values read better as themselves than as 1.2, 1.4, …
        ax.set_xticks(list(ticks), list(ticks.values()))
        ax.minorticks_off()
    return xs, False


def plot_axis(ax, rows: list[dict], key: str, others: list[str], metric: str) -> None:
    """The metric against one swept key, one line per combination of the other swept keys; failed jobs as x."""
    scored = [r for r in rows if isinstance(r[metric], (int, float))]
    groups: dict[str, list[tuple[float, float, bool]]] = {}
    xs, categorical = x_axis(ax, [r[key] for r in scored])
    for x, r in zip(xs, scored):
        label = ", ".join(f"{k}={r[k]}" for k in others if r[k] is not None)
        groups.setdefault(label, []).append((x, r[metric], r["status"] == "failed"))
    for label, points in groups.items():
        ok = sorted(p[:2] for p in points if not p[2])
        style = "o" if categorical else "o-"  # a line between categories would suggest an order
        line = ax.plot([p[0] for p in ok], [p[1] for p in ok], style, label=label or None)[0]
        failed = [p for p in points if p[2]]  # a crash's last value, shown but not joined to the curve
        ax.plot([p[0] for p in failed], [p[1] for p in failed], "x", color=line.get_color(), markersize=9)
    if len(groups) > 1:
        ax.legend(fontsize="small")
    ax.set_xlabel(key)
    ax.set_ylabel(metric)
    ax.grid(True, alpha=0.3)


def write_plot(path: Path, rows: list[dict], keys: list[str], metric: str) -> None:
    """summary.png: one subplot per swept key (by job folder when nothing is swept)."""
    from matplotlib.figure import Figure  # the OO API renders with Agg and leaves pyplot's global backend alone

    axes_keys = keys or ["job"]
    fig = Figure(figsize=(4.5 * len(axes_keys), 3.6), layout="constrained")
    for ax, key in zip(fig.subplots(1, len(axes_keys), squeeze=False)[0], axes_keys):
        plot_axis(ax, rows, key, [k for k in keys if k != key], metric)
    if not any(isinstance(r[metric], (int, float)) for r in rows):
        fig.suptitle(f"no job has logged {metric} yet")
    fig.savefig(path, dpi=100)


def write_report(sweep_dir: Path, metric: str | None = None) -> Path:
    """Write summary.csv, summary.md and summary.png in sweep_dir; returns the path of summary.md."""
    return write_summary(Path(sweep_dir), collect(job_dirs(Path(sweep_dir))), metric)


def write_summary(sweep_dir: Path, records: list[dict], metric: str | None = None) -> Path:
    """write_report for job records already collected; returns the path of summary.md."""
    keys = swept_keys(records)
    metric = choose_metric(records, metric)
    columns, rows = table(records, keys, metric)
    with open(sweep_dir / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows({c: "" if row[c] is None else row[c] for c in columns} for row in rows)
    write_markdown(sweep_dir / "summary.md", columns, rows, metric)
    write_plot(sweep_dir / "summary.png", rows, keys, metric)
    return sweep_dir / "summary.md"


def main(argv: list[str] | None = None) -> int:
    """The CLI: rebuild a sweep's summary; a user error is one line on stderr and exit status 2."""
    parser = argparse.ArgumentParser(prog="python -m ganrun.report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a multirun folder, e.g. outputs/multirun/<date>/<time>")
    parser.add_argument("--metric", help="the scalar tag to rank and plot by (default: metrics/fid, "
                                         "metrics/classifier_fd, …, critic/wasserstein, loss/generator, "
                                         "the first one logged)")
    args = parser.parse_args(argv)
    try:
        md = write_report(args.sweep_dir, args.metric)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote summary.csv, summary.md and summary.png in {md.parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
