"""Evaluate stage: test-split metrics with bootstrap CIs, calibration, and the baselines leaderboard."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from shipyard.decision import decide
from shipyard.evaluation.bootstrap import resample_weights
from shipyard.evaluation.calibration import calibration_report
from shipyard.evaluation.leaderboard import NETWORK, fit_baselines, leaderboard
from shipyard.evaluation.metrics import classification_metrics, confusion
from shipyard.evaluation.threshold import per_class_recall, tune_threshold
from shipyard.recipe import Recipe
from shipyard.rundir import RunDir
from shipyard.stages.prepare import Prepared
from shipyard.stages.train import predict_proba_torch

PREDICTIONS = "predictions.csv"
"""Test-row predictions of the network and baselines, written to the run directory (read by the report)."""


def evaluate(recipe: Recipe, prepared: Prepared, model: torch.nn.Module, run_dir: RunDir | None = None) -> dict[str, Any]:
    """Test-split metrics of the network, their bootstrap CIs, calibration and the baselines leaderboard.

    Returns
    -------
    dict
        ``test`` (network metrics), ``test_ci`` (``{metric: {value, low,
        high}}``), ``baselines`` (the leaderboard, see
        :func:`shipyard.evaluation.leaderboard.leaderboard`), ``baseline``
        (logistic-regression metrics), ``calibration``, ``confusion_matrix``,
        ``labels``, ``split``. With ``run_dir``, test predictions of every
        model are written to ``predictions.csv`` there.
    """
    if recipe.task == "regression":
        return evaluate_regression(recipe, prepared, model, run_dir)
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
    predictions = {NETWORK: proba}
    metrics.update(imbalance_metrics(prepared, y_test, decide(proba, prepared.positive_index, threshold)))
    if decision is not None:
        decision["test_at_argmax"] = classification_metrics(y_test, proba, prepared.positive_index)
        metrics["decision"] = decision
    if recipe.evaluate.baseline:
        predictions.update(
            fit_baselines("classification", prepared.X["train"], prepared.y[prepared.split.train], prepared.X["test"], recipe.seed, len(prepared.labels))
        )
    metrics.update(assess(recipe, "classification", y_test, predictions, prepared.positive_index))
    if recipe.evaluate.baseline:
        metrics["baseline"] = {k: v["value"] for k, v in metrics["baselines"]["models"]["logistic_regression"].items()}
        metrics["baseline_name"] = "logistic_regression"
    metrics["calibration"] = calibration_report(y_test, proba, recipe.evaluate.calibration.bins, prepared.positive_index)
    if run_dir is not None:
        write_predictions(run_dir, prepared.split.test, y_test, predictions, metrics["labels"])
    return metrics


def evaluate_regression(recipe: Recipe, prepared: Prepared, model: torch.nn.Module, run_dir: RunDir | None = None) -> dict[str, Any]:
    """Regression counterpart of :func:`evaluate`: MAE, RMSE, R², MAPE with CIs, and the leaderboard."""
    from shipyard.evaluation.metrics import regression_metrics
    from shipyard.stages.train import predict_values_torch

    y_test = prepared.y[prepared.split.test]
    values = predict_values_torch(model, prepared.X["test"])
    metrics: dict[str, Any] = {"test": regression_metrics(y_test, values), "split": prepared.split.sizes()}
    predictions = {NETWORK: values}
    if recipe.evaluate.baseline:
        predictions.update(fit_baselines("regression", prepared.X["train"], prepared.y[prepared.split.train], prepared.X["test"], recipe.seed))
    metrics.update(assess(recipe, "regression", y_test, predictions))
    if run_dir is not None:
        write_predictions(run_dir, prepared.split.test, y_test, predictions, None)
    return metrics


def assess(recipe: Recipe, task: str, y_test: np.ndarray, predictions: dict[str, np.ndarray], positive_index: int | None = None) -> dict[str, Any]:
    """Bootstrap CIs of the network's test metrics and, with baselines, the leaderboard.

    Returns
    -------
    dict
        ``test_ci``, ``bootstrap`` (samples, confidence, seed) and, when
        ``predictions`` holds more than the network, ``baselines``.
    """
    spec = recipe.evaluate.bootstrap
    seed = recipe.seed if spec.seed is None else spec.seed
    weights = resample_weights(len(y_test), spec.samples, seed)
    board = leaderboard(task, y_test, predictions, weights, spec.confidence, positive_index)
    test_ci = board["models"][NETWORK]  # low/high are NaN (null in JSON) when samples is 0
    out: dict[str, Any] = {"test_ci": test_ci, "bootstrap": {"samples": spec.samples, "confidence": spec.confidence, "seed": seed}}
    if len(predictions) > 1:
        out["baselines"] = board
    return out


def write_predictions(run_dir: RunDir, rows: np.ndarray, y_true: np.ndarray, predictions: dict[str, np.ndarray], labels: list[str] | None) -> None:
    """Write ``predictions.csv``: ``row`` (position in the data), ``y_true``, then one column per model and class
    (``<model>:<label>`` probabilities) or per model (regression values)."""
    table: dict[str, Any] = {"row": np.asarray(rows), "y_true": np.asarray(y_true)}
    for name, pred in predictions.items():
        pred = np.asarray(pred)
        if pred.ndim == 1:
            table[name] = pred
        else:
            for j, label in enumerate(labels or range(pred.shape[1])):
                table[f"{name}:{label}"] = pred[:, j]
    pd.DataFrame(table).to_csv(run_dir.path / PREDICTIONS, index=False)
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
