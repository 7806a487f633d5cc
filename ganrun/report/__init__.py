"""A sweep's summaries, rebuilt from its job folders (also mid-sweep): the table (summary.csv, summary.md), the
final metric against the swept keys (summary.png), with seeds each group's mean and 95% interval
(summary_groups.csv), and pictures of every job (summary_samples.png, summary_curves.png).

reading: job folders, status, TensorBoard events · table: rows and the best job · stats: seed groups and intervals ·
plots: summary.png · pictures: samples and curves · summary: all files · cli: `python -m ganrun.report`.
"""

from ganrun.report.cli import main
from ganrun.report.reading import collect, job_dirs, last_scalars, read_events
from ganrun.report.stats import describe, seed_groups, t_quantile, verdict
from ganrun.report.summary import write_report, write_summary
from ganrun.report.table import best_job, choose_metric, swept_keys

__all__ = [
    "main",
    "collect",
    "job_dirs",
    "last_scalars",
    "read_events",
    "describe",
    "seed_groups",
    "t_quantile",
    "verdict",
    "write_report",
    "write_summary",
    "best_job",
    "choose_metric",
    "swept_keys",
]
