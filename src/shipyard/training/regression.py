"""Pieces that make the classifier pipeline a regressor: target standardisation, losses, the RMSE metric.

The network is trained on the standardised target ``(y - mean) / std``
(mean and std of the training split only) and wrapped in :class:`Rescale`
afterwards, so evaluation, the ONNX bundle and serving all see values in the
target's own units.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class Rescale(nn.Module):
    """Map the network's standardised output back to target units: ``out * std + mean``.

    Parameters
    ----------
    model : nn.Module
        Maps (batch, n_features) to standardised values (batch, 1).
    mean, std : float
        Of the training split's target.
    """

    def __init__(self, model: nn.Module, mean: float, std: float) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(float(mean), dtype=torch.float32))
        self.register_buffer("std", torch.tensor(float(std), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Values (batch, 1) in target units."""
        return self.model(x) * self.std + self.mean


class SqueezedLoss(nn.Module):
    """A regression loss on outputs of shape (batch, 1) and targets of shape (batch,).

    Parameters
    ----------
    kind : {"mse", "huber"}
        ``nn.MSELoss`` or ``nn.HuberLoss`` (delta 1.0 in standardised units,
        i.e. one standard deviation of the target).
    """

    def __init__(self, kind: str = "mse") -> None:
        super().__init__()
        self.base = nn.HuberLoss(delta=1.0) if kind == "huber" else nn.MSELoss()

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean loss over the batch."""
        return self.base(output.reshape(-1), target.reshape(-1).to(output.dtype))


def rmse(output: torch.Tensor, target: torch.Tensor) -> float:
    """Root mean squared error of outputs (batch, 1) against targets (batch,), in standardised units."""
    return float(torch.sqrt(torch.mean((output.reshape(-1) - target.reshape(-1)) ** 2)))


def target_scale(y_train: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation (1.0 when the target is constant) of the training target."""
    std = float(np.std(y_train))
    return float(np.mean(y_train)), std if std > 0 else 1.0
