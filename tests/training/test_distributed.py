"""torchrun: one run on two CPU processes (gloo) writes one run folder, and the ranks stay identical."""

import json

import pytest

from helpers.cli import REPO, on_tiny_mnist
from helpers.runs import torchrun

pytestmark = pytest.mark.slow


def test_two_ranks_write_one_run_folder(tmp_path, tiny_mnist):
    result = torchrun(
        "-m",
        "ganrun",
        *on_tiny_mnist(tiny_mnist),
        "train.batch_size=16",
        "train.steps=4",
        "log.every=2",
        "ckpt.every=2",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = [p for p in (tmp_path / "outputs").glob("*/*") if p.is_dir()]
    assert len(runs) == 1  # both ranks agreed on one timestamped folder
    run = runs[0]
    assert len(list(run.glob("events.out.tfevents.*"))) == 1  # rank 0 alone writes TensorBoard
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.pt", "step_0000002.pt", "step_0000004.pt"]
    assert (run / ".hydra" / "config.yaml").is_file()
    assert (run / "ganrun.log").read_text().count("step 4:") == 1  # one writer of the log, not one per rank
    assert json.loads((run / "status.json").read_text())["status"] == "completed"


def test_ranks_hold_identical_weights_and_draw_disjoint_shares_of_one_order(tmp_path, tiny_mnist):
    result = torchrun(str(REPO / "tests" / "helpers" / "ddp_check.py"), str(tiny_mnist), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "WORLD 2" in result.stdout
    assert "IDENTICAL True" in result.stdout
    assert "DIFFERENT_DATA True" in result.stdout
    assert "ONE_GLOBAL_ORDER True" in result.stdout  # disjoint shares of one order, not a permutation per rank


def test_a_batch_that_does_not_split_is_refused(tmp_path, tiny_mnist):
    result = torchrun(
        "-m",
        "ganrun",
        *on_tiny_mnist(tiny_mnist),
        "train.batch_size=9",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "train.batch_size=9 does not split over 2 processes" in result.stderr
