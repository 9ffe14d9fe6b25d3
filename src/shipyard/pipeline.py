"""Run a recipe's stages in order over one run directory.

prepare → train → evaluate → export. Inputs are checked before the run
directory is created, so bad data or a bad recipe leaves nothing behind; a run
that fails later is kept with ``status: failed`` and never becomes ``latest``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from shipyard.data.profile import profile_tables
from shipyard.evaluation.cv import check_cv, cross_validate
from shipyard.evaluation.diagnosis import diagnose
from shipyard.evaluation.learning_curve import learning_curve
from shipyard.recipe import Recipe, load_recipe
from shipyard.report import build_report
from shipyard.rundir import RunDir
from shipyard.stages.calibrate import calibrate
from shipyard.stages.evaluate import evaluate
from shipyard.stages.explain import WEIGHTS, check_explain, explain_run
from shipyard.stages.export import export
from shipyard.stages.prepare import (
    Prepared,
    data_summary,
    fit_preprocessing,
    load_and_split,
)
from shipyard.stages.train import train
from shipyard.tracking import Tracker
from shipyard.training.device import resolve_device


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


def check_inputs(recipe: Recipe) -> Prepared:
    """Every check that can fail on the user's input, before a run directory exists.

    Loads, profiles and splits the data, and checks the device, the
    cross-validation settings and ``explain.row``. ``shipyard validate`` runs
    exactly this.

    Returns
    -------
    Prepared
        The loaded and split data, ready for the prepare stage.

    Raises
    ------
    ShipyardError
        Naming the file, key or column at fault.
    """
    prepared = load_and_split(recipe)
    resolve_device(recipe.train.device)
    check_cv(recipe, prepared)
    check_explain(recipe, prepared)
    return prepared


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
        For a bad recipe, bad data, an unavailable device or an unusable
        MLflow store (all before anything is written), or when the exported
        model fails the parity check (the run is kept with status "failed").
    """
    start = time.perf_counter()
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    console = console or Console(stderr=True, quiet=not progress, log_path=False)
    prepared = check_inputs(recipe)
    tracker = Tracker(enabled=track)
    tracker.connect(recipe.name)

    run_dir = RunDir.create(runs_dir, recipe.name)
    run_dir.write_recipe(recipe.resolved())
    try:
        tracker.start(run_dir.path.name, recipe.resolved())
        console.log(f"run directory {run_dir.path}")
        if prepared.profile is not None:  # the profile covers classification data only
            run_dir.write_json("data_profile.json", prepared.profile)
            for table in profile_tables(prepared.profile):
                console.print(table)
        fit_preprocessing(recipe, prepared)
        run_dir.write_json("data_summary.json", data_summary(recipe, prepared))
        model, train_result = train(recipe, prepared, tracker, progress)
        run_dir.write_json("history.json", train_result.history)
        model, temperature = calibrate(recipe, prepared, model)
        metrics = evaluate(recipe, prepared, model, run_dir)
        if temperature is not None:
            metrics["calibration"]["temperature_scaling"] = temperature
        metrics["diagnosis"] = diagnose(train_result.history, train_result.best_epoch)
        if recipe.evaluate.cv:
            console.log(f"{recipe.evaluate.cv}-fold cross-validation (preparation and network refitted in each fold)")
            metrics["cv"] = cross_validate(recipe, prepared)
        if recipe.evaluate.learning_curve:
            console.log("learning curve (network retrained on fractions of the training rows)")
            metrics["learning_curve"] = learning_curve(recipe, prepared, recipe.evaluate.learning_curve)
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
        torch.save(model.state_dict(), run_dir.path / WEIGHTS)
        if recipe.explain.enabled:
            console.log("explaining the network (SHAP, permutation importance, surrogate tree)")
            explain_run(recipe, prepared, model, run_dir)
        console.log("writing report.html")
        build_report(run_dir.path)
        tracker.log_metrics(metrics["test"], "test")
        tracker.log_metrics(metrics.get("baseline", {}), "baseline")
        tracker.log_run_files(run_dir.path, run_dir.bundle, recipe.name)
        tracker.end("FINISHED")
    except BaseException as exc:
        run_dir.finish("failed", error=str(exc) or type(exc).__name__)
        tracker.end("FAILED")
        raise
    seconds = time.perf_counter() - start
    run_dir.finish("complete", seconds=round(seconds, 3), recipe_dir=str(recipe.base_dir), mlflow_run_id=tracker.run_id, model_version=tracker.model_version)
    return RunResult(run_dir.path, run_dir.bundle, metrics, train_result.history, tracker.model_version, seconds)
