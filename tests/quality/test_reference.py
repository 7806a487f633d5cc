"""Spec of the reference splits: which real images `metrics.reference=train|test` means for each data set, and the
name a protocol gives the reference."""

import numpy as np
import pytest
import torch

from ganrun.base.errors import UsageError
from ganrun.quality.reference import held_out_split, reference_images, reference_name, seeded_subset
from helpers.tiny_data import cifar_images, write_cifar10


def test_cifar10_splits_are_its_five_data_batches_and_its_test_batch(tmp_path):
    cfg = {
        "_target_": "ganrun.data.cifar10",
        "root": str(write_cifar10(tmp_path, per_class=2)),
        "download": False,
        "image_size": 32,
        "channels": 3,
        "classes": [7],
    }
    images, labels = cifar_images(per_class=2)  # six batches of 20, in batch order
    horses = images[labels == 7]
    trained_on = lambda: pytest.fail("CIFAR-10's loaders train on all six batches: its splits are read apart")  # noqa: E731
    np.testing.assert_array_equal(reference_images(cfg, "train", trained_on).numpy(), horses[:10])
    np.testing.assert_array_equal(reference_images(cfg, "test", trained_on).numpy(), horses[10:])
    assert reference_name(cfg, torch.from_numpy(horses)) == "cifar10 classes=[7] 3×32×32"


def test_a_folder_of_images_has_only_what_it_trains_on(tmp_path):
    cfg = {"_target_": "ganrun.data.image_folder", "root": str(tmp_path)}
    images = torch.zeros(3, 3, 8, 8, dtype=torch.uint8)
    assert reference_images(cfg, "train", lambda: images) is images
    with pytest.raises(UsageError, match=r"^metrics\.reference=test: dataset=folder has no test split") as e:
        reference_images(cfg, "test", lambda: images)
    assert "\n" not in str(e.value)


def test_the_held_out_split_is_the_other_one():
    assert (held_out_split("train"), held_out_split("test")) == ("test", "train")


def test_a_seeded_subset_reads_only_the_images_it_takes():
    class Indexed:  # a data set that can only be indexed, as a memory-mapped one
        device = torch.device("cpu")

        def __len__(self):
            return 100

        def __getitem__(self, index):
            assert isinstance(index, torch.Tensor) and len(index) == 5  # one read of the five it takes
            return index.view(5, 1, 1, 1).to(torch.uint8)

    expected = torch.randperm(100, generator=torch.Generator().manual_seed(2020))[:5]
    assert torch.equal(seeded_subset(Indexed(), 5, seed=2020).flatten(), expected.to(torch.uint8))
