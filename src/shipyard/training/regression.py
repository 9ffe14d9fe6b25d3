"""Pieces that make the network a regressor: target standardisation, losses, the RMSE metric.

The network is trained on the standardised target ``(y - mean) / std``
(mean and std of the training split only) and wrapped in
:class:`~shipyard.models.wrappers.Rescale` afterwards, so evaluation, the ONNX
bundle and serving all see values in the target's own units.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn


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


def rmse_in_units(std: float) -> Callable[[torch.Tensor, torch.Tensor], float]:
    """The per-epoch RMSE in the target's units, from outputs and targets in standardised units.

    Parameters
    ----------
    std : float
        Standard deviation of the training target (the standardisation scale).

    Returns
    -------
    callable
        ``(output (batch, 1), target (batch,)) -> float``, the RMSE times ``std``.
    """

    def rmse(output: torch.Tensor, target: torch.Tensor) -> float:
        return float(torch.sqrt(torch.mean((output.reshape(-1) - target.reshape(-1)) ** 2))) * std

    return rmse


def target_scale(y_train: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation (1.0 when the target is constant) of the training target."""
    std = float(np.std(y_train))
    return float(np.mean(y_train)), std if std > 0 else 1.0
