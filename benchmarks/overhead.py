"""Overhead of bootstrap CIs (and the baselines leaderboard) and of the report, as a fraction of a whole run.

Usage: ``.venv/bin/python benchmarks/overhead.py``. Runs each example recipe
(no MLflow, explain on, as a user would), then re-times on the finished run:
the bootstrap CIs of every model's metrics (``evaluate.bootstrap.samples``
resamples, all metrics, network + 3 baselines), fitting the baselines, and
rebuilding ``report.html``. A warm-up run first absorbs one-off imports.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    from shipyard.pipeline import run
    from shipyard.recipe import load_recipe
    from shipyard.report import build_report
    from shipyard.stages.evaluate import assess
    from shipyard.stages.prepare import fit_preprocessing, load_and_split
    from shipyard.tasks import get_task

    console = Console(width=130)
    table = Table(title="overhead on a whole run (seconds; fraction of the run)")
    for col in ("recipe", "run", "bootstrap CIs", "baselines fit", "report", "CIs / run", "report / run"):
        table.add_column(col, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        # Warm-up (not timed): the first run in a process pays one-off imports (torch.onnx, shap, matplotlib).
        run(load_recipe(ROOT / "examples" / "wine.yaml"), runs_dir=tmp, track=False, progress=False)
        for name in ("breast_cancer", "wine", "diabetes"):
            recipe = load_recipe(ROOT / "examples" / f"{name}.yaml")
            result = run(recipe, runs_dir=tmp, track=False, progress=False)
            stored = pd.read_csv(result.path / "predictions.csv")
            y = stored["y_true"].to_numpy()
            if recipe.task == "regression":
                predictions = {m: stored[m].to_numpy() for m in ("network", "linear_regression", "hist_gradient_boosting", "dummy_mean")}
            else:
                labels = result.metrics["labels"]
                predictions = {m: stored[[f"{m}:{l}" for l in labels]].to_numpy() for m in ("network", "logistic_regression", "hist_gradient_boosting", "dummy")}
                y = y.astype(np.int64) if np.issubdtype(y.dtype, np.integer) else y
            pos = None if recipe.task == "regression" or result.metrics.get("positive_label") is None else result.metrics["labels"].index(result.metrics["positive_label"])
            tic = time.perf_counter()
            task = get_task(recipe.task)
            assess(recipe, task, y, predictions, pos)
            boot = time.perf_counter() - tic
            prepared = load_and_split(recipe)
            fit_preprocessing(recipe, prepared)
            tic = time.perf_counter()
            task.baselines(prepared.X["train"], prepared.y[prepared.split.train], prepared.X["test"], recipe.seed, prepared)
            base = time.perf_counter() - tic
            tic = time.perf_counter()
            build_report(result.path)
            report = time.perf_counter() - tic
            table.add_row(name, f"{result.seconds:.2f}", f"{boot:.3f}", f"{base:.2f}", f"{report:.2f}", f"{boot / result.seconds:.1%}", f"{report / result.seconds:.1%}")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
