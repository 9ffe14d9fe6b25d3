"""Train stage: build the network from the recipe's model kind and train it; checkpoint as it goes.

The loop is :class:`shipyard.training.Trainer`; this stage adds the run's
callbacks (progress bar, MLflow epoch logging, a resumable checkpoint every
``train.checkpoint_every`` epochs) and writes ``history.json`` and the final
``checkpoint/``. With ``shipyard run --resume``, training continues from the
run's last checkpoint. ``train.adversarial`` and ``train.privacy`` add their
callbacks (:func:`shipyard.training.fit.recipe_callbacks`); a DP-SGD run writes
no intermediate checkpoint (its accountant is not saved), so resuming it trains again.
"""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from shipyard.data.prepared import Prepared
from shipyard.recipe import Recipe
from shipyard.stages.base import RunContext, Stage, register_stage
from shipyard.tasks import get_task
from shipyard.training.callbacks import Checkpointer, EpochLogger, ProgressBar
from shipyard.training.checkpoint import CHECKPOINT, checkpoint_folder, load_checkpoint, load_training_state, save_checkpoint
from shipyard.training.device import resolve_device
from shipyard.training.fit import train_network
from shipyard.training.trainer import Trainer, TrainResult, TrainState

HISTORY = "history.json"


def checkpoint_info(recipe: Recipe, data: Prepared, state: TrainState, complete: bool) -> dict[str, Any]:
    """The ``checkpoint.json`` fields of a run's network at a training state."""
    best = state.best_val_loss
    return {
        "model": {"type": recipe.model.type, "spec": recipe.model.model_dump(mode="json")},
        "task": recipe.task,
        "n_features": data.n_features,
        "n_outputs": get_task(recipe.task).n_outputs(data),
        "epoch": state.epoch,
        "best_epoch": state.best_epoch,
        "best_val_loss": best if math.isfinite(best) else None,
        "complete": complete,
        "data": {"source": recipe.data.source, "sha256": data.data_sha256},
    }


@register_stage
class TrainStage(Stage):
    """Fit the network with early stopping; write ``history.json`` and ``checkpoint/``."""

    name = "train"
    section = "train"
    order = 20
    writes = (HISTORY, CHECKPOINT)

    def check(self, recipe: Recipe, data: Prepared) -> None:
        resolve_device(recipe.train.device)
        if recipe.train.privacy is not None:
            from shipyard.robustness.privacy import check_private_training

            check_private_training(recipe)

    def run(self, ctx: RunContext) -> None:
        recipe, data, run_path = ctx.recipe, ctx.data, ctx.run_dir.path

        def save(trainer: Trainer, state: TrainState) -> None:
            save_checkpoint(run_path, trainer.network, checkpoint_info(recipe, data, state, complete=False), trainer.training_state())

        network: nn.Module | None = None
        resume = None
        if ctx.resume and _has_checkpoint(run_path):
            saved = load_checkpoint(run_path)
            if saved.complete:  # training had finished: keep its network
                ctx.network = saved.network
                ctx.training = _result_from_history(ctx)
                return
            network, resume = saved.network, load_training_state(checkpoint_folder(run_path))
            ctx.console.log(f"resuming training after epoch {saved.info['epoch']} of {recipe.train.epochs}")
        every = recipe.train.checkpoint_every
        if recipe.train.privacy is not None:
            # DP-SGD's accountant is not checkpointed: no intermediate checkpoint, so --resume trains again from the start.
            every = 0
            if ctx.resume:
                ctx.console.log("train.privacy: a DP-SGD run keeps no intermediate checkpoint; training starts again")
        callbacks = [ProgressBar(ctx.progress), EpochLogger(ctx.tracker.log_epoch), Checkpointer(save, every)]
        ctx.network, ctx.training = train_network(recipe, data, callbacks, network=network, resume=resume)
        ctx.metrics.update(ctx.training.reports)  # e.g. dp_sgd (the spent epsilon), adversarial_training
        ctx.run_dir.write_json(HISTORY, ctx.training.history)
        history, best = ctx.training.history, ctx.training.best_epoch
        final = TrainState(epoch=len(history), best_epoch=best, best_val_loss=history[best - 1]["val_loss"] if best else math.inf)
        save_checkpoint(run_path, ctx.network, checkpoint_info(recipe, data, final, complete=True))


def _has_checkpoint(run_path: Any) -> bool:
    try:
        checkpoint_folder(run_path)
    except Exception:  # noqa: BLE001  no checkpoint yet: the run died before its first one
        return False
    return True


def _result_from_history(ctx: RunContext) -> TrainResult:
    history = ctx.run_dir.read_json(HISTORY) if (ctx.run_dir.path / HISTORY).is_file() else []
    best = min(history, key=lambda e: e["val_loss"])["epoch"] if history else 0
    return TrainResult(history=history, best_epoch=best, device=str(resolve_device(ctx.recipe.train.device)))
