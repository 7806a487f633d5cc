"""Spec, through the real CLI, of a researcher's own data: a class-conditional model trains on a labelled folder
(both layouts, PNG and JPEG) in every storage tier alike, keeps the class names and samples a class by name; a cache
disk that fills up during packing is one log line and leaves nothing behind."""

import os
import resource
import subprocess
import sys

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.testing import assert_close

from helpers.cli import assert_user_error, ganrun
from helpers.tiny_data import CLASSES, write_labelled_folder

pytestmark = pytest.mark.slow

SMALL = ["model=dcgan28", "model.hidden=8", "model.z_dim=16", "dataset.image_size=28", "log.num_samples=6"]
FOLDER = ["dataset=folder", "dataset.labels=folders", "metrics.names=[]", "train.batch_size=6", "log.every=2"]
CONDITIONAL = [*SMALL, *FOLDER, "model.conditional=true", "loss=hinge"]


def last(run_dir) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)


@pytest.fixture(scope="module")
def pets(tmp_path_factory):
    return write_labelled_folder(tmp_path_factory.mktemp("data") / "pets", "folders")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, pets):
    """A conditional run of 6 steps on the labelled folder, in the device tier: what the tests below start from."""
    folder = tmp_path_factory.mktemp("trained")
    args = [*CONDITIONAL, f"dataset.root={pets}", "train.steps=6", "dataset.storage=device", "hydra.run.dir=run"]
    result = ganrun(*args, cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder / "run"


@pytest.mark.parametrize("tier", ["host", "stream"])
def test_a_conditional_model_trains_on_a_labelled_folder_alike_in_every_tier(tmp_path, pets, trained, tier):
    args = [*CONDITIONAL, f"dataset.root={pets}", "train.steps=6", f"dataset.storage={tier}", "hydra.run.dir=run"]
    result = ganrun(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    state, device = last(tmp_path / "run"), last(trained)
    for key in ("generator", "critic", "ema", "opt_g", "opt_d", "data"):
        assert_close(state[key], device[key], rtol=0, atol=0)  # the same labelled batches in every tier
    assert state["classes"] == list(CLASSES) and state["config"]["model"]["num_classes"] == 3
    assert_close(state["generator"]["class_prior"], torch.tensor([4, 3, 5]) / 12)  # the labels reached training


def test_the_json_layout_trains_and_the_real_grid_has_a_row_per_class(tmp_path):
    root = write_labelled_folder(tmp_path / "pets", "json", per_class=(2, 6, 4))
    args = [*CONDITIONAL, f"dataset.root={root}", "dataset.labels=dataset.json", "train.steps=2", "hydra.run.dir=run"]
    result = ganrun(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    state = last(tmp_path / "run")
    assert state["classes"] == ["0", "1", "2"]
    assert_close(state["generator"]["class_prior"], torch.tensor([2, 6, 4]) / 12)
    events = EventAccumulator(str(tmp_path / "run"), size_guidance={"images": 0})
    events.Reload()
    [real] = events.Images("real")
    assert real.height == 2 + 3 * (28 + 2)  # three rows of 28×28 images, in one picture with the names beside them


def test_a_class_is_sampled_by_its_name(tmp_path, trained):
    sample = {"cwd": tmp_path, "module": "ganrun.sample"}
    result = ganrun(str(trained / "checkpoints" / "last.pt"), "--class", "dog", "--num", "3", "--out", "dogs", **sample)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "dogs").iterdir()) == [f"00000{i}_class1_dog.png" for i in range(3)]
    result = ganrun(str(trained / "checkpoints" / "last.pt"), "--class", "2", "--num", "4", "--out", "x.npz", **sample)
    assert result.returncode == 0, result.stderr
    saved = np.load(tmp_path / "x.npz")
    assert saved["labels"].tolist() == [2] * 4 and saved["classes"].tolist() == list(CLASSES)
    wolf = ganrun(str(trained / "checkpoints" / "last.pt"), "--class", "wolf", "--out", "w.npz", **sample)
    assert_user_error(wolf, "--class wolf is not a class of this checkpoint; its classes are cat, dog, fox")


def test_a_cache_disk_that_fills_up_is_one_log_line_and_nothing_is_left_half_written(tmp_path):
    """As on a 4 MB tmpfs: the pack's file may not grow past 4 MB (RLIMIT_FSIZE, the kernel's EFBIG), so the
    packing fails part way, the images are decoded into memory, and the run trains."""
    root = write_labelled_folder(tmp_path / "big", per_class=(150, 150), size=48)
    args = [*FOLDER, "dataset.image_size=80", "model=dcgan", "model.width=4", "model.z_dim=8", "train.steps=2"]
    args += [f"dataset.root={root}", "dataset.workers=1", "hydra.run.dir=run"]  # 300 × 80×80×3: a 5.5 MB pack

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4 * 2**20, 4 * 2**20))

    env = {**os.environ, "GANRUN_CACHE": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-m", "ganrun", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=small_files,
    )
    assert result.returncode == 0, result.stderr
    log = (tmp_path / "run" / "ganrun.log").read_text()
    assert log.count("not caching image_folder: cannot write its packed cache") == 1
    assert "(File too large); decoding it into memory for this run instead; set GANRUN_CACHE=<a writable folder" in log
    assert log.count(" - packing 300 images") == 1 and log.count(" - decoding 300 images") == 1
    assert "UserWarning" not in result.stderr and "_instantiate2" not in result.stderr
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == []
