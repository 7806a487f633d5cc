"""Multirun sweeps through the real CLI: every loss × regularizer trains; a failed job costs nobody; summaries."""

import csv
import json
import math

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from ganrun.report import pictures
from helpers.cli import ganrun, on_tiny_mnist

pytestmark = pytest.mark.slow

LOSSES = ["bce", "wgan", "wgan_gp", "wgan_div", "hinge", "lsgan"]
REGULARIZERS = ["none", "spectral_norm", "r1"]


def sweep(tmp_path, tiny_mnist, *args):
    return ganrun(
        "-m",
        *on_tiny_mnist(tiny_mnist),
        "train.steps=2",
        "log.every=1",
        "hydra.sweep.dir=sweep",
        *args,
        cwd=tmp_path,
        timeout=600,
    )


def test_every_loss_with_every_regularizer_trains(tmp_path, tiny_mnist):
    result = sweep(tmp_path, tiny_mnist, f"loss={','.join(LOSSES)}", f"regularizer={','.join(REGULARIZERS)}")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader((tmp_path / "sweep" / "summary.csv").open()))
    assert len(rows) == len(LOSSES) * len(REGULARIZERS)
    assert {(r["loss"], r["regularizer"]) for r in rows} == {(loss, reg) for loss in LOSSES for reg in REGULARIZERS}
    for row in rows:
        assert row["status"] == "completed", row
        assert math.isfinite(float(row["loss/critic"])) and math.isfinite(float(row["loss/generator"]))
    assert (tmp_path / "sweep" / "0_loss=bce,regularizer=none").is_dir()  # short names: swept keys only


def test_a_failing_job_does_not_lose_the_others(tmp_path, tiny_mnist):
    # The tiny data set has 64 images: a batch of 100 fails, the batch of 8 trains.
    result = sweep(tmp_path, tiny_mnist, "train.batch_size=8,100")
    assert result.returncode != 0
    assert "1 of 2 jobs failed" in result.stderr
    rows = {r["job"]: r for r in csv.DictReader((tmp_path / "sweep" / "summary.csv").open())}
    assert rows["0_batch_size=8"]["status"] == "completed"
    assert rows["1_batch_size=100"]["status"] == "failed"
    assert "train.batch_size=100 is larger than the data set" in rows["1_batch_size=100"]["error"]
    assert (tmp_path / "sweep" / "summary.md").is_file() and (tmp_path / "sweep" / "summary.png").is_file()


def test_each_job_logs_its_hparams_in_its_own_run(tmp_path, tiny_mnist):
    result = sweep(tmp_path, tiny_mnist, "loss=wgan_gp", "loss.lambda_gp=1,10")
    assert result.returncode == 0, result.stderr
    for job, value in [("0_lambda_gp=1", 1), ("1_lambda_gp=10", 10)]:
        folder = tmp_path / "sweep" / job
        assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == [".hydra", "checkpoints"]  # no stray run
        events = EventAccumulator(str(folder))
        events.Reload()
        content = events.PluginTagToContent("hparams")
        start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
        params = start.session_start_info.hparams
        assert params["loss.lambda_gp"].number_value == value
        assert params["loss"].string_value == "wgan_gp" and params["dataset"].string_value == "mnist"
        experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
        assert "critic/wasserstein" in [m.name.tag for m in experiment.metric_infos]
        assert json.loads((folder / "status.json").read_text())["status"] == "completed"
    # summary_samples.png shows each job's square grid filling its tile (not a thin strip of one row).
    with Image.open(tmp_path / "sweep" / "summary_samples.png") as mosaic:
        mosaic = np.asarray(mosaic.convert("RGB"))
    for index in range(2):
        x, y = pictures.tile_origin(index, pictures.mosaic_columns(2))
        area = mosaic[y : y + pictures.TILE, x : x + pictures.TILE]
        assert (area == pictures.BACKGROUND).all(axis=-1).mean() < 0.01


def test_each_job_reseeds_so_jobs_do_not_bleed(tmp_path, tiny_mnist):
    # Two jobs that differ only in how often they draw the image grid must train identically.
    import torch

    result = sweep(tmp_path, tiny_mnist, "log.images_every=1,2")
    assert result.returncode == 0, result.stderr
    first, second = (
        torch.load(tmp_path / "sweep" / job / "checkpoints" / "last.pt", weights_only=True)
        for job in ("0_images_every=1", "1_images_every=2")
    )
    torch.testing.assert_close(first["generator"], second["generator"], rtol=0, atol=0)
    torch.testing.assert_close(first["critic"], second["critic"], rtol=0, atol=0)
