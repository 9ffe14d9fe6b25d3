"""Evaluate stage: test metrics with bootstrap CIs, the baselines leaderboard, the overfitting diagnosis, CV and the learning curve.

What the metrics are is the task's (:meth:`shipyard.tasks.base.Task.evaluate`);
this stage adds what every task shares and writes ``metrics.json`` and
``predictions.csv``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from shipyard.data.prepared import Prepared
from shipyard.evaluation.bootstrap import resample_weights
from shipyard.evaluation.cv import check_cv, compare_holdout, cross_validate
from shipyard.evaluation.diagnosis import diagnose
from shipyard.evaluation.leaderboard import NETWORK, leaderboard
from shipyard.evaluation.learning_curve import learning_curve
from shipyard.modalities import modality_of
from shipyard.modalities.base import FROM_SCRATCH, train_from_scratch
from shipyard.recipe import Recipe
from shipyard.rundir import RunDir
from shipyard.stages.base import METRICS, RunContext, Stage, register_stage
from shipyard.tasks import Task

PREDICTIONS = "predictions.csv"
"""Test-row predictions of the network and baselines, written to the run directory (read by the report)."""


def assess(
    recipe: Recipe,
    task: Task,
    y_test: np.ndarray,
    predictions: dict[str, np.ndarray],
    positive_index: int | None = None,
    threshold: float | None = None,
    verdict_metrics: list[str] | None = None,
) -> dict[str, Any]:
    """Bootstrap CIs of the network's test metrics and, with baselines, the leaderboard.

    ``threshold`` is the network's decision threshold (the bundle's), so
    ``test_ci`` and the leaderboard score the decisions ``test`` and the
    server make; ``verdict_metrics`` as :func:`~shipyard.evaluation.leaderboard.leaderboard`.

    Returns
    -------
    dict
        ``test_ci``, ``bootstrap`` (samples, confidence, seed) and, when
        ``predictions`` holds more than the network, ``baselines``.
    """
    spec = recipe.evaluate.bootstrap
    seed = recipe.seed if spec.seed is None else spec.seed
    weights = resample_weights(len(y_test), spec.samples, seed)
    board = leaderboard(task, y_test, predictions, weights, spec.confidence, positive_index, {NETWORK: threshold}, verdict_metrics)
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


def evaluate(recipe: Recipe, task: Task, data: Prepared, network: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The network's test metrics, their bootstrap CIs and the leaderboard of baselines on the same split.

    Parameters
    ----------
    network : nn.Module or ModelOutputs
        The finished network, or any model's outputs (:mod:`shipyard.evaluation.outputs`,
        e.g. a compressed ONNX variant on the raw rows): scored by the same code.

    Returns
    -------
    (dict, dict)
        Metrics (``test``, ``test_ci``, ``baselines``, ``baseline``, ``split``, and the task's own
        entries, e.g. ``confusion_matrix``, ``calibration``, ``decision``) and every model's test outputs.
    """
    metrics, predictions = task.evaluate(recipe, data, network)
    metrics["split"] = data.split.sizes()
    y_test = data.y[data.split.test]
    modality = modality_of(recipe)
    if recipe.evaluate.baseline:
        if modality is None:
            predictions.update(task.baselines(data.X["train"], data.y[data.split.train], data.X["test"], recipe.seed, data))
        else:  # text: TF-IDF + logistic regression; images: models on the flattened pixels
            predictions.update(modality.baselines(recipe, task, data))
    if recipe.evaluate.from_scratch:
        predictions[FROM_SCRATCH], metrics[FROM_SCRATCH] = train_from_scratch(recipe, task, data)
    threshold = (metrics.get("decision") or {}).get("threshold")
    metrics.update(assess(recipe, task, y_test, predictions, data.positive_index, threshold, task.verdict_metrics(data.y[data.split.train])))
    if len(predictions) > 1:
        first = next(name for name in predictions if name != NETWORK)
        metrics["baseline"] = {k: v["value"] for k, v in metrics["baselines"]["models"][first].items()}
        metrics["baseline_name"] = first
    return metrics, predictions


@register_stage
class EvaluateStage(Stage):
    """Honest evaluation on the test split, beside baselines; optional CV and learning curve."""

    name = "evaluate"
    section = "evaluate"
    order = 40
    writes = (METRICS, PREDICTIONS)

    def check(self, recipe: Recipe, data: Prepared) -> None:
        check_cv(recipe, data)

    def run(self, ctx: RunContext) -> None:
        recipe, data, task = ctx.recipe, ctx.data, ctx.task
        metrics, predictions = evaluate(recipe, task, data, ctx.network)
        write_predictions(ctx.run_dir, data.split.test, data.y[data.split.test], predictions, metrics.get("labels"))
        if "temperature_scaling" in ctx.extras:
            metrics["calibration"]["temperature_scaling"] = ctx.extras["temperature_scaling"]
        training = ctx.training
        metrics["diagnosis"] = diagnose(training.history, training.best_epoch, task.history_units())
        if recipe.evaluate.cv:
            ctx.console.log(f"{recipe.evaluate.cv}-fold cross-validation (preparation and network refitted in each fold)")
            metrics["cv"] = cross_validate(recipe, data)
            metrics["cv"]["holdout"] = compare_holdout(metrics["cv"], metrics["test"], task.primary_metric)
        if recipe.evaluate.learning_curve:
            ctx.console.log("learning curve (network retrained on fractions of the training rows)")
            metrics["learning_curve"] = learning_curve(recipe, data, recipe.evaluate.learning_curve)
        metrics["training"] = {
            "best_epoch": training.best_epoch,
            "epochs_run": len(training.history),
            "stopped_early": training.stopped_early,
            "device": training.device,
            "seconds": training.seconds,
        }
        if training.resumed_from_epoch:
            metrics["training"]["resumed_from_epoch"] = training.resumed_from_epoch
        ctx.metrics.update(metrics)
        ctx.write_metrics()
