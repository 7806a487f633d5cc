"""Seeds: jobs that differ only in `seed` form a group; per group and final value n, mean, standard deviation and a
95% confidence interval of the mean (Student's t, cut to the range the value lies in); the best group is named only
when it is distinguishable."""

import math
from dataclasses import dataclass

from ganrun.quality.names import value_range
from ganrun.report.protocols import base_tag
from ganrun.report.table import fmt, higher_is_better, is_number, not_comparable_note, unranked_line

SEED_KEY = "seed"
LEVEL = 0.95  # of the confidence intervals


def t_central(t: float, df: int) -> float:
    """P(|T| ≤ t) for Student's T with an integer number of degrees of freedom: the finite series of Abramowitz &
    Stegun 26.7.3-4 in θ = atan(t/√df)."""
    theta = math.atan(t / math.sqrt(df))
    c2, total, term = math.cos(theta) ** 2, 1.0, 1.0
    if df % 2:  # odd: (2/π)(θ + sinθ cosθ (1 + 2/3 cos²θ + 2·4/(3·5) cos⁴θ + …)); df 1: 2θ/π
        for k in range(1, (df - 1) // 2):
            term *= 2 * k / (2 * k + 1) * c2
            total += term
        return 2 / math.pi * (theta + (math.sin(theta) * math.cos(theta) * total if df > 1 else 0.0))
    for k in range(1, df // 2):  # even: sinθ (1 + 1/2 cos²θ + 1·3/(2·4) cos⁴θ + …)
        term *= (2 * k - 1) / (2 * k) * c2
        total += term
    return math.sin(theta) * total


def t_quantile(level: float, df: int) -> float:
    """The t with P(|T| ≤ t) = level, e.g. 4.303 for 95% and df 2: the half-width of a `level` confidence interval
    in standard errors. Bisection on t_central, to the last bits of a float."""
    low, high = 0.0, 1.0
    while t_central(high, df) < level:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if middle in (low, high):
            break
        low, high = (middle, high) if t_central(middle, df) < level else (low, middle)
    return (low + high) / 2


@dataclass(frozen=True)
class Interval:
    """A sample's size, mean, standard deviation (n − 1 in the denominator) and the confidence interval of the
    mean, mean ± t·sd/√n; sd and the interval are None for a single value."""

    n: int
    mean: float
    sd: float | None
    low: float | None
    high: float | None
    cut: bool = False  # whether the t-interval reached past the value's range and was cut to it

    def text(self) -> str:
        interval = f"95% CI {fmt(self.low)} – {fmt(self.high)}" if self.low is not None else "no interval"
        return f"mean {fmt(self.mean)}, {interval}{' (cut to its range)' if self.cut else ''}, n = {self.n}"


def describe(values: list[float], level: float = LEVEL, bounds=(None, None)) -> Interval | None:
    """The Interval of `values`, or None when there are none. `bounds` (low, high; None: unbounded) is the range the
    true mean lies in (a distance is never negative): the t-interval is cut to it, which keeps its coverage (the
    mean is never in the part cut off) and never draws a distance below 0, as two seeds' wide intervals would."""
    n = len(values)
    if n == 0:
        return None
    mean = math.fsum(values) / n
    if n == 1:
        return Interval(1, mean, None, None, None)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(level, n - 1) * sd / math.sqrt(n)
    low, high = mean - half, mean + half
    floor, ceiling = bounds
    cut_low, cut_high = floor is not None and low < floor, ceiling is not None and high > ceiling
    low, high = floor if cut_low else low, ceiling if cut_high else high
    return Interval(n, mean, sd, low, high, cut_low or cut_high)


def overlap(a: Interval, b: Interval) -> bool:
    """Whether two confidence intervals share a point (a missing interval overlaps everything)."""
    if a.low is None or b.low is None:
        return True
    return a.low <= b.high and b.low <= a.high


@dataclass
class Group:
    """The jobs of a sweep that differ only in their seed."""

    values: dict[str, str]  # the group's values of the swept keys other than seed
    rows: list[dict]  # its jobs' rows of the summary table

    @property
    def label(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.values.items() if v is not None) or "all jobs"

    def finals(self, tag: str) -> list[float]:
        """The tag's final values of the group's completed jobs (a failed or unfinished job's last value is not
        final)."""
        return [r[tag] for r in self.rows if r["status"] == "completed" and is_number(r[tag])]

    def interval(self, tag: str) -> Interval | None:
        return describe(self.finals(tag), bounds=value_range(base_tag(tag)))

    def logged(self, tag: str) -> bool:
        """Whether any of its jobs has a value of the tag (a BCE group has no Wasserstein estimate)."""
        return any(r.get(tag) is not None for r in self.rows)


def seed_groups(rows: list[dict], keys: list[str]) -> list[Group]:
    """The sweep's jobs grouped by every swept key but seed, in the order first seen; [] unless seed is swept."""
    if SEED_KEY not in keys:
        return []
    others = [k for k in keys if k != SEED_KEY]
    groups: dict[tuple, Group] = {}
    for row in rows:
        values = {k: row[k] for k in others}
        groups.setdefault(tuple(values.values()), Group(values, [])).rows.append(row)
    return list(groups.values())


def verdict(groups: list[Group], metric: str, ranked: bool = True) -> str:
    """The best group by the metric's mean, named only when its interval does not overlap the next best's (and
    never by a loss or Wasserstein estimate nobody chose: not `ranked`)."""
    if not ranked:
        return unranked_line(metric, "group")
    scored = [(g, g.interval(metric)) for g in groups]
    ranked = sorted(
        [(g, i) for g, i in scored if i is not None], key=lambda gi: gi[1].mean, reverse=higher_is_better(metric)
    )
    way = "higher" if higher_is_better(metric) else "lower"
    if not ranked:
        return f"Best group by {metric}: none yet (no completed job has logged it)."
    (best, top), rest = ranked[0], ranked[1:]
    if not rest:
        return f"Best group by {metric}: {best.label} ({top.text()}) is the only group with values; nothing to compare."
    if not overlap(top, rest[0][1]):
        return (
            f"Best group by {metric} ({way} is better): {best.label} ({top.text()}); its interval does not "
            f"overlap that of the next best, {rest[0][0].label} ({rest[0][1].text()})."
            f"{not_comparable_note(metric)}"
        )
    tied = [(best, top)] + [(g, i) for g, i in rest if overlap(top, i)]
    listed = "; ".join(f"{g.label} ({i.text()})" for g, i in tied)
    return (
        f"Best group by {metric}: not named, the top groups are not distinguishable (their 95% intervals "
        f"overlap, or a group has a single value): {listed}. More seeds narrow the intervals."
    )


def group_rows(groups: list[Group], keys: list[str], tags: list[str]) -> tuple[list[str], list[dict]]:
    """The long table of the groups: one row per group and final value, with n, mean, sd and the interval."""
    others = [k for k in keys if k != SEED_KEY]
    columns = [*others, "value", "jobs", "n", "mean", "sd", "ci_low", "ci_high"]
    rows = []
    for group in groups:
        for tag in (t for t in tags if group.logged(t) or t == tags[0]):
            interval = group.interval(tag)
            stats = dict(
                zip(
                    ("n", "mean", "sd", "ci_low", "ci_high"),
                    (interval.n, interval.mean, interval.sd, interval.low, interval.high)
                    if interval
                    else (0, None, None, None, None),
                )
            )
            rows.append({**group.values, "value": tag, "jobs": len(group.rows), **stats})
    return columns, rows
