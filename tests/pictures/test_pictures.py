"""Spec of the pictures of a trained generator: spherical walks whose ends are the generator's own samples, walks
across classes, truncated noise, samples beside their exact nearest training images, and the files they go to."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from ganrun.models import dcgan28
from ganrun.pictures import strips, walk
from ganrun.pictures.nearest import beside, nearest_training_images
from ganrun.training.sampling import normal_noise, samples


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


@pytest.fixture(scope="module")
def generator():
    torch.manual_seed(0)
    return dcgan28.build(28, 1, z_dim=8, hidden=4)[0].eval()


@pytest.fixture(scope="module")
def conditional():
    torch.manual_seed(0)
    g = dcgan28.build(28, 1, z_dim=8, hidden=4, conditional=True, num_classes=3)[0].eval()
    with torch.no_grad():  # classes that differ (they all start as plain batch norm)
        for m in g.modules():
            if isinstance(m, torch.nn.Embedding):
                m.weight.normal_(1, 0.5)
    return g


# ---------------------------------------------------------------- spherical interpolation


def test_slerp_ends_at_the_points_and_keeps_a_unit_circle():
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    path = walk.slerp(a, b, walk.fractions(5))[0]
    assert torch.equal(path[0], a[0]) and torch.equal(path[-1], b[0])
    angles = torch.atan2(path[:, 1], path[:, 0])
    torch.testing.assert_close(angles, torch.linspace(0, math.pi / 2, 5))  # equal angles along the great circle
    torch.testing.assert_close(path.norm(dim=1), torch.ones(5))


def test_slerp_of_parallel_points_is_linear():
    a = torch.tensor([[1.0, 2.0]])
    torch.testing.assert_close(walk.slerp(a, 3 * a, torch.tensor([0.5]))[0, 0], torch.tensor([2.0, 4.0]))


def test_walk_rows_start_and_end_at_the_generators_samples_of_those_noises(generator):
    noise = walk.walk_points(generator, 4, seed=3)
    rows = walk.latent_walk(generator, noise, steps=6, device="cpu")
    assert rows.shape == (3, 6, 1, 28, 28) and rows.dtype == torch.uint8  # one row per pair of consecutive points
    ends = to_uint8(samples(generator, noise))
    # Up to one grey level: the same images drawn in batches of another size may round differently.
    for i in range(3):
        assert (rows[i, 0].int() - ends[i].int()).abs().max() <= 1
        assert (rows[i, -1].int() - ends[i + 1].int()).abs().max() <= 1
    assert not torch.equal(rows[0, 2], rows[0, 3])  # it moves in between


def test_class_walks_hold_the_noise_and_end_at_each_class(conditional):
    noise = walk.walk_points(conditional, 3, seed=0)
    rows = walk.class_walk(conditional, noise, steps=5, device="cpu")
    assert rows.shape == (2, 5, 1, 28, 28)  # row i: noise i fixed, class i → class i + 1
    for i in range(2):
        at = lambda label, i=i: to_uint8(samples(conditional, noise[i : i + 1], torch.tensor([label])))[0]  # noqa: E731
        assert (rows[i, 0].int() - at(i).int()).abs().max() <= 1
        assert (rows[i, -1].int() - at(i + 1).int()).abs().max() <= 1
    assert not torch.equal(rows[0, 0], rows[0, -1])
    # The hooks are gone afterwards: plain class samples are what they were.
    assert not any(m._forward_hooks for m in conditional.modules())


def test_a_conditional_walk_has_latent_rows_then_class_rows(conditional):
    assert walk.walks(conditional, 4, 3, seed=0, device="cpu").shape == (6, 3, 1, 28, 28)
    assert walk.walks(conditional, 4, 3, seed=0, device="cpu", label=2).shape == (3, 3, 1, 28, 28)  # one class


# ---------------------------------------------------------------- truncated noise


def test_truncated_noise_stays_inside_and_redraws_only_what_was_outside():
    plain = normal_noise(20000, 8, torch.Generator().manual_seed(0))
    assert torch.equal(plain, torch.randn(20000, 8, generator=torch.Generator().manual_seed(0)))
    psi = 0.7
    cut = normal_noise(20000, 8, torch.Generator().manual_seed(0), truncation=psi)
    assert cut.abs().max() <= psi
    inside = plain.abs() <= psi
    assert torch.equal(cut[inside], plain[inside])
    # E|Z| of N(0, 1) restricted to [−ψ, ψ]: √(2/π)(1 − e^(−ψ²/2)) / erf(ψ/√2).
    expected = math.sqrt(2 / math.pi) * (1 - math.exp(-(psi**2) / 2)) / math.erf(psi / math.sqrt(2))
    assert cut.abs().mean().item() == pytest.approx(expected, rel=0.01)


# ---------------------------------------------------------------- nearest training images


def test_each_sample_finds_its_exact_nearest_training_images():
    training = torch.zeros(6, 1, 4, 4, dtype=torch.uint8)
    training[:, 0, 0, 0] = torch.tensor([50, 10, 30, 30, 90, 0], dtype=torch.uint8)
    queries = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    queries[:, 0, 0, 0] = torch.tensor([31, 2], dtype=torch.uint8)
    first_pixel = lambda images: images[:, 0, 0, :1].double()  # noqa: E731  (features: the first pixel)
    neighbours, indices, distances = nearest_training_images(queries, training, first_pixel, k=3)
    assert indices.tolist() == [[2, 3, 0], [5, 1, 2]]  # ties to the lower index
    assert distances.tolist() == [[1, 1, 19], [2, 8, 28]]
    assert torch.equal(neighbours[1, 0], training[5])
    rows = beside(queries, neighbours)
    assert rows.shape == (2, 4, 1, 4, 4) and torch.equal(rows[:, 0], queries)


# ---------------------------------------------------------------- files


def rows_of(count=3, steps=4, size=6, channels=1) -> torch.Tensor:
    return (
        torch.arange(count * steps * channels * size * size, dtype=torch.int64)
        .remainder(256)
        .to(torch.uint8)
        .view(count, steps, channels, size, size)
    )


def test_a_png_strip_is_one_row_per_walk_with_a_gap_after_the_marked_column(tmp_path):
    rows = rows_of()
    strips.write_rows(rows, tmp_path / "strip.png", gap_after=0)
    pixels = np.asarray(Image.open(tmp_path / "strip.png"))
    pad, gap = strips.PAD, strips.GAP
    assert pixels.shape == (pad + 3 * (6 + pad), pad + 4 * (6 + pad) + gap - pad)
    np.testing.assert_array_equal(pixels[pad : pad + 6, pad : pad + 6], rows[0, 0, 0].numpy())
    left = pad + 6 + gap  # column 1 starts after the wider gap
    np.testing.assert_array_equal(pixels[pad : pad + 6, left : left + 6], rows[0, 1, 0].numpy())


def test_a_gif_plays_the_columns_forward_and_back(tmp_path):
    strips.write_rows(rows_of(steps=4), tmp_path / "walk.gif")
    with Image.open(tmp_path / "walk.gif") as gif:
        assert gif.n_frames == 4 + 2  # 0 1 2 3, then 2 1 back to the start, looping
        assert min(gif.size) >= strips.MIN_FRAME_SIDE and gif.info["loop"] == 0


def test_an_mp4_has_the_frames_of_the_gif(tmp_path):
    import av

    strips.write_rows(rows_of(steps=4, channels=3), tmp_path / "walk.mp4")
    with av.open(str(tmp_path / "walk.mp4")) as video:
        frames = list(video.decode(video=0))
    assert len(frames) == 6 and frames[0].width % 2 == 0 and frames[0].height % 2 == 0


# ---------------------------------------------------------------- python -m ganrun.sample


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny checkpoint of a labelled data set (separable tiny MNIST, whose classifier learns in a second)."""
    from helpers.checkpoints import write_checkpoint
    from helpers.tiny_data import write_separable_mnist

    folder = tmp_path_factory.mktemp("pictures")
    return write_checkpoint(folder / "run", write_separable_mnist(folder / "mnist", n=200), ema=True)


def test_sample_writes_a_walk_as_a_strip_and_a_gif(checkpoint, tmp_path, capsys):
    from ganrun.sample import main

    common = [str(checkpoint), "--interpolate", "3", "--steps", "4", "--device", "cpu"]
    main([*common, "--out", str(tmp_path / "walk.png")])
    main([*common, "--out", str(tmp_path / "walk.gif"), "--truncation", "0.5"])
    tile = 28 + strips.PAD
    assert Image.open(tmp_path / "walk.png").size == (strips.PAD + 4 * tile, strips.PAD + 2 * tile)
    assert Image.open(tmp_path / "walk.gif").n_frames == 4 + 2
    assert capsys.readouterr().out.splitlines()[0] == f"wrote 2 walks of 4 images to {tmp_path / 'walk.png'}"


def test_sample_puts_each_sample_beside_its_nearest_training_images(checkpoint, tmp_path, monkeypatch):
    from ganrun.build import build_dataset
    from ganrun.sample import main

    monkeypatch.setenv("GANRUN_CACHE", str(tmp_path / "cache"))
    main([str(checkpoint), "--nearest", "2", "--num", "3", "--out", str(tmp_path / "nearest.png"), "--device", "cpu"])
    pixels = np.asarray(Image.open(tmp_path / "nearest.png"))
    pad, gap = strips.PAD, strips.GAP
    assert pixels.shape == (pad + 3 * (28 + pad), pad + 3 * (28 + pad) + gap - pad)
    training = build_dataset(torch.load(checkpoint, weights_only=True)["config"]["dataset"]).images[:, 0].numpy()
    for row in range(3):
        top = pad + row * (28 + pad)
        for column in (1, 2):  # the neighbours are training images, pixel for pixel
            left = pad + column * (28 + pad) + gap - pad
            tile = pixels[top : top + 28, left : left + 28]
            assert (training == tile).all(axis=(1, 2)).any()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--interpolate", "1", "--out", "w.gif"], "--interpolate needs K >= 2 noise points"),
        (["--interpolate", "3", "--out", "w.npz"], "--interpolate writes a .png strip, a .gif or an .mp4, not w.npz"),
        (["--nearest", "2", "--out", "n.gif"], "--nearest writes a .png, not n.gif"),
        (["--out", "w.gif"], "--out w.gif: a movie is a walk; add --interpolate K"),
        (["--truncation", "0", "--out", "g.png"], "--truncation must be > 0, got 0.0"),
        (["--interpolate", "3", "--nearest", "2", "--out", "x.png"], "--interpolate and --nearest are two pictures"),
    ],
)
def test_sample_refuses_pictures_it_cannot_make(args, message, capsys):
    from ganrun.sample import parse_args

    with pytest.raises(SystemExit) as exit:
        parse_args(["ckpt.pt", *args])
    assert exit.value.code == 2 and message in capsys.readouterr().err
