"""Spec of reading a checkpoint file (runstate/checkpoint.py: load): a file that is not one, or is damaged, is one
line in ganrun's words, never torch's request to file an issue; an older one comes back in today's format."""

import pytest
import torch

from ganrun.base.errors import UsageError
from ganrun.runstate import checkpoint
from ganrun.runstate.migrate import VERSION


def refused(path) -> str:
    with pytest.raises(UsageError) as error:
        checkpoint.load(path)
    return str(error.value)


def test_a_file_that_is_no_checkpoint_says_what_it_is_not(tmp_path):
    text, noise = tmp_path / "notes.pt", tmp_path / "noise.pt"
    text.write_text("hello\n")
    noise.write_bytes(torch.randint(0, 256, (2000,), generator=torch.Generator().manual_seed(0)).byte().numpy())
    for path in (text, noise):
        assert refused(path) == (
            f"{path} is not a ganrun checkpoint: torch.save writes a zip archive and this file is not one; give a .pt "
            "file under <run_dir>/checkpoints/, a run folder or an exported folder"
        )
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    assert refused(other) == f"checkpoint {other} is not a ganrun checkpoint (no generator weights or config in it)"
    assert refused(tmp_path / "gone.pt").startswith(f"checkpoint {tmp_path / 'gone.pt'} does not exist")


def test_a_damaged_checkpoint_is_unreadable_in_ganruns_words(tmp_path):
    whole = tmp_path / "whole.pt"
    torch.save({"generator": {"w": torch.zeros(1000)}, "config": {}}, whole)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(whole.read_bytes()[:300])  # a crash mid-write, without the rename
    said = refused(cut)
    assert said.startswith(f"checkpoint {cut} is unreadable (truncated or not a ganrun checkpoint): ")
    assert "Please file an issue" not in said and "\n" not in said


def test_an_older_checkpoint_comes_back_in_todays_format(tmp_path):
    old = tmp_path / "old.pt"
    torch.save({"generator": {}, "step": 3, "config": {"loss": {"_target_": "ganrun.losses.Hinge"}}}, old)
    state = checkpoint.load(old)
    assert state["version"] == VERSION and state["augment"] == {} and state["ema"] is None and state["init"] is None
    assert state["config"]["loss"]["_target_"] == "ganrun.objectives.losses.Hinge"  # where the class lives now
