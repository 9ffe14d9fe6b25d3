"""Time the explain stage on 200 rows of breast_cancer and of wine (target: under 30 s each).

Usage: ``.venv/bin/python benchmarks/explain.py``. Trains each example recipe
once (no MLflow), then times, on the same 200 rows, the pipeline's explain
stage (DeepExplainer SHAP + permutation importance + surrogate tree) and the
model-agnostic path ``shipyard explain BUNDLE --data`` (PermutationExplainer
through onnxruntime). The test splits hold 114 (breast_cancer) and 36 (wine)
rows, so the 200 rows are drawn from the whole data set (with replacement for
wine's 178 rows); this is a timing benchmark, not an evaluation.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
ROWS = 200


def main() -> int:
    from shipyard.explain import explain
    from shipyard.pipeline import run
    from shipyard.recipe import load_recipe
    from shipyard.rundir import RunDir
    from shipyard.stages import RunContext
    from shipyard.stages.explain import explain_bundle, network_model

    console = Console(width=130)
    table = Table(title=f"explain stage on {ROWS} rows (seconds; target < 30 s)")
    for col in ("data", "path", "SHAP", "permutation", "surrogate", "total", "< 30 s"):
        table.add_column(col, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("breast_cancer", "wine"):
            recipe = load_recipe(ROOT / "examples" / f"{name}.yaml")
            recipe.explain.enabled = False
            result = run(recipe, runs_dir=tmp, track=False, progress=False)
            ctx = RunContext.from_run(RunDir(result.path))
            recipe, prepared, network = ctx.recipe, ctx.data, ctx.network
            rng = np.random.default_rng(0)
            rows = rng.choice(len(prepared.frame), size=ROWS, replace=len(prepared.frame) < ROWS)
            data = prepared.model_input.iloc[rows]
            train = prepared.model_input.iloc[prepared.split.train]
            tic = time.perf_counter()
            out = explain(network_model(recipe, prepared, network), data, prepared.y[rows], train, samples=ROWS, background=100, seed=0)
            total = time.perf_counter() - tic
            s = out["seconds"]
            table.add_row(name, "run: DeepExplainer", f"{s['shap']:.2f}", f"{s['permutation']:.2f}", f"{s['surrogate']:.2f}", f"{total:.2f}", "yes" if total < 30 else "NO")
            csv = Path(tmp) / f"{name}.csv"
            prepared.frame.iloc[rows].to_csv(csv, index=False)
            tic = time.perf_counter()
            out = explain_bundle(result.bundle, csv, recipe.data.target, 0, samples=ROWS, background=100)
            total = time.perf_counter() - tic
            s = out["seconds"]
            table.add_row(name, "bundle: Permutation", f"{s['shap']:.2f}", f"{s['permutation']:.2f}", f"{s['surrogate']:.2f}", f"{total:.2f}", "yes" if total < 30 else "NO")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
