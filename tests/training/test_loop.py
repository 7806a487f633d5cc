"""Quality metrics inside training: logged, best.pt follows the minimum FID, EMA kept, offline runs go on."""

import dataclasses
import json
import math

import pytest
import torch

from ganrun.objectives.losses import WGANGP
from ganrun.report.reading import read_events
from ganrun.runstate.checkpoint import Checkpointer
from ganrun.runstate.loggers.run import RunInfo
from ganrun.runstate.loggers.tensorboard import TensorBoardLogger
from ganrun.training.ema import EMA
from ganrun.training.loop import fit
from ganrun.training.settings import Settings
from helpers.cli import FAST, ganrun, on_tiny_mnist
from helpers.events import read_scalars
from helpers.parts import hooks, make_parts


def test_best_pt_follows_the_minimum_fid(tmp_path):
    parts = make_parts(WGANGP())
    scripted = iter([5.0, 3.0, 4.0, 2.5, 2.6, 9.0])
    settings = Settings(
        steps=6, batch_size=8, n_critic=1, log_every=1, images_every=100, ckpt_every=100, metrics_every=1
    )
    logger = TensorBoardLogger(RunInfo(tmp_path))
    fit(
        parts,
        settings,
        hooks(
            parts, logger, Checkpointer(tmp_path / "checkpoints", 100), evaluate=lambda: {"metrics/fid": next(scripted)}
        ),
    )
    logger.close()
    best = torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)
    assert best["step"] == 4 and best["best"] == {"step": 4, "fid": 2.5}
    last = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert last["step"] == 6 and last["best"] == {"step": 4, "fid": 2.5}  # survives a resume
    assert [v for _, v in read_scalars(tmp_path)["metrics/fid"]] == pytest.approx([5.0, 3.0, 4.0, 2.5, 2.6, 9.0])


@pytest.mark.parametrize(
    "chosen, best",
    [
        (None, {"step": 1, "classifier_fd": 1.0}),  # no FID here: the first of the default order that is logged
        ("classifier_recall", {"step": 2, "classifier_recall": 0.5}),  # higher is better
    ],
)
def test_best_pt_follows_the_chosen_metric(tmp_path, chosen, best):
    parts = make_parts(WGANGP())
    scripted = iter([(1.0, 0.2), (2.0, 0.5), (3.0, 0.4)])
    settings = Settings(
        steps=3,
        batch_size=8,
        n_critic=1,
        log_every=1,
        images_every=100,
        ckpt_every=100,
        metrics_every=1,
    )

    def evaluate():
        fd, recall = next(scripted)
        return {"metrics/classifier_fd": fd, "metrics/classifier_recall": recall}

    logger = TensorBoardLogger(RunInfo(tmp_path))
    fit(
        parts,
        settings,
        hooks(parts, logger, Checkpointer(tmp_path / "checkpoints", 100), evaluate=evaluate, chosen=chosen),
    )
    logger.close()
    assert torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)["best"] == best


def test_the_ema_is_trained_checkpointed_and_used_for_samples(tmp_path):
    parts = make_parts(WGANGP())
    parts = dataclasses.replace(parts, ema=EMA(parts.generator, 0.5))
    settings = Settings(steps=3, batch_size=8, n_critic=1, log_every=1, images_every=1, ckpt_every=1)
    logger = TensorBoardLogger(RunInfo(tmp_path))
    fit(parts, settings, hooks(parts, logger, Checkpointer(tmp_path / "checkpoints", 1)))
    logger.close()
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    torch.testing.assert_close(state["ema"], parts.ema.state_dict())
    assert parts.sampler is parts.ema.module
    differs = [
        k for k, v in state["ema"].items() if v.is_floating_point() and not torch.equal(v, state["generator"][k])
    ]
    assert differs  # the average lags the trained weights


@pytest.mark.slow
def test_metrics_in_a_cli_run(tmp_path, tiny_mnist, random_weights):  # noqa: F811
    result = ganrun(
        *on_tiny_mnist(tiny_mnist),
        "metrics.names=[fid,kid]",
        "metrics.every=0",
        "metrics.num_samples=48",
        "metrics.reference=test",
        f"metrics.inception_weights={random_weights}",
        "train.steps=2",
        "log.every=2",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    scalars = read_scalars(tmp_path / "run")
    # metrics.every=0: evaluated once, at the end (the in-process test above covers every N steps).
    assert [s for s, _ in scalars["metrics/fid"]] == [2] and [s for s, _ in scalars["metrics/kid"]] == [2]
    assert all(math.isfinite(v) and v >= 0 for _, v in scalars["metrics/fid"])
    best = torch.load(tmp_path / "run" / "checkpoints" / "best.pt", weights_only=True)["best"]
    assert best["fid"] == pytest.approx(min(v for _, v in scalars["metrics/fid"]), rel=1e-6)  # TB stores float32
    assert "metrics/fid" in json.loads((tmp_path / "run" / "status.json").read_text())["final"]
    # metrics.reference=test: against the 32 t10k images, which the protocol beside each score says.
    assert (best["protocol"]["split"], best["protocol"]["real_images"], best["protocol"]["step"]) == ("test", 32, 2)
    assert (best["protocol"]["generated_images"], best["protocol"]["generator"]) == (48, "ema")
    logged = {name: protocol for name, protocol in read_events(tmp_path / "run").protocols.items()}
    assert logged == {
        "metrics/fid": best["protocol"],
        "metrics/kid": {**best["protocol"], "metric": "kid", "settings": "100 subsets of 32 images"},
    }


@pytest.mark.slow
def test_offline_without_inception_weights_the_default_metrics_fall_back_to_the_classifier(tmp_path, tiny_mnist):
    args = [a for a in FAST if not a.startswith("metrics.")]  # the default metrics: fid and classifier_fd
    result = ganrun(
        "dataset=mnist",
        f"dataset.root={tiny_mnist}",
        "dataset.download=false",
        *args,
        "metrics.num_samples=16",
        "train.steps=2",
        "hydra.run.dir=run",
        cwd=tmp_path,
        env={"TORCH_HOME": str(tmp_path / "empty-torch-home")},
    )
    assert result.returncode == 0, result.stderr
    logged = result.stdout + result.stderr
    assert logged.count("metrics.inception_weights=") == 1  # one warning that says how to provide the weights
    assert json.loads((tmp_path / "run" / "status.json").read_text())["status"] == "completed"
    scalars = read_scalars(tmp_path / "run")
    assert "metrics/fid" not in scalars and [s for s, _ in scalars["metrics/classifier_fd"]] == [2]
    best = torch.load(tmp_path / "run" / "checkpoints" / "best.pt", weights_only=True)["best"]
    assert best == {
        "step": 2,
        "classifier_fd": pytest.approx(scalars["metrics/classifier_fd"][0][1], rel=1e-6),
        "protocol": read_events(tmp_path / "run").protocols["metrics/classifier_fd"],
    }
    assert (best["protocol"]["features"], best["protocol"]["split"]) == ("ganrun-classifier features", "train")


@pytest.mark.slow
def test_data_without_labels_says_in_one_line_which_metrics_it_can_use(tmp_path):
    from helpers.tiny_data import write_image_folder

    folder = write_image_folder(tmp_path / "faces", n=8, size=28, broken=0)
    result = ganrun(
        "dataset=anime_faces",
        f"dataset.root={folder}",
        "dataset.image_size=28",
        *FAST,
        "metrics.names=[classifier_fd]",
        "metrics.num_samples=8",
        "train.steps=1",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = (result.stdout + result.stderr).splitlines()
    warnings = [i for i, line in enumerate(lines) if "classifier_fd: off" in line]
    assert len(warnings) == 1 and "dataset.labels=folders" in lines[warnings[0]]
    assert "metrics.names=[fid] or [fd_dinov2]" in lines[warnings[0]]
    # Said at the start, before training (the run's first line after its parts are built), not after the last step.
    assert warnings[0] < next(i for i, line in enumerate(lines) if "run folder" in line)
    assert json.loads((tmp_path / "run" / "status.json").read_text())["status"] == "completed"
