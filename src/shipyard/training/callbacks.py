"""Trainer callbacks: every extension of the training loop is one small class.

:class:`Callback`'s hooks are all no-ops (as PyTorch Lightning's
``Callback``), so a feature overrides only the hooks it needs. The trainer
calls them in list order:

``on_fit_start`` → per epoch: ``on_epoch_start`` → per batch: ``on_batch_start``,
``on_before_optimizer_step``, ``on_batch_end`` → ``on_epoch_end`` → ``on_fit_end``
(or ``on_exception``). A callback with state that a resumed run needs
returns it from :meth:`Callback.state_dict` and takes it back in
:meth:`Callback.load_state_dict`; the trainer saves it in every checkpoint.

Two hooks may change what the loop works on:

- ``on_fit_start`` may replace ``trainer.model`` (with a wrapper that shares the
  parameters of ``trainer.network``), ``trainer.optimizer`` (one that shares the
  original's ``param_groups``, so the schedule still applies) and
  ``trainer.train_loader``; the loop uses the replacements. DP-SGD
  (:class:`shipyard.robustness.privacy.DPSGD`) installs Opacus's per-sample-gradient
  module, noisy optimizer and Poisson-sampled loader this way. A callback that
  replaces ``trainer.model`` puts ``trainer.network`` back in ``on_fit_end``.
- ``on_batch_start`` may return a replacement ``(inputs, targets)`` batch; the next
  callbacks and the optimizer step see it. Adversarial training
  (:class:`shipyard.robustness.adversarial.AdversarialTraining`) replaces part of
  each batch with PGD examples this way. Returning ``None`` keeps the batch.

Built in: :class:`EarlyStopping` (keeps and restores the best weights),
:class:`ProgressBar`, :class:`EpochLogger` (e.g. MLflow), :class:`GradientClipping`
and :class:`Checkpointer`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:  # pragma: no cover
    from shipyard.training.trainer import Trainer, TrainResult, TrainState


class Callback:
    """Base class of trainer callbacks; every hook does nothing."""

    @property
    def state_key(self) -> str:
        """Key of this callback's state in a checkpoint (its class name)."""
        return type(self).__name__

    def on_fit_start(self, trainer: "Trainer", state: "TrainState") -> None:
        """Before the first epoch (also when resuming); may replace ``trainer.model``, ``trainer.optimizer``, ``trainer.train_loader``."""

    def on_epoch_start(self, trainer: "Trainer", state: "TrainState") -> None:
        """Before an epoch's first batch; ``state.epoch`` is the last completed epoch."""

    def on_batch_start(self, trainer: "Trainer", state: "TrainState", batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...] | None:
        """Before the forward pass of a batch ``(inputs, targets, *extras)`` (tensors already on the device).

        Returns
        -------
        tuple of Tensor or None
            A replacement batch (same structure) for the step, or None to keep ``batch``.
        """

    def on_before_optimizer_step(self, trainer: "Trainer", state: "TrainState", optimizer: torch.optim.Optimizer) -> None:
        """After the backward pass, before ``optimizer.step()`` (gradients can be read or changed)."""

    def on_batch_end(self, trainer: "Trainer", state: "TrainState", loss: torch.Tensor) -> None:
        """After the optimizer step; ``loss`` is the batch's (detached) loss."""

    def on_epoch_end(self, trainer: "Trainer", state: "TrainState", entry: dict[str, float]) -> None:
        """After validation; ``entry`` is the epoch's history entry, already in ``state.history``."""

    def on_fit_end(self, trainer: "Trainer", state: "TrainState", result: "TrainResult") -> None:
        """After the last epoch, however training ended (epoch limit or early stopping)."""

    def on_exception(self, trainer: "Trainer", state: "TrainState", error: BaseException) -> None:
        """When training is interrupted by an exception (re-raised afterwards)."""

    def state_dict(self) -> dict[str, Any]:
        """State a resumed run needs (tensors, numbers, strings, lists, dicts)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back what :meth:`state_dict` returned."""


class EarlyStopping(Callback):
    """Track the lowest validation loss, stop after ``patience`` epochs without improvement, restore the best weights.

    The best epoch's weights are restored at the end however training ended
    (early stop or epoch limit); with ``enabled=False`` training runs every
    epoch but the best weights are still the ones kept.

    Parameters
    ----------
    patience : int
        Epochs without an improvement of more than ``min_delta`` before stopping.
    min_delta : float
        Smallest decrease of the validation loss that counts as an improvement.
    enabled : bool
        Whether to stop early.
    """

    def __init__(self, patience: int = 10, min_delta: float = 0.0, enabled: bool = True) -> None:
        self.patience, self.min_delta, self.enabled = patience, min_delta, enabled
        self.best_loss, self.best_epoch, self.waited = math.inf, 0, 0
        self.best_weights: dict[str, torch.Tensor] | None = None

    def on_fit_start(self, trainer: "Trainer", state: "TrainState") -> None:
        if self.best_weights is None:
            self.best_weights = copy.deepcopy(trainer.network.state_dict())

    def on_epoch_end(self, trainer: "Trainer", state: "TrainState", entry: dict[str, float]) -> None:
        loss = entry["val_loss"]
        if loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch, self.waited = loss, state.epoch, 0
            self.best_weights = copy.deepcopy(trainer.network.state_dict())
        else:
            self.waited += 1
        state.best_epoch, state.best_val_loss = self.best_epoch, self.best_loss
        if self.enabled and self.waited >= self.patience:
            state.should_stop = True

    def on_fit_end(self, trainer: "Trainer", state: "TrainState", result: "TrainResult") -> None:
        if self.best_weights is not None:
            trainer.network.load_state_dict(self.best_weights)
        result.best_epoch = self.best_epoch

    def state_dict(self) -> dict[str, Any]:
        return {"best_loss": self.best_loss, "best_epoch": self.best_epoch, "waited": self.waited, "best_weights": self.best_weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_loss, self.best_epoch, self.waited = float(state["best_loss"]), int(state["best_epoch"]), int(state["waited"])
        self.best_weights = state["best_weights"]


class ProgressBar(Callback):
    """A rich progress bar over epochs showing the latest losses and validation metric.

    Parameters
    ----------
    enabled : bool
        False shows nothing.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._task: Any = None

    def on_fit_start(self, trainer: "Trainer", state: "TrainState") -> None:
        if not self.enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            TextColumn("epoch"), MofNCompleteColumn(), BarColumn(bar_width=20), TextColumn("{task.fields[status]}"), TimeElapsedColumn(), transient=False
        )
        self._bar.start()
        self._task = self._bar.add_task("train", total=trainer.spec.epochs, completed=state.epoch, status="")

    def on_epoch_end(self, trainer: "Trainer", state: "TrainState", entry: dict[str, float]) -> None:
        if self._bar is None:
            return
        name = trainer.metric_name
        self._bar.update(
            self._task,
            completed=state.epoch,
            status=f"loss {entry['train_loss']:.4f} val_loss {entry['val_loss']:.4f} val_{name} {entry[f'val_{name}']:.4f}",
        )

    def on_fit_end(self, trainer: "Trainer", state: "TrainState", result: "TrainResult") -> None:
        self._stop()

    def on_exception(self, trainer: "Trainer", state: "TrainState", error: BaseException) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


class EpochLogger(Callback):
    """Pass each epoch's history entry to a function (e.g. ``Tracker.log_epoch`` for MLflow).

    Parameters
    ----------
    log : callable
        Called with the entry (``epoch``, ``train_loss``, ``val_loss``, metrics, ``seconds``).
    """

    def __init__(self, log: Callable[[dict[str, float]], None]) -> None:
        self.log = log

    def on_epoch_end(self, trainer: "Trainer", state: "TrainState", entry: dict[str, float]) -> None:
        self.log(entry)


class GradientClipping(Callback):
    """Clip the global L2 norm of the gradients before each optimizer step (``torch.nn.utils.clip_grad_norm_``).

    Parameters
    ----------
    max_norm : float
    """

    def __init__(self, max_norm: float) -> None:
        self.max_norm = max_norm

    def on_before_optimizer_step(self, trainer: "Trainer", state: "TrainState", optimizer: torch.optim.Optimizer) -> None:
        torch.nn.utils.clip_grad_norm_(trainer.network.parameters(), self.max_norm)


class Checkpointer(Callback):
    """Save a resumable checkpoint every ``every`` epochs, after the other callbacks have seen the epoch.

    Parameters
    ----------
    save : callable
        ``save(trainer, state)`` writes the checkpoint (atomically); see
        :func:`shipyard.training.checkpoint.save_checkpoint`.
    every : int
        Epoch interval; 0 saves nothing during training.
    """

    def __init__(self, save: Callable[["Trainer", "TrainState"], None], every: int) -> None:
        self.save, self.every = save, every

    def on_epoch_end(self, trainer: "Trainer", state: "TrainState", entry: dict[str, float]) -> None:
        if self.every and state.epoch % self.every == 0:
            self.save(trainer, state)
