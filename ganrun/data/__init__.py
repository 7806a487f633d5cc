"""Data sets as one uint8 N×C×H×W tensor (decoded once, cached as .npy) with their class labels where the data set
has them, and an on-device batch sampler.

The loaders below are the dataset group's Hydra targets (`ganrun.data.mnist` …); each reader is a module here.
"""

from ganrun.data.bank import ImageBank
from ganrun.data.cifar import cifar10
from ganrun.data.files import DatasetError, ImageSet
from ganrun.data.folder import image_folder
from ganrun.data.idx import fashion_mnist, mnist

__all__ = ["DatasetError", "ImageBank", "ImageSet", "cifar10", "fashion_mnist", "image_folder", "mnist"]
