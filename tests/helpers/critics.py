"""Critics with known gradients, for closed-form checks of losses and penalties."""

import torch
from torch import nn


class Linear(nn.Module):
    """D(x) = w·flatten(x): its input gradient is w at every point."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w.flatten().clone())

    def forward(self, x):
        return (x.flatten(1) @ self.w).unsqueeze(1)
