"""Checkpoints written before the EMA warm-up and the classifier metrics still sample, evaluate and resume."""

import shutil

import pytest
import torch
from PIL import Image

from helpers.cli import REPO, ganrun
from helpers.pinned_runs import resume, write_data
from helpers.runs import train

pytestmark = pytest.mark.slow


def make_old(path) -> dict:
    """Rewrite a checkpoint as ganrun wrote it before: the EMA holds the live generator's batch-norm statistics,
    the config has no train.ema_rampup or metrics.best, and best.pt's entry is {"step", "fid"}; nor anything of
    augmentation, LeCam, labels, subsets or class-conditional models, nor a format version."""
    state = torch.load(path, weights_only=True)
    for key, value in state["generator"].items():
        if "running" in key or "num_batches" in key:
            state["ema"][key] = value.clone()
    del state["config"]["train"]["ema_rampup"], state["config"]["metrics"]["best"]
    del state["augment"], state["regularizer"], state["config"]["augment"]
    del state["version"]  # written before checkpoints had one
    for section, keys in (("dataset", ("classes", "limit", "limit_seed")), ("model", ("conditional", "num_classes"))):
        for key in keys:
            del state["config"][section][key]
    state["config"]["metrics"]["names"] = ["fid"]
    state["best"] = {"step": state["step"], "fid": 123.0}
    torch.save(state, path)
    return state


def test_an_old_checkpoint_samples_with_statistics_of_its_average(tmp_path, tiny_mnist):
    from ganrun.build import load_generator

    run = train(tmp_path, tiny_mnist)
    old = make_old(run / "checkpoints" / "last.pt")
    ema = load_generator(run / "checkpoints" / "last.pt", torch.device("cpu"))
    stored = {k: v for k, v in old["ema"].items() if "running_mean" in k}
    assert stored and all(not torch.allclose(ema.state_dict()[k], v) for k, v in stored.items())  # estimated anew
    for key in ("net.0.weight", "net.1.weight"):
        torch.testing.assert_close(ema.state_dict()[key], old["ema"][key])
    raw = load_generator(run / "checkpoints" / "last.pt", torch.device("cpu"), use_ema=False)
    for key, value in old["generator"].items():
        torch.testing.assert_close(raw.state_dict()[key], value)  # --no-ema: the trained generator as it was

    result = ganrun(
        str(run / "checkpoints" / "last.pt"), "--num", "8", "--out", "grid.png", cwd=tmp_path, module="ganrun.sample"
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "grid.png").stat().st_size > 0


def test_an_old_checkpoint_resumes(tmp_path, tiny_mnist):
    run = train(tmp_path, tiny_mnist)
    make_old(run / "checkpoints" / "last.pt")
    result = ganrun(f"resume={run}", "train.steps=6", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == 6 and state["best"] == {"step": 4, "fid": 123.0}  # metrics off (FAST): kept as it was


# Checkpoints at step 3 of two pinned configurations (tests/helpers/pinned_runs.py), written by ganrun as it was
# before its architecture moved (commit 8560866): what a checkpoint holds then had no single owner.
BEFORE_REFACTOR = REPO / "tests" / "files" / "before-refactor"
# Their pinned hashes at step 6 (tests/properties/test_pinned_weights.py): what an uninterrupted run trains.
UNINTERRUPTED = {"hinge_adaptive_lecam": "feee4c74e3f43ebd", "conditional_hinge": "23eed1f5c90a11dd"}


@pytest.mark.parametrize("name", sorted(UNINTERRUPTED))
def test_a_checkpoint_from_before_the_refactor_resumes_to_the_weights_of_an_uninterrupted_run(name, tmp_path):
    """Augmentation p, LeCam's averages, class labels, RNG and data order all come back from the old file."""
    checkpoint = tmp_path / name / "checkpoints" / "step_0000003.pt"
    checkpoint.parent.mkdir(parents=True)
    shutil.copy(BEFORE_REFACTOR / f"{name}-step3.pt", checkpoint)
    assert resume(name, checkpoint, write_data(tmp_path / "data"), tmp_path) == UNINTERRUPTED[name]


def test_a_conditional_checkpoint_from_before_the_refactor_samples_one_class(tmp_path):
    out = tmp_path / "sevens.png"
    result = ganrun(
        str(BEFORE_REFACTOR / "conditional_hinge-step3.pt"), "--num", "4", "--class", "7", "--out", str(out),
        cwd=tmp_path, module="ganrun.sample",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size[0] > 0
