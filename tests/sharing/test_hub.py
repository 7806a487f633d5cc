"""Spec of the Hub (ganrun/sharing/hub.py), offline (tests/sharing/conftest.py): `hf://user/repo` is read from
huggingface_hub's cache when the Hub cannot be reached, and without a cached copy it is one line; `--push` without a
token, or without network, is one line and the export stays where it is."""

import json
import shutil

import pytest
import torch

from ganrun import export as command
from ganrun.base.errors import UsageError
from ganrun.sharing import hub
from ganrun.sharing.source import HUB, resolve
from helpers.cli import FAST, REPO, assert_user_error, ganrun
from helpers.generators import family_checkpoint
from helpers.runs import final_state

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def cache_repository(cache, repo_id: str, files) -> None:
    """Put files into huggingface_hub's cache as a download of `repo_id` at main leaves them."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    for path in files:
        shutil.copy(path, snapshot / path.name)


@pytest.fixture
def export_folder(tmp_path):
    command.main([str(family_checkpoint(tmp_path / "run", "dcgan28")), str(tmp_path / "out")])
    return tmp_path / "out"


def test_a_cached_repository_is_read_offline(tmp_path, export_folder, offline_hub):
    cache_repository(offline_hub, "someone/fashion-gan", export_folder.iterdir())
    source = resolve("hf://someone/fashion-gan")
    local = resolve(export_folder)
    assert source.kind == HUB and source.path == offline_hub / "models--someone--fashion-gan" / "snapshots" / COMMIT
    for key, value in local.state["generator"].items():
        assert torch.equal(source.state["generator"][key], value)
    assert source.beside(".metrics.json").name == "someone--fashion-gan.metrics.json"  # not in the cache


def test_a_repository_holding_an_r3gan_pickle_is_read_as_one(offline_hub):
    cache_repository(offline_hub, "someone/r3gan-tiny", [REPO / "tests" / "files" / "r3gan" / "tiny.pkl"])
    source = resolve("hf://someone/r3gan-tiny")
    assert source.state["config"]["model"]["widths"] == [16, 8, 8]


@pytest.mark.slow
def test_a_run_started_from_the_hub_records_the_repository_at_the_commit_it_read(tmp_path, offline_hub, tiny_mnist):
    command.main([str(family_checkpoint(tmp_path / "run", "dcgan28")), str(tmp_path / "out"), "--critic"])
    cache_repository(offline_hub, "someone/fashion-gan", (tmp_path / "out").iterdir())
    args = ["dataset=mnist", f"dataset.root={tiny_mnist}", "dataset.download=false", *FAST, "model.z_dim=8",
            "loss=bce", "train.steps=2", "hydra.run.dir=tuned", "init=hf://someone/fashion-gan"]  # fmt: skip
    result = ganrun(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    pinned = f"hf://someone/fashion-gan@{COMMIT}"  # not the cache folder, and not a name a later push moves
    assert final_state(tmp_path / "tuned")["init"]["path"] == pinned
    assert json.loads((tmp_path / "tuned" / "status.json").read_text())["init"]["path"] == pinned
    assert resolve(pinned).origin == pinned  # read again at that commit
    snapshot = offline_hub / "models--a--b" / "snapshots" / COMMIT
    assert hub.pinned("hf://a/b/G.pkl", snapshot / "G.pkl") == f"hf://a/b@{COMMIT}/G.pkl"  # one pickle of several


def test_an_uncached_repository_offline_is_one_line():
    with pytest.raises(UsageError) as error:
        resolve("hf://someone/elsewhere")
    assert str(error.value) == (
        "hf://someone/elsewhere is not in the local Hub cache and the Hub cannot be reached (offline, or "
        "HF_HUB_OFFLINE=1); download it once with network, or give a local export folder"
    )
    with pytest.raises(UsageError, match=r"^hf://nobody is not a Hub repository id; write hf://USER/REPO"):
        resolve("hf://nobody")


def test_push_without_a_token_is_one_line_and_keeps_the_export(export_folder):
    with pytest.raises(UsageError) as error:
        hub.push(export_folder, "someone/fashion-gan")
    assert str(error.value) == (
        "--push needs a Hugging Face token: run `hf auth login` or set HF_TOKEN "
        f"(the export is kept in {export_folder})"
    )
    assert (export_folder / "model.safetensors").is_file()


@pytest.mark.slow
def test_push_without_network_is_one_line_and_keeps_the_export(tmp_path):
    checkpoint = family_checkpoint(tmp_path / "run", "dcgan28")
    result = ganrun(
        str(checkpoint), "out", "--push", "someone/fashion-gan", "--private", cwd=tmp_path, module="ganrun.export",
        env={"HF_TOKEN": "hf_not_a_real_token"},
    )  # fmt: skip
    assert_user_error(result, "--push someone/fashion-gan failed: ", "(the export is kept in out)")
    assert (tmp_path / "out" / "model.safetensors").is_file()
    assert "hf://someone/fashion-gan" in (tmp_path / "out" / "README.md").read_text()  # the card says where it lives
