"""Spec of the sweep summary: fake sweep folders in real formats (Hydra's overrides.yaml, TensorBoard events,
status.json) in, summary.csv / summary.md / summary.png out."""

import csv
from pathlib import Path

import pytest
from PIL import Image

from ganrun import report
from ganrun.base.errors import UsageError
from helpers.cli import assert_user_error, ganrun
from helpers.events import RunEvents, write_events
from helpers.sweeps import make_job, status


@pytest.fixture
def gp_sweep(tmp_path) -> Path:
    """loss.lambda_gp=0.1,1,10,100: completed, failed, running (resumed: two event files), no status.json."""
    sweep = tmp_path / "multirun" / "2025-01-01" / "12-00-00"
    common = ["loss=wgan_gp", "train.steps=8"]
    final0 = {"loss/critic": -1.23456789, "loss/generator": 0.25, "critic/wasserstein": 2.0}
    job = make_job(sweep, "0", [common[0], "loss.lambda_gp=0.1", common[1]], status("completed", 8, 8, 12.5, final0))
    write_events(job, range(1, 9))  # critic/penalty comes from here: 8 * 0.25
    job = make_job(
        sweep,
        "1",
        [common[0], "loss.lambda_gp=1", common[1]],
        status("failed", 3, 8, 3.25, error="RuntimeError: CUDA out of memory\n  at line 3"),
    )
    write_events(job, range(1, 4))
    job = make_job(sweep, "2", [common[0], "loss.lambda_gp=10", common[1]], status("running", 6, 8, 7.0))
    write_events(job, range(3, 7))  # the resumed run, written first so its file does not sort last
    write_events(job, range(1, 5), value=lambda step: 9.0)  # the run before the resume, steps 1-4
    job = make_job(sweep, "10", [common[0], "loss.lambda_gp=100", common[1]])
    write_events(job, range(1, 5))
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    return sweep


GP_COLUMNS = [
    "job",
    "loss.lambda_gp",
    "overrides",
    "status",
    "error",
    "step",
    "steps",
    "loss/critic",
    "loss/generator",
    "critic/wasserstein",
    "critic/penalty",
    "wall_time_s",
]


def test_csv_rows_and_columns(gp_sweep):
    report.write_report(gp_sweep)
    with open(gp_sweep / "summary.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == GP_COLUMNS
        rows = list(reader)
    assert rows == [
        {
            "job": "0",
            "loss.lambda_gp": "0.1",
            "overrides": "loss.lambda_gp=0.1",  # what sets it apart
            "status": "completed",
            "error": "",
            "step": "8",
            "steps": "8",
            "loss/critic": "-1.23456789",
            "loss/generator": "0.25",
            "critic/wasserstein": "2.0",
            "critic/penalty": "2.0",
            "wall_time_s": "12.5",
        },
        {
            "job": "1",
            "loss.lambda_gp": "1",
            "overrides": "loss.lambda_gp=1",  # what sets it apart
            "status": "failed",
            "error": "RuntimeError: CUDA out of memory",
            "step": "3",
            "steps": "8",
            "loss/critic": "0.75",
            "loss/generator": "0.75",
            "critic/wasserstein": "0.75",
            "critic/penalty": "0.75",
            "wall_time_s": "3.25",
        },
        {
            "job": "2",
            "loss.lambda_gp": "10",
            "overrides": "loss.lambda_gp=10",  # what sets it apart
            "status": "running",
            "error": "",
            "step": "6",
            "steps": "8",
            "loss/critic": "1.5",
            "loss/generator": "1.5",
            "critic/wasserstein": "1.5",
            "critic/penalty": "1.5",
            "wall_time_s": "7.0",
        },
        {
            "job": "10",
            "loss.lambda_gp": "100",
            "overrides": "loss.lambda_gp=100",  # what sets it apart
            "status": "unknown",
            "error": "no status.json",
            "step": "4",
            "steps": "",
            "loss/critic": "1.0",
            "loss/generator": "1.0",
            "critic/wasserstein": "1.0",
            "critic/penalty": "1.0",
            "wall_time_s": "",
        },
    ]


def test_markdown_table_and_best_job(gp_sweep):
    assert report.write_report(gp_sweep).path == gp_sweep / "summary.md"
    said, *lines = (gp_sweep / "summary.md").read_text().splitlines()
    assert said == "Every job ran with: loss=wgan_gp train.steps=8"  # once, above the table
    lines = lines[1:]
    assert lines[0] == "| " + " | ".join(GP_COLUMNS) + " |"
    assert lines[1] == "|" + "---|" * len(GP_COLUMNS)
    assert lines[2] == "| 0 | 0.1 | loss.lambda_gp=0.1 | completed |  | 8 | 8 | -1.235 | 0.25 | 2 | 2 | 12.5 |"
    assert lines[3] == (
        "| 1 | 1 | loss.lambda_gp=1 | failed "
        "| RuntimeError: CUDA out of memory | 3 | 8 | 0.75 | 0.75 | 0.75 | 0.75 | 3.25 |"
    )
    assert lines[5] == "| 10 | 100 | loss.lambda_gp=100 | unknown | no status.json | 4 |  | 1 | 1 | 1 | 1 |  |"
    # No quality metric: no job is named by the Wasserstein estimate, which a stronger penalty shrinks.
    assert lines[6] == "" and len(lines) == 8
    assert lines[7].startswith(
        "Best job: not named. No job has logged a quality metric, and critic/wasserstein is "
        "not comparable across jobs: a critic held to a stronger penalty reports a smaller"
    )
    assert "Turn a metric on, e.g. metrics.names=[classifier_fd]" in lines[7]


def test_a_loss_is_ranked_only_when_asked_for_and_then_with_a_caveat(gp_sweep):
    report.write_report(gp_sweep, metric="critic/wasserstein")
    # The failed job has the lowest W-estimate (0.75) but a crash is not ranked.
    assert (gp_sweep / "summary.md").read_text().splitlines()[-1] == (
        "Best job by critic/wasserstein (lower is better): 10 (loss.lambda_gp=100) with 1. (critic/wasserstein is "
        "the critic's own estimate, not a quality measure: it is not comparable across λ, losses or models, and a "
        "better value is not a better generator; rank by a metric of metrics.names to compare generators.)"
    )


def test_png_one_subplot_per_swept_key(gp_sweep):
    report.write_report(gp_sweep)
    with Image.open(gp_sweep / "summary.png") as image:
        assert image.format == "PNG"
        assert image.size == (450, 360)
        image.verify()


@pytest.fixture
def div_sweep(tmp_path) -> Path:
    """loss.k=1,2 × loss.p=2,6 with metrics on in some jobs; one job killed before it logged anything."""
    sweep = tmp_path / "sweep"
    for n, (k, p) in enumerate([(1, 2), (1, 6), (2, 2), (2, 6)]):
        overrides = ["loss=wgan_div", f"loss.k={k}", f"loss.p={p}"]
        if n == 3:
            make_job(sweep, str(n), overrides)
            continue
        job = make_job(sweep, str(n), overrides, status("completed", 4, 4, 1.0, {"metrics/fid": 40.0 - 10 * n}))
        write_events(job, range(1, 5))
        write_events(job, [4], value=lambda step: 0.5, tags=["metrics/kid"]) if n == 1 else None
    return sweep


def test_metrics_columns_and_fid_chosen(div_sweep):
    report.write_report(div_sweep)
    with open(div_sweep / "summary.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == [
        "job",
        "loss.k",
        "loss.p",
        "overrides",
        "status",
        "error",
        "step",
        "steps",
        "loss/critic",
        "loss/generator",
        "critic/wasserstein",
        "critic/penalty",
        "metrics/fid",
        "metrics/kid",
        "wall_time_s",
    ]
    assert [(r["job"], r["loss.k"], r["loss.p"], r["metrics/fid"], r["metrics/kid"]) for r in rows] == [
        ("0", "1", "2", "40.0", ""),
        ("1", "1", "6", "30.0", "0.5"),
        ("2", "2", "2", "20.0", ""),
        ("3", "2", "6", "", ""),
    ]
    assert rows[3]["status"] == "unknown" and rows[3]["step"] == "" and rows[3]["loss/critic"] == ""
    best = (div_sweep / "summary.md").read_text().splitlines()[-1]
    assert best == "Best job by metrics/fid (lower is better): 2 (loss.k=2 loss.p=2) with 20."
    with Image.open(div_sweep / "summary.png") as image:
        assert image.size == (900, 360)


def test_metric_option_overrides_the_default(div_sweep):
    report.write_report(div_sweep, metric="perf/it_per_s")
    with open(div_sweep / "summary.csv", newline="") as f:
        assert csv.DictReader(f).fieldnames[-2:] == ["perf/it_per_s", "wall_time_s"]
    best = (div_sweep / "summary.md").read_text().splitlines()[-1]
    assert best == "Best job by perf/it_per_s (higher is better): 0 (loss.k=1 loss.p=2) with 1."
    with pytest.raises(UsageError, match="no job logged the metric 'metrics/nope'"):
        report.write_report(div_sweep, metric="metrics/nope")


def records(*finals: dict) -> list[dict]:
    return [{"final": final} for final in finals]


def test_metric_choice_rules():
    w = {"loss/critic": 1.0, "loss/generator": 1.0, "critic/wasserstein": 1.0}
    assert report.choose_metric(records(w, {**w, "metrics/fid": 3.0}), None) == "metrics/fid"
    assert report.choose_metric(records(w, w), None) == "critic/wasserstein"
    assert report.choose_metric(records({"loss/critic": 1.0, "loss/generator": 1.0}), None) == "loss/generator"
    assert report.choose_metric(records(w, {}), "loss/critic") == "loss/critic"
    assert report.choose_metric(records({}, {}), None) == "loss/generator"  # nothing logged yet
    offline = {**w, "metrics/classifier_fd": 2.0, "metrics/classifier_recall": 0.5}  # no Inception weights here
    assert report.choose_metric(records(w, offline), None) == "metrics/classifier_fd"


def test_precision_and_recall_rank_higher_first():
    rows = [
        {"job": "a", "status": "completed", "metrics/classifier_recall": 0.4, "metrics/classifier_fd": 3.0},
        {"job": "b", "status": "completed", "metrics/classifier_recall": 0.6, "metrics/classifier_fd": 5.0},
    ]
    assert report.best_job(rows, "metrics/classifier_recall")["job"] == "b"
    assert report.best_job(rows, "metrics/classifier_fd")["job"] == "a"


def test_a_resumed_job_shows_what_tensorboard_shows(tmp_path):
    """Logged 2, 4, 6, then resumed from the step-4 checkpoint (purge_step 5) and killed before logging again:
    TensorBoard drops step 6, so the job's last value is step 4's, not the step 6 of the run that died."""
    job = tmp_path / "job"
    writer = RunEvents(job)
    for step, value in [(2, 1.0), (4, 2.0), (6, 3.0)]:
        writer.add_scalar("loss/critic", value, step)
    writer.close()
    RunEvents(job, purge_step=5).close()
    assert report.last_scalars(job) == ({"loss/critic": 2.0}, 4)
    writer = RunEvents(job, purge_step=5)  # resumed again, and this time it logged step 6
    writer.add_scalar("loss/critic", 7.0, 6)
    writer.close()
    assert report.last_scalars(job) == ({"loss/critic": 7.0}, 6)


def test_categorical_key_unreadable_status_and_a_job_with_nothing(tmp_path):
    sweep = tmp_path / "sweep"
    for n, loss in enumerate(["bce", "hinge"]):
        job = make_job(sweep, str(n), [f"loss={loss}"], status("completed", 4, 4, 2.0) if n == 0 else '{"stat')
        write_events(job, range(1, 5), tags=["loss/critic", "loss/generator"])
    make_job(sweep, "jobB", ["loss=lsgan"])
    make_job(sweep, "jobA", ["loss=lsgan", "+extra=1"])
    report.write_report(sweep)
    with open(sweep / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["job"], r["loss"], r["extra"], r["status"]) for r in rows] == [
        ("0", "bce", "", "completed"),
        ("1", "hinge", "", "unknown"),
        ("jobA", "lsgan", "1", "unknown"),
        ("jobB", "lsgan", "", "unknown"),
    ]
    assert rows[1]["error"].startswith("unreadable status.json: ")
    assert rows[1]["loss/generator"] == "1.0" and rows[2]["loss/generator"] == ""
    assert (
        "Best job: not named. No job has logged a quality metric, and loss/generator"
        in (sweep / "summary.md").read_text()
    )
    with Image.open(sweep / "summary.png") as image:
        assert image.size == (900, 360)


def test_nothing_swept_plots_by_job(tmp_path):
    job = make_job(tmp_path / "sweep", "0", ["loss=bce"], status("running", 2, 4, 1.0))
    write_events(job, range(1, 3), tags=["loss/generator"])
    report.write_report(tmp_path / "sweep")
    with open(tmp_path / "sweep" / "summary.csv", newline="") as f:
        assert csv.DictReader(f).fieldnames[:3] == ["job", "overrides", "status"]
    best = (tmp_path / "sweep" / "summary.md").read_text().splitlines()[-1]
    assert best.startswith("Best job: not named. No job has logged a quality metric, and loss/generator")
    with Image.open(tmp_path / "sweep" / "summary.png") as image:
        assert image.size == (450, 360)


def test_sweep_that_has_logged_nothing_yet(tmp_path):
    sweep = tmp_path / "sweep"
    make_job(sweep, "0", ["loss.k=1"], status("running", 0, 4, 0.5))
    make_job(sweep, "1", ["loss.k=2"])
    report.write_report(sweep)
    lines = (sweep / "summary.md").read_text().splitlines()
    assert lines[2:5] == [  # no loss columns: no job has logged one
        "| 0 | 1 | loss.k=1 | running |  | 0 | 4 |  | 0.5 |",
        "| 1 | 2 | loss.k=2 | unknown | no status.json |  |  |  |  |",
        "",
    ]
    assert lines[5].startswith("Best job: not named. No job has logged a quality metric")
    report.write_report(sweep, metric="loss/generator")
    best = (sweep / "summary.md").read_text().splitlines()[-1]
    assert best == "Best job by loss/generator: none yet (no job that has not failed has logged it)."
    with Image.open(sweep / "summary.png") as image:
        assert image.size == (450, 360)


def test_cli_writes_the_summaries_and_pictures(gp_sweep, tmp_path):
    result = ganrun(str(gp_sweep), cwd=tmp_path, module="ganrun.report", timeout=60)
    assert result.returncode == 0, result.stderr
    names = ["summary.csv", "summary.md", "summary.png", "summary_samples.png", "summary_curves.png"]
    verdict, wrote = result.stdout.splitlines()
    assert verdict == (gp_sweep / "summary.md").read_text().splitlines()[-1]  # the line that names the best, or why not
    assert verdict.startswith("Best job: not named. No job has logged a quality metric")
    assert wrote == f"wrote {', '.join(names[:-1])} and {names[-1]} in {gp_sweep}"
    assert sorted(p.name for p in gp_sweep.glob("summary*")) == sorted(names)  # no seeds: no summary_groups.csv


def test_cli_bad_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "empty" / "not_a_job").mkdir()
    for bad in ["missing", "empty", "a_file"]:
        message = f"error: {tmp_path / bad} is not a sweep folder: expected job folders with .hydra/overrides.yaml"
        with pytest.raises(UsageError, match="is not a sweep folder"):
            report.write_report(tmp_path / bad)
        if bad == "empty":  # one subprocess is enough for the exit status and the single line
            result = ganrun(str(tmp_path / bad), cwd=tmp_path, module="ganrun.report", timeout=60)
            assert_user_error(result, message)
            assert result.returncode == 2
            assert result.stderr.splitlines() == [message]
    assert report.main([str(tmp_path / "missing")]) == 2


def test_event_files_sort_in_the_order_they_were_written(tmp_path):
    """TensorBoard reads a folder's event files in name order, so a resume's file (which purges) must sort after the
    files before it, also past the tenth file a process writes in one second."""
    files = [RunEvents(tmp_path) for _ in range(12)]
    for events in files:
        events.close()
    written = [events.file.path for events in files]
    assert sorted(written) == written
