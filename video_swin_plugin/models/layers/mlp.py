"""The transformer feed-forward block, with the original Video Swin's parameter names."""
from typing import Callable

import torch
from torch import nn


class Mlp(nn.Module):
    """Feed-forward: Linear -> activation -> dropout -> Linear -> dropout.

    x (Tensor[..., dim]) -> Tensor[..., dim].
    """

    def __init__(self, dim: int, hidden_dim: int, *, act_layer: Callable = nn.GELU,
                 drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))
