"""Data sets as one uint8 N×C×H×W tensor (decoded once, cached as .npy) and an on-device batch sampler.

The loaders below are the dataset group's Hydra targets (`ganrun.data.mnist` …); each reader is a module here.
"""

from ganrun.data.bank import ImageBank
from ganrun.data.cifar import cifar10
from ganrun.data.files import DatasetError
from ganrun.data.folder import image_folder
from ganrun.data.idx import fashion_mnist, mnist

__all__ = ["DatasetError", "ImageBank", "cifar10", "fashion_mnist", "image_folder", "mnist"]
