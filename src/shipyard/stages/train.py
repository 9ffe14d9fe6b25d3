"""Train stage: build the network from the recipe and fit it."""

from __future__ import annotations

import numpy as np
import torch

from shipyard.models import build_model
from shipyard.recipe import Recipe
from shipyard.stages.prepare import Prepared
from shipyard.tracking import Tracker
from shipyard.training import Trainer, TrainResult
from shipyard.training.losses import balanced_accuracy, build_loss
from shipyard.training.trainer import accuracy


def train(recipe: Recipe, prepared: Prepared, tracker: Tracker, progress: bool) -> tuple[torch.nn.Module, TrainResult]:
    """Build the network from the recipe and train it with early stopping."""
    if recipe.task == "regression":
        return train_regression(recipe, prepared, tracker, progress)
    torch.manual_seed(recipe.seed)
    n_features = prepared.X["train"].shape[1]
    model = build_model(recipe.model, n_features, len(prepared.labels))
    # The rows the network fits: the training split after any resampling and augmentation.
    X_fit = prepared.X["train"] if prepared.X_fit is None else prepared.X_fit
    y_fit = prepared.y[prepared.split.train] if prepared.y_fit is None else prepared.y_fit
    imbalance = recipe.imbalance
    loss_fn = build_loss(imbalance.loss, imbalance.class_weight, y_fit, len(prepared.labels), imbalance.focal_gamma)
    counts = np.bincount(prepared.y[prepared.split.train])
    counts = counts[counts > 0]
    # Imbalanced (ratio > 3): the per-epoch metric is balanced accuracy, never plain accuracy.
    metric = ("balanced_accuracy", balanced_accuracy) if counts.max() / counts.min() > 3 else ("accuracy", accuracy)
    trainer = Trainer(recipe.train, seed=recipe.seed, loss_fn=loss_fn, metric=metric, progress=progress)
    y = prepared.y
    result = trainer.fit(
        model,
        torch.from_numpy(X_fit),
        torch.from_numpy(y_fit),
        torch.from_numpy(prepared.X["validation"]),
        torch.from_numpy(y[prepared.split.validation]),
        on_epoch_end=tracker.log_epoch,
    )
    return model.to("cpu").eval(), result


def train_regression(recipe: Recipe, prepared: Prepared, tracker: Tracker, progress: bool) -> tuple[torch.nn.Module, TrainResult]:
    """Train a one-output network on the standardised target (MSE or Huber) and return it rescaled to target units."""
    from shipyard.training.regression import Rescale, SqueezedLoss, rmse, target_scale

    torch.manual_seed(recipe.seed)
    model = build_model(recipe.model, prepared.X["train"].shape[1], 1)
    trainer = Trainer(recipe.train, seed=recipe.seed, loss_fn=SqueezedLoss(recipe.train.loss or "mse"), metric=("rmse", rmse), progress=progress)
    y = prepared.y
    mean, std = target_scale(y[prepared.split.train])

    def scaled(rows: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(((y[rows] - mean) / std).astype(np.float32))

    result = trainer.fit(
        model,
        torch.from_numpy(prepared.X["train"]),
        scaled(prepared.split.train),
        torch.from_numpy(prepared.X["validation"]),
        scaled(prepared.split.validation),
        on_epoch_end=tracker.log_epoch,
    )
    return Rescale(model.to("cpu").eval(), mean, std).eval(), result


def predict_values_torch(model: torch.nn.Module, X: np.ndarray) -> np.ndarray:
    """Values (n_rows,) of a regression network on preprocessed features (n_rows, n_features)."""
    with torch.no_grad():
        return model(torch.from_numpy(X)).numpy().reshape(-1)


def predict_proba_torch(model: torch.nn.Module, X: np.ndarray) -> np.ndarray:
    """Probabilities of the trained network on preprocessed features (n_rows, n_features)."""
    with torch.no_grad():
        return torch.softmax(model(torch.from_numpy(X)), dim=1).numpy()
