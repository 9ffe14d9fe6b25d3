"""A multilayer perceptron that outputs logits."""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}


class MLP(nn.Module):
    """Stack of Linear → activation → Dropout blocks and a final Linear layer.

    Parameters
    ----------
    n_features : int
        Input width.
    n_outputs : int
        Number of logits.
    hidden_sizes : list of int
        Width of each hidden layer; empty gives a linear model.
    dropout : float
        Dropout probability after each hidden activation.
    activation : {"relu", "gelu", "tanh", "silu"}
    """

    def __init__(self, n_features: int, n_outputs: int, hidden_sizes: list[int], dropout: float, activation: str) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden_sizes:
            layers += [nn.Linear(width, size), ACTIVATIONS[activation](), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, n_outputs))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map features (batch, n_features) to logits (batch, n_outputs)."""
        return self.net(x)
