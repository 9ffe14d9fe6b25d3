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


def predict_proba_torch(model: torch.nn.Module, X: np.ndarray) -> np.ndarray:
    """Probabilities of the trained network on preprocessed features (n_rows, n_features)."""
    with torch.no_grad():
        return torch.softmax(model(torch.from_numpy(X)), dim=1).numpy()
