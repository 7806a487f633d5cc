"""Spec of the labelled splits the quality classifier learns from: idx and CIFAR-10 files with their labels."""

import gzip

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from ganrun.data import DatasetError
from ganrun.data.labelled import labelled_source
from helpers.tiny_data import cifar_images, pattern, write_cifar10, write_debian_fashion, write_mnist


def source(loader: str, root, download: bool = False):
    return labelled_source({"_target_": f"ganrun.data.{loader}", "root": str(root), "download": download})


def test_mnist_splits_hold_the_exact_pixels_and_labels(tmp_path):
    mnist = source("mnist", write_mnist(tmp_path, n=20))
    images, labels = mnist.split("train")
    assert_close(images, torch.from_numpy(pattern(20, 28, seed=20)))
    assert labels.dtype == torch.int64 and labels.tolist() == [i % 10 for i in range(20)]
    test_images, test_labels = mnist.split("test")
    assert test_images.shape == (10, 1, 28, 28) and test_labels.tolist() == list(range(10))


def test_debian_fashion_layout_and_plain_files(tmp_path):
    fashion = source("fashion_mnist", write_debian_fashion(tmp_path, n=12))
    assert fashion.name == "fashion_mnist"
    assert fashion.split("train")[1].tolist() == [i % 10 for i in range(12)]
    assert len(fashion.files(fashion)) == 4  # train and test, images and labels: the classifier cache's key


def test_cifar_train_is_the_five_batches_and_test_the_sixth_with_every_class(tmp_path):
    cifar = source("cifar10", write_cifar10(tmp_path, per_class=2))
    images, labels = cifar_images(per_class=2)
    train_images, train_labels = cifar.split("train")
    assert_close(train_images, torch.from_numpy(images[:100]))
    assert train_labels.tolist() == labels[:100].tolist()  # all ten classes, whatever dataset.classes says
    test_images, test_labels = cifar.split("test")
    assert_close(test_images, torch.from_numpy(images[100:]))
    assert test_labels.tolist() == labels[100:].tolist()


def test_an_image_folder_has_no_labels():
    assert labelled_source({"_target_": "ganrun.data.image_folder", "root": "anywhere"}) is None


def test_missing_label_file_is_one_line_naming_it(tmp_path):
    root = write_mnist(tmp_path, n=10)
    (root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte\[\.gz\]") as error:
        source("mnist", root).split("test")
    assert "\n" not in str(error.value) and "dataset.root=" in str(error.value)


def test_damaged_label_file_is_one_line(tmp_path):
    root = write_mnist(tmp_path, n=10)
    path = root / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(np.array([0, 0, 8, 1, 0, 0, 0, 9, 1, 2], np.uint8).tobytes()))  # 9 promised, 2 held
    with pytest.raises(DatasetError, match="truncated or damaged: its header promises 9 labels but it holds 2"):
        source("mnist", root).split("train")


def test_images_and_labels_must_agree_in_number(tmp_path):
    root = write_mnist(tmp_path, n=10)
    write_mnist(tmp_path / "other", n=12)
    other = tmp_path / "other" / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz"
    (root / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz").write_bytes(other.read_bytes())
    with pytest.raises(DatasetError, match="holds 10 images but .* 12 labels"):
        source("mnist", root).split("train")
