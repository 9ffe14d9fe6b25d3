"""The tabular ResNet of Gorishniy, Rubachev, Khrulkov & Babenko 2021, "Revisiting Deep Learning Models for Tabular Data".

::

    ResNet: x -> Linear -> Block -> ... -> Block -> Head
    Block:  x + Dropout2(Linear(Dropout1(ReLU(Linear(BatchNorm(x))))))
    Head:   Linear(ReLU(BatchNorm(x)))

as in Section 3.2 of the paper and the authors' package ``rtdl_revisiting_models``.
"""

from __future__ import annotations

import torch
from torch import nn


class ResNetBlock(nn.Module):
    """One residual block: ``x + Dropout(Linear(Dropout(ReLU(Linear(BatchNorm(x))))))``.

    Parameters
    ----------
    d_block : int
        Width of the residual stream (input and output).
    d_hidden : int
        Width inside the block.
    dropout1, dropout2 : float
        Hidden and residual dropout probabilities.
    """

    def __init__(self, d_block: int, d_hidden: int, dropout1: float, dropout2: float) -> None:
        super().__init__()
        self.normalization = nn.BatchNorm1d(d_block)
        self.linear1 = nn.Linear(d_block, d_hidden)
        self.activation = nn.ReLU()
        self.dropout1 = nn.Dropout(dropout1)
        self.linear2 = nn.Linear(d_hidden, d_block)
        self.dropout2 = nn.Dropout(dropout2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (batch, d_block) to (batch, d_block)."""
        z = self.dropout1(self.activation(self.linear1(self.normalization(x))))
        return x + self.dropout2(self.linear2(z))


class ResNet(nn.Module):
    """Tabular ResNet that outputs logits (or one value for regression).

    Parameters
    ----------
    n_features : int
        Input width.
    n_outputs : int
        Number of logits.
    n_blocks : int
        Residual blocks.
    d_block : int
        Width of the residual stream.
    d_hidden_multiplier : float
        Hidden width of each block is ``round(d_block * d_hidden_multiplier)``.
    dropout1, dropout2 : float
        Hidden and residual dropout.
    """

    def __init__(
        self, n_features: int, n_outputs: int, n_blocks: int, d_block: int, d_hidden_multiplier: float, dropout1: float, dropout2: float
    ) -> None:
        super().__init__()
        d_hidden = max(1, int(round(d_block * d_hidden_multiplier)))
        self.input = nn.Linear(n_features, d_block)
        self.blocks = nn.Sequential(*[ResNetBlock(d_block, d_hidden, dropout1, dropout2) for _ in range(n_blocks)])
        self.head = nn.Sequential(nn.BatchNorm1d(d_block), nn.ReLU(), nn.Linear(d_block, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map features (batch, n_features) to logits (batch, n_outputs)."""
        return self.head(self.blocks(self.input(x)))
