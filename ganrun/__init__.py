"""ganrun: a Hydra-configured runner for GAN experiments on PyTorch."""

__version__ = "0.1.0"
