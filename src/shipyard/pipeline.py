"""Run a recipe's stages in order over one run directory.

The stages are those registered in :mod:`shipyard.stages` (prepare → train →
calibrate → evaluate → export → compress → explain → attack → report). Every stage's
:meth:`~shipyard.stages.base.Stage.check` runs before the run directory is
created, so bad data or a bad recipe leaves nothing behind; a run that fails
later is kept with ``status: failed`` and never becomes ``latest``.
``run(..., resume=RUN)`` continues an interrupted run in its own directory
from its last checkpoint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from shipyard.data.preparation import check_unchanged, load_and_split
from shipyard.data.prepared import Prepared
from shipyard.errors import ShipyardError
from shipyard.recipe import Recipe, load_recipe, recipe_from_dict
from shipyard.rundir import RunDir, log, process_gone, process_identity, resolve_run
from shipyard.stages.base import RunContext, stages
from shipyard.tracking import Tracker


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

    Loads, profiles and splits the data (the same path for every task), then
    runs each enabled stage's ``check`` (device, cross-validation, explain
    row, ...). ``shipyard validate`` runs exactly this.

    Returns
    -------
    Prepared
        The loaded and split data, ready for the prepare stage.

    Raises
    ------
    ShipyardError
        Naming the file, key or column at fault.
    """
    data = load_and_split(recipe)
    for stage in stages():
        if stage.enabled(recipe):
            stage.check(recipe, data)
    return data


def _resumed(resume: str | Path) -> tuple[RunDir, Recipe]:
    """The run to resume and its recipe (relative data paths from the recipe's original folder)."""
    import yaml

    run = resolve_run(resume)  # a run whose process is gone is marked failed (killed) here
    record = run.read_json("run.json")
    if record.get("status") == "complete":
        raise ShipyardError(f"{run.path}: the run is complete; nothing to resume", "start a new run with 'shipyard run RECIPE'")
    me = process_identity()
    if record.get("status") == "running" and record.get("host") == me["host"] and record.get("pid") != me["pid"] and not process_gone(record):
        raise ShipyardError(f"{run.path}: the run is still running (pid {record.get('pid')})", "wait for it to end, or stop that process first")
    raw = run.path / "recipe.yaml"
    recipe = recipe_from_dict(yaml.safe_load(raw.read_text(encoding="utf-8")), source=str(raw), base_dir=Path(record.get("recipe_dir") or Path.cwd()))
    return run, recipe


def run(
    recipe: Recipe | str | Path | None = None,
    runs_dir: str | Path = "runs",
    track: bool = True,
    progress: bool = True,
    console: Console | None = None,
    resume: str | Path | None = None,
) -> RunResult:
    """Run a recipe end to end: every registered stage, in order.

    Parameters
    ----------
    recipe : Recipe, str or Path, optional
        A validated recipe or the path of a recipe YAML file; not needed with ``resume``.
    runs_dir : str or Path
        Root of run directories (``<runs_dir>/<name>/<timestamp>``).
    track : bool
        Log to MLflow and register the bundle.
    progress : bool
        Show progress bars and stage messages.
    console : rich.console.Console, optional
        Where messages go.
    resume : str or Path, optional
        An interrupted run directory: continue it from its last checkpoint
        (same split and preprocessing, optimizer, schedule, early-stopping
        state and random-number generators), then run the remaining stages.

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
    run_dir = None
    if resume is not None:
        run_dir, recipe = _resumed(resume)
    elif recipe is None:
        raise ShipyardError("no recipe given", "pass a recipe file, or resume=RUN")
    elif not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    console = console or Console(stderr=True, quiet=not progress, log_path=False)
    data = check_inputs(recipe)
    if run_dir is not None:
        check_unchanged(run_dir.path, recipe.data.source, data.data_sha256)
        track = track and run_dir.read_json("run.json").get("tracked", True)  # a run started with --no-track resumes untracked
    tracker = Tracker(enabled=track)
    tracker.connect(recipe.name)

    if run_dir is None:
        run_dir = RunDir.create(runs_dir, recipe.name, recipe_dir=str(recipe.base_dir), tracked=track, **process_identity())
        run_dir.write_recipe(recipe.resolved())
        previous_mlflow = None
    else:
        previous_mlflow = run_dir.read_json("run.json").get("mlflow_run_id")
        run_dir.update(status="running", resumed=True, killed=False, error=None, **process_identity())  # the interruption's error is history
    ctx = RunContext(recipe, data, run_dir, tracker, console, progress, resume=resume is not None)
    try:
        tracker.start(run_dir.path.name, recipe.resolved(), run_id=previous_mlflow)
        run_dir.update(mlflow_run_id=tracker.run_id, mlflow_tracking_uri=tracker.tracking_uri)
        console.log(f"run directory {run_dir.path}")
        written: list[str] = []
        for stage in stages():
            if not stage.enabled(recipe):
                continue
            message = stage.describe(recipe)
            if message:
                console.log(message)
            stage.run(ctx)
            written += list(stage.writes)
    except BaseException as exc:
        run_dir.finish("failed", error=str(exc) or type(exc).__name__)
        tracker.end("FAILED")
        raise
    # The model is finished and its bundle written: no failure from here on loses it.
    tracking_error = _track_finished(tracker, ctx, written)
    seconds = time.perf_counter() - start
    extra = {"tracking_error": tracking_error} if tracking_error else {}
    run_dir.finish("complete", seconds=round(seconds, 3), mlflow_run_id=tracker.run_id, model_version=tracker.model_version, **extra)
    history = ctx.training.history if ctx.training is not None else []
    return RunResult(run_dir.path, run_dir.bundle, ctx.metrics, history, tracker.model_version, seconds)


SAMPLE_ROWS = 100
"""Training rows the logged MLflow model must predict as the bundle does before it is registered."""


def _track_finished(tracker: Tracker, ctx: RunContext, written: list[str]) -> str | None:
    """Log the finished run's metrics and files to MLflow and register its bundle; a failure is reported, not raised.

    Returns
    -------
    str or None
        The tracking error (one line), or None when everything was logged and registered.
    """
    data = ctx.data
    try:
        tracker.log_metrics(ctx.metrics.get("test", {}), "test")
        tracker.log_metrics(ctx.metrics.get("baseline", {}), "baseline")
        tracker.log_run_files(ctx.run_dir.path, written)
        tracker.register_bundle(ctx.run_dir.bundle, ctx.recipe.name, training_sample(data, ctx.recipe.seed))
    except Exception as exc:  # noqa: BLE001  the model is finished; MLflow's failure must not lose it
        error = " ".join((str(exc) or type(exc).__name__).split())[:500]
        log.warning(f"MLflow logging or registration failed ({error}); the run is complete and its bundle is at {ctx.run_dir.bundle}")
        try:
            tracker.end("FINISHED")
        except Exception:  # noqa: BLE001  the store is unusable; run.json keeps the error
            pass
        return error
    tracker.end("FINISHED")
    return None


def training_sample(data: Prepared, seed: int, rows: int = SAMPLE_ROWS) -> Any:
    """Up to ``rows`` raw training rows (input columns only), rows with missing values first, for the MLflow round trip."""
    import numpy as np

    frame = data.frame.iloc[data.split.train][data.features]
    missing = np.flatnonzero(frame.isna().any(axis=1).to_numpy())[: rows // 4]
    others = np.setdiff1d(np.arange(len(frame)), missing)
    rng = np.random.default_rng(seed)
    chosen = np.concatenate([missing, rng.choice(others, size=min(rows - len(missing), len(others)), replace=False)])
    return frame.iloc[np.sort(chosen)].reset_index(drop=True)
