"""Loading saved weights into a network, with a one-line error that lists what does not match; the weights that fit
another network (fine-tuning); an id of a checkpoint's weights."""

import hashlib

import torch

from ganrun.base.errors import UsageError


def mismatches(own: dict, weights: dict) -> dict[str, list[str]]:
    """The names of `own` (a state dict) missing from `weights`, those of `weights` it does not have, and those
    both have in another shape."""
    return {
        "missing": sorted(set(own) - set(weights)),
        "unexpected": sorted(set(weights) - set(own)),
        "different shape": sorted(k for k in set(own) & set(weights) if own[k].shape != weights[k].shape),
    }


def listed(found: dict[str, list[str]], limit: int = 4) -> str:
    """mismatches() in one line: the kind and the first few names of each."""
    shown = {label: ", ".join(keys[:limit]) + (" …" if len(keys) > limit else "") for label, keys in found.items()}
    return "; ".join(f"{label}: {names}" for label, names in shown.items() if names)


def load_weights(module: torch.nn.Module, weights: dict, what: str) -> None:
    """load_state_dict with a one-line UsageError listing the keys that do not match."""
    found = mismatches(module.state_dict(), weights)
    if any(found.values()):
        raise UsageError(
            f"the checkpoint's {what} does not match this model config ({listed(found)}); "
            "resume with the settings the checkpoint was trained with"
        )
    module.load_state_dict(weights)


def fitting(own: dict, weights: dict) -> dict:
    """`own` (a state dict) with every entry that `weights` has in the same shape taken from `weights`."""
    return {k: weights[k] if k in weights and weights[k].shape == v.shape else v for k, v in own.items()}


def weights_id(*state_dicts: dict | None) -> str:
    """A short hash of state dicts' names, dtypes, shapes and values: the same weights give the same id anywhere."""
    digest = hashlib.sha256()
    for state in state_dicts:
        for name, tensor in sorted((state or {}).items()):
            value = tensor.detach().cpu().contiguous()
            digest.update(f"{name}{value.dtype}{tuple(value.shape)}".encode())
            digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:12]
