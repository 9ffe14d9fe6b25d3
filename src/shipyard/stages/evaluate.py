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
from shipyard.evaluation.threshold import (
    deweight,
    matched_prior_factor,
    per_class_recall,
    plugin_f1_optimum,
    prior_shift_factor,
    prior_shift_threshold,
    tune_threshold,
)
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
    """The positive-class decision threshold of ``imbalance.threshold`` (binary tasks only), or ``None`` for arg-max.

    ``f1`` / ``recall`` tune it on the validation split. ``prior_shift`` computes
    it from the class weights and resampling alone (Elkan 2001): the threshold
    on the weighted network's probability that is 0.5 on the unweighted
    posterior. ``prior_shift_f1`` aims instead at F*/2 on the unweighted
    posterior, the F1-optimal threshold of a calibrated classifier (Lipton,
    Elkan & Naryanaswamy 2014), with F* the best validation F1.
    ``prior_shift_f1_plugin`` estimates F* from the de-weighted validation
    probabilities without their labels.
    """
    spec = recipe.imbalance.threshold
    if spec.objective == "none" or prepared.positive_index is None:
        return None
    pos = prepared.positive_index
    proba_val = predict_proba_torch(model, prepared.X["validation"])
    y_val = prepared.y[prepared.split.validation]
    if spec.objective.startswith("prior_shift"):
        out = prior_shift_decision(recipe, prepared, y_val, proba_val)
    else:
        out = tune_threshold(y_val, proba_val, pos, spec.objective, spec.target_recall)
    out["positive_label"] = str(prepared.labels[pos])
    return out


def prior_shift_decision(recipe: Recipe, prepared: Prepared, y_val: np.ndarray, proba_val: np.ndarray) -> dict[str, Any]:
    """Threshold of the ``prior_shift*`` objectives, with the factor and target it came from."""
    from shipyard.training.losses import balanced_class_weights

    spec = recipe.imbalance.threshold
    pos = prepared.positive_index
    n = len(prepared.labels)
    y_fit = prepared.y[prepared.split.train] if prepared.y_fit is None else prepared.y_fit
    fit_counts = np.bincount(y_fit, minlength=n).astype(np.float64)
    weights = balanced_class_weights(y_fit, n) if recipe.imbalance.class_weight == "balanced" else np.ones(n)
    train_counts = np.bincount(prepared.y[prepared.split.train], minlength=n).astype(np.float64)
    factor = prior_shift_factor(weights * fit_counts, train_counts, pos)
    if spec.objective.startswith("prior_shift_matched"):
        factor = matched_prior_factor(proba_val, pos, float(train_counts[pos] / train_counts.sum()))
    target = 0.5
    if spec.objective == "prior_shift_f1":
        target = tune_threshold(y_val, proba_val, pos, "f1")["validation"]["f1"] / 2
    elif spec.objective in ("prior_shift_f1_plugin", "prior_shift_matched_f1_plugin"):
        target = plugin_f1_optimum(deweight(proba_val, factor, pos)) / 2
    threshold = prior_shift_threshold(factor, target)
    scores = proba_val[:, pos] >= threshold
    positive = y_val == pos
    tp = int((scores & positive).sum())
    precision = tp / max(int(scores.sum()), 1) if scores.sum() else 1.0
    recall = tp / max(int(positive.sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {
        "threshold": threshold,
        "objective": spec.objective,
        "prior_shift_factor": factor,
        "target_on_unweighted_posterior": float(target),
        "validation": {"precision": float(precision), "recall": float(recall), "f1": float(f1)},
        "validation_rows": int(len(y_val)),
    }


def imbalance_metrics(prepared: Prepared, y_test: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Imbalance ratio of the training split and per-class test recall (read them, not accuracy, when the ratio exceeds 3)."""
    counts = np.bincount(prepared.y[prepared.split.train], minlength=len(prepared.labels))
    present = counts[counts > 0]
    return {
        "imbalance_ratio": float(present.max() / present.min()),
        "per_class_recall": per_class_recall(y_test, y_pred, prepared.labels),
    }
