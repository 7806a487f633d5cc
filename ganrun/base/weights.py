"""Loading saved weights into a network, with a one-line error that lists what does not match."""

import torch

from ganrun.base.errors import UsageError


def load_weights(module: torch.nn.Module, weights: dict, what: str) -> None:
    """load_state_dict with a one-line UsageError listing the keys that do not match."""
    own = module.state_dict()
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    reshaped = sorted(k for k in set(own) & set(weights) if own[k].shape != weights[k].shape)
    if missing or unexpected or reshaped:
        listed = "; ".join(
            f"{label}: {', '.join(keys[:4])}{' …' if len(keys) > 4 else ''}"
            for label, keys in [("missing", missing), ("unexpected", unexpected), ("different shape", reshaped)]
            if keys
        )
        raise UsageError(
            f"the checkpoint's {what} does not match this model config ({listed}); "
            "resume with the settings the checkpoint was trained with"
        )
    module.load_state_dict(weights)
