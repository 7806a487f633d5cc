"""Scheduled values where a CUDA graph reads them: device tensors that the captured step reads, filled in place by
training/schedules.py before each step (and so before each replay). A learning rate goes into the optimizer's
group as a tensor (PyTorch's fused Adam takes one); a scheduled β₂ makes the run's Adam a GraphAdam
(training/optimizers.py), whose step reads its betas from tensors; R1/R2's weight (γ/2)·every becomes a tensor the
penalty multiplies by; ADA's p is a tensor already; the EMA's half-life is read on the host, where the average is
updated after each replay."""

from __future__ import annotations

import functools

import torch

from ganrun.training.optimizers import GraphAdam

ROLES = (("optim.generator", "opt_g"), ("optim.critic", "opt_d"))


def on_device(value, device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A value as a float32 tensor on `device` (a tensor already: itself)."""
    return value if torch.is_tensor(value) else torch.tensor(float(value), dtype=dtype, device=device)


@functools.cache
def lr_dtype(device: torch.device) -> torch.dtype:
    """The dtype of a tensor learning rate that PyTorch's fused Adam reads as the number it is: float64 where its
    kernel takes one (then a graphed step is the eager step, bit for bit), else float32 (the learning rates a graph
    reads are rounded to float32; docs/scaling.md)."""
    param = torch.zeros(1, device=device, requires_grad=True)
    param.grad = torch.ones(1, device=device)
    try:
        torch.optim.Adam([param], lr=torch.tensor(1e-3, dtype=torch.float64, device=device), fused=True).step()
    except (RuntimeError, TypeError):
        return torch.float32
    return torch.float64


def to_device_values(parts) -> None:
    """Put each scheduled value of `parts` where a captured step reads it from the device (idempotent)."""
    scheduled = parts.schedules.schedules
    for key, name in ROLES:
        optimizer = getattr(parts, name)
        lr, beta2 = f"{key}.lr" in scheduled, f"{key}.betas.1" in scheduled
        if not (lr or beta2):
            continue
        params = [p for group in optimizer.param_groups for p in group["params"]]
        device = params[0].device
        for group in optimizer.param_groups:
            group["lr"] = on_device(group["lr"], device, lr_dtype(device))
            if beta2:
                group["betas"] = tuple(on_device(beta, device) for beta in group["betas"])
        if beta2 and isinstance(optimizer, torch.optim.Adam):
            optimizer.__class__ = GraphAdam  # the same optimizer and state, its step reading the tensors
            for param in params:  # the step counts where the step reads them (a resumed run's come from the CPU)
                state = optimizer.state[param]
                if "step" in state:
                    state["step"] = torch.as_tensor(state["step"]).to(device, torch.float32)
    if "regularizer.gamma" in scheduled:
        parts.objective.regularizer.weight_to_device(parts.fixed_noise.device)


def as_numbers(state: dict) -> dict:
    """An optimizer's state dict with its learning rate and betas as numbers (a checkpoint resumes without graphs,
    on any device)."""
    plain = lambda value: float(value) if torch.is_tensor(value) else value  # noqa: E731
    groups = [
        {**g, "lr": plain(g["lr"]), **({"betas": tuple(plain(b) for b in g["betas"])} if "betas" in g else {})}
        for g in state["param_groups"]
    ]
    return {**state, "param_groups": groups}
