"""Spec of `python -m ganrun.statistics`: a folder's statistics in ganrun's format, in clean-fid's and as a protocol,
scoring against them as against the images themselves; and `metrics.reference=FILE` in a run, checked at its start."""

import json
import urllib.error

import numpy as np
import pytest
import torch
import torch_fidelity.feature_extractor_inceptionv3 as fidelity_inception

from ganrun import statistics as tool
from ganrun.build import build_dataset
from ganrun.quality import metrics, statistics
from ganrun.quality.metrics import QualityMetrics
from helpers.cli import FAST, assert_user_error, ganrun
from helpers.tiny_data import write_image_folder


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("GANRUN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    monkeypatch.setattr(
        torch.hub, "download_url_to_file", lambda *a, **k: (_ for _ in ()).throw(urllib.error.URLError("offline"))
    )


def test_a_folders_statistics_are_written_and_score_as_its_images_do(tmp_path, random_weights, monkeypatch, capsys):
    monkeypatch.setattr(fidelity_inception.FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", 75)  # speed
    for name in ("fid", "kid", "precision", "recall", "density", "coverage"):
        monkeypatch.setitem(metrics.FEATURES, name, "192")  # one small layer, as FID's 2048 serves all of them
    folder = write_image_folder(tmp_path / "images", n=8, size=28, broken=0)
    prefix = tmp_path / "out" / "mine"
    args = [str(folder), "--image-size", "28", "--spaces", "inception", "--inception-weights", str(random_weights)]
    tool.main([*args, "--features", "--out", str(prefix)])
    written = capsys.readouterr().out.split()
    assert written[1::2] == [str(prefix) + suffix for suffix in (".npz", "_legacy_tensorflow_train_28.npz", ".json")]

    found = statistics.read(prefix.with_suffix(".npz"))
    entry = found.entries["inception-v3-compat 192"]
    assert entry.features.shape == (8, 192) and entry.about["images"] == 8
    assert entry.about["weights"] == metrics.file_id(random_weights) and entry.about["resize"] == "tensorflow"
    with np.load(str(prefix) + "_legacy_tensorflow_train_28.npz") as cleanfid:
        assert sorted(cleanfid.files) == ["mu", "sigma"] and np.array_equal(cleanfid["sigma"], entry.sigma)
    protocol = json.loads(prefix.with_suffix(".json").read_text())
    assert protocol["spaces"]["inception-v3-compat 192"]["dim"] == 192

    images = build_dataset({"_target_": "ganrun.data.image_folder", "root": str(folder), "image_size": 28})
    fake = torch.randint(0, 256, (8, 3, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    names = ["fid", "kid", "precision", "coverage"]
    anew = QualityMetrics(names, 8, images, "mine", str(random_weights)).compute(lambda n: fake)
    kwargs = {"reference_file": str(prefix.with_suffix(".npz"))}
    against = QualityMetrics(names, 8, None, "mine", str(random_weights), **kwargs).compute(lambda n: fake)
    assert against == pytest.approx(dict(anew), rel=1e-9)


def test_a_space_that_cannot_be_had_is_said_and_none_left_is_one_line(tmp_path, capsys):
    folder = write_image_folder(tmp_path / "images", n=4, size=28, broken=0)
    with pytest.raises(SystemExit) as exit_:
        tool.main([str(folder), "--spaces", "classifier", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("Error: no space of --spaces classifier can be computed here")
    assert not list(tmp_path.glob("x*"))


@pytest.mark.slow
def test_a_run_against_a_mismatched_file_stops_before_training_in_one_line(tmp_path, tiny_mnist):
    path = tmp_path / "cifar10_clean_train_32.npz"
    np.savez(path, mu=np.zeros(2048), sigma=np.eye(2048))
    result = ganrun(
        "dataset=mnist",
        f"dataset.root={tiny_mnist}",
        "dataset.download=false",
        *FAST[:-1],
        "metrics.names=[fid]",
        f"metrics.reference={path}",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert_user_error(result, f"metrics.reference={path} was made with the resize clean, this score uses tensorflow")
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.slow
def test_evaluate_against_the_tools_statistics_scores_as_against_the_split(
    tmp_path, tiny_mnist, random_weights, monkeypatch, capsys
):
    from ganrun import evaluate as command
    from helpers.checkpoints import write_checkpoint

    monkeypatch.setattr(fidelity_inception.FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", 75)  # speed
    monkeypatch.setitem(metrics.FEATURES, "fid", "192")
    ckpt = write_checkpoint(tmp_path / "run", tiny_mnist, ema=True)
    weights = ["--inception-weights", str(random_weights)]
    common = [str(ckpt), "--num", "16", "--metrics", "fid", "--device", "cpu", *weights]
    command.main(common)
    by_split = json.loads(ckpt.with_name(f"{ckpt.stem}.metrics.json").read_text())
    prefix = tmp_path / "mnist"  # the same seeded 16 of the train split, as the tool writes them
    tool.main(
        ["mnist", "--root", str(tiny_mnist), "--num", "16", "--spaces", "inception", *weights, "--out", str(prefix)]
    )
    command.main([*common, "--reference", str(prefix) + ".npz"])
    by_file = json.loads(ckpt.with_name(f"{ckpt.stem}.metrics.json").read_text())
    assert by_file["metrics"]["fid"] == pytest.approx(by_split["metrics"]["fid"], rel=1e-9)
    protocol = by_file["protocols"]["fid"]
    assert protocol["split"] == "file" and protocol["reference"].startswith("ganrun statistics mnist.npz (")
    assert protocol["real_images"] == 16 and "against ganrun statistics mnist.npz (" in capsys.readouterr().out
