"""A small, explicit training loop for classifiers that output logits.

The science (model, loss, metric) is passed in; the engineering (device,
mini-batches, mixed precision, early stopping, progress) lives here once.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from torch import nn

from shipyard.recipe import TrainSpec
from shipyard.training.device import resolve_device

MetricFn = Callable[[torch.Tensor, torch.Tensor], float]


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows whose arg-max logit is the true class.

    Parameters
    ----------
    logits : Tensor of shape (n_rows, n_classes)
    y : Tensor of shape (n_rows,)
        Class indices.
    """
    return float((logits.argmax(dim=1) == y).float().mean())


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes
    ----------
    history : list of dict
        One entry per epoch: ``epoch``, ``train_loss``, ``val_loss``,
        ``train_<metric>``, ``val_<metric>``, ``seconds``.
    best_epoch : int
        Epoch (1-based) whose weights were kept (lowest validation loss).
    stopped_early : bool
        True when early stopping ended training before ``epochs``.
    device : str
        Device the model was trained on.
    seconds : float
        Wall-clock training time in seconds.
    """

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    device: str = "cpu"
    seconds: float = 0.0


class Trainer:
    """Train a network with AdamW on mini-batches, with early stopping on validation loss.

    Parameters
    ----------
    spec : TrainSpec
        The recipe's ``train`` section.
    seed : int
        Seeds mini-batch shuffling (model initialisation is seeded by the caller).
    loss_fn : nn.Module, optional
        Loss on (logits, targets); default ``nn.CrossEntropyLoss()``.
    metric : tuple of (str, callable), optional
        Name and function ``(logits, y) -> float`` reported per epoch; default accuracy.
    progress : bool
        Show a rich progress bar.
    """

    def __init__(
        self,
        spec: TrainSpec,
        seed: int = 0,
        loss_fn: nn.Module | None = None,
        metric: tuple[str, MetricFn] = ("accuracy", accuracy),
        progress: bool = True,
    ) -> None:
        self.spec = spec
        self.seed = seed
        self.loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
        self.metric_name, self.metric_fn = metric
        self.progress = progress
        self.device = resolve_device(spec.device)

    def fit(
        self,
        model: nn.Module,
        X_train: torch.Tensor,
        y_train: torch.Tensor,
        X_val: torch.Tensor,
        y_val: torch.Tensor,
        on_epoch_end: Callable[[dict[str, float]], None] | None = None,
    ) -> TrainResult:
        """Train ``model`` in place and restore its best weights.

        Parameters
        ----------
        model : nn.Module
            Maps (batch, n_features) float tensors to (batch, n_classes) logits.
        X_train : Tensor of shape (n_train, n_features)
        y_train : Tensor of shape (n_train,)
            Class indices (int64).
        X_val : Tensor of shape (n_val, n_features)
        y_val : Tensor of shape (n_val,)
        on_epoch_end : callable, optional
            Called with each epoch's history entry (e.g. to log to MLflow).

        Returns
        -------
        TrainResult
        """
        spec, device = self.spec, self.device
        model.to(device)
        X_train, y_train = X_train.to(device), y_train.to(device)
        X_val, y_val = X_val.to(device), y_val.to(device)
        loss_fn = self.loss_fn.to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=spec.learning_rate, weight_decay=spec.weight_decay)
        generator = torch.Generator().manual_seed(self.seed)
        use_amp = spec.mixed_precision and device.type == "cuda"
        autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_amp else nullcontext

        result = TrainResult(device=str(device))
        best_loss, best_state, waited = math.inf, copy.deepcopy(model.state_dict()), 0
        start = time.perf_counter()
        n = len(X_train)
        with _progress_bar(self.progress) as bar:
            task = bar.add_task("train", total=spec.epochs, status="")
            for epoch in range(1, spec.epochs + 1):
                tic = time.perf_counter()
                model.train()
                order = torch.randperm(n, generator=generator).to(device)
                total = 0.0
                for begin in range(0, n, spec.batch_size):
                    idx = order[begin : begin + spec.batch_size]
                    optimizer.zero_grad(set_to_none=True)
                    with autocast():
                        loss = loss_fn(model(X_train[idx]).float(), y_train[idx])
                    loss.backward()
                    optimizer.step()
                    total += float(loss.detach()) * len(idx)
                train_logits = self._logits(model, X_train, autocast)
                val_logits = self._logits(model, X_val, autocast)
                val_loss = float(loss_fn(val_logits, y_val))
                entry = {
                    "epoch": epoch,
                    "train_loss": total / n,
                    "val_loss": val_loss,
                    f"train_{self.metric_name}": self.metric_fn(train_logits, y_train),
                    f"val_{self.metric_name}": self.metric_fn(val_logits, y_val),
                    "seconds": time.perf_counter() - tic,
                }
                result.history.append(entry)
                if on_epoch_end is not None:
                    on_epoch_end(entry)
                if val_loss < best_loss - spec.early_stopping.min_delta:
                    best_loss, waited, result.best_epoch = val_loss, 0, epoch
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    waited += 1
                bar.update(
                    task,
                    advance=1,
                    status=f"loss {entry['train_loss']:.4f} val_loss {val_loss:.4f} "
                    f"val_{self.metric_name} {entry[f'val_{self.metric_name}']:.4f}",
                )
                if spec.early_stopping.enabled and waited >= spec.early_stopping.patience:
                    result.stopped_early = epoch < spec.epochs
                    break
        model.load_state_dict(best_state)
        model.eval()
        result.seconds = time.perf_counter() - start
        return result

    @staticmethod
    @torch.no_grad()
    def _logits(model: nn.Module, X: torch.Tensor, autocast: Callable) -> torch.Tensor:
        model.eval()
        with autocast():
            return model(X).float()


def _progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("epoch"),
        MofNCompleteColumn(),
        BarColumn(bar_width=20),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=False,
    )
