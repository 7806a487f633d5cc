"""Which device a run (or a tool) uses: auto picks the first CUDA GPU; a named GPU must exist."""

import torch

from ganrun.base.errors import UsageError


def pick_device(name: str) -> torch.device:
    """auto → the first CUDA GPU if there is one, else the CPU; cuda/cuda:N must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"device={name} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UsageError(f"device={name} but no CUDA GPU is visible here; use device=auto or device=cpu")
        if (device.index or 0) >= count:
            raise UsageError(f"device={name} but only {count} CUDA GPU(s) are visible (cuda:0..cuda:{count - 1})")
    elif device.type != "cpu":
        raise UsageError(f"device={name} is not supported; use auto, cpu, cuda or cuda:N")
    return device


def capturing() -> bool:
    """Whether the current CUDA stream is being captured into a CUDA graph (work is recorded, not run)."""
    return torch.cuda.is_available() and torch.cuda.is_current_stream_capturing()
