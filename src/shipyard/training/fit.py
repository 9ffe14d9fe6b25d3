"""Train a recipe's network on prepared data: the one function behind the train stage, CV, learning curves and (later) tuning."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from shipyard.data.prepared import Prepared
from shipyard.models.registry import build_model
from shipyard.recipe import Recipe, TrainSpec
from shipyard.tasks import get_task
from shipyard.training.callbacks import Callback, EarlyStopping, GradientClipping
from shipyard.training.data import ArrayDataset
from shipyard.training.trainer import Trainer, TrainResult


def standard_callbacks(spec: TrainSpec, extra: list[Callback] | None = None) -> list[Callback]:
    """The callbacks every training uses: early stopping (keeps the best weights), gradient clipping, then ``extra`` in order.

    Put a :class:`~shipyard.training.callbacks.Checkpointer` last in ``extra``
    so that it saves what the other callbacks updated at the same epoch.
    """
    callbacks: list[Callback] = [EarlyStopping(spec.early_stopping.patience, spec.early_stopping.min_delta, spec.early_stopping.enabled)]
    if spec.gradient_clip is not None:
        callbacks.append(GradientClipping(spec.gradient_clip))
    return callbacks + list(extra or [])


def recipe_callbacks(recipe: Recipe, prepared: Prepared) -> list[Callback]:
    """The callbacks the recipe's ``train`` section asks for: adversarial training, DP-SGD (none by default).

    They come right after :func:`standard_callbacks`' own, so that loggers and
    checkpoints later in the list see what they add (e.g. the epoch's spent epsilon).
    """
    out: list[Callback] = []
    if recipe.train.adversarial is not None:
        from shipyard.robustness.adversarial import adversarial_callback

        out.append(adversarial_callback(recipe, prepared))
    if recipe.train.privacy is not None:
        from shipyard.robustness.privacy import private_callback

        out.append(private_callback(recipe, len(prepared.y_fit)))
    return out


def build_network(recipe: Recipe, prepared: Prepared) -> nn.Module:
    """The recipe's untrained network for the prepared features, initialised from the recipe's seed.

    A text or image model starts from its pretrained weights and carries its
    input statistics (:meth:`shipyard.modalities.base.Modality.build_network`).
    """
    from shipyard.modalities import modality_of

    modality = modality_of(recipe)
    if modality is not None:
        return modality.build_network(recipe, prepared)
    torch.manual_seed(recipe.seed)
    return build_model(recipe.model, prepared.n_features, get_task(recipe.task).n_outputs(prepared))


def train_network(
    recipe: Recipe,
    prepared: Prepared,
    callbacks: list[Callback] | None = None,
    network: nn.Module | None = None,
    resume: dict[str, Any] | None = None,
    loss: nn.Module | None = None,
    extras: tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]] = ((), ()),
) -> tuple[nn.Module, TrainResult]:
    """Build (or take) the network, train it on ``prepared.X_fit`` with early stopping on the validation rows, finish it.

    Parameters
    ----------
    recipe : Recipe
    prepared : Prepared
        With preprocessing fitted (:func:`shipyard.data.preparation.fit_preprocessing`).
    callbacks : list of Callback, optional
        Beyond :func:`standard_callbacks` and :func:`recipe_callbacks` (progress, logging, checkpoints).
    network : nn.Module, optional
        The network to train (e.g. rebuilt from a checkpoint to resume); default :func:`build_network`.
    resume : dict, optional
        A checkpoint's training state (:func:`shipyard.training.checkpoint.load_training_state`).
    loss : nn.Module, optional
        Replaces the task's loss (:meth:`~shipyard.tasks.base.Task.loss`); called as
        ``loss(outputs, targets, *extras)``.
    extras : (tuple of ndarray, tuple of ndarray)
        Further per-row arrays of the fitted rows (aligned with ``prepared.X_fit``) and of the
        validation rows, handed to ``loss`` after the targets, e.g. a teacher's outputs for
        distillation (:func:`shipyard.compression.networks.distill`).

    Returns
    -------
    (nn.Module, TrainResult)
        The finished network (the task's :meth:`~shipyard.tasks.base.Task.finish`, on the CPU,
        in eval mode) and what the training produced.
    """
    task = get_task(recipe.task)
    network = network if network is not None else build_network(recipe, prepared)
    y_fit, y_val = task.fit_targets(prepared)
    trainer = Trainer(
        recipe.train,
        seed=recipe.seed,
        loss_fn=loss if loss is not None else task.loss(recipe, prepared),
        metric=task.train_metric(prepared),
        callbacks=standard_callbacks(recipe.train, recipe_callbacks(recipe, prepared) + list(callbacks or [])),
    )
    train_set, val_set, score_set = _datasets(recipe, prepared, y_fit, y_val, extras)
    result = trainer.fit(network, train_set, val_set, resume=resume, score_set=score_set)
    return task.finish(network.to("cpu").eval(), prepared), result


def _datasets(
    recipe: Recipe, prepared: Prepared, y_fit: Any, y_val: Any, extras: tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]
) -> tuple[Any, Any, Any]:
    """Training rows, validation rows, and the rows the per-epoch training metric is scored on (None: the training rows).

    Rows carry ``extras`` after their targets; a text or image modality builds
    its own datasets (token ids with dynamic padding; images with augmentation).
    """
    from shipyard.modalities import modality_of

    modality = modality_of(recipe)
    fit_extras, val_extras = extras
    if modality is not None:
        return modality.datasets(recipe, prepared, y_fit, y_val, extras)
    return ArrayDataset(prepared.X_fit, y_fit, *fit_extras), ArrayDataset(prepared.X["validation"], y_val, *val_extras), None


def prepare_and_train(recipe: Recipe, callbacks: list[Callback] | None = None) -> tuple[Prepared, nn.Module, TrainResult]:
    """Load, check and split the recipe's data, fit its preprocessing and train its network, in memory (no run directory).

    For experiments and benchmarks that compare trainings side by side
    (e.g. standard against adversarial or DP-SGD training).

    Returns
    -------
    (Prepared, nn.Module, TrainResult)

    Raises
    ------
    ShipyardError
        As :func:`shipyard.pipeline.check_inputs`.
    """
    from shipyard.data.preparation import fit_preprocessing
    from shipyard.pipeline import check_inputs

    prepared = check_inputs(recipe)
    fit_preprocessing(recipe, prepared)
    network, result = train_network(recipe, prepared, callbacks)
    return prepared, network, result
