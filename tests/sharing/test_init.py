"""Spec of `init=` from what the tools take (ganrun/sharing/init.py): an export with its critic and an R3GAN network
pickle start a new run's networks (FreezeD included); an export without a critic, or optimizer states asked of
something that has none, are one line."""

import pytest
import torch

from ganrun import export as command
from ganrun.base.errors import UsageError
from ganrun.sharing.init import init_state
from helpers.cli import FAST, REPO, ganrun
from helpers.generators import family_checkpoint
from helpers.runs import final_state
from helpers.tiny_data import write_labelled_folder

PICKLE = REPO / "tests" / "files" / "r3gan" / "tiny-cond.pkl"


def test_an_export_without_its_critic_needs_init_strict_false(tmp_path):
    command.main([str(family_checkpoint(tmp_path / "run", "dcgan28")), str(tmp_path / "out")])
    with pytest.raises(UsageError) as error:
        init_state(str(tmp_path / "out"), strict=True, optimizers=False)
    assert str(error.value) == (
        f"{tmp_path / 'out'} holds no critic (export it with `ganrun.export --critic`); init.strict=false starts the "
        "critic afresh"
    )
    path, state = init_state(str(tmp_path / "out"), strict=False, optimizers=False)
    assert path == str(tmp_path / "out") and state["critic"] == {} and state["step"] == 5


def test_optimizer_states_come_from_checkpoints_only(tmp_path):
    with pytest.raises(
        UsageError,
        match=r"init.optimizers=true takes a ganrun checkpoint's optimizer states, and .*"
        r"tiny-cond.pkl \(R3GAN pickle\) holds none; drop init.optimizers",
    ):
        init_state(str(PICKLE), strict=True, optimizers=True)


R3GAN_TINY = [  # the settings of tests/files/r3gan/tiny-cond.pkl, as a user passes them
    "model=r3gan", "model.widths=[16,8,8]", "model.blocks=1", "model.group_width=8", "model.z_dim=8",
    "model.conditional=true", "loss=rpgan", "regularizer=r1r2",
]  # fmt: skip


@pytest.mark.slow
def test_an_r3gan_pickle_fine_tunes_on_ones_own_data_with_freezed(tmp_path):
    data = write_labelled_folder(tmp_path / "pets", size=16)
    args = [
        "dataset=folder", f"dataset.root={data}", "dataset.image_size=16", "dataset.labels=folders", *R3GAN_TINY,
        "train.batch_size=4", "train.steps=2", "log.num_samples=3", "metrics.names=[]", "hydra.run.dir=tuned",
        f"init={PICKLE}", "train.freeze_critic=2",
    ]  # fmt: skip
    result = ganrun(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    state = final_state(tmp_path / "tuned")
    assert state["init"]["path"] == str(PICKLE) and state["init"]["step"] == 0
    from ganrun.sharing.r3gan_import import read

    start = read(PICKLE)
    # FreezeD: the critic's first two blocks (the 1×1 conv from the image, the first stage) stay the pickle's
    assert torch.equal(state["critic"]["from_image.weight"], start["critic"]["from_image.weight"])
    assert torch.equal(
        state["critic"]["stages.0.blocks.0.expand.weight"], start["critic"]["stages.0.blocks.0.expand.weight"]
    )
    assert not torch.equal(state["critic"]["basis.linear"], start["critic"]["basis.linear"])  # the rest trains


@pytest.mark.slow
def test_an_export_with_its_critic_fine_tunes_and_records_where_it_started(tmp_path, tiny_mnist):
    trained = family_checkpoint(tmp_path / "run", "dcgan28")  # model.hidden=8, model.z_dim=8, as FAST
    result = ganrun(str(trained), "exported", "--critic", cwd=tmp_path, module="ganrun.export")
    assert result.returncode == 0, result.stderr
    args = ["dataset=mnist", f"dataset.root={tiny_mnist}", "dataset.download=false", *FAST, "model.z_dim=8",
            "loss=bce", "train.steps=2", "hydra.run.dir=tuned", "init=exported"]  # fmt: skip
    result = ganrun(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    state = final_state(tmp_path / "tuned")
    assert state["init"]["path"] == str(tmp_path / "exported") and state["init"]["step"] == 5
