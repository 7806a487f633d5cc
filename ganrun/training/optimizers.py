"""The optimizers `optim.generator` and `optim.critic` build: each config node's `name` (adam | rmsprop) picks one of
these as its `_target_`, and Hydra builds it with `_partial_` (ganrun/build.py hands over the parameters)."""

import torch


def adam(params, lr: float, betas=(0.5, 0.999), device: torch.device | None = None) -> torch.optim.Adam:
    """Adam; fused on a GPU (one kernel for every parameter)."""
    betas = tuple(float(beta) for beta in betas)  # a config's 0 is an int, which Adam takes for neither kind
    return torch.optim.Adam(params, lr=float(lr), betas=betas, fused=device is not None and device.type == "cuda")


def rmsprop(params, lr: float, betas=None, device: torch.device | None = None) -> torch.optim.RMSprop:
    """RMSprop (WGAN's, with weight clipping). `betas` is Adam's: a node switched to rmsprop by its name alone
    (optim.critic.name=rmsprop) still carries the default Adam's, which RMSprop has no use for."""
    return torch.optim.RMSprop(params, lr=float(lr))
