"""Classification losses (class-weighted cross-entropy, focal loss) and the per-epoch metrics (accuracy, balanced accuracy)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class FocalLoss(nn.Module):
    """Focal loss, ``-alpha_y (1 - p_y)^gamma log p_y``, averaged over rows (Lin et al. 2017).

    Parameters
    ----------
    gamma : float
        Focusing parameter; 0 gives (weighted) cross-entropy.
    weight : Tensor of shape (n_classes,), optional
        Per-class weights ``alpha``.
    """

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.gamma = gamma
        self.register_buffer("weight", weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean focal loss of logits (batch, n_classes) against class indices (batch,)."""
        log_p = F.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)  # (batch,)
        loss = -((1 - log_p.exp()) ** self.gamma) * log_p
        if self.weight is not None:
            w = self.weight[target]
            return (loss * w).sum() / w.sum()
        return loss.mean()


def balanced_class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """``n_rows / (n_classes * count_c)`` per class, as scikit-learn's ``class_weight="balanced"``.

    Parameters
    ----------
    y : ndarray of shape (n_rows,)
        Class indices of the rows the network is fitted on.
    n_classes : int

    Returns
    -------
    ndarray of shape (n_classes,)
        Classes absent from ``y`` get weight 0.
    """
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = len(y) / (present.sum() * counts[present])
    return weights


def build_loss(loss: str, class_weight: str, y_fit: np.ndarray, n_classes: int, gamma: float = 2.0) -> nn.Module:
    """The training loss a recipe's ``imbalance`` section asks for.

    Parameters
    ----------
    loss : {"cross_entropy", "focal"}
    class_weight : {"none", "balanced"}
    y_fit : ndarray of shape (n_rows,)
        Class indices of the rows the network is fitted on (after resampling).
    n_classes : int
    gamma : float
        Focal-loss focusing parameter.

    Returns
    -------
    nn.Module
        Maps (logits (batch, n_classes), targets (batch,)) to a scalar.
    """
    weight = None
    if class_weight == "balanced":
        weight = torch.tensor(balanced_class_weights(y_fit, n_classes), dtype=torch.float32)
    if loss == "focal":
        return FocalLoss(gamma, weight)
    return nn.CrossEntropyLoss(weight=weight)


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows whose arg-max logit is the true class.

    Parameters
    ----------
    logits : Tensor of shape (n_rows, n_classes)
    y : Tensor of shape (n_rows,)
        Class indices.
    """
    return float((logits.argmax(dim=1) == y).float().mean())


def balanced_accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Mean over the classes present in ``y`` of their recall (arg-max decisions).

    Parameters
    ----------
    logits : Tensor of shape (n_rows, n_classes)
    y : Tensor of shape (n_rows,)
        Class indices.
    """
    pred = logits.argmax(dim=1)
    recalls = [float((pred[y == c] == c).float().mean()) for c in torch.unique(y)]
    return sum(recalls) / len(recalls)
