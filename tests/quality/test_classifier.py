"""Spec of the offline quality yardstick: a classifier trained once on the labelled data set and cached, registered
with torch-fidelity, and the Fréchet distance, KID and precision/recall in its features."""

import logging
import urllib.error

import pytest
import torch
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.utils import create_feature_extractor

from ganrun.base.errors import UsageError
from ganrun.data.labelled import labelled_source
from ganrun.quality import classifier, metrics, statistics
from ganrun.quality.metrics import QualityMetrics
from helpers.tiny_data import separable, write_mnist, write_separable_mnist

QUICK = {"epochs": 15, "batch_size": 20, "lr": 3e-3, "seed": 0}  # enough for the separable tiny set


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANRUN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def separable_mnist(tmp_path):
    root = write_separable_mnist(tmp_path / "mnist", n=200)
    return labelled_source({"_target_": "ganrun.data.mnist", "root": str(root), "download": False})


# ---------------------------------------------------------------- trained once, cached


def test_it_learns_a_separable_data_set_and_records_its_test_accuracy(separable_mnist):
    path, record = classifier.classifier_for(separable_mnist, "cpu", QUICK)
    assert record["test_accuracy"] == pytest.approx(1.0)
    assert record["source"] == "mnist" and record["train_images"] == 200 and record["test_images"] == 100
    assert path.parent == classifier.cache_root() and path.name.startswith("mnist-")
    stored = torch.load(path, weights_only=True)  # a plain record: safe to load
    assert stored["test_accuracy"] == record["test_accuracy"] and len(stored["id"]) == 12


def test_it_is_trained_once_then_read_from_the_cache(separable_mnist, monkeypatch):
    _, first = classifier.classifier_for(separable_mnist, "cpu", QUICK)
    monkeypatch.setattr(classifier, "train", lambda *a, **k: pytest.fail("trained again instead of reading the cache"))
    _, again = classifier.classifier_for(separable_mnist, "cpu", QUICK)
    assert again["id"] == first["id"]


@pytest.mark.slow
def test_the_same_files_give_the_same_classifier(separable_mnist, tmp_path, monkeypatch):
    _, first = classifier.classifier_for(separable_mnist, "cpu", QUICK)
    monkeypatch.setenv("GANRUN_CACHE", str(tmp_path / "another-cache"))
    _, second = classifier.classifier_for(separable_mnist, "cpu", QUICK)
    assert second["id"] == first["id"]  # seeded: numbers from two machines' caches are comparable


@pytest.mark.slow
def test_a_corrupt_cache_file_is_trained_again(separable_mnist):
    path, first = classifier.classifier_for(separable_mnist, "cpu", QUICK)
    path.write_bytes(b"half a file")
    again_path, again = classifier.classifier_for(separable_mnist, "cpu", QUICK)
    assert again_path == path and again["id"] == first["id"]


def test_other_files_get_another_classifier(tmp_path):
    one = labelled_source({"_target_": "ganrun.data.mnist", "root": str(write_mnist(tmp_path / "a", n=20))})
    other = labelled_source({"_target_": "ganrun.data.mnist", "root": str(write_mnist(tmp_path / "b", n=30))})
    assert classifier.cache_path(one, QUICK) != classifier.cache_path(other, QUICK)
    assert classifier.cache_path(one, QUICK) != classifier.cache_path(one, {**QUICK, "epochs": 2})


def test_data_without_labels_is_one_line_naming_the_measures_it_can_use():
    with pytest.raises(UsageError, match=r"need class labels.*dataset.labels=folders.*use fid or fd_dinov2") as error:
        classifier.classifier_for(None, "cpu")
    assert "\n" not in str(error.value)
    with pytest.raises(UsageError, match=r"; or use --features inception$"):
        classifier.classifier_for(None, "cpu", instead="or use --features inception")


# ---------------------------------------------------------------- a torch-fidelity feature extractor


def test_registered_with_torch_fidelity_and_fed_its_uint8_rgb_batches(separable_mnist):
    path, _ = classifier.classifier_for(separable_mnist, "cpu", QUICK)
    extractor = create_feature_extractor(
        classifier.EXTRACTOR,
        [classifier.FEATURES, "logits"],
        cuda=False,
        verbose=False,
        feature_extractor_weights_path=str(path),
    )
    images, labels = separable(20, seed=5)
    gray = torch.from_numpy(images)
    features, logits = extractor(gray.expand(-1, 3, -1, -1))  # torch-fidelity replicates gray to three channels
    assert features.shape == (20, 128) and logits.argmax(1).tolist() == labels.tolist()
    net = classifier.Classifier(1)
    net.load_state_dict(torch.load(path, weights_only=True)["state_dict"])
    with torch.no_grad():
        torch.testing.assert_close(features, net.eval()(gray.float() / 127.5 - 1)[0])
    # Another image size (MNIST trained at 32×32) is scored at the classifier's own size, resized as FID tools do.
    bigger = torch.randint(0, 256, (4, 1, 32, 32), dtype=torch.uint8)
    resized = torch.nn.functional.interpolate(bigger.float() / 127.5 - 1, size=28, mode="bilinear", antialias=True)
    with torch.no_grad():
        torch.testing.assert_close(extractor(bigger.expand(-1, 3, -1, -1))[0], net(resized)[0])


# ---------------------------------------------------------------- the measures, against closed forms


class FirstPixels(FeatureExtractorBase):
    """Features that are the first two pixels of the first row: every feature set is exactly what a test writes."""

    def __init__(self):
        super().__init__("first-pixels", [classifier.FEATURES])

    @staticmethod
    def get_provided_features_list():
        return (classifier.FEATURES,)

    def forward(self, x):
        return (x[:, 0, 0, :2].double(),)


def images_with_features(rows) -> torch.Tensor:
    images = torch.zeros(len(rows), 1, 28, 28, dtype=torch.uint8)
    images[:, 0, 0, :2] = torch.tensor(rows, dtype=torch.uint8)
    return images


def design(mean, scale):
    """The four points mean ± scale (a 2² design): sample mean `mean`, unbiased covariance diag(4/3·scale²)."""
    return [[mean[0] + a * scale[0], mean[1] + b * scale[1]] for a in (-1, 1) for b in (-1, 1)]


@pytest.fixture
def first_pixels(monkeypatch):
    monkeypatch.setattr(QualityMetrics, "_classifier", lambda self: (FirstPixels(), "first-pixels"))


def test_frechet_distance_of_two_known_feature_sets(first_pixels):
    mu1, s1, mu2, s2 = (100, 120), (10, 20), (110, 100), (30, 5)
    real = images_with_features(design(mu1, s1))
    quality = QualityMetrics(["classifier_fd"], 4, real, "design")
    value = quality.compute(lambda n: images_with_features(design(mu2, s2)))["metrics/classifier_fd"]
    # ‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2(Σ1Σ2)^½) with Σ = 4/3·diag(s²): the traces collapse to 4/3·‖s1 − s2‖².
    expected = sum((a - b) ** 2 for a, b in zip(mu1, mu2)) + 4 / 3 * sum((a - b) ** 2 for a, b in zip(s1, s2))
    assert value == pytest.approx(expected, rel=1e-9)


def test_precision_and_recall_of_the_same_set_and_of_a_far_one(first_pixels):
    real = images_with_features(design((50, 50), (10, 10)) * 2)
    quality = QualityMetrics(["classifier_precision", "classifier_recall"], 8, real, "design")
    same = quality.compute(lambda n: real[:n])  # every point lies in its own k-NN ball
    assert same == {"metrics/classifier_precision": 1.0, "metrics/classifier_recall": 1.0}
    far = quality.compute(lambda n: images_with_features(design((200, 200), (10, 10)) * 2))
    assert far == {"metrics/classifier_precision": 0.0, "metrics/classifier_recall": 0.0}


def test_density_and_coverage_in_classifier_features_are_the_reference_implementations(first_pixels, capsys):
    import prdc

    rng = torch.Generator().manual_seed(3)
    real_rows, fake_rows = torch.randint(0, 200, (40, 2), generator=rng), torch.randint(40, 256, (30, 2), generator=rng)
    quality = QualityMetrics(
        ["classifier_density", "classifier_coverage"], 40, images_with_features(real_rows.tolist()), "design"
    )
    scores = quality.compute(lambda n: images_with_features(fake_rows.tolist()))
    # The real images are a seeded subset in another order: the measures do not depend on the order.
    expected = prdc.compute_prdc(real_rows.numpy().astype("float32"), fake_rows.numpy().astype("float32"), nearest_k=5)
    assert scores == {
        "metrics/classifier_density": pytest.approx(expected["density"], rel=1e-12),
        "metrics/classifier_coverage": pytest.approx(expected["coverage"], rel=1e-12),
    }
    assert 0 < scores["metrics/classifier_coverage"] < 1
    assert scores.protocols["classifier_density"]["settings"] == "k=5"
    assert scores.protocols["classifier_coverage"]["features"] == "ganrun-classifier features"


def test_the_test_split_is_the_reference_when_asked_and_is_cached_apart(first_pixels, tmp_path):
    from ganrun.build import build_dataset
    from ganrun.quality.reference import reference_images

    cfg = {
        "_target_": "ganrun.data.mnist",
        "root": str(write_separable_mnist(tmp_path / "mnist", n=60)),
        "download": False,
        "image_size": 28,
        "channels": 1,
    }
    train = build_dataset(cfg).images
    assert reference_images(cfg, "train", lambda: train) is train  # MNIST trains on its train split
    test = reference_images(cfg, "test", lambda: pytest.fail("the test split is read apart"))
    assert torch.equal(test, torch.from_numpy(separable(30, seed=1)[0]))  # tiny_data's t10k images
    shaped = reference_images({**cfg, "classes": [3], "image_size": 32}, "test", lambda: None)
    assert shaped.shape == (3, 1, 32, 32)  # the classes and size the run trains with
    scores = {}
    for split, images in (("train", train), ("test", test)):
        scores[split] = QualityMetrics(["classifier_fd"], 100, images, "mnist-key", split=split).compute(lambda n: test)
    assert scores["test"]["metrics/classifier_fd"] == pytest.approx(0, abs=1e-9)  # the test split against itself
    assert scores["train"]["metrics/classifier_fd"] > 1
    assert (
        scores["test"].protocols["classifier_fd"]["split"],
        scores["test"].protocols["classifier_fd"]["real_images"],
    ) == ("test", 30)
    names = sorted(p.name for p in metrics.cache_root().glob("*.npz"))
    assert len(names) == 2 and sum("ganrun-mnist-key-test-" in n for n in names) == 1  # keyed apart


def test_the_real_features_are_cached_per_classifier(first_pixels, monkeypatch):
    real = images_with_features(design((50, 50), (10, 10)))
    QualityMetrics(["classifier_fd"], 4, real, "design").compute(lambda n: real)
    (path,) = metrics.cache_root().glob("*.npz")  # the real images' statistics and features, in ganrun's format
    assert path.name.startswith("ganrun-design-")
    assert statistics.read(path).entries["ganrun-classifier features"].about["weights"] == "first-pixels"
    monkeypatch.setattr(QualityMetrics, "_classifier", lambda self: (FirstPixels(), "another-classifier"))
    QualityMetrics(["classifier_fd"], 4, real, "design").compute(lambda n: real)
    assert len(list(metrics.cache_root().glob("*.npz"))) == 2  # another classifier never reuses the statistics


# ---------------------------------------------------------------- offline, and data without labels


def test_offline_without_inception_weights_the_classifier_metrics_still_come(
    separable_mnist, tmp_path, monkeypatch, caplog
):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    monkeypatch.setattr(
        torch.hub, "download_url_to_file", lambda *a, **k: (_ for _ in ()).throw(urllib.error.URLError("no network"))
    )
    monkeypatch.setattr(classifier, "RECIPE", QUICK)
    monkeypatch.setattr(classifier.classifier_for, "__defaults__", (QUICK,))
    real, _ = separable_mnist.split("train")
    quality = QualityMetrics(["fid", "classifier_fd", "classifier_kid"], 50, real, "tiny", labelled=separable_mnist)
    with caplog.at_level(logging.WARNING, logger="ganrun"):
        itself = quality.compute(lambda n: real[:n])
        noise = quality.compute(lambda n: torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8))
    assert set(itself) == {"metrics/classifier_fd", "metrics/classifier_kid"} and quality.enabled
    assert itself["metrics/classifier_fd"] < 0.05 * noise["metrics/classifier_fd"]
    assert itself["metrics/classifier_kid"] < 0.05 * noise["metrics/classifier_kid"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        len(warnings) == 1
        and warnings[0].startswith("fid: off for the rest of this run")
        and "inception_weights" in warnings[0]
    )


def test_data_without_labels_turns_the_classifier_metrics_off_with_one_line(caplog):
    real = images_with_features(design((50, 50), (10, 10)))
    quality = QualityMetrics(["classifier_fd"], 4, real, "anime", labelled=None)
    with caplog.at_level(logging.WARNING, logger="ganrun"):
        assert quality.compute(lambda n: pytest.fail("generated images although no metric can be computed")) == {}
    assert not quality.enabled
    (message,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "dataset.labels=folders" in message and "metrics.names=[fid]" in message and "\n" not in message


# ---------------------------------------------------------------- python -m ganrun.evaluate, offline


@pytest.mark.slow
def test_evaluate_scores_a_checkpoint_offline_and_names_the_classifier(tmp_path, monkeypatch):
    import json

    from helpers.checkpoints import write_checkpoint
    from helpers.cli import ganrun

    root = write_separable_mnist(tmp_path / "mnist", n=200)
    ckpt = write_checkpoint(tmp_path / "run", root, ema=True)
    names = ["classifier_fd", "classifier_precision", "classifier_recall", "classifier_density", "classifier_coverage"]
    result = ganrun(
        str(ckpt),
        "--num",
        "40",
        "--metrics",
        ",".join(names),
        "--real",
        "--device",
        "cpu",
        cwd=tmp_path,
        module="ganrun.evaluate",
        env={"TORCH_HOME": str(tmp_path / "empty-torch-home")},
    )  # no Inception weights: not needed
    assert result.returncode == 0, result.stderr
    written = json.loads((ckpt.parent / "step_0000007.metrics.json").read_text())
    assert list(written["metrics"]) == names and written["reference"] == "train"
    assert written["metrics"]["classifier_fd"] > 0 and 0 <= written["metrics"]["classifier_recall"] <= 1
    # --real: the 100 held-out test images scored the same way, printed beside the generator's numbers.
    floor = written["real"]
    assert floor["split"] == "test" and list(floor["metrics"]) == names
    assert floor["metrics"]["classifier_fd"] < written["metrics"]["classifier_fd"]
    assert {
        (p["generator"], p["generated_images"], p["real_images"], p["step"]) for p in floor["protocols"].values()
    } == {("held-out test split", 40, 40, None)}
    printed = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()}
    assert printed["metric"] == ["generator", "held-out_real_(test)"]
    assert [float(v) for v in printed["classifier_fd"]] == pytest.approx(
        [written["metrics"]["classifier_fd"], floor["metrics"]["classifier_fd"]], rel=1e-5
    )
    monkeypatch.setattr(classifier, "train", lambda *a, **k: pytest.fail("the command did not cache its classifier"))
    monkeypatch.setenv("GANRUN_CACHE", str(tmp_path / ".cache"))  # the command's cache (conftest.ganrun)
    path, record = classifier.classifier_for(
        labelled_source({"_target_": "ganrun.data.mnist", "root": str(root)}), "cpu"
    )
    assert written["classifier"] == {
        "data": "mnist",
        "file": str(path),
        "id": record["id"],
        "test_accuracy": record["test_accuracy"],
    }
    assert f"mnist classifier {record['id']}" in result.stdout
    assert {p["weights"] for p in written["protocols"].values()} == {record["id"]}

    from ganrun import evaluate as command  # --reference test, in-process with the command's cached classifier

    command.main(
        [
            str(ckpt),
            "--num",
            "40",
            "--metrics",
            "classifier_fd",
            "--reference",
            "test",
            "--device",
            "cpu",
            "--truncation",
            "0.5",
        ]
    )
    written = json.loads((ckpt.parent / "step_0000007.metrics.json").read_text())
    assert written["reference"] == "test" and written["truncation"] == 0.5
    assert (written["protocols"]["classifier_fd"]["split"], written["protocols"]["classifier_fd"]["truncation"]) == (
        "test",
        0.5,
    )
