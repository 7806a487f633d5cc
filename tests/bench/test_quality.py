"""The quality benchmark end to end on tiny Fashion-MNIST files: ganrun's own command line, the textbook loop,
scores per variant, seed and step, the summary table and the picture."""

import json
import statistics

import pytest
from PIL import Image

from helpers.cli import ganrun
from helpers.tiny_data import write_debian_fashion

pytestmark = pytest.mark.slow


def test_quality_benchmark_runs_scores_and_summarizes(tmp_path):
    root = write_debian_fashion(tmp_path / "fashion", n=300)  # the textbook loop draws batches of 128
    result = ganrun(
        "--quality",
        "--root",
        str(root),
        "--steps",
        "2,1",
        "--seeds",
        "0,1",
        "--num",
        "32",
        "--preset",
        "--work",
        "runs",
        "--out",
        "quality.json",
        "--grid",
        "quality.png",
        cwd=tmp_path,
        module="ganrun.bench",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "quality.json").read_text())
    assert report["steps"] == [1, 2] and report["seeds"] == [0, 1] and report["num_samples"] == 32
    variants = ["default", "raw", "preset", "preset_raw", "textbook"]
    assert len(report["rows"]) == 2 * 2 * len(variants)
    for entry in report["table"]:
        for variant in variants:
            values = [
                r["classifier_fd"] for r in report["rows"] if r["step"] == entry["step"] and r["variant"] == variant
            ]
            assert entry[variant]["n"] == 2 and entry[variant]["mean"] == pytest.approx(statistics.fmean(values))
        assert entry["default_over_textbook"] == pytest.approx(entry["default"]["mean"] / entry["textbook"]["mean"])
    assert report["classifier"]["id"] and 0 <= report["classifier"]["test_accuracy"] <= 1
    assert "| 1 |" in result.stdout and "| 2 |" in result.stdout  # the Markdown table
    with Image.open(tmp_path / "quality.png") as grid:
        assert grid.width > 100 and grid.height > 100
    for run in ("default-0", "preset-1"):  # ganrun's own checkpoints, one per scored step
        assert sorted(p.name for p in (tmp_path / "runs" / run / "checkpoints").glob("step_*.pt")) == [
            "step_0000001.pt",
            "step_0000002.pt",
        ]


def test_quality_benchmark_bad_arguments_are_one_line(tmp_path):
    result = ganrun("--quality", "--root", str(tmp_path), "--steps", "0,2", cwd=tmp_path, module="ganrun.bench")
    assert result.returncode == 2 and "--steps needs positive integers" in result.stderr
    result = ganrun(
        "--quality",
        "--root",
        str(tmp_path / "nowhere"),
        "--steps",
        "1",
        "--seeds",
        "0",
        cwd=tmp_path,
        module="ganrun.bench",
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr and "FashionMNIST" in result.stderr
