"""Spec, through the real CLI, of a researcher's own data and a run that starts from another's weights: a
class-conditional model trains on a labelled folder (both layouts, PNG and JPEG) in every storage tier alike, keeps
the class names and samples a class by name; `init=PATH` starts a new run from a checkpoint (its weights, EMA and,
asked, optimizer states; layers that do not fit stop it in one line, or with init.strict=false start afresh),
records where it started in its config, checkpoint and protocols; FreezeD keeps the critic's first blocks as they
were; a cache disk that fills up during packing is one log line and leaves nothing behind."""

import json
import os
import resource
import subprocess
import sys

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.testing import assert_close

from ganrun.quality.protocol import from_text
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


def test_init_starts_a_new_run_from_the_weights_and_optimizer_states(tmp_path, trained):
    """A learning rate of 1e-9 moves no weight by more than about 1e-9: what the new run holds after one step is
    what it started from. Adam's states go on counting from the checkpoint's, at this run's learning rate."""
    other = write_labelled_folder(tmp_path / "other", per_class=(3, 3, 3))  # new data with as many classes
    tiny = ["optim.generator.lr=1e-9", "optim.critic.lr=1e-9", "train.steps=1", "train.ema=0"]
    args = [*CONDITIONAL, f"dataset.root={other}", *tiny, f"init={trained}", "init.optimizers=true"]
    result = ganrun(*args, "hydra.run.dir=tuned", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    tuned, start = last(tmp_path / "tuned"), last(trained)
    origin = {"path": str(trained / "checkpoints" / "last.pt"), "step": 6}
    assert tuned["step"] == 1 and {k: tuned["init"][k] for k in origin} == origin
    assert tuned["config"]["init"] | {"strict": True} == {**tuned["init"], "strict": True, "optimizers": True}
    assert json.loads((tmp_path / "tuned" / "status.json").read_text())["init"] == tuned["init"]  # in the run folder
    for key in ("generator", "critic"):  # the weights (batch norm's running statistics follow the new batches)
        weights = {k: v for k, v in start[key].items() if v.is_floating_point() and "running_" not in k}
        weights.pop("class_prior", None)
        assert_close({k: tuned[key][k] for k in weights}, weights, rtol=0, atol=1e-7)
    assert_close(tuned["generator"]["class_prior"], torch.full((3,), 1 / 3))  # the new data's, not the checkpoint's
    steps = {int(s["step"]) for s in tuned["opt_d"]["state"].values()}
    assert steps == {int(s["step"]) + 1 for s in start["opt_d"]["state"].values()}  # continued
    assert tuned["opt_d"]["param_groups"][0]["lr"] == 1e-9  # this run's, not the checkpoint's 2e-4
    scratch = ganrun(*CONDITIONAL, f"dataset.root={other}", *tiny, "hydra.run.dir=scratch", cwd=tmp_path)
    assert scratch.returncode == 0, scratch.stderr
    with pytest.raises(AssertionError):  # without init the same run starts elsewhere
        assert_close(
            last(tmp_path / "scratch")["critic"]["net.0.weight"], start["critic"]["net.0.weight"], rtol=0, atol=1e-3
        )


def test_layers_that_do_not_fit_stop_the_run_or_start_afresh(tmp_path, trained, random_weights):
    two = write_labelled_folder(tmp_path / "two", per_class=(4, 4))  # two classes: other embedding shapes
    args = [*CONDITIONAL, f"dataset.root={two}", f"init={trained / 'checkpoints' / 'last.pt'}", "train.steps=2"]
    refused = ganrun(*args, "hydra.run.dir=refused", cwd=tmp_path)
    # The settings that make the layers differ, as typed: other classes (their layers can start afresh).
    assert_user_error(
        refused,
        "does not fit this model: it was trained with model.num_classes=3 where this run has model.num_classes=2, "
        "or init.strict=false",
    )
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert not (tmp_path / "refused" / "checkpoints").exists()
    metrics = ["metrics.names=[fid]", f"metrics.inception_weights={random_weights}", "metrics.num_samples=8"]
    metrics += ["logger=[tensorboard,csv]"]  # the CSV logger keeps the protocols as JSON beside metrics.csv
    loose = ganrun(*args, "init.strict=false", *metrics, "hydra.run.dir=loose", cwd=tmp_path)
    assert loose.returncode == 0, loose.stderr
    log = (tmp_path / "loose" / "ganrun.log").read_text()
    assert "init.strict=false: re-initialized what does not fit" in log
    assert "critic: different shape: embed.weight" in log
    state = last(tmp_path / "loose")
    assert state["critic"]["embed.weight"].shape == (2, 8 * 2 * 5 * 5) and state["init"]["step"] == 6
    protocol = from_text(json.loads((tmp_path / "loose" / "protocols.json").read_text())["protocol/fid"])
    assert protocol["init"] == f"{state['init']['path']} at step 6, weights {state['init']['weights']}"
    assert state["best"]["protocol"]["init"] == protocol["init"]  # best.pt's record says it too


def test_freeze_critic_keeps_its_first_blocks_as_they_were(tmp_path, trained, pets):
    args = [*CONDITIONAL, f"dataset.root={pets}", f"init={trained}", "train.freeze_critic=1", "train.steps=4"]
    result = ganrun(*args, "hydra.run.dir=frozen", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    frozen, start = last(tmp_path / "frozen")["critic"], last(trained)["critic"]
    for name in ("net.0.weight", "net.0.bias"):  # dcgan28's critic: block 1 is its first conv (and norm, activation)
        assert torch.equal(frozen[name], start[name]), name
    for name in ("net.3.weight", "net.6.weight", "embed.weight"):
        assert not torch.equal(frozen[name], start[name]), name
    assert (
        "train.freeze_critic=1: the critic's net.0.weight, net.0.bias stay fixed"
        in (tmp_path / "frozen" / "ganrun.log").read_text()
    )
    too_many = ganrun(*args, "train.freeze_critic=3", "hydra.run.dir=too_many", cwd=tmp_path)
    assert_user_error(too_many, "train.freeze_critic=3, but the critic has 2 blocks before its head")


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
