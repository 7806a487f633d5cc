"""Spec of how messages name a data set: the option a user types, not the loader's module path."""

from ganrun.data.options import dataset_option
from helpers.configs import compose_with


def test_every_dataset_option_is_named_as_typed():
    for option in ("mnist", "fashion_mnist", "cifar10", "folder"):
        assert dataset_option(compose_with(f"dataset={option}").dataset) == f"dataset={option}"
    assert dataset_option(compose_with("dataset=anime_faces").dataset) == "dataset=folder"  # a folder preset
    assert dataset_option({"_target_": "mylab.data.load"}) == "dataset._target_=mylab.data.load"
