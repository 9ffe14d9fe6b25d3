"""Evaluate stage: test-split metrics of the network and its baseline."""

from __future__ import annotations

from typing import Any

import torch

from shipyard.evaluation.baseline import logistic_baseline
from shipyard.evaluation.metrics import classification_metrics, confusion
from shipyard.recipe import Recipe
from shipyard.stages.prepare import Prepared
from shipyard.stages.train import predict_proba_torch


def evaluate(recipe: Recipe, prepared: Prepared, model: torch.nn.Module) -> dict[str, Any]:
    """Test-split metrics of the network and of a logistic-regression baseline."""
    y_test = prepared.y[prepared.split.test]
    proba = predict_proba_torch(model, prepared.X["test"])
    metrics: dict[str, Any] = {
        "labels": [str(label) for label in prepared.labels],
        "positive_label": None if prepared.positive_index is None else str(prepared.labels[prepared.positive_index]),
        "test": classification_metrics(y_test, proba, prepared.positive_index),
        "confusion_matrix": confusion(y_test, proba),
        "split": prepared.split.sizes(),
    }
    if recipe.evaluate.baseline:
        base = logistic_baseline(prepared.X["train"], prepared.y[prepared.split.train], prepared.X["test"], recipe.seed)
        metrics["baseline"] = classification_metrics(y_test, base, prepared.positive_index)
        metrics["baseline_name"] = "logistic_regression"
    return metrics
