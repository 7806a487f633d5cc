"""The real CLI with the small-data and label options: augmentation logs and checkpoints p, LeCam keeps its
anchors, a resumed run is bit-identical, class-conditional runs sample the asked class, and bad combinations stop
before training with one line."""

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.cli import FAST, assert_user_error, ganrun
from helpers.events import read_scalars

pytestmark = pytest.mark.slow

HINGE = ["loss=hinge", "train.n_critic=1"]


def run_args(root, run, *extra):
    return [
        "dataset=mnist",
        f"dataset.root={root}",
        "dataset.download=false",
        *FAST,
        "log.every=1",
        f"hydra.run.dir={run}",
        *extra,
    ]


def last_state(run_dir) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)


def test_diffaugment_logs_p_and_rt(tmp_path, tiny_mnist):
    result = ganrun(*run_args(tiny_mnist, "run", *HINGE, "augment=diffaugment", "train.steps=3"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    scalars = read_scalars(tmp_path / "run")
    assert [value for _, value in scalars["augment/p"]] == [1.0, 1.0, 1.0]
    assert all(-1 <= value <= 1 for _, value in scalars["augment/rt"]) and len(scalars["augment/rt"]) == 3


def test_adaptive_with_lecam_resumes_bit_identically(tmp_path, tiny_mnist):
    # A fast controller with a target r_t always exceeds: p grows by 8/100 per critic batch of 8.
    options = [
        *HINGE,
        "augment=adaptive",
        "augment.speed_kimg=0.1",
        "augment.interval=1",
        "augment.target=-0.99",
        "regularizer=lecam",
        "train.deterministic=true",
        "ckpt.every=3",
    ]
    whole = ganrun(*run_args(tiny_mnist, "whole", *options, "train.steps=6"), cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    first = ganrun(*run_args(tiny_mnist, "split", *options, "train.steps=3"), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    halfway = last_state(tmp_path / "split")
    assert set(halfway["augment"]) == {"p", "signs", "images", "batches"} and halfway["augment"]["batches"] == 3
    assert set(halfway["regularizer"]) == {"alpha_real", "alpha_fake"}
    second = ganrun(*run_args(tiny_mnist, "split", *options, "train.steps=6", "resume=auto"), cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    resumed, straight = last_state(tmp_path / "split"), last_state(tmp_path / "whole")
    for key in ("generator", "critic", "ema", "augment", "regularizer"):
        torch.testing.assert_close(resumed[key], straight[key], rtol=0, atol=0)
    assert halfway["augment"]["p"].item() == pytest.approx(3 * 0.08)
    assert straight["augment"]["p"].item() == pytest.approx(6 * 0.08)
    assert dict(read_scalars(tmp_path / "whole")["augment/p"])[6] == pytest.approx(6 * 0.08)
    assert "regularizer/lecam_alpha_real" in read_scalars(tmp_path / "whole")


def test_adaptive_needs_a_loss_with_a_decision_boundary(tmp_path, tiny_mnist):
    result = ganrun(*run_args(tiny_mnist, "run", "loss=wgan_gp", "augment=adaptive"), cwd=tmp_path)
    assert_user_error(result, "augment=adaptive tunes p from the sign of the critic's scores", "loss=bce, hinge")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_conditional_model_on_an_unlabelled_folder_stops_before_training(tmp_path):
    from helpers.tiny_data import write_image_folder

    root = write_image_folder(tmp_path / "faces", n=4, size=32, broken=0)
    result = ganrun(
        "dataset=anime_faces",
        f"dataset.root={root}",
        "dataset.image_size=32",
        "model.width=8",
        "model.conditional=true",
        "metrics.names=[]",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert_user_error(
        result,
        "model.conditional=true needs class labels, and dataset=folder has none here",
        "model.conditional=false",
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    """A class-conditional hinge GAN trained on ten trivially separable classes (class c: a bright band at rows
    2c+4..2c+5), long enough to draw each band where its class says (Adam at 1e-3: the class enters G only
    through its batch-norm gains and biases, which 2e-4 moves too slowly for a short test)."""
    from helpers.tiny_data import write_separable_mnist

    tmp_path = tmp_path_factory.mktemp("conditional")
    root = write_separable_mnist(tmp_path / "data", n=200)
    args = [
        "dataset=mnist",
        f"dataset.root={root}",
        "dataset.download=false",
        "model=dcgan28",
        "model.hidden=16",
        "model.z_dim=16",
        "model.conditional=true",
        *HINGE,
        "train.batch_size=50",
        "train.steps=200",
        "optim.generator.lr=1e-3",
        "optim.critic.lr=1e-3",
        "log.every=100",
        "log.num_samples=20",
        "metrics.names=[]",
        "hydra.run.dir=run",
    ]
    result = ganrun(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return tmp_path


def band_class(images: np.ndarray) -> np.ndarray:
    """The class of separable() images: which of the ten row pairs 4..23 is brightest (N×H×W×1 uint8)."""
    rows = images[..., 0].astype(float).mean(2)[:, 4:24]
    return rows.reshape(len(rows), 10, 2).mean(2).argmax(1)


@pytest.mark.parametrize("label", [0, 4, 9])
def test_conditional_sampling_gives_the_asked_class(conditional_run, label):
    from ganrun.sample import main as sample  # in-process: the CLI itself is run below and in the next tests

    out = conditional_run / f"class{label}.npz"
    sample(
        [
            str(conditional_run / "run" / "checkpoints" / "last.pt"),
            "--class",
            str(label),
            "--num",
            "40",
            "--out",
            str(out),
            "--device",
            "cpu",
        ]
    )
    samples = np.load(out)
    assert samples["arr_0"].shape == (40, 28, 28, 1) and samples["labels"].tolist() == [label] * 40
    assert (band_class(samples["arr_0"]) == label).mean() >= 0.9


def test_conditional_samples_carry_their_labels_and_the_grid_has_a_row_per_class(conditional_run):
    state = last_state(conditional_run / "run")
    assert state["config"]["model"]["num_classes"] == 10  # filled in from the data set, so tools rebuild it
    torch.testing.assert_close(state["generator"]["class_prior"], torch.full((10,), 0.1))
    result = ganrun(
        "run/checkpoints/last.pt", "--num", "200", "--out", "all.npz", cwd=conditional_run, module="ganrun.sample"
    )
    assert result.returncode == 0, result.stderr
    samples = np.load(conditional_run / "all.npz")
    assert set(samples["labels"].tolist()) == set(range(10))
    assert (band_class(samples["arr_0"]) == samples["labels"]).mean() >= 0.9
    grid = ganrun(
        "run/checkpoints/last.pt", "--num", "30", "--out", "grid.png", cwd=conditional_run, module="ganrun.sample"
    )
    assert grid.returncode == 0, grid.stderr
    grid = np.asarray(Image.open(conditional_run / "grid.png").convert("L"))
    tiles = 2 + 3 * 30  # ten rows (one per class) of three, 2-pixel padding, after a column of the classes' names
    assert grid.shape[0] == 2 + 10 * 30 and grid.shape[1] > tiles
    names = grid[:, : grid.shape[1] - tiles]
    assert all(names[2 + 30 * row : 30 * (row + 1)].max() > 0 for row in range(10))  # a name written by each row


def test_class_requests_a_generator_cannot_make_are_refused(conditional_run, tmp_path, tiny_mnist):
    untrained = ganrun(
        "run/checkpoints/last.pt", "--class", "12", "--out", "x.npz", cwd=conditional_run, module="ganrun.sample"
    )
    assert_user_error(untrained, "--class 12: this generator was trained on classes 0, 1, 2")
    plain = ganrun(*run_args(tiny_mnist, "plain", "train.steps=1"), cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    result = ganrun("plain/checkpoints/last.pt", "--class", "1", "--out", "x.npz", cwd=tmp_path, module="ganrun.sample")
    assert_user_error(result, "--class 1 needs a class-conditional checkpoint (model.conditional=true)")
    assert result.returncode == 2 and not (tmp_path / "x.npz").exists()
