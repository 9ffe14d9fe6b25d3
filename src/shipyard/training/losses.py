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


class SoftTargetKL(nn.Module):
    """Hinton et al. 2015's soft-target term: ``T² · KL(softmax(teacher / T) ‖ softmax(student / T))``, mean over rows.

    Multiplying by ``T²`` keeps the gradients' scale independent of the
    temperature ("Distilling the Knowledge in a Neural Network", section 2).

    Parameters
    ----------
    temperature : float
        ``T > 0``; higher values soften both distributions.
    """

    def __init__(self, temperature: float) -> None:
        super().__init__()
        self.temperature = float(temperature)

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """The term for student and teacher logits, both of shape (batch, n_classes)."""
        t = self.temperature
        return F.kl_div(F.log_softmax(student / t, dim=1), F.log_softmax(teacher / t, dim=1), reduction="batchmean", log_target=True) * (t * t)


class DistillationLoss(nn.Module):
    """``alpha · soft(outputs, teacher_outputs) + (1 - alpha) · hard(outputs, targets)`` (Hinton, Vinyals & Dean 2015).

    Used by the trainer with rows that carry the teacher's outputs after the
    targets (``loss(outputs, targets, teacher_outputs)``).

    Parameters
    ----------
    hard : nn.Module
        The task's loss against the true targets (e.g. cross-entropy, with any class weights).
    soft : nn.Module
        The loss against the teacher's outputs (e.g. :class:`SoftTargetKL`, or MSE for values).
    alpha : float
        Weight of the soft term, in [0, 1]; 0 trains on the true targets only.
    """

    def __init__(self, hard: nn.Module, soft: nn.Module, alpha: float) -> None:
        super().__init__()
        self.hard, self.soft, self.alpha = hard, soft, float(alpha)

    def forward(self, output: torch.Tensor, target: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """Scalar loss of a batch: outputs (batch, n_outputs), targets (batch,), teacher outputs (batch, n_outputs)."""
        loss = self.hard(output, target)
        if self.alpha > 0:
            loss = self.alpha * self.soft(output, teacher.to(output.dtype)) + (1 - self.alpha) * loss
        return loss
