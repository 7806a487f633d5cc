"""Data sets packed once into a memory-mappable uint8 cache (with their class labels where the data set has them),
and batch sources that keep them on the device, on the host or stream them from the pack.

The loaders below are the dataset group's Hydra targets (`ganrun.data.mnist` …); each reader is a module here.
"""

from ganrun.data.cifar import cifar10
from ganrun.data.folder import image_folder
from ganrun.data.idx import fashion_mnist, mnist
from ganrun.data.reading import DatasetError, ImageSet
from ganrun.data.tiers import TIERS, BatchSource, DeviceBatches, HostBatches, StreamedBatches

__all__ = [
    "BatchSource",
    "DatasetError",
    "DeviceBatches",
    "HostBatches",
    "ImageSet",
    "StreamedBatches",
    "TIERS",
    "cifar10",
    "fashion_mnist",
    "image_folder",
    "mnist",
]
