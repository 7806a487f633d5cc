"""Spec of reference statistics: clean-fid's resize to the pixel, clean-fid's .npz and EDM2's .pkl read (a pickle
without code), ganrun's format written and read back, and every mismatch refused in one line before any network is
built. clean-fid (PyPI) is the reference."""

import pickle
import urllib.error

import numpy as np
import pytest
import torch
import torch_fidelity.feature_extractor_inceptionv3 as fidelity_inception
from cleanfid.fid import fid_from_feats
from cleanfid.resize import build_resizer

from ganrun.base.errors import UsageError
from ganrun.quality import dinov2, inception, metrics, statistics
from ganrun.quality.metrics import QualityMetrics
from ganrun.quality.protocol import describe
from ganrun.quality.resize import clean_resize
from helpers.dinov2 import random_dinov2_weights
from helpers.tiny_data import pattern

REAL = torch.from_numpy(pattern(6, 28))
NOISE = torch.randint(0, 256, (6, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """A private cache, an empty torch hub, no network; small inputs (Inception 75 px, DINOv2 56 px) and FID on
    Inception's 192 early features, for speed on a CPU."""
    monkeypatch.setenv("GANRUN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    monkeypatch.setattr(
        torch.hub, "download_url_to_file", lambda *a, **k: (_ for _ in ()).throw(urllib.error.URLError("offline"))
    )
    monkeypatch.setattr(fidelity_inception.FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", 75)
    monkeypatch.setitem(metrics.FEATURES, "fid", "192")
    monkeypatch.setattr(dinov2, "SIDE", 56)


@pytest.fixture(scope="module")
def small_dinov2(tmp_path_factory):
    return random_dinov2_weights(tmp_path_factory.mktemp("dinov2"))


# ---------------------------------------------------------------- clean-fid's resize


@pytest.mark.parametrize("shape, side", [((2, 3, 28, 28), 299), ((2, 1, 64, 64), 32), ((1, 3, 300, 300), 299)])
def test_the_clean_resize_is_clean_fids_to_the_pixel(shape, side):
    images = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    resize = build_resizer("clean") if side == 299 else None
    ours = clean_resize(images, side).numpy()
    for image, mine in zip(images.numpy(), ours):
        rgb = np.repeat(image, 3, 0) if image.shape[0] == 1 else image  # clean-fid reads RGB
        if resize is None:
            from cleanfid.resize import make_resizer

            theirs = make_resizer("PIL", False, "bicubic", (side, side))(rgb.transpose(1, 2, 0))
        else:
            theirs = resize(rgb.transpose(1, 2, 0))
        assert np.array_equal(np.broadcast_to(mine, (3, side, side)), theirs.transpose(2, 0, 1))


def test_inception_with_the_clean_resize_sees_clean_fids_pixels(random_weights):
    """What reaches the network's first convolution: clean-fid's resize of the images, normalized as torch-fidelity
    normalizes ((x − 128)/128), not TensorFlow 1's bilinear."""
    seen = []
    clean = inception.build(random_weights, ["2048"], "x=", "clean")
    plain = inception.build(random_weights, ["2048"], "x=", "tensorflow")
    for net in (clean, plain):
        net.Conv2d_1a_3x3.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
        with torch.no_grad():
            net(REAL[:2].expand(-1, 3, -1, -1))
    torch.testing.assert_close(seen[0], (clean_resize(REAL[:2].expand(-1, 3, -1, -1), 75) - 128) / 128)
    assert (seen[0] - seen[1]).abs().max() > 0.01  # TensorFlow 1's resize differs


# ---------------------------------------------------------------- reading clean-fid's and EDM2's files


def cleanfid_file(path, features: np.ndarray):
    """Statistics as clean-fid's make_custom_stats writes them."""
    np.savez_compressed(path, mu=np.mean(features, axis=0), sigma=np.cov(features, rowvar=False))
    return path


def test_the_fd_from_a_clean_fid_file_is_clean_fids_fid_from_feats(tmp_path):
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(500, 384)), rng.normal(0.3, 1.2, size=(400, 384))
    entry = statistics.read(cleanfid_file(tmp_path / "set_dinov2_vits14_train_28.npz", real)).entries
    (space, found), mine = next(iter(entry.items())), (fake.mean(0), np.cov(fake, rowvar=False))
    assert space == "dinov2-vits14 cls"
    ours = metrics.frechet_distance(*mine, found.mu, found.sigma)
    assert ours == pytest.approx(fid_from_feats(fake, real), rel=1e-6)


def test_scores_against_a_clean_fid_file_equal_those_computed_from_the_images(tmp_path, small_dinov2):
    names, weights = ["fd_dinov2"], {"dinov2_model": "vits14", "dinov2_weights": str(small_dinov2)}
    anew = QualityMetrics(names, 6, REAL, "tiny", **weights)
    computed = anew.compute(lambda n: NOISE[:n])
    (entry,) = anew.real_entries(anew.spaces[0]).values()
    path = tmp_path / "tiny_dinov2_vits14_train_28.npz"
    statistics.write_cleanfid(path, entry)
    against = QualityMetrics(names, 6, None, "tiny", reference_file=str(path), **weights)
    scores = against.compute(lambda n: NOISE[:n])
    assert scores["metrics/fd_dinov2"] == pytest.approx(computed["metrics/fd_dinov2"], rel=1e-9)
    protocol = scores.protocols["fd_dinov2"]
    assert protocol["split"] == "file" and protocol["reference"].startswith(f"clean-fid statistics {path.name} (")
    assert "against clean-fid statistics tiny_dinov2_vits14_train_28.npz (" in describe(protocol)


def test_ganrun_files_written_and_read_back_give_the_same_scores(tmp_path, random_weights):
    names = ["fid", "kid", "precision", "recall", "density", "coverage"]
    anew = QualityMetrics(names, 6, REAL, "tiny", random_weights)
    computed = anew.compute(lambda n: NOISE[:n])
    path = tmp_path / "tiny.npz"
    statistics.write(path, anew.real_entries(anew.spaces[0]))
    again = QualityMetrics(names, 6, None, "tiny", random_weights, reference_file=str(path)).compute(
        lambda n: NOISE[:n]
    )
    assert again == pytest.approx(dict(computed), rel=1e-9)


def edm2_file(path, protocol: int = 4, **extra):
    rng = np.random.default_rng(1)
    stats = {"num_images": 50, "fid": {"mu": rng.normal(size=2048), "sigma": np.eye(2048)}, **extra}
    path.write_bytes(pickle.dumps(stats, protocol=protocol))
    return path


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_edm2_pickles_are_read_as_plain_containers_and_arrays(tmp_path, protocol):
    found = statistics.read(edm2_file(tmp_path / "img64.pkl", protocol))
    assert found.kind == "EDM2" and list(found.entries) == ["inception-v3-compat 2048"]
    entry = found.entries["inception-v3-compat 2048"]
    assert entry.mu.shape == (2048,) and entry.about == {"resize": "tensorflow", "images": 50}


class Payload:
    def __reduce__(self):
        import os

        return os.system, ("touch /tmp/ganrun-pickle-ran",)


def test_a_pickle_asking_for_code_is_refused_and_nothing_of_it_runs(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"fid": {"mu": Payload(), "sigma": 0}}))
    with pytest.raises(UsageError, match=r"asks for (posix|os)\.system; ganrun reads pickles of plain containers"):
        statistics.read(path)
    assert not (tmp_path.parent / "ganrun-pickle-ran").exists() and not __import__("os").path.exists(
        "/tmp/ganrun-pickle-ran"
    )


# ---------------------------------------------------------------- mismatches: one line each, before any network


def refused(tmp_path, file, *message, **kwargs):
    kwargs = {"names": ["fid"], **kwargs}
    names = kwargs.pop("names")
    with pytest.raises(UsageError) as error:
        QualityMetrics(names, 4, None, "k", reference_file=str(file), **kwargs)
    text = str(error.value)
    assert text.startswith(f"metrics.reference={file}") and "\n" not in text
    for fragment in message:
        assert fragment in text, text


def test_mismatched_statistics_are_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(metrics.FEATURES, "fid", "2048")  # FID's own layer: no network is built here
    features = np.random.default_rng(0).normal(size=(30, 2048))
    clean = cleanfid_file(tmp_path / "cifar10_clean_train_32.npz", features)
    refused(tmp_path, clean, "made with the resize clean, this score uses tensorflow", "metrics.inception_resize=clean")
    unnamed = cleanfid_file(tmp_path / "mine.npz", features)
    refused(tmp_path, unnamed, "its name does not say which resize made it", "<name>_clean_")
    odd = cleanfid_file(tmp_path / "odd_clean_x.npz", features[:, :100])
    refused(tmp_path, odd, "holds 100-dimensional statistics: neither Inception's (2048) nor DINOv2's")
    edm2 = edm2_file(tmp_path / "img.pkl")
    refused(tmp_path, edm2, "has no statistics in dinov2-vitl14 cls's features", names=["fd_dinov2"])
    refused(tmp_path, edm2, "has mu and sigma only, and kid need the real features", names=["fid", "kid"])
    refused(tmp_path, tmp_path / "missing.npz", "does not exist; give a statistics file (.npz or .pkl), train or test")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    refused(tmp_path, tmp_path / "junk.npz", "is unreadable")


def test_a_file_made_with_other_inception_weights_is_refused(tmp_path, random_weights):
    anew = QualityMetrics(["fid"], 6, REAL, "tiny", random_weights)
    anew.compute(lambda n: NOISE[:n])
    path = tmp_path / "tiny.npz"
    statistics.write(path, anew.real_entries(anew.spaces[0]))
    other = tmp_path / "other-inception.pth"
    torch.save(torch.load(random_weights, weights_only=True) | {"fc.bias": torch.ones(1008)}, other)
    quality = QualityMetrics(["fid"], 6, None, "tiny", str(other), reference_file=str(path))
    with pytest.raises(UsageError, match=r"was made with inception-v3-compat 192's weights \w+, this run has \w+"):
        quality.prepare()
