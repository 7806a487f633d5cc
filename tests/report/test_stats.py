"""Spec of the seed statistics in a sweep summary: jobs that differ only in `seed` form a group; per group n, mean,
standard deviation and a 95% Student-t interval of each final value; the best group named only when its interval
does not overlap the next best's. Interval math against closed forms of Student's t and against scipy."""

import csv
import math

import pytest
from PIL import Image

from ganrun import report
from ganrun.quality.names import value_range
from ganrun.report.stats import describe
from helpers.events import write_events
from helpers.sweeps import make_job, status


def t_closed_form(p: float, df: int) -> float:
    """Student's t quantile where it has a closed form (df 1, 2 and 4)."""
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    alpha = 4 * p * (1 - p)
    assert df == 4 and p > 0.5
    return 2 * math.sqrt(math.cos(math.acos(math.sqrt(alpha)) / 3) / math.sqrt(alpha) - 1)


@pytest.mark.parametrize("df", [1, 2, 4])
def test_t_quantile_matches_the_closed_forms(df):
    assert report.t_quantile(0.95, df) == pytest.approx(t_closed_form(0.975, df), rel=1e-12)
    assert report.t_quantile(0.90, df) == pytest.approx(t_closed_form(0.95, df), rel=1e-12)


@pytest.mark.parametrize("df", [3, 5, 6, 9, 30, 101])
def test_t_quantile_matches_scipy(df):
    import scipy.stats as scipy_stats

    for level in (0.5, 0.9, 0.95, 0.99):
        assert report.t_quantile(level, df) == pytest.approx(scipy_stats.t.ppf((1 + level) / 2, df), rel=1e-12)


def test_t_quantile_tends_to_the_normal_one():
    assert report.t_quantile(0.95, 20000) == pytest.approx(1.959963984540054, rel=1e-4)


def test_interval_of_three_values_in_closed_form():
    interval = report.describe([1.0, 2.0, 3.0])
    half = t_closed_form(0.975, 2) * 1.0 / math.sqrt(3)  # sd 1, n 3
    assert (interval.n, interval.mean, interval.sd) == (3, 2.0, pytest.approx(1.0))
    assert (interval.low, interval.high) == (pytest.approx(2 - half), pytest.approx(2 + half))


def test_interval_of_two_values_in_closed_form():
    interval = report.describe([0.0, 2.0])  # mean 1, sd √2, half-width t(0.975, 1)·√2/√2
    assert interval.sd == pytest.approx(math.sqrt(2))
    assert (interval.low, interval.high) == (
        pytest.approx(1 - 12.706204736174696),
        pytest.approx(1 + 12.706204736174696),
    )


def test_interval_matches_scipy():
    import scipy.stats as scipy_stats

    values = [31.2, 28.9, 35.4, 30.1, 29.7, 33.3, 27.8]
    interval = report.describe(values)
    low, high = scipy_stats.t.interval(
        0.95, df=len(values) - 1, loc=sum(values) / len(values), scale=scipy_stats.sem(values)
    )
    assert (interval.low, interval.high) == (pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))
    assert interval.sd == pytest.approx(scipy_stats.tstd(values), rel=1e-12)


def test_one_value_has_no_interval_and_none_has_nothing():
    interval = report.describe([5.0])
    assert (interval.n, interval.mean, interval.sd, interval.low, interval.high) == (1, 5.0, None, None, None)
    assert report.describe([]) is None


def seed_sweep(tmp_path, fids: dict[str, list], failed: tuple = ()):
    """loss.lambda_gp × seed; fids: λ → the final FID of seeds 0, 1, 2; (λ, seed) in `failed` failed at step 2."""
    sweep = tmp_path / "sweep"
    n = 0
    for lam, values in fids.items():
        for seed, fid in enumerate(values):
            job = make_job(
                sweep,
                f"{n}_lambda_gp={lam},seed={seed}",
                ["loss=wgan_gp", f"loss.lambda_gp={lam}", f"seed={seed}"],
                status("failed", 2, 4, 1.0, error="diverged")
                if (lam, seed) in failed
                else status("completed", 4, 4, 1.0, {"metrics/fid": fid}),
            )
            write_events(job, range(1, 5), value=lambda step, s=seed: step + s)
            n += 1
    return sweep


def read_groups(sweep):
    with open(sweep / "summary_groups.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_groups_over_seeds_and_a_distinguishable_best(tmp_path):
    sweep = seed_sweep(tmp_path, {"1": [10.0, 11.0, 12.0], "10": [20.0, 21.0, 22.0]})
    report.write_report(sweep)
    rows = read_groups(sweep)
    assert list(rows[0]) == ["loss.lambda_gp", "value", "jobs", "n", "mean", "sd", "ci_low", "ci_high"]
    fid = {r["loss.lambda_gp"]: r for r in rows if r["value"] == "metrics/fid"}
    half = t_closed_form(0.975, 2) / math.sqrt(3)
    for lam, mean in [("1", 11.0), ("10", 21.0)]:
        assert (fid[lam]["jobs"], fid[lam]["n"]) == ("3", "3")
        assert float(fid[lam]["mean"]) == pytest.approx(mean) and float(fid[lam]["sd"]) == pytest.approx(1.0)
        assert float(fid[lam]["ci_low"]) == pytest.approx(mean - half)
        assert float(fid[lam]["ci_high"]) == pytest.approx(mean + half)
    # Every final value gets its statistics: the generator loss of seed s at step 4 is 4 + s.
    generator = [r for r in rows if r["value"] == "loss/generator"]
    assert [(r["loss.lambda_gp"], float(r["mean"])) for r in generator] == [("1", 5.0), ("10", 5.0)]

    lines = (sweep / "summary.md").read_text().splitlines()
    assert "| 1 | metrics/fid | 3 | 3 | 11 | 1 | 8.516 – 13.48 |" in lines
    assert lines[-1] == (
        "Best group by metrics/fid (lower is better): loss.lambda_gp=1 (mean 11, 95% CI 8.516 – 13.48, "
        "n = 3); its interval does not overlap that of the next best, loss.lambda_gp=10 (mean 21, "
        "95% CI 18.52 – 23.48, n = 3)."
    )
    assert not any(line.startswith("Best job") for line in lines)  # the luckiest seed is not the answer
    with Image.open(sweep / "summary.png") as image:
        assert image.size == (450, 360)  # one panel: λ (seed is what the intervals are over)


def test_overlapping_intervals_name_no_best_group(tmp_path):
    sweep = seed_sweep(tmp_path, {"1": [10.0, 14.0, 12.0], "10": [13.0, 15.0, 14.0], "100": [40.0, 41.0, 42.0]})
    report.write_report(sweep)
    verdict = (sweep / "summary.md").read_text().splitlines()[-1]
    assert verdict.startswith("Best group by metrics/fid: not named, the top groups are not distinguishable")
    assert "loss.lambda_gp=1 (mean 12, 95% CI 7.032 – 16.97, n = 3); loss.lambda_gp=10 (mean 14," in verdict
    assert "lambda_gp=100" not in verdict  # its interval lies clear of the best one's


def test_failed_seeds_are_counted_but_not_averaged(tmp_path):
    sweep = seed_sweep(tmp_path, {"1": [10.0, 11.0, 99.0], "10": [20.0, 21.0, 22.0]}, failed=(("1", 2),))
    report.write_report(sweep)
    fid = {r["loss.lambda_gp"]: r for r in read_groups(sweep) if r["value"] == "metrics/fid"}
    assert (fid["1"]["jobs"], fid["1"]["n"], float(fid["1"]["mean"])) == ("3", "2", 10.5)


def test_a_single_seed_per_group_is_not_distinguishable(tmp_path):
    sweep = seed_sweep(tmp_path, {"1": [10.0], "10": [20.0, 21.0]})
    report.write_report(sweep)
    verdict = (sweep / "summary.md").read_text().splitlines()[-1]
    assert verdict.startswith("Best group by metrics/fid: not named")
    assert "loss.lambda_gp=1 (mean 10, no interval, n = 1)" in verdict


def test_only_the_seed_swept_is_one_group(tmp_path):
    sweep = tmp_path / "sweep"
    for seed, fid in enumerate([3.0, 5.0]):
        make_job(sweep, str(seed), ["loss=hinge", f"seed={seed}"], status("completed", 4, 4, 1.0, {"metrics/fid": fid}))
    report.write_report(sweep)
    [row] = [r for r in read_groups(sweep) if r["value"] == "metrics/fid"]
    assert (row["value"], row["n"], float(row["mean"])) == ("metrics/fid", "2", 4.0)
    assert list(row)[0] == "value"  # nothing else is swept: no key columns
    verdict = (sweep / "summary.md").read_text().splitlines()[-1]
    assert verdict == (
        "Best group by metrics/fid: all jobs (mean 4, 95% CI 0 – 16.71 (cut to its range), n = 2) is the only "
        "group with values; nothing to compare."
    )
    with Image.open(sweep / "summary.png") as image:
        assert image.size == (450, 360)


def test_a_report_without_seeds_removes_a_stale_groups_file(tmp_path):
    sweep = tmp_path / "sweep"
    for n, lam in enumerate([1, 10]):
        make_job(sweep, str(n), [f"loss.lambda_gp={lam}"], status("completed", 4, 4, 1.0, {"metrics/fid": 1.0 + n}))
    (sweep / "summary_groups.csv").write_text("stale\n")
    report.write_report(sweep)
    assert not (sweep / "summary_groups.csv").exists()


def test_an_interval_is_cut_to_the_range_of_its_value():
    """Two seeds, 3 and 5: mean 4, sd √2, t(97.5%, 1 df) = 12.706, so 4 ± 12.706 reaches below 0. A Fréchet
    distance is never negative, a precision never above 1: the interval is cut there (its coverage is kept, the
    mean never lies in the part cut off); a loss has no range and keeps its t-interval."""
    fid = describe([3.0, 5.0], bounds=value_range("metrics/fid"))
    assert (fid.low, fid.high, fid.cut) == (0.0, pytest.approx(4 + 12.706205, abs=1e-6), True)
    precision = describe([0.5, 0.9], bounds=value_range("metrics/classifier_precision"))
    assert (precision.low, precision.high, precision.cut) == (0.0, 1.0, True)
    loss = describe([3.0, 5.0], bounds=value_range("loss/critic"))
    assert (loss.low, loss.high, loss.cut) == (pytest.approx(4 - 12.706205, abs=1e-6), pytest.approx(16.706205), False)
    assert value_range("metrics/isc") == (1.0, None) and value_range("critic/penalty") == (0.0, None)
