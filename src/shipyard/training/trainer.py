"""The training loop, written once.

The science (network, loss, metric) is passed in; the engineering (device,
mini-batches from a DataLoader, mixed precision, the optimizer and its
schedule, threads, resuming) lives here; everything else (early stopping,
progress, logging, gradient clipping, checkpoints, and later adversarial
batches or DP-SGD accounting) is a :class:`~shipyard.training.callbacks.Callback`.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
from torch import nn
from torch.utils.data import Dataset, Sampler

from shipyard.recipe import TrainSpec
from shipyard.training.callbacks import Callback
from shipyard.training.data import EpochSampler, batches
from shipyard.training.device import resolve_device
from shipyard.training.losses import accuracy
from shipyard.training.optim import build_optimizer, build_scheduler

MetricFn = Callable[[torch.Tensor, torch.Tensor], float]
EVAL_BATCH = 4096
"""Rows per forward pass when scoring the training and validation rows after each epoch."""

__all__ = ["Trainer", "TrainResult", "TrainState", "accuracy"]


@dataclass
class TrainState:
    """The loop's progress, shared with callbacks and saved in checkpoints.

    Attributes
    ----------
    epoch : int
        Epochs completed (1-based count; 0 before the first).
    step : int
        Optimizer steps taken.
    history : list of dict
        One entry per completed epoch.
    should_stop : bool
        Set by a callback (early stopping) to end training after this epoch.
    best_epoch : int
        Epoch with the lowest validation loss so far (kept by early stopping).
    best_val_loss : float
    """

    epoch: int = 0
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    should_stop: bool = False
    best_epoch: int = 0
    best_val_loss: float = math.inf


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes
    ----------
    history : list of dict
        One entry per epoch: ``epoch``, ``train_loss``, ``val_loss``,
        ``train_<metric>``, ``val_<metric>``, ``lr``, ``seconds``.
    best_epoch : int
        Epoch (1-based) whose weights were kept (lowest validation loss).
    stopped_early : bool
        True when early stopping ended training before ``epochs``.
    device : str
        Device the model was trained on.
    seconds : float
        Wall-clock training time in seconds (this process only, when resumed).
    resumed_from_epoch : int
        The checkpoint's epoch when training was resumed, else 0.
    reports : dict
        What callbacks report about the training, by name, filled in ``on_fit_end``
        (e.g. ``dp_sgd``: the privacy budget spent; ``adversarial_training``).
    """

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    device: str = "cpu"
    seconds: float = 0.0
    resumed_from_epoch: int = 0
    reports: dict[str, Any] = field(default_factory=dict)


class Trainer:
    """Train a network with AdamW on mini-batches, with callbacks.

    Parameters
    ----------
    spec : TrainSpec
        The recipe's ``train`` section (epochs, batch size, optimizer, schedule, device, threads).
    seed : int
        Seeds the sampler's shuffling (the network's initialisation is seeded by the caller).
    loss_fn : nn.Module, optional
        Loss on (outputs, targets); default ``nn.CrossEntropyLoss()``.
    metric : tuple of (str, callable), optional
        Name and function ``(outputs, targets) -> float`` reported per epoch; default accuracy.
    callbacks : list of Callback
        Called in order at each hook.
    sampler : Sampler, optional
        Order of the training rows; default :class:`~shipyard.training.data.EpochSampler`.
        Anything with ``set_epoch`` (e.g. ``DistributedSampler``) is told the epoch.

    Attributes
    ----------
    network : nn.Module
        The module passed to :meth:`fit`: its parameters are the weights being trained,
        whatever wraps them (early stopping and checkpoints save and restore this one).
    model : nn.Module
        The module the loop calls: ``network``, unless a callback's ``on_fit_start``
        installed a wrapper that shares its parameters (e.g. Opacus's ``GradSampleModule``).
    optimizer, scheduler, train_loader
        Set during :meth:`fit` before ``on_fit_start``; a callback may replace
        ``model``, ``optimizer`` and ``train_loader`` there (see
        :class:`~shipyard.training.callbacks.Callback`), and the loop uses the replacements.
    state : TrainState
    """

    def __init__(
        self,
        spec: TrainSpec,
        seed: int = 0,
        loss_fn: nn.Module | None = None,
        metric: tuple[str, MetricFn] = ("accuracy", accuracy),
        callbacks: list[Callback] | None = None,
        sampler: Sampler[int] | None = None,
    ) -> None:
        self.spec = spec
        self.seed = seed
        self.loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
        self.metric_name, self.metric_fn = metric
        self.callbacks = list(callbacks or [])
        self.sampler = sampler
        self.device = resolve_device(spec.device)
        self.network: nn.Module | None = None
        self.model: nn.Module | None = None
        self.train_loader: Any = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: Any = None
        self.state = TrainState()

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, self.state, *args)

    def fit(
        self, model: nn.Module, train_set: Dataset, val_set: Dataset, resume: dict[str, Any] | None = None, score_set: Dataset | None = None
    ) -> TrainResult:
        """Train ``model`` in place; callbacks decide when to stop and which weights are kept.

        Parameters
        ----------
        model : nn.Module
            Maps a batch of inputs to outputs (logits (batch, n_classes), or values (batch, 1)).
        train_set, val_set : Dataset
            ``(inputs, targets)`` rows, e.g. :class:`~shipyard.training.data.ArrayDataset`.
            A row may carry further tensors after the targets (e.g. a teacher's
            outputs for distillation); they are passed to the loss after the
            targets, ``loss_fn(outputs, targets, *extras)``, for training and
            validation batches alike. The per-epoch metric sees only outputs and targets.
        resume : dict, optional
            A :meth:`training_state` from a checkpoint: training continues after its epoch
            with the optimizer, schedule, callbacks' state and random-number generators restored.
        score_set : Dataset, optional
            The rows whose outputs give the per-epoch training metric; default ``train_set``
            (a dataset that augments or mixes its rows passes its plain rows here).

        Returns
        -------
        TrainResult
        """
        spec, device = self.spec, self.device
        self.network = self.model = model.to(device)
        self.optimizer = build_optimizer(model, spec)
        sampler = self.sampler if self.sampler is not None else EpochSampler(len(train_set), self.seed)
        self.train_loader = batches(train_set, spec.batch_size, sampler)
        scheduler = build_scheduler(self.optimizer, spec, len(self.train_loader))
        self.scheduler = scheduler
        self.state = TrainState()
        loss_fn = self.loss_fn.to(device)
        use_amp = spec.mixed_precision and device.type == "cuda"
        autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_amp else nullcontext
        result = TrainResult(device=str(device))
        if resume is not None:
            self.load_training_state(resume)
            result.resumed_from_epoch = self.state.epoch
        start = time.perf_counter()
        with _torch_settings(spec.num_threads, spec.deterministic):
            self._call("on_fit_start")
            # A callback may have installed a wrapper of the network, another optimizer or data loader (DP-SGD).
            model, train_loader = self.model, self.train_loader
            try:
                for epoch in range(self.state.epoch + 1, spec.epochs + 1):
                    if self.state.should_stop:
                        break
                    tic = time.perf_counter()
                    if hasattr(sampler, "set_epoch"):
                        sampler.set_epoch(epoch)
                    self._call("on_epoch_start")
                    model.train()
                    total = torch.zeros((), device=device)
                    seen = 0
                    for batch in train_loader:
                        x, y, *extras = self._batch_start(tuple(t.to(device, non_blocking=True) for t in batch))
                        self.optimizer.zero_grad(set_to_none=True)
                        with autocast():
                            loss = loss_fn(model(x).float(), y, *extras)
                        loss.backward()
                        self._call("on_before_optimizer_step", self.optimizer)
                        self.optimizer.step()
                        if scheduler is not None:
                            scheduler.step()
                        self.state.step += 1
                        loss = loss.detach()
                        if len(x):  # a Poisson-sampled batch (DP-SGD) can be empty: a noise-only step, no loss to count
                            total += loss * len(x)
                            seen += len(x)
                        self._call("on_batch_end", loss)
                    train_out, train_y, _ = self._outputs(model, score_set if score_set is not None else train_set, autocast)
                    val_out, val_y, val_extras = self._outputs(model, val_set, autocast)
                    entry = {
                        "epoch": epoch,
                        "train_loss": float(total) / max(seen, 1),
                        "val_loss": float(loss_fn(val_out, val_y, *val_extras)),
                        f"train_{self.metric_name}": self.metric_fn(train_out, train_y),
                        f"val_{self.metric_name}": self.metric_fn(val_out, val_y),
                        "lr": float(self.optimizer.param_groups[0]["lr"]),
                        "seconds": time.perf_counter() - tic,
                    }
                    self.state.epoch = epoch
                    self.state.history.append(entry)
                    self._call("on_epoch_end", entry)
            except BaseException as exc:
                self._call("on_exception", exc)
                raise
            result.history = list(self.state.history)
            result.stopped_early = self.state.should_stop and self.state.epoch < spec.epochs
            result.best_epoch = self.state.best_epoch
            self._call("on_fit_end", result)
        self.network.eval()
        result.seconds = time.perf_counter() - start
        return result

    def _batch_start(self, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        """Call ``on_batch_start`` in order; a callback that returns a batch replaces it for the next ones and the step."""
        for callback in self.callbacks:
            replaced = callback.on_batch_start(self, self.state, batch)
            if replaced is not None:
                batch = replaced
        return batch

    @torch.no_grad()
    def _outputs(self, model: nn.Module, dataset: Dataset, autocast: Callable) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """The model's outputs (eval mode), the targets and any extra tensors of every row of ``dataset``, on the device."""
        model.eval()
        outs, ys, extras = [], [], []
        for x, y, *more in batches(dataset, EVAL_BATCH):
            with autocast():
                outs.append(model(x.to(self.device)).float())
            ys.append(y.to(self.device))
            extras.append([t.to(self.device) for t in more])
        return torch.cat(outs), torch.cat(ys), [torch.cat(parts) for parts in zip(*extras)]

    def training_state(self) -> dict[str, Any]:
        """Everything a resumed run needs beyond the weights: optimizer, schedule, callbacks, RNG states, progress.

        Returns
        -------
        dict
            Tensors and plain values only, so ``torch.load(..., weights_only=True)`` reads it back.
        """
        rng: dict[str, Any] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        state = self.state
        return {
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "callbacks": {cb.state_key: cb.state_dict() for cb in self.callbacks},
            "rng": rng,
            "progress": {
                "epoch": state.epoch,
                "step": state.step,
                "history": state.history,
                "should_stop": state.should_stop,
                "best_epoch": state.best_epoch,
                "best_val_loss": state.best_val_loss,
            },
        }

    def load_training_state(self, saved: dict[str, Any]) -> None:
        """Restore what :meth:`training_state` returned (after the weights were loaded into ``self.model``)."""
        if saved.get("optimizer") is not None:
            self.optimizer.load_state_dict(saved["optimizer"])
        if saved.get("scheduler") is not None and self.scheduler is not None:
            self.scheduler.load_state_dict(saved["scheduler"])
        for cb in self.callbacks:
            if cb.state_key in saved.get("callbacks", {}):
                cb.load_state_dict(saved["callbacks"][cb.state_key])
        rng = saved.get("rng", {})
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        progress = saved["progress"]
        self.state = TrainState(
            epoch=int(progress["epoch"]),
            step=int(progress["step"]),
            history=list(progress["history"]),
            should_stop=bool(progress["should_stop"]),
            best_epoch=int(progress["best_epoch"]),
            best_val_loss=float(progress["best_val_loss"]),
        )


@contextmanager
def _torch_settings(num_threads: int, deterministic: bool) -> Iterator[None]:
    """Set torch's intra-op threads (and deterministic algorithms) for the loop; restore them after."""
    threads, was_deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(num_threads)
    if deterministic:
        torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(was_deterministic)
