"""Which device a run (or a tool) uses: auto picks the first CUDA GPU; a named GPU must exist."""

import os

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


def set_deterministic(enabled: bool) -> None:
    """Deterministic kernels for bit-exact reruns (cuBLAS needs its workspace setting before first use)."""
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.benchmark = not enabled


def training_device(name: str, batch_size: int, world: int, deterministic: bool) -> torch.device:
    """This process's device (`device=`, each rank its own GPU under torchrun), checked against what the run asks
    of it before any data are loaded, with determinism set as train.deterministic says."""
    from ganrun.training import distributed

    if batch_size % world:
        raise UsageError(
            f"train.batch_size={batch_size} does not split over {world} processes; use a multiple of {world}"
        )
    device = distributed.device_for_rank(pick_device(name))
    if device.type == "cuda":
        # A bare "cuda" names the current GPU; set_device wants an index (torch 2.11 raises on a bare "cuda").
        device = torch.device("cuda", torch.cuda.current_device() if device.index is None else device.index)
        torch.cuda.set_device(device)
    set_deterministic(deterministic)
    return device
