"""Checkpoints written before the EMA warm-up and the classifier metrics still sample, evaluate and resume."""

import pytest
import torch

from helpers.cli import ganrun
from helpers.runs import train

pytestmark = pytest.mark.slow


def make_old(path) -> dict:
    """Rewrite a checkpoint as ganrun wrote it before: the EMA holds the live generator's batch-norm statistics,
    the config has no train.ema_rampup or metrics.best, and best.pt's entry is {"step", "fid"}; nor anything of
    augmentation, LeCam, labels, subsets or class-conditional models."""
    state = torch.load(path, weights_only=True)
    for key, value in state["generator"].items():
        if "running" in key or "num_batches" in key:
            state["ema"][key] = value.clone()
    del state["config"]["train"]["ema_rampup"], state["config"]["metrics"]["best"]
    del state["augment"], state["regularizer"], state["config"]["augment"]
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
