"""summary.png: the final metric against each swept key; with seeds, each group's mean and 95% interval."""

from pathlib import Path

from ganrun.report.stats import SEED_KEY, Group
from ganrun.report.table import is_number


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


def label_axes(ax, key: str, metric: str, series: int) -> None:
    if series > 1:
        ax.legend(fontsize="small")
    ax.set_xlabel(key)
    ax.set_ylabel(metric)
    ax.grid(True, alpha=0.3)


def plot_jobs(ax, rows: list[dict], key: str, others: list[str], metric: str) -> None:
    """The metric against one swept key, one line per combination of the other swept keys; failed jobs as x."""
    scored = [r for r in rows if isinstance(r[metric], (int, float))]
    series: dict[str, list[tuple[float, float, bool]]] = {}
    xs, categorical = x_axis(ax, [r[key] for r in scored])
    for x, r in zip(xs, scored):
        label = ", ".join(f"{k}={r[k]}" for k in others if r[k] is not None)
        series.setdefault(label, []).append((x, r[metric], r["status"] == "failed"))
    for label, points in series.items():
        ok = sorted(p[:2] for p in points if not p[2])
        style = "o" if categorical else "o-"  # a line between categories would suggest an order
        line = ax.plot([p[0] for p in ok], [p[1] for p in ok], style, label=label or None)[0]
        failed = [p for p in points if p[2]]  # a crash's last value, shown but not joined to the curve
        ax.plot([p[0] for p in failed], [p[1] for p in failed], "x", color=line.get_color(), markersize=9)
    label_axes(ax, key, metric, len(series))


def plot_groups(ax, groups: list[Group], key: str, others: list[str], metric: str) -> None:
    """Each seed group's mean with its 95% interval against one swept key, one line per combination of the other
    swept keys; every completed seed's value as a faint dot beside it."""
    scored = [(g, g.interval(metric)) for g in groups]
    scored = [(g, i) for g, i in scored if i is not None]
    xs, categorical = x_axis(ax, [g.values[key] for g, _ in scored])
    series: dict[str, list] = {}
    for x, (group, interval) in zip(xs, scored):
        label = ", ".join(f"{k}={group.values[k]}" for k in others if group.values[k] is not None)
        series.setdefault(label, []).append((x, interval, group.finals(metric)))
    for label, points in sorted(series.items()):
        points.sort(key=lambda p: p[0])
        means = [p[1].mean for p in points]
        errors = [
            [p[1].mean - p[1].low if p[1].low is not None else 0 for p in points],
            [p[1].high - p[1].mean if p[1].high is not None else 0 for p in points],
        ]
        bars = ax.errorbar(
            [p[0] for p in points], means, yerr=errors, fmt="o" if categorical else "o-", capsize=4, label=label or None
        )
        seeds = [(p[0], v) for p in points for v in p[2]]
        ax.plot([s[0] for s in seeds], [s[1] for s in seeds], ".", color=bars.lines[0].get_color(), alpha=0.35)
    label_axes(ax, key, metric, len(series))


def plot_one_group(ax, group: Group, rows: list[dict], metric: str) -> None:
    """Only the seed is swept: each seed's value, and the mean with its 95% interval as a band."""
    plot_jobs(ax, rows, SEED_KEY, [], metric)
    interval = group.interval(metric)
    if interval is not None:
        ax.axhline(interval.mean, color="k", linewidth=1, label=f"mean, n = {interval.n}")
        if interval.low is not None:
            ax.axhspan(interval.low, interval.high, color="k", alpha=0.1, label="95% interval")
        ax.legend(fontsize="small")


def write_plot(path: Path, rows: list[dict], keys: list[str], metric: str, groups: list[Group]) -> None:
    """summary.png: one subplot per swept key but seed (by job folder when nothing is swept)."""
    from matplotlib.figure import Figure  # the OO API renders with Agg and leaves pyplot's global backend alone

    plain = [k for k in keys if k != SEED_KEY] if groups else keys
    axes_keys = plain or ([SEED_KEY] if groups else ["job"])
    fig = Figure(figsize=(4.5 * len(axes_keys), 3.6), layout="constrained")
    for ax, key in zip(fig.subplots(1, len(axes_keys), squeeze=False)[0], axes_keys):
        others = [k for k in plain if k != key]
        if groups and plain:
            plot_groups(ax, groups, key, others, metric)
        elif groups:
            plot_one_group(ax, groups[0], rows, metric)
        else:
            plot_jobs(ax, rows, key, others, metric)
    if not any(is_number(r[metric]) for r in rows):
        fig.suptitle(f"no job has logged {metric} yet")
    elif groups:
        fig.suptitle(f"{metric}: mean and 95% interval over seeds", fontsize="medium")
    fig.savefig(path, dpi=100)
