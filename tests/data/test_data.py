"""Spec of ganrun.data's readers: loaders in the real on-disk formats and the packed .npy cache (the batch sources:
tests/data/test_tiers.py)."""

import gzip
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch.testing import assert_close

from ganrun.data import DatasetError, cifar, cifar10, fashion_mnist, folder, idx, image_folder, mnist
from helpers.tiny_data import (
    cifar_images,
    pattern,
    write_cifar10,
    write_debian_fashion,
    write_idx_images,
    write_image_folder,
    write_mnist,
)

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    """Every test gets its own empty cache."""
    monkeypatch.setenv("GANRUN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def no_decoding(monkeypatch):
    """Make every decoder fail, so only the cache can answer."""

    def fail(*args, **kwargs):
        raise AssertionError("decoded again instead of reading the cache")

    for module, name in ((idx, "read_idx"), (cifar, "read_cifar_batches"), (folder, "decode_image")):
        monkeypatch.setattr(module, name, fail)


def assert_one_line(error, *parts):
    message = str(error.value)
    assert "\n" not in message
    for part in parts:
        assert str(part) in message


# ---------------------------------------------------------------- MNIST / Fashion-MNIST (idx)


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_torchvision_layout_keeps_exact_train_pixels(tmp_path, gz):
    x = mnist(root=str(write_mnist(tmp_path, n=10, gz=gz)), download=False).images
    assert x.dtype == torch.uint8 and x.device.type == "cpu"
    assert x.shape == (10, 1, 28, 28)  # the 5 t10k images are not used
    assert_close(x, torch.from_numpy(pattern(10, 28, seed=10)))


def test_fashion_mnist_debian_layout(tmp_path):
    x = fashion_mnist(root=str(write_debian_fashion(tmp_path, n=12)), download=False).images
    assert_close(x, torch.from_numpy(pattern(12, 28, seed=12)))


def test_fashion_mnist_torchvision_layout(tmp_path):
    root = write_mnist(tmp_path, n=8, folder_name="FashionMNIST")
    assert_close(fashion_mnist(root=str(root), download=False).images, torch.from_numpy(pattern(8, 28, seed=8)))


def test_idx_header_is_big_endian_and_native_size_is_read_from_it(tmp_path):
    path = write_idx_images(tmp_path / "raw", n=3, size=20, gz=False)
    assert path.read_bytes()[:16] == bytes.fromhex("00000803000000030000001400000014")
    x = mnist(root=str(tmp_path / "raw"), download=False, image_size=20).images
    assert_close(x, torch.from_numpy(pattern(3, 20, seed=3)))


def test_truncated_idx_file_is_a_clear_error(tmp_path):
    path = write_idx_images(tmp_path, n=4, gz=False)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetError, match="truncated") as error:
        mnist(root=str(tmp_path), download=False)
    assert_one_line(error, path)


def test_truncated_gzip_is_a_clear_error(tmp_path):
    path = write_idx_images(tmp_path, n=4, gz=True)
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(DatasetError, match="damaged") as error:
        mnist(root=str(tmp_path), download=False)
    assert_one_line(error, path)


def test_wrong_magic_number_is_rejected(tmp_path):
    path = write_idx_images(tmp_path, n=4, gz=False)
    path.write_bytes(bytes.fromhex("00000801") + path.read_bytes()[4:])
    with pytest.raises(DatasetError, match="magic number"):
        mnist(root=str(tmp_path), download=False)


def test_missing_mnist_names_the_files_and_both_fixes(tmp_path):
    with pytest.raises(DatasetError) as error:
        mnist(root=str(tmp_path), download=False)
    assert_one_line(
        error, "train-images-idx3-ubyte", tmp_path / "MNIST" / "raw", tmp_path, "dataset.download=true", "dataset.root="
    )


def test_failed_download_is_a_dataset_error(tmp_path, monkeypatch):
    def offline(root, train, download):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\n<urlopen error no network>")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    with pytest.raises(DatasetError, match="download failed") as error:
        fashion_mnist(root=str(tmp_path), download=True)
    assert_one_line(error, "no network", tmp_path / "FashionMNIST" / "raw", "dataset.download=true", "dataset.root=")


def test_download_puts_files_where_they_are_then_read(tmp_path, monkeypatch):
    calls = []

    def fake_download(root, train, download):
        calls.append((root, train, download))
        write_mnist(Path(root), n=5)

    monkeypatch.setattr(torchvision.datasets, "MNIST", fake_download)
    x = mnist(root=str(tmp_path), download=True).images
    assert calls == [(str(tmp_path), True, True)]
    assert_close(x, torch.from_numpy(pattern(5, 28, seed=5)))


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="Debian package dataset-fashion-mnist is not installed")
def test_real_debian_fashion_mnist():
    x = fashion_mnist(root=str(DEBIAN_FASHION), download=False).images
    assert x.shape == (60000, 1, 28, 28) and x.dtype == torch.uint8
    with gzip.open(DEBIAN_FASHION / "train-images-idx3-ubyte.gz") as f:
        f.seek(16 + 28 * 28 * 59999)  # the last image, read independently
        last = np.frombuffer(f.read(), np.uint8).reshape(28, 28)
    assert_close(x[-1, 0], torch.from_numpy(last.copy()))


# ---------------------------------------------------------------- resizing and channels


def test_resize_and_channel_replication(tmp_path):
    root = str(write_mnist(tmp_path, n=4))
    x = mnist(root=root, download=False, image_size=64, channels=3).images
    assert x.shape == (4, 3, 64, 64) and x.dtype == torch.uint8
    assert_close(x[:, 1], x[:, 0])
    assert_close(x[:, 2], x[:, 0])
    assert mnist(root=root, download=False, image_size=16).images.shape == (4, 1, 16, 16)


def test_rgb_to_luminance_matches_pil(tmp_path):
    root = str(write_cifar10(tmp_path, per_class=1))
    rgb = cifar10(root=root, download=False, classes=[3]).images
    gray = cifar10(root=root, download=False, classes=[3], channels=1).images
    expected = [np.asarray(Image.fromarray(image.permute(1, 2, 0).numpy()).convert("L")) for image in rgb]
    assert gray.shape == (6, 1, 32, 32)
    assert_close(gray[:, 0], torch.from_numpy(np.stack(expected)))


@pytest.mark.parametrize(
    "kwargs, match", [({"channels": 2}, "dataset.channels=2"), ({"image_size": 0}, "dataset.image_size=0")]
)
def test_bad_shape_options_are_rejected(tmp_path, kwargs, match):
    with pytest.raises(DatasetError, match=match):
        mnist(root=str(write_mnist(tmp_path, n=2)), download=False, **kwargs)


# ---------------------------------------------------------------- CIFAR-10


def test_cifar_selects_the_class_from_all_six_batches(tmp_path):
    x = cifar10(root=str(write_cifar10(tmp_path, per_class=4)), download=False).images
    images, labels = cifar_images(per_class=4)
    assert x.shape == (24, 3, 32, 32) and x.dtype == torch.uint8  # 4 horses in each of the 6 batches
    assert_close(x, torch.from_numpy(images[labels == 7]))


def test_cifar_rows_are_channel_major(tmp_path):
    root = write_cifar10(tmp_path, per_class=1)
    batch = pickle.loads((root / "cifar-10-batches-py" / "test_batch").read_bytes(), encoding="bytes")
    row = batch[b"data"][batch[b"labels"].index(7)]
    last = cifar10(root=str(root), download=False).images[-1]  # the horse of test_batch comes last
    for c, y, x in [(0, 0, 1), (1, 0, 0), (2, 5, 7), (2, 31, 31)]:
        assert last[c, y, x].item() == row[c * 1024 + y * 32 + x]


def test_cifar_several_classes_and_resize(tmp_path):
    x = cifar10(root=str(write_cifar10(tmp_path, per_class=2)), download=False, classes=[0, 9], image_size=16).images
    assert x.shape == (24, 3, 16, 16)


@pytest.mark.parametrize("classes", [[10], [-1], [], ["7"], [7.0], [True], "7"])
def test_cifar_classes_are_validated(tmp_path, classes):
    with pytest.raises(DatasetError, match="dataset.classes"):
        cifar10(root=str(write_cifar10(tmp_path, per_class=1)), download=False, classes=classes)


def test_cifar_empty_selection_is_an_error(tmp_path):
    root = write_cifar10(tmp_path, per_class=1)
    for path in (root / "cifar-10-batches-py").glob("*_batch*"):
        batch = pickle.loads(path.read_bytes(), encoding="bytes")
        batch[b"labels"] = [0] * len(batch[b"labels"])
        path.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DatasetError, match=r"no CIFAR-10 images with labels \[7\]"):
        cifar10(root=str(root), download=False)


def test_missing_cifar_names_the_folder_and_both_fixes(tmp_path):
    root = write_cifar10(tmp_path, per_class=1)
    (root / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DatasetError) as error:
        cifar10(root=str(root), download=False)
    assert_one_line(error, "data_batch_3", root / "cifar-10-batches-py", "dataset.download=true", "dataset.root=")


# ---------------------------------------------------------------- image folders


def test_image_folder_recursive_skips_broken_files_with_one_warning(tmp_path):
    root = write_image_folder(tmp_path / "faces", n=6, size=40, broken=3)
    with pytest.warns(UserWarning) as record:
        x = image_folder(root=str(root), image_size=40).images
    assert [str(w.message) for w in record] == [f"skipped 3 unreadable image files under {root}"]
    assert x.shape == (6, 3, 40, 40) and x.dtype == torch.uint8
    # images come in sorted path order; the PNGs are lossless and already square, so exact
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("img*"))
    expected = pattern(6, 40, channels=3)
    for position, name in enumerate(names):
        if name.lower().endswith(".png"):
            assert_close(x[position], torch.from_numpy(expected[int(Path(name).stem[3:])]))


def test_image_folder_resize_crop_and_grayscale(tmp_path):
    root = str(write_image_folder(tmp_path, n=4, size=40, broken=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing broken, so no warning
        assert image_folder(root=root, image_size=24).images.shape == (4, 3, 24, 24)
        assert image_folder(root=root, image_size=64, channels=1).images.shape == (4, 1, 64, 64)


def test_image_folder_missing_or_empty(tmp_path):
    with pytest.raises(DatasetError, match="does not exist") as error:
        image_folder(root=str(tmp_path / "nowhere"))
    assert_one_line(error, tmp_path / "nowhere", "dataset.root=")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "readme.txt").write_text("no images here")
    with pytest.raises(DatasetError, match="no image files") as error:
        image_folder(root=str(tmp_path / "empty"))
    assert_one_line(error, tmp_path / "empty")


def test_image_folder_of_only_broken_files(tmp_path):
    write_image_folder(tmp_path, n=0, broken=2)
    with pytest.warns(UserWarning, match="skipped 2"), pytest.raises(DatasetError, match="could be read"):
        image_folder(root=str(tmp_path))


def test_image_folder_has_no_download(tmp_path):
    with pytest.raises(DatasetError, match="no automatic download") as error:
        image_folder(root=str(write_image_folder(tmp_path)), download=True)
    assert_one_line(error, "README", "dataset.download=false")


# ---------------------------------------------------------------- cache


def test_second_load_reads_the_cache(tmp_path, monkeypatch, cache_dir):
    mnist_root, cifar_root = str(write_mnist(tmp_path / "m", n=6)), str(write_cifar10(tmp_path / "c", per_class=1))
    folder_root = str(write_image_folder(tmp_path / "f", broken=0))
    first = [
        mnist(root=mnist_root, download=False).images,
        cifar10(root=cifar_root, download=False).images,
        image_folder(root=folder_root, image_size=32).images,
    ]
    # MNIST's and the folder's images, CIFAR-10's images and labels (MNIST's labels are read from their idx file)
    assert len(list(cache_dir.glob("*.npy"))) == 4 and not list(cache_dir.glob("*.tmp"))
    no_decoding(monkeypatch)
    second = [
        mnist(root=mnist_root, download=False).images,
        cifar10(root=cifar_root, download=False).images,
        image_folder(root=folder_root, image_size=32).images,
    ]
    for a, b in zip(first, second):
        assert_close(a, b)


@pytest.mark.parametrize("change", [{"image_size": 14}, "rewritten file"])
def test_idx_cache_is_invalidated_by_size_and_files(tmp_path, monkeypatch, change):
    root = write_mnist(tmp_path, n=6, gz=False)
    mnist(root=str(root), download=False)
    if change == "rewritten file":
        write_mnist(root, n=7, gz=False)
    no_decoding(monkeypatch)
    with pytest.raises(AssertionError, match="decoded again"):
        mnist(root=str(root), download=False, **(change if isinstance(change, dict) else {}))


def test_idx_cache_holds_one_channel_and_serves_three(tmp_path, monkeypatch, cache_dir):
    root = str(write_mnist(tmp_path, n=6))
    gray = mnist(root=root, download=False).images
    no_decoding(monkeypatch)
    assert_close(mnist(root=root, download=False, channels=3).images, gray.expand(-1, 3, -1, -1))
    assert len(list(cache_dir.glob("*.npy"))) == 1


@pytest.mark.parametrize("change", [{"channels": 1}, {"image_size": 16}])
def test_cifar_cache_is_invalidated_by_options(tmp_path, monkeypatch, change):
    root = str(write_cifar10(tmp_path, per_class=1))
    cifar10(root=root, download=False)
    no_decoding(monkeypatch)
    with pytest.raises(AssertionError, match="decoded again"):
        cifar10(root=root, download=False, **change)


def test_cifar_classes_are_picked_from_one_pack_of_all_ten(tmp_path, monkeypatch, cache_dir):
    root = str(write_cifar10(tmp_path, per_class=1))
    horses = cifar10(root=root, download=False).images
    no_decoding(monkeypatch)  # another selection reads rows of the same pack
    two = cifar10(root=root, download=False, classes=[7, 8])
    assert_close(two.images[two.labels == 7], horses)
    assert len(list(cache_dir.glob("*.npy"))) == 2  # the pack and its labels


def test_image_folder_cache_sees_a_new_file(tmp_path):
    root = write_image_folder(tmp_path, n=4, broken=0)
    assert image_folder(root=str(root), image_size=32).images.shape[0] == 4
    write_image_folder(root / "more", n=1, broken=0)
    assert image_folder(root=str(root), image_size=32).images.shape[0] == 5


def test_corrupt_cache_is_rebuilt(tmp_path, cache_dir):
    root = str(write_mnist(tmp_path, n=6))
    expected = mnist(root=root, download=False).images
    (cached,) = cache_dir.glob("*.npy")
    cached.write_bytes(cached.read_bytes()[:200])
    assert_close(mnist(root=root, download=False).images, expected)
    assert_close(torch.from_numpy(np.load(cached)), expected)


# ---------------------------------------------------------------- labels, classes and subsets


def test_idx_labels_come_with_their_images_and_select_classes(tmp_path):
    root = str(write_mnist(tmp_path, n=30))  # tiny_data labels image i with i % 10
    images, labels = mnist(root=root, download=False)
    assert labels.dtype == torch.int64 and labels.tolist() == [i % 10 for i in range(30)]
    picked = mnist(root=root, download=False, classes=[7, 2])
    assert picked.labels.tolist() == [2, 7, 2, 7, 2, 7]
    assert_close(picked.images, images[torch.tensor([2, 7, 12, 17, 22, 27])])


def test_idx_without_a_labels_file_has_no_labels_and_refuses_classes(tmp_path):
    root = write_mnist(tmp_path, n=6)
    (root / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz").unlink()
    assert mnist(root=str(root), download=False).labels is None
    with pytest.raises(DatasetError, match="dataset.classes needs the labels file train-labels-idx1-ubyte") as error:
        mnist(root=str(root), download=False, classes=[1])
    assert_one_line(error, "dataset.classes=null")


def test_cifar_labels_and_all_classes(tmp_path):
    root = str(write_cifar10(tmp_path, per_class=1))
    everything = cifar10(root=root, download=False, classes=None)
    images, labels = cifar_images(per_class=1)
    assert everything.labels.tolist() == labels.tolist() and len(everything.images) == 60
    assert cifar10(root=root, download=False, classes=[3, 5]).labels.tolist() == [3, 5] * 6
    assert image_folder(root=str(write_image_folder(tmp_path / "f", broken=0)), image_size=32).labels is None


def test_limit_takes_a_seeded_subset_with_its_labels(tmp_path):
    from ganrun.build import build_dataset

    cfg = {"_target_": "ganrun.data.mnist", "root": str(write_mnist(tmp_path, n=40)), "download": False}
    whole = build_dataset(cfg)
    subset = build_dataset({**cfg, "limit": 12, "limit_seed": 3})
    assert len(subset.images) == 12 and len(whole.images) == 40
    # Each kept image keeps its own label, in file order, and the same seed picks the same images.
    kept = [int(torch.nonzero((whole.images == image).flatten(1).all(1))[0]) for image in subset.images]
    assert kept == sorted(kept) and subset.labels.tolist() == [whole.labels[k].item() for k in kept]
    assert_close(build_dataset({**cfg, "limit": 12, "limit_seed": 3}).images, subset.images)
    assert not torch.equal(build_dataset({**cfg, "limit": 12, "limit_seed": 4}).images, subset.images)
    assert len(build_dataset({**cfg, "limit": 12}, subset=False).images) == 40  # what the metrics compare with
    assert len(build_dataset({**cfg, "limit": 100}).images) == 40  # more than there are: all of them
    with pytest.raises(DatasetError, match=r"dataset.limit=0 must be null \(all images\) or a positive number"):
        build_dataset({**cfg, "limit": 0})
