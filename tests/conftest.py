"""Shared fixtures: tiny data sets in real formats, and random Inception weights. What the tests share besides
fixtures lives in tests/helpers/."""

import copy
import os

import pytest

from helpers.configs import compose_with
from helpers.inception import random_inception_weights
from helpers.tiny_data import write_mnist

# One thread in this process and in every process it starts: the workers of `pytest -n auto` do not oversubscribe
# the cores, and a run computes alike in process, in a subprocess and on any worker.
os.environ["OMP_NUM_THREADS"] = "1"


def pytest_configure(config):
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """A data cache of this session's (of this worker's, under xdist), never the user's ~/.cache: packs and
    classifiers made by one test are reused by the next on the same worker, and workers never share files."""
    previous = os.environ.get("GANRUN_CACHE")
    os.environ["GANRUN_CACHE"] = str(tmp_path_factory.getbasetemp() / "ganrun-cache")
    yield
    if previous is None:
        os.environ.pop("GANRUN_CACHE", None)
    else:
        os.environ["GANRUN_CACHE"] = previous


@pytest.fixture(scope="session")
def config_global():
    """The real config (conf/ with its defaults), composed once per session as `python -m ganrun` composes it."""
    return compose_with()


@pytest.fixture
def config(config_global):
    """A copy of the composed default config, for one test to read or change."""
    return copy.deepcopy(config_global)


@pytest.fixture
def tiny_mnist(tmp_path):
    """A 64-image MNIST in torchvision's layout (ROOT/MNIST/raw/*-ubyte.gz)."""
    return write_mnist(tmp_path / "mnist")


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    """A state-dict file of torch-fidelity's InceptionV3 architecture with random (seeded) weights."""
    return random_inception_weights(tmp_path_factory.mktemp("inception"))


def pytest_addoption(parser):
    parser.addoption(
        "--full",
        action="store_true",
        help="the whole suite, slow tests included (what CI runs; add -n auto to use every core)",
    )


def pytest_collection_modifyitems(config, items):
    """A plain `pytest` deselects the tests marked slow: the fast suite. --full, a -m expression of one's own or
    test files named on the command line (`pytest tests/app/test_slurm.py`) run what they select, slow or not."""
    named = config.args_source == pytest.Config.ArgsSource.ARGS
    if config.getoption("--full") or config.getoption("markexpr") or named:
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]
