"""Evaluate stage: test-split metrics of the network and its baseline."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from shipyard.decision import decide
from shipyard.evaluation.threshold import per_class_recall, tune_threshold

from shipyard.evaluation.baseline import logistic_baseline
from shipyard.evaluation.metrics import classification_metrics, confusion
from shipyard.recipe import Recipe
from shipyard.stages.prepare import Prepared
from shipyard.stages.train import predict_proba_torch


def evaluate(recipe: Recipe, prepared: Prepared, model: torch.nn.Module) -> dict[str, Any]:
    """Test-split metrics of the network and of a logistic-regression baseline."""
    y_test = prepared.y[prepared.split.test]
    proba = predict_proba_torch(model, prepared.X["test"])
    decision = decision_threshold(recipe, prepared, model)
    threshold = None if decision is None else decision["threshold"]
    metrics: dict[str, Any] = {
        "labels": [str(label) for label in prepared.labels],
        "positive_label": None if prepared.positive_index is None else str(prepared.labels[prepared.positive_index]),
        "test": classification_metrics(y_test, proba, prepared.positive_index, threshold),
        "confusion_matrix": confusion(y_test, proba, prepared.positive_index, threshold),
        "split": prepared.split.sizes(),
    }
    metrics.update(imbalance_metrics(prepared, y_test, decide(proba, prepared.positive_index, threshold)))
    if decision is not None:
        decision["test_at_argmax"] = classification_metrics(y_test, proba, prepared.positive_index)
        metrics["decision"] = decision
    if recipe.evaluate.baseline:
        base = logistic_baseline(prepared.X["train"], prepared.y[prepared.split.train], prepared.X["test"], recipe.seed)
        metrics["baseline"] = classification_metrics(y_test, base, prepared.positive_index)
        metrics["baseline_name"] = "logistic_regression"
    return metrics


def decision_threshold(recipe: Recipe, prepared: Prepared, model: torch.nn.Module) -> dict[str, Any] | None:
    """Tune the positive-class threshold on the validation split (``imbalance.threshold``), binary tasks only."""
    spec = recipe.imbalance.threshold
    if spec.objective == "none" or prepared.positive_index is None:
        return None
    proba_val = predict_proba_torch(model, prepared.X["validation"])
    y_val = prepared.y[prepared.split.validation]
    tuned = tune_threshold(y_val, proba_val, prepared.positive_index, spec.objective, spec.target_recall)
    tuned["positive_label"] = str(prepared.labels[prepared.positive_index])
    return tuned


def imbalance_metrics(prepared: Prepared, y_test: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Imbalance ratio of the training split and per-class test recall (read them, not accuracy, when the ratio exceeds 3)."""
    counts = np.bincount(prepared.y[prepared.split.train], minlength=len(prepared.labels))
    present = counts[counts > 0]
    return {
        "imbalance_ratio": float(present.max() / present.min()),
        "per_class_recall": per_class_recall(y_test, y_pred, prepared.labels),
    }
