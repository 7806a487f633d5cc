"""Spec of the quality metrics: the Fréchet distance in closed form, the torch-fidelity pipeline with a random
Inception network, the real-statistics cache, the offline path, and the evaluate command."""

import json
import logging
import os
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torch_fidelity
import torch_fidelity.feature_extractor_inceptionv3 as inception
import torch_fidelity.utils
from torch_fidelity.metric_fid import fid_statistics_to_metric

from ganrun.base.errors import UsageError
from ganrun.quality import metrics, statistics
from ganrun.quality.metrics import QualityMetrics, frechet_distance, hub_weights_path
from helpers.checkpoints import write_checkpoint
from helpers.tiny_data import pattern

# Speed on a CPU, the tests' only changes to the pipeline: Inception's input size 75 (its smallest) instead of 299
# costs 16× less, and FID/KID on its 192 early features instead of the 2048 pooled ones turn the 2048×2048
# eigenproblems of FID (seconds to tens of seconds each) into 192×192 ones. 192 > the 64 images still makes
# the covariances rank-deficient, as with few samples in real use.
SMALL_INPUT = 75
SMALL_FEATURES = {"fid": "192", "kid": "192"}


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """A private cache, an empty torch hub, no network, and the small Inception input and features."""
    monkeypatch.setenv("GANRUN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    downloads = []

    def no_network(url, dst, *args, **kwargs):
        downloads.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    monkeypatch.setattr(inception.FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", SMALL_INPUT)
    for name, layer in SMALL_FEATURES.items():
        monkeypatch.setitem(metrics.FEATURES, name, layer)
    return downloads


@pytest.fixture(scope="module")
def real() -> torch.Tensor:
    return torch.from_numpy(pattern(64, 28))  # 64 gray 28×28 images


@pytest.fixture(scope="module")
def noise() -> torch.Tensor:
    return torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))


@pytest.fixture
def extracted(monkeypatch) -> list:
    """The sizes of the image sets torch-fidelity runs through Inception, in order."""
    sizes = []
    original = torch_fidelity.utils.get_featuresdict_from_dataset

    def spy(dataset, *args, **kwargs):
        sizes.append(len(dataset))
        return original(dataset, *args, **kwargs)

    monkeypatch.setattr(torch_fidelity.utils, "get_featuresdict_from_dataset", spy)
    return sizes


# ---------------------------------------------------------------- the Fréchet distance


def test_frechet_distance_of_diagonal_gaussians():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    var1, var2 = rng.uniform(0.1, 3, 6), rng.uniform(0.1, 3, 6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(var1 + var2 - 2 * np.sqrt(var1 * var2))
    assert frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_of_rotated_gaussians():
    # Σ1 = Q diag(a) Qᵀ and Σ2 = Q diag(b) Qᵀ commute, so (Σ1Σ2)^½ = Q diag(√(ab)) Qᵀ.
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    a, b = rng.uniform(0.5, 2, 5), rng.uniform(0.5, 2, 5)
    mu1, mu2 = np.zeros(5), np.full(5, 0.5)
    expected = 5 * 0.25 + np.sum(a + b - 2 * np.sqrt(a * b))
    assert frechet_distance(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T) == pytest.approx(expected, rel=1e-9)


# Full-rank and rank-deficient covariances. With 12 samples of 40 features, rounding leaves ~28 eigenvalues of
# ~1e-15 where the exact ones are 0; their square roots add ~1e-6 to tr (Σ1Σ2)^½, so any two solvers agree only to
# ~1e-8 relative there (torch-fidelity's scipy sqrtm moved by 3e-9 between scipy 1.17 releases; a 50-digit
# eigendecomposition of the float64 product is 3e-9 from ganrun's value and 5e-9 from torch-fidelity's).
@pytest.mark.parametrize("samples, rel", [(200, 1e-9), (12, 2e-8)])
def test_frechet_distance_agrees_with_torch_fidelity(samples, rel):
    rng = np.random.default_rng(samples)
    a, b = rng.normal(size=(samples, 40)), rng.normal(size=(samples, 40)) @ rng.normal(size=(40, 40)) + 0.5
    stats = [{"mu": x.mean(0), "sigma": np.cov(x, rowvar=False)} for x in (a, b)]
    expected = fid_statistics_to_metric(*stats, verbose=False)[torch_fidelity.KEY_METRIC_FID]
    assert frechet_distance(stats[0]["mu"], stats[0]["sigma"], stats[1]["mu"], stats[1]["sigma"]) == pytest.approx(
        expected, rel=rel
    )


def test_frechet_distance_of_one_dimensional_gaussians():
    assert frechet_distance(0.0, 1.0, 3.0, 4.0) == pytest.approx(9 + 1 + 4 - 2 * 2)
    assert frechet_distance([1.0, 2.0], np.eye(2), [1.0, 2.0], np.eye(2)) == pytest.approx(0, abs=1e-12)


# ---------------------------------------------------------------- the pipeline


def test_a_set_against_itself_scores_zero_and_noise_scores_higher(random_weights, real, noise):
    quality = QualityMetrics(["fid", "kid", "isc"], 64, real, "tiny-mnist", random_weights)
    itself = quality.compute(lambda n: real[:n])  # the same 64 images as the real subset, in another order
    against_noise = quality.compute(lambda n: noise[:n])

    assert set(itself) == set(against_noise) == {"metrics/fid", "metrics/kid", "metrics/isc"}
    assert against_noise["metrics/fid"] > 1.0
    assert itself["metrics/fid"] == pytest.approx(0, abs=1e-4 * against_noise["metrics/fid"])
    assert against_noise["metrics/kid"] > 0
    assert itself["metrics/kid"] == pytest.approx(0, abs=0.1 * against_noise["metrics/kid"])
    assert itself["metrics/isc"] >= 1.0 and against_noise["metrics/isc"] >= 1.0  # exp of a mean KL


def test_precision_recall_density_and_coverage_in_inception_features(random_weights, real, noise):
    names = ["precision", "recall", "density", "coverage"]
    quality = QualityMetrics(names, 64, real, "tiny-mnist", random_weights)
    itself, against_noise = quality.compute(lambda n: real[:n]), quality.compute(lambda n: noise[:n])
    assert set(itself) == {f"metrics/{name}" for name in names}
    # Every image lies in its own k-NN ball: a set against itself is all precision, recall and coverage.
    assert (itself["metrics/precision"], itself["metrics/recall"], itself["metrics/coverage"]) == (1.0, 1.0, 1.0)
    assert itself["metrics/density"] > against_noise["metrics/density"]
    assert against_noise["metrics/coverage"] < 1.0


def test_each_score_says_how_it_was_measured(random_weights, real, noise):
    import hashlib

    quality = QualityMetrics(["fid", "kid", "isc"], 32, real, "tiny-mnist", random_weights, reference="mnist 1×28×28")
    scores = quality.compute(lambda n: noise[:n], "raw", truncation=0.5)
    assert scores.protocols["fid"] == {
        "metric": "fid",
        "reference": "mnist 1×28×28",
        "split": "train",
        "real_images": 32,
        "generated_images": 32,
        "generator": "raw",
        "truncation": 0.5,
        "features": "inception-v3-compat 192",
        "weights": hashlib.sha256(random_weights.read_bytes()).hexdigest()[:12],  # the file's, on any machine
        "resize": "28×28 → 75×75, bilinear as TensorFlow 1 (torch-fidelity), gray copied to RGB",
        "settings": "",
        "step": None,
        "init": None,  # a run from scratch (init=PATH names where it started)
        "schedules": None,
    }  # the caller knows the step and the schedules the generator trained under: Scores.at(step, schedules)
    assert scores.protocols["kid"]["settings"] == "100 subsets of 32 images"
    assert scores.protocols["isc"]["settings"] == "10 splits" and scores.protocols["isc"]["features"].endswith(
        "logits_unbiased"
    )
    assert scores.at(7)["fid"]["step"] == 7 and set(scores.at(7)) == {"fid", "kid", "isc"}


def test_metrics_leave_the_training_rng_alone(random_weights, real, noise):
    quality = QualityMetrics(["fid"], 16, real, "tiny-mnist", random_weights)
    before = torch.get_rng_state()
    quality.compute(lambda n: noise[:n])
    assert torch.equal(torch.get_rng_state(), before)  # a resumed run draws what an uninterrupted one draws


def test_generated_images_are_checked(random_weights, real):
    quality = QualityMetrics(["fid"], 8, real, "tiny-mnist", random_weights)
    with pytest.raises(ValueError, match="uint8 N×C×H×W"):
        quality.compute(lambda n: torch.zeros(n, 1, 28, 28))


def test_grayscale_is_replicated_to_three_channels(real):
    image = metrics.Images(real)[5]
    assert image.shape == (3, 28, 28) and image.dtype == torch.uint8
    for channel in image:
        torch.testing.assert_close(channel, real[5, 0])


def test_real_statistics_are_cached_on_disk_and_reused(random_weights, real, noise, extracted):
    first = QualityMetrics(["fid", "kid"], 32, real, "tiny-mnist", random_weights).compute(lambda n: noise[:n])
    assert extracted == [32, 32]  # generated, then real
    cached = sorted(metrics.cache_root().glob("*.npz"))  # one file of the space, in ganrun's statistics format
    assert len(cached) == 1 and cached[0].name.startswith("ganrun-tiny-mnist-")
    entry = statistics.read(cached[0]).entries["inception-v3-compat 192"]  # the tests' small FID layer
    assert entry.features.shape == (32, 192) and entry.about["images"] == 32 and entry.about["split"] == "train"
    assert entry.about["resize"] == "tensorflow" and entry.about["weights"] == metrics.file_id(random_weights)

    again = QualityMetrics(["fid", "kid"], 32, real, "tiny-mnist", random_weights).compute(lambda n: noise[:n])
    assert extracted == [32, 32, 32]  # only the generated images this time
    assert again == pytest.approx(first, rel=1e-12)


def test_changed_real_images_are_not_served_from_the_cache(random_weights, real, noise, extracted):
    QualityMetrics(["fid"], 16, real, "tiny-mnist", random_weights).compute(lambda n: noise[:n])
    QualityMetrics(["fid"], 16, 255 - real, "tiny-mnist", random_weights).compute(lambda n: noise[:n])
    assert extracted == [16, 16, 16, 16]  # same key, other images: extracted again


def test_an_unwritable_cache_warns_and_computes_anyway(tmp_path, monkeypatch, random_weights, real, noise, caplog):
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("GANRUN_CACHE", str(tmp_path / "a-file"))
    with caplog.at_level(logging.WARNING, logger="ganrun"):
        quality = QualityMetrics(["fid"], 16, real, "tiny-mnist", random_weights)
    assert quality.cache is False and "set GANRUN_CACHE=<writable folder>" in caplog.text
    assert quality.compute(lambda n: noise[:n])["metrics/fid"] > 0


def test_kid_subset_size_is_clamped_to_the_samples(random_weights, real, caplog):
    caplog.set_level(logging.INFO, logger="ganrun")
    quality = QualityMetrics(["kid"], 500, real, "tiny-mnist", random_weights)
    assert quality.kid_subset_size == 64 and quality.real.shape == (64, 1, 28, 28)
    assert "KID subset size 64 instead of 1000" in caplog.text
    assert QualityMetrics(["fid"], 20, real, "tiny-mnist", random_weights).real.shape[0] == 20


# ---------------------------------------------------------------- offline and bad input


def test_no_weights_and_no_network_turns_metrics_off_with_one_warning(real, offline, caplog):
    quality = QualityMetrics(["fid", "kid"], 16, real, "tiny-mnist")
    calls = []
    with caplog.at_level(logging.WARNING, logger="ganrun"):
        assert quality.compute(lambda n: calls.append(n)) == {}
        assert quality.compute(lambda n: calls.append(n)) == {}
    assert quality.enabled is False and calls == [] and len(offline) == 1  # one download try, no images made
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "metrics.inception_weights=PATH" in message and str(hub_weights_path()) in message
    assert "\n" not in message


def test_a_prefilled_torch_hub_cache_works_offline(random_weights, real, noise, offline):
    hub_weights_path().parent.mkdir(parents=True)
    hub_weights_path().write_bytes(random_weights.read_bytes())
    values = QualityMetrics(["fid"], 16, real, "tiny-mnist").compute(lambda n: noise[:n])
    assert set(values) == {"metrics/fid"} and values["metrics/fid"] > 0
    assert offline == []  # nothing downloaded


def test_missing_weights_file_is_a_usage_error(tmp_path, real):
    with pytest.raises(UsageError, match=r"^metrics\.inception_weights=.*nope\.pth does not exist") as error:
        QualityMetrics(["fid"], 16, real, "tiny-mnist", str(tmp_path / "nope.pth"))
    assert "\n" not in str(error.value)


def test_weights_file_of_another_network_is_a_usage_error(tmp_path, real):
    torch.save({"weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(UsageError, match="not a state dict of torch-fidelity's InceptionV3"):
        QualityMetrics(["fid"], 16, real, "tiny-mnist", tmp_path / "other.pth")


@pytest.mark.parametrize("names", [[], ["fid", "lpips"], "fid,is"])
def test_unknown_metric_names_are_a_usage_error(names, real):
    with pytest.raises(UsageError, match=r"metrics\.names=.*subset of fid, kid, isc"):
        QualityMetrics(names, 16, real, "tiny-mnist")


def test_too_few_samples_is_a_usage_error(real):
    with pytest.raises(UsageError, match=r"metrics\.num_samples=1 is out of range"):
        QualityMetrics(["fid"], 1, real, "tiny-mnist")


def test_dataset_cache_key_names_the_loader_and_ignores_download():
    cfg = {"_target_": "ganrun.data.mnist", "root": "data", "download": True, "image_size": 28, "channels": 1}
    key = metrics.dataset_cache_key(cfg)
    assert key.startswith("mnist-")
    assert metrics.dataset_cache_key({**cfg, "download": False}) == key
    assert metrics.dataset_cache_key({**cfg, "image_size": 32}) != key


# ---------------------------------------------------------------- python -m ganrun.evaluate

# Runs the real module as `python -m` does, with the small Inception input and features (see SMALL_INPUT).
EVALUATE = (
    "import runpy, torch_fidelity.feature_extractor_inceptionv3 as m, ganrun.quality.metrics; "
    f"m.FeatureExtractorInceptionV3.INPUT_IMAGE_SIZE = {SMALL_INPUT}; "
    f"ganrun.quality.metrics.FEATURES.update({SMALL_FEATURES!r}); "
    "runpy.run_module('ganrun.evaluate', run_name='__main__', alter_sys=True)"
)


def evaluate(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`python -m ganrun.evaluate ARGS` with the test's cache (shared with in-process runs) and an empty torch hub."""
    env = {**os.environ, "TORCH_HOME": str(cwd / "torch-home")}
    return subprocess.run(
        [sys.executable, "-c", EVALUATE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_evaluate_prints_the_metrics_and_writes_json(tmp_path, tiny_mnist, random_weights):
    ckpt = write_checkpoint(tmp_path / "run", tiny_mnist, ema=True)
    common = ["--num", "32", "--metrics", "fid,kid", "--device", "cpu", "--inception-weights", str(random_weights)]
    result = evaluate(str(ckpt), *common, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = json.loads((ckpt.parent / "step_0000007.metrics.json").read_text())
    assert written["step"] == 7 and written["num_samples"] == 32 and written["ema"] is True
    assert set(written["metrics"]) == {"fid", "kid"} and written["metrics"]["fid"] > 0
    printed = dict(line.split() for line in result.stdout.splitlines() if line.split()[0] in ("fid", "kid"))
    assert {k: float(v) for k, v in printed.items()} == pytest.approx(written["metrics"], rel=1e-5)
    assert "EMA generator" in result.stdout
    protocol = written["protocols"]["fid"]  # how it was measured, in the JSON and on the screen
    assert (protocol["step"], protocol["generator"], protocol["split"], protocol["reference"]) == (
        7,
        "ema",
        "train",
        "mnist 1×28×28",
    )
    assert (protocol["real_images"], protocol["generated_images"], protocol["truncation"]) == (32, 32, None)
    assert (
        "measured as:" in result.stdout and "fid, kid (100 subsets of 32 images): 32 images by the EMA" in result.stdout
    )


def test_evaluate_uses_the_ema_unless_told_not_to(tmp_path, tiny_mnist, random_weights, capsys):
    from ganrun import evaluate as command

    ckpt = write_checkpoint(tmp_path / "run", tiny_mnist, ema=True)
    common = [
        str(ckpt),
        "--num",
        "16",
        "--metrics",
        "fid",
        "--device",
        "cpu",
        "--inception-weights",
        str(random_weights),
    ]
    fid = {}
    for flags in ([], ["--no-ema"]):
        command.main(common + flags)
        written = json.loads((ckpt.parent / "step_0000007.metrics.json").read_text())
        assert written["ema"] is (not flags)
        fid[written["ema"]] = written["metrics"]["fid"]
    assert "samples of the generator" in capsys.readouterr().out
    assert fid[True] != pytest.approx(fid[False], rel=1e-3)  # the EMA generator's images differ


def test_evaluate_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    from ganrun import evaluate as command

    with pytest.raises(SystemExit) as exit:
        command.main([str(tmp_path / "nope.pt")])
    assert exit.value.code == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("Error: checkpoint") and "nope.pt does not exist" in stderr and stderr.count("\n") == 1


def test_evaluate_without_weights_offline_is_one_line_and_exit_2(tmp_path, tiny_mnist, capsys):
    from ganrun import evaluate as command

    ckpt = write_checkpoint(tmp_path / "run", tiny_mnist, ema=False)
    with pytest.raises(SystemExit) as exit:
        command.main([str(ckpt), "--num", "8", "--device", "cpu"])  # the fixture: empty torch hub, no network
    assert exit.value.code == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("Error: cannot get the Inception weights") and stderr.count("\n") == 1
    assert "--inception-weights PATH" in stderr and str(hub_weights_path()) in stderr
    assert not (ckpt.parent / "step_0000007.metrics.json").exists()
