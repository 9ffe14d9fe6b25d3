"""Train stage: build the network from the recipe and fit it."""

from __future__ import annotations

import numpy as np
import torch

from shipyard.models import build_model
from shipyard.recipe import Recipe
from shipyard.stages.prepare import Prepared
from shipyard.tracking import Tracker
from shipyard.training import Trainer, TrainResult


def train(recipe: Recipe, prepared: Prepared, tracker: Tracker, progress: bool) -> tuple[torch.nn.Module, TrainResult]:
    """Build the network from the recipe and train it with early stopping."""
    if recipe.task == "regression":
        return train_regression(recipe, prepared, tracker, progress)
    torch.manual_seed(recipe.seed)
    n_features = prepared.X["train"].shape[1]
    model = build_model(recipe.model, n_features, len(prepared.labels))
    trainer = Trainer(recipe.train, seed=recipe.seed, progress=progress)
    y = prepared.y
    result = trainer.fit(
        model,
        torch.from_numpy(prepared.X["train"]),
        torch.from_numpy(y[prepared.split.train]),
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
