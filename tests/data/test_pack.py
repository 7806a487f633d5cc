"""Spec of the packed cache (ganrun.data.pack) and of packing an image folder into it: a pack is a real .npy file
(numpy reads it, memory-mapped), written block by block and renamed into place only when whole; a packing that
is killed half way continues where it stopped on the next run (and a half-written pack is never read); the key
covers the files and the transform; mixed image modes and sizes become the data set's channels and size."""

import json

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch.testing import assert_close

from ganrun.data import folder, image_folder
from ganrun.data.pack import HEADER, open_pack, pack_path, packed
from helpers.packing import DyingDecoder, Killed
from helpers.tiny_data import pattern


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GANRUN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_pack_is_a_page_aligned_npy_file_that_numpy_reads(cache_dir):
    images = np.asarray(pattern(5, 8, channels=3))
    mapped, labels = packed("demo", ("k",), (3, 8, 8), lambda writer: writer.append(images))
    assert labels is None and isinstance(mapped, np.memmap) and mapped.offset == HEADER
    path = pack_path("demo", ("k",))
    assert_close(torch.from_numpy(np.load(path)), torch.from_numpy(images))  # plain numpy reads it whole
    assert sorted(p.name for p in cache_dir.iterdir()) == [path.name, path.name + ".lock"]


def write_folder(root, n: int, size: int = 20):
    images = pattern(n, size, channels=3).transpose(0, 2, 3, 1)
    for i in range(n):
        (root / f"{i % 3}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(root / f"{i % 3}" / f"img{i:03d}.png")
    return root


def test_a_packing_killed_half_way_continues_where_it_stopped(tmp_path, monkeypatch, cache_dir):
    root = write_folder(tmp_path / "faces", 22)
    whole = image_folder(root=str(root), image_size=16, workers=1).images  # packed in one go, for comparison
    for p in cache_dir.iterdir():
        p.unlink()

    decoder = DyingDecoder(monkeypatch, after=3)
    with pytest.raises(Killed):
        image_folder(root=str(root), image_size=16, workers=1)
    [partial] = cache_dir.glob("*.npy.partial")
    assert not list(cache_dir.glob("*.npy"))  # a half-written pack is never read as a pack
    assert json.loads(partial.with_name(partial.name + ".json").read_text())["inputs"] == 12
    with open(partial, "ab") as f:
        f.write(b"\xff" * 300)  # what a block written after the last record would leave; it is dropped

    decoder.revive()
    assert_close(image_folder(root=str(root), image_size=16, workers=1).images, whole)
    assert sum(decoder.decoded) == 22 - 12  # only the files after the twelve packed before the kill
    assert not list(cache_dir.glob("*.partial*"))


def test_the_key_covers_the_files_and_the_transform(tmp_path, monkeypatch, cache_dir):
    root = write_folder(tmp_path / "faces", 4)
    image_folder(root=str(root), image_size=16)
    image_folder(root=str(root), image_size=12)
    image_folder(root=str(root), image_size=16, channels=1)
    assert len(list(cache_dir.glob("*.npy"))) == 3
    monkeypatch.setattr(folder, "_decode_chunk", lambda *a, **k: pytest.fail("decoded again"))
    assert len(image_folder(root=str(root), image_size=16)) == 4  # the same files and transform: the pack


def write_mixed_folder(root):
    """One file per mode PIL reads in image folders, each of its own size and aspect."""
    rng = np.random.default_rng(0)
    rgb = lambda h, w: rng.integers(0, 256, (h, w, 3), dtype=np.uint8)  # noqa: E731
    root.mkdir(parents=True)
    Image.fromarray(rgb(30, 40)).save(root / "rgb.jpg", quality=95)
    Image.fromarray(rgb(24, 24)[..., 0]).save(root / "gray.png")
    Image.fromarray(np.dstack([rgb(40, 20), rng.integers(0, 256, (40, 20, 1), dtype=np.uint8)])).save(root / "rgba.png")
    Image.fromarray(rgb(18, 36)).convert("P", palette=Image.ADAPTIVE, colors=16).save(root / "palette.png")
    Image.fromarray(rgb(32, 32)).convert("CMYK").save(root / "cmyk.jpg", quality=95)
    Image.fromarray((rng.integers(0, 65536, (20, 28))).astype(np.uint16)).save(root / "deep.png")
    Image.fromarray(rgb(50, 30)).save(root / "wide.webp", lossless=True)
    return root


@pytest.mark.parametrize("channels, mode", [(3, "RGB"), (1, "L")])
def test_mixed_modes_and_sizes_become_the_data_sets_channels_and_size(tmp_path, channels, mode):
    root = write_mixed_folder(tmp_path / "mixed")
    data = image_folder(root=str(root), image_size=16, channels=channels)
    files = sorted(root.iterdir(), key=lambda p: p.name)
    assert data.shape == (len(files), channels, 16, 16)
    for image, path in zip(data.images, files):  # each as PIL converts, resizes and crops it on its own
        with Image.open(path) as reference:
            reference.draft(mode, (16, 16))  # a JPEG decodes at the smallest scale that covers the size
            expected = np.asarray(TF.center_crop(TF.resize(reference.convert(mode), 16), 16))
        assert_close(image, torch.from_numpy(expected.reshape(16, 16, channels).transpose(2, 0, 1).copy()))


def test_a_damaged_pack_is_rebuilt(tmp_path, cache_dir):
    root = write_folder(tmp_path / "faces", 3)
    first = image_folder(root=str(root), image_size=16).images
    [path] = cache_dir.glob("*.npy")
    path.write_bytes(path.read_bytes()[: HEADER + 10])  # cut short (a disk that filled up under another tool)
    assert open_pack(path) is None
    assert_close(image_folder(root=str(root), image_size=16).images, first)
