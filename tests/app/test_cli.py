"""The real CLI in a subprocess: training writes TensorBoard events and checkpoints; resume continues; the sampler
writes."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.cli import assert_user_error, ganrun, on_tiny_mnist
from helpers.events import read_image_tags, read_scalars
from helpers.runs import train

TAGS = {"loss/critic", "loss/generator", "critic/wasserstein", "critic/penalty", "critic/grad_norm", "perf/it_per_s"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short WGAN-GP run shared by the read-only tests below."""
    from helpers.tiny_data import write_mnist

    tmp_path = tmp_path_factory.mktemp("cli")
    return train(tmp_path, write_mnist(tmp_path / "mnist"))


def test_training_logs_every_tag_with_finite_values(trained):
    scalars = read_scalars(trained)
    assert TAGS <= set(scalars)
    for tag in TAGS:
        assert [step for step, _ in scalars[tag]] == [2, 4]
        assert all(math.isfinite(value) for _, value in scalars[tag])
    assert {"samples", "real"} <= set(read_image_tags(trained))


def test_training_writes_loadable_checkpoints(trained):
    folder = trained / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["last.pt", "step_0000002.pt", "step_0000004.pt"]
    state = torch.load(folder / "last.pt", weights_only=True)
    assert state["step"] == 4
    assert {"generator", "critic", "opt_g", "opt_d", "rng", "data", "fixed_noise", "config"} <= set(state)
    assert state["config"]["loss"]["_target_"] == "ganrun.objectives.losses.WGANGP"
    assert "torch" in state["rng"] and "python" in state["rng"]


def test_status_json_says_completed(trained):
    status = json.loads((trained / "status.json").read_text())
    assert status["status"] == "completed" and status["step"] == status["steps"] == 4
    assert set(status["final"]) >= {"loss/critic", "loss/generator"}


def test_the_run_ends_saying_where_its_results_are_and_the_newest_grid_is_a_png(trained):
    last = (trained / "ganrun.log").read_text().strip().splitlines()[-1]
    assert f"finished at step 4; results in {trained}: samples.png (the newest grid), checkpoints/last.pt" in last
    with Image.open(trained / "samples.png") as grid:  # FAST draws 4 samples: 2×2 tiles of 28 px, 2 px padding
        assert grid.size == (2 + 2 * 30, 2 + 2 * 30)


def test_hydra_records_the_config(trained):
    assert (trained / ".hydra" / "config.yaml").is_file()
    assert "train.steps=4" in (trained / ".hydra" / "overrides.yaml").read_text()


@pytest.mark.slow
def test_resume_continues_the_step_count_and_the_curves(tmp_path, tiny_mnist):
    run_dir = train(tmp_path, tiny_mnist, "ckpt.every=4", "train.steps=6")
    first = json.loads((run_dir / "status.json").read_text())
    # Resume from step 4 although the first run logged up to 6: TensorBoard must show 6 once, not twice.
    result = ganrun(f"resume={run_dir}/checkpoints/step_0000004.pt", "train.steps=8", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # status.json says what the run has cost in all: both legs, and this one apart.
    status = json.loads((run_dir / "status.json").read_text())
    assert (status["legs"], status["started"]) == (2, first["started"])
    assert status["wall_time_s"] == pytest.approx(first["wall_time_s"] + status["leg_wall_time_s"], abs=2e-3)
    assert 0 < status["leg_wall_time_s"] < status["wall_time_s"]
    assert "resuming" in result.stderr + result.stdout
    assert torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["step"] == 8
    steps = [step for step, _ in read_scalars(run_dir)["loss/generator"]]
    assert steps == [2, 4, 6, 8]
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 2  # same folder, no second run folder
    assert not (tmp_path / "outputs").exists()
    # The resumed run used the stored config (tiny data, dcgan28) though only resume= was given.
    assert torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["config"]["model"]["hidden"] == 8


@pytest.mark.slow
def test_sampler_writes_grid_npz_and_folder(trained, tmp_path):
    ckpt = str(trained / "checkpoints" / "last.pt")
    for out in ["grid.png", "samples.npz", "pngs"]:
        result = ganrun(ckpt, "--num", "6", "--out", out, "--seed", "3", cwd=tmp_path, module="ganrun.sample")
        assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "grid.png").size == (3 * 28 + 4 * 2, 2 * 28 + 3 * 2)  # 3 columns, 2px padding
    array = np.load(tmp_path / "samples.npz")["arr_0"]
    assert array.shape == (6, 28, 28, 1) and array.dtype == np.uint8
    pngs = sorted((tmp_path / "pngs").iterdir())
    assert [p.name for p in pngs] == [f"{i:06d}.png" for i in range(6)]
    np.testing.assert_array_equal(np.asarray(Image.open(pngs[2])), array[2, :, :, 0])  # same seed, same images


@pytest.mark.slow
def test_sampler_refuses_a_missing_checkpoint(tmp_path):
    result = ganrun("nope.pt", "--out", "x.png", cwd=tmp_path, module="ganrun.sample")
    assert_user_error(result, "checkpoint nope.pt does not exist")


@pytest.mark.slow
def test_missing_dataset_offline_names_files_and_fixes(tmp_path):
    result = ganrun(
        "dataset=mnist", f"dataset.root={tmp_path}/none", "dataset.download=false", "hydra.run.dir=run", cwd=tmp_path
    )
    assert_user_error(result, "train-images-idx3-ubyte", "dataset.download=true", "dataset.root=")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()  # a command that fails before training leaves no run folder behind


@pytest.mark.slow
def test_batchnorm_critic_with_penalty_is_refused(tmp_path, tiny_mnist):
    result = ganrun(
        *on_tiny_mnist(tiny_mnist),
        "model.critic_norm=batch",
        "loss=wgan_gp",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert_user_error(result, "model.allow_batchnorm_with_penalty=true")
