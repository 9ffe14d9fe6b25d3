"""Run a recipe's stages in order over one run directory.

prepare → train → evaluate → export. Inputs are checked before the run
directory is created, so bad data or a bad recipe leaves nothing behind; a run
that fails later is kept with ``status: failed`` and never becomes ``latest``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from rich.console import Console

from shipyard.data.checks import select_columns
from shipyard.data.loading import load_table
from shipyard.data.preprocess import build_preprocessor, record_categories
from shipyard.data.split import Split, stratified_split
from shipyard.errors import DataError, ShipyardError
from shipyard.evaluation.baseline import logistic_baseline
from shipyard.evaluation.metrics import classification_metrics, confusion
from shipyard.export.bundle import write_bundle
from shipyard.models import build_model
from shipyard.recipe import Recipe, load_recipe
from shipyard.run import RunDir
from shipyard.schema import Column, coerce, infer_schema
from shipyard.tracking import Tracker
from shipyard.training import Trainer


class ParityError(ShipyardError):
    """The exported ONNX pipeline does not reproduce the PyTorch pipeline."""


@dataclass
class RunResult:
    """What ``shipyard.run`` returns.

    Attributes
    ----------
    path : Path
        The run directory.
    bundle : Path
        The bundle folder inside it.
    metrics : dict
        Contents of ``metrics.json`` (``test``, ``baseline``, ``confusion_matrix``, ...).
    history : list of dict
        Per-epoch losses and metrics.
    model_version : str or None
        MLflow registered-model version, when tracking was on.
    seconds : float
        Wall-clock time of the run.
    """

    path: Path
    bundle: Path
    metrics: dict[str, Any]
    history: list[dict[str, float]]
    model_version: str | None = None
    seconds: float = 0.0


@dataclass
class Prepared:
    """The prepare stage's output, held in memory for the next stages."""

    frame: pd.DataFrame
    features: list[str]
    schema: list[Column]
    labels: list[Any]
    positive_index: int | None
    split: Split
    y: np.ndarray
    preprocessor: Any = None
    X: dict[str, np.ndarray] = field(default_factory=dict)
    model_input: pd.DataFrame | None = None


def run(
    recipe: Recipe | str | Path,
    runs_dir: str | Path = "runs",
    track: bool = True,
    progress: bool = True,
    console: Console | None = None,
) -> RunResult:
    """Run a recipe end to end: prepare, train, evaluate, export.

    Parameters
    ----------
    recipe : Recipe, str or Path
        A validated recipe or the path of a recipe YAML file.
    runs_dir : str or Path
        Root of run directories (``<runs_dir>/<name>/<timestamp>``).
    track : bool
        Log to MLflow and register the bundle.
    progress : bool
        Show progress bars and stage messages.
    console : rich.console.Console, optional
        Where messages go.

    Returns
    -------
    RunResult

    Raises
    ------
    ShipyardError
        For a bad recipe or bad data (before anything is written), or when
        the exported model fails the parity check.
    """
    start = time.perf_counter()
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    console = console or Console(stderr=True, quiet=not progress)
    prepared = load_and_split(recipe)

    run_dir = RunDir.create(runs_dir, recipe.name)
    run_dir.write_recipe(recipe.resolved())
    tracker = Tracker(enabled=track)
    try:
        tracker.start(recipe.name, run_dir.path.name, recipe.resolved())
        console.log(f"run directory {run_dir.path}")
        fit_preprocessing(recipe, prepared)
        run_dir.write_json("data_summary.json", data_summary(recipe, prepared))
        model, train_result = train(recipe, prepared, tracker, progress)
        run_dir.write_json("history.json", train_result.history)
        metrics = evaluate(recipe, prepared, model)
        metrics["training"] = {
            "best_epoch": train_result.best_epoch,
            "epochs_run": len(train_result.history),
            "stopped_early": train_result.stopped_early,
            "device": train_result.device,
            "seconds": train_result.seconds,
        }
        console.log("exporting the ONNX bundle and checking parity")
        metrics["parity"] = export(recipe, prepared, model, metrics, run_dir.bundle)
        run_dir.write_json("metrics.json", metrics)
        tracker.log_metrics(metrics["test"], "test")
        tracker.log_metrics(metrics.get("baseline", {}), "baseline")
        tracker.log_run_files(run_dir.path, run_dir.bundle, recipe.name)
        tracker.end("FINISHED")
    except BaseException as exc:
        run_dir.finish("failed", error=str(exc) or type(exc).__name__)
        tracker.end("FAILED")
        raise
    seconds = time.perf_counter() - start
    run_dir.finish("complete", seconds=round(seconds, 3), mlflow_run_id=tracker.run_id, model_version=tracker.model_version)
    return RunResult(run_dir.path, run_dir.bundle, metrics, train_result.history, tracker.model_version, seconds)


# --- prepare -----------------------------------------------------------------


def load_and_split(recipe: Recipe) -> Prepared:
    """Load the data, check it can serve the task, encode labels and split rows.

    Raises
    ------
    DataError
        For missing files, absent columns, a single class, empty features, or
        classes too small to stratify.
    """
    spec = recipe.data
    frame = load_table(spec.source, recipe.base_dir)
    features = select_columns(frame, spec.target, spec.features, spec.source)
    target = frame[spec.target]
    labels = sorted(pd.unique(target).tolist(), key=lambda v: (str(type(v)), v))
    labels = [v.item() if isinstance(v, np.generic) else v for v in labels]
    index = {label: i for i, label in enumerate(labels)}
    y = target.map(index).to_numpy(dtype=np.int64)
    positive_index = None
    if len(labels) == 2:
        positive_index = 1
        if spec.positive_class is not None:
            names = [str(label) for label in labels]
            if spec.positive_class not in names:
                raise DataError(
                    f"data.positive_class: {spec.positive_class!r} is not a label of column '{spec.target}'",
                    f"choose one of {names}",
                )
            positive_index = names.index(spec.positive_class)
    split = stratified_split(pd.Series(y), spec.split.validation, spec.split.test, recipe.seed, spec.target)
    schema = infer_schema(frame, features)
    return Prepared(frame, features, schema, labels, positive_index, split, y)


def fit_preprocessing(recipe: Recipe, prepared: Prepared) -> None:
    """Fit imputers, scalers and encoders on the training split and transform every split."""
    model_input = coerce(prepared.frame, prepared.schema, recipe.data.source)
    train_input = model_input.iloc[prepared.split.train]
    record_categories(prepared.schema, train_input)
    preprocessor = build_preprocessor(prepared.schema, recipe.prepare)
    preprocessor.fit(train_input)
    prepared.preprocessor = preprocessor
    prepared.model_input = model_input
    for part in ("train", "validation", "test"):
        rows = getattr(prepared.split, part)
        prepared.X[part] = preprocessor.transform(model_input.iloc[rows]).astype(np.float32)


def data_summary(recipe: Recipe, prepared: Prepared) -> dict[str, Any]:
    """Rows, columns and their kinds, split sizes and class counts."""
    counts = np.bincount(prepared.y, minlength=len(prepared.labels))
    return {
        "source": recipe.data.source,
        "rows": len(prepared.frame),
        "target": recipe.data.target,
        "columns": [c.to_dict() | {"missing": int(prepared.frame[c.name].isna().sum())} for c in prepared.schema],
        "split": prepared.split.sizes(),
        "class_counts": {str(label): int(n) for label, n in zip(prepared.labels, counts)},
        "n_features_after_preprocessing": int(prepared.X["train"].shape[1]),
    }


# --- train -------------------------------------------------------------------


def train(recipe: Recipe, prepared: Prepared, tracker: Tracker, progress: bool):
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


# --- evaluate ----------------------------------------------------------------


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


# --- export ------------------------------------------------------------------


def export(recipe: Recipe, prepared: Prepared, model: torch.nn.Module, metrics: dict[str, Any], bundle: Path) -> dict[str, float]:
    """Export the ONNX pipeline, check parity on the test split, and write the bundle.

    Raises
    ------
    ParityError
        If onnxruntime's probabilities differ from PyTorch's by more than
        ``export.parity_tolerance`` on any test row.
    """
    import onnxruntime as ort

    from shipyard.export.onnx_graph import PROBABILITIES, build_pipeline_onnx
    from shipyard.schema import onnx_feed

    n_features = prepared.X["train"].shape[1]
    onnx_model = build_pipeline_onnx(prepared.preprocessor, prepared.schema, model, n_features, recipe.export.opset)
    payload = onnx_model.SerializeToString()
    session = ort.InferenceSession(payload, providers=["CPUExecutionProvider"])
    test_input = prepared.model_input.iloc[prepared.split.test]
    (onnx_proba,) = session.run([PROBABILITIES], onnx_feed(test_input, prepared.schema))
    torch_proba = predict_proba_torch(model, prepared.X["test"])
    diff = float(np.abs(onnx_proba - torch_proba).max())
    tolerance = recipe.export.parity_tolerance
    if not diff <= tolerance:
        raise ParityError(
            f"export: ONNX and PyTorch probabilities differ by up to {diff:.3g} on the test split (tolerance {tolerance:g})",
            "report this with the recipe; raise export.parity_tolerance only if the difference is understood",
        )
    parity = {"max_abs_diff": diff, "tolerance": tolerance, "rows": int(len(test_input))}
    manifest = {
        "name": recipe.name,
        "task": recipe.task,
        "model_file": "model.onnx",
        "inputs": [c.to_dict() for c in prepared.schema],
        "outputs": {PROBABILITIES: {"dtype": "float32", "shape": ["batch", len(prepared.labels)]}},
        "labels": prepared.labels,
        "positive_label": metrics["positive_label"],
        "target": recipe.data.target,
        "metrics": {"test": metrics["test"]},
        "parity": parity,
    }
    write_bundle(bundle, {"model.onnx": payload}, manifest)
    return parity
