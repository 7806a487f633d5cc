"""Spec of the one resolver for "a generator given by path" (ganrun/sharing/source.py): a checkpoint, a run folder,
a folder of runs (its newest run, said in a note), an export, an R3GAN pickle; and the one line for a path that
exists but holds no generator, and for one that does not exist."""

import os
import time

import pytest
import torch

from ganrun.base.errors import UsageError
from ganrun.sharing.source import CHECKPOINT, R3GAN, RUN, resolve
from helpers.cli import REPO
from helpers.generators import family_checkpoint

PICKLE = REPO / "tests" / "files" / "r3gan" / "tiny.pkl"


def make_run(folder, step_seed: int, mtime: float | None = None):
    path = family_checkpoint(folder, "dcgan28", seed=step_seed)
    state = torch.load(path, weights_only=True)
    state["step"] = 100 + step_seed
    torch.save(state, path)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def test_a_checkpoint_file_is_read_as_it_is(tmp_path):
    path = make_run(tmp_path / "run", 1)
    source = resolve(path)
    assert (source.kind, source.path, source.state["step"], source.notes) == (CHECKPOINT, path, 101, [])


def test_a_run_folder_gives_its_newest_checkpoint(tmp_path):
    last = make_run(tmp_path / "run", 1)
    source = resolve(tmp_path / "run")
    assert (source.kind, source.path, source.state["step"]) == (RUN, last, 101)


def test_a_folder_of_runs_gives_its_newest_run_and_says_which(tmp_path):
    now = time.time()
    make_run(tmp_path / "outputs" / "2026-12-01" / "10-00-00", 1, now - 100)
    newest = make_run(tmp_path / "outputs" / "2026-11-30" / "09-00-00", 2, now)  # older name, newer checkpoint
    make_run(tmp_path / "outputs" / "multirun" / "2026-12-01" / "11-00-00" / "0", 3, now - 50)
    source = resolve(tmp_path / "outputs")
    assert (source.path, source.state["step"]) == (newest, 102)
    assert source.notes == [
        f"{tmp_path / 'outputs'} holds 3 runs; taking the newest, {newest.parent.parent} (last.pt, step 102); "
        "give that folder to pick another"
    ]


def test_a_folder_of_runs_skips_a_run_whose_checkpoints_are_all_corrupt(tmp_path):
    now = time.time()
    good = make_run(tmp_path / "outputs" / "a", 1, now - 100)
    broken = tmp_path / "outputs" / "b" / "checkpoints" / "last.pt"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not a checkpoint")
    assert resolve(tmp_path / "outputs").path == good


def test_an_existing_path_without_a_checkpoint_says_so_not_that_it_does_not_exist(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError) as error:
        resolve(tmp_path / "empty")
    assert str(error.value) == (
        f"{tmp_path / 'empty'} exists but holds no checkpoint: no checkpoints/*.pt in it or in a run folder below it, "
        "and it is not an export (config.json and model.safetensors); give a run folder, a checkpoint or an export"
    )
    (tmp_path / "started" / ".hydra").mkdir(parents=True)
    with pytest.raises(UsageError, match=r"run folder .*started holds no checkpoint yet: it stopped before its first"):
        resolve(tmp_path / "started")


def test_a_missing_path_is_one_line_naming_what_is_taken(tmp_path):
    with pytest.raises(UsageError) as error:
        resolve(tmp_path / "nope.pt")
    assert str(error.value) == (
        f"checkpoint {tmp_path / 'nope.pt'} does not exist; give a checkpoint (.pt), a run folder, a folder of runs "
        "such as outputs, an exported folder, hf://user/repo or an R3GAN .pkl"
    )


def test_a_pickle_is_read_as_an_r3gan_network(tmp_path):
    source = resolve(PICKLE)
    assert source.kind == R3GAN and source.state["config"]["model"]["_target_"] == "ganrun.models.r3gan.build"
    renamed = tmp_path / "network-snapshot"  # no extension: recognized by its first bytes
    renamed.write_bytes(PICKLE.read_bytes())
    assert resolve(renamed).kind == R3GAN
