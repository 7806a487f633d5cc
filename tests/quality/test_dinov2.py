"""Spec of DINOv2's feature space: DINOv2's position resample (not timm's), EDM2's preprocessing, the weights
checks, the *_dinov2 scores with their protocol, and missing weights turning the space off at the start.

ViT-S/14 with seeded random weights in DINOv2's file format (no download); features are checked against DINOv2's
and EDM2's own code by scripts/dinov2_reference.py (they do not install from PyPI)."""

import logging
import math
import urllib.error

import pytest
import torch
import torch.nn.functional as F

from ganrun.base.errors import UsageError
from ganrun.quality import dinov2
from ganrun.quality.configured import decide_available
from ganrun.quality.metrics import QualityMetrics, file_id
from helpers.dinov2 import random_dinov2_weights
from helpers.tiny_data import pattern

SMALL = dinov2.MODELS["vits14"]
BLANK = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """A private cache, an empty torch hub, no network; DINOv2 at 56 px (4×4 patches) instead of 224: 16× faster."""
    monkeypatch.setenv("GANRUN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))

    def no_network(url, dst, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    monkeypatch.setattr(dinov2, "SIDE", 56)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return random_dinov2_weights(tmp_path_factory.mktemp("dinov2"))


def cubic(t: float, a: float = -0.75) -> float:
    """PyTorch's bicubic convolution kernel (Keys, a = −0.75)."""
    t = abs(t)
    if t <= 1:
        return (a + 2) * t**3 - (a + 3) * t**2 + 1
    return a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a if t < 2 else 0.0


def dinov2_resample_by_hand(grid: torch.Tensor, out: int, offset: float = 0.1) -> torch.Tensor:
    """DINOv2's interpolate_pos_encoding written out: F.interpolate with scale_factor s = (out + offset)/M maps
    output pixel i to the source coordinate (i + ½)/s − ½, and samples it with the cubic kernel, edges clamped."""
    m = grid.shape[0]
    scale = (out + offset) / m

    def weights_1d(i: int) -> list[tuple[int, float]]:
        x = (i + 0.5) / scale - 0.5
        base = math.floor(x)
        return [(min(max(base + k, 0), m - 1), cubic(x - (base + k))) for k in (-1, 0, 1, 2)]

    result = torch.zeros(out, out, grid.shape[2], dtype=torch.float64)
    for i in range(out):
        for j in range(out):
            for yi, wy in weights_1d(i):
                for xj, wx in weights_1d(j):
                    result[i, j] += wy * wx * grid[yi, xj].double()
    return result


def test_positions_are_resampled_as_dinov2s_code_does_not_as_timm_does():
    grid = torch.randn(37, 37, 3, generator=torch.Generator().manual_seed(0))
    pos = torch.cat([torch.full((1, 1, 3), 7.0), grid.reshape(1, 37 * 37, 3)], 1)
    ours = dinov2.resample_positions(pos, 16)
    assert ours.shape == (1, 1 + 16 * 16, 3) and torch.equal(ours[:, 0], pos[:, 0])  # the class token's: kept
    expected = dinov2_resample_by_hand(grid, 16).reshape(1, 256, 3).float()
    torch.testing.assert_close(ours[:, 1:], expected, atol=1e-5, rtol=1e-5)
    # By size (timm's resample_abs_pos_embed, antialiased) the same grid lands elsewhere: not DINOv2's features.
    by_size = F.interpolate(grid.permute(2, 0, 1)[None], size=(16, 16), mode="bicubic", antialias=True)
    assert (by_size[0].permute(1, 2, 0).reshape(1, 256, 3) - ours[:, 1:]).abs().max() > 0.05


def test_preprocessing_is_edm2s_a_gray_image_lands_on_imagenets_normalization():
    """A constant image stays constant through any resize: (v/255 − mean)/std per channel, at 224×224 (here 56)."""
    value = 200
    x = torch.full((2, 3, 28, 28), value, dtype=torch.uint8)
    out = dinov2.preprocess(x)
    assert out.shape == (2, 3, dinov2.SIDE, dinov2.SIDE)
    for c, (mean, std) in enumerate(zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))):
        torch.testing.assert_close(out[:, c], torch.full_like(out[:, c], (value / 255 - mean) / std))


def test_the_space_measures_every_measure_with_its_protocol(weights):
    real = torch.from_numpy(pattern(6, 28))
    noise = torch.randint(0, 256, (6, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    names = ["fd_dinov2", "kid_dinov2", "precision_dinov2", "recall_dinov2", "density_dinov2", "coverage_dinov2"]
    quality = QualityMetrics(names, 6, real, "tiny", dinov2_model="vits14", dinov2_weights=str(weights))
    itself = quality.compute(lambda n: real[:n])
    assert set(itself) == {f"metrics/{name}" for name in names}
    assert itself["metrics/fd_dinov2"] == pytest.approx(0, abs=1e-3)  # a set against itself (float32 features)
    assert itself["metrics/precision_dinov2"] == itself["metrics/recall_dinov2"] == 1.0
    far = quality.compute(lambda n: noise[:n])
    assert far["metrics/fd_dinov2"] > 100 * max(itself["metrics/fd_dinov2"], 1e-3)
    protocol = far.protocols["fd_dinov2"]
    assert protocol["features"] == "dinov2-vits14 cls" and protocol["weights"] == file_id(weights)
    assert protocol["resize"] == "28×28 → 56×56, bicubic, antialiased, float (EDM2's), gray copied to RGB"


def test_a_file_of_another_network_is_refused_in_one_line(tmp_path, weights):
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    (tmp_path / "broken.pth").write_bytes(b"not a checkpoint")
    base = tmp_path / "dinov2_vitb14_pretrain.pth"  # ViT-B/14's shapes where the check looks
    torch.save({"pos_embed": torch.zeros(1, 1370, 768), "blocks.11.norm1.weight": torch.ones(768)}, base)
    registers = random_dinov2_weights(tmp_path / "r", registers=True)
    cases = {
        tmp_path / "missing.pth": "does not exist; give the path of DINOv2's dinov2_vits14_pretrain.pth",
        tmp_path / "other.pth": "is not DINOv2's vits14 (12 blocks, 384 features; its pos_embed: none)",
        tmp_path / "broken.pth": "is unreadable",
        base: "set metrics.dinov2.model to the network it holds",
        registers: "is a DINOv2 with registers",
    }
    for path, message in cases.items():
        with pytest.raises(UsageError, match="^metrics.dinov2.weights=") as error:
            QualityMetrics(["fd_dinov2"], 4, BLANK, "k", dinov2_model="vits14", dinov2_weights=str(path))
        assert message in str(error.value) and "\n" not in str(error.value)


def test_a_given_weights_file_is_read_once_at_the_start_and_again_once_it_changes(tmp_path, monkeypatch):
    path = random_dinov2_weights(tmp_path / "given")  # a file of this test's own: no other test has checked it
    reads, load = [], torch.load
    monkeypatch.setattr(torch, "load", lambda file, *a, **k: reads.append(file) or load(file, *a, **k))
    quality = QualityMetrics(["fd_dinov2"], 4, BLANK, "k", dinov2_model="vits14", dinov2_weights=str(path))
    decide_available(quality)  # the start asks again, as a search's objective does: the 1.2 GB of ViT-L read once
    QualityMetrics(["fd_dinov2"], 4, BLANK, "k", dinov2_model="vits14", dinov2_weights=str(path))
    assert reads == [path] and quality.spaces[0].enabled

    torch.save({"fc.weight": torch.zeros(2, 2)}, path)  # another file in its place is checked anew
    with pytest.raises(UsageError, match="is not DINOv2's vits14"):
        QualityMetrics(["fd_dinov2"], 4, BLANK, "k", dinov2_model="vits14", dinov2_weights=str(path))


def test_missing_weights_offline_turn_the_space_off_at_the_start_with_one_warning(caplog, random_weights):
    real = torch.from_numpy(pattern(4, 28))
    quality = QualityMetrics(["fid", "fd_dinov2"], 4, real, "tiny", random_weights, dinov2_model="vits14")
    with caplog.at_level(logging.WARNING, logger="ganrun"):
        decide_available(quality)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("fd_dinov2: off for the rest of this run: cannot get DINOv2's vits14 weights")
    assert "set metrics.dinov2.weights=PATH" in warning and "dinov2_vits14_pretrain.pth" in warning
    assert [space.enabled for space in quality.spaces] == [True, False]  # Inception's is still measured


def test_weights_in_the_torch_hub_cache_are_found_offline(weights):
    cached = dinov2.hub_weights_path(SMALL)
    cached.parent.mkdir(parents=True)
    cached.symlink_to(weights)
    quality = QualityMetrics(["fd_dinov2"], 4, torch.from_numpy(pattern(4, 28)), "tiny", dinov2_model="vits14")
    decide_available(quality)
    assert quality.spaces[0].enabled and quality.spaces[0].extractor is None  # found, built at the first score
