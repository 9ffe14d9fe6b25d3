"""Explain stage: SHAP values, permutation importance and a surrogate tree, written to ``explain.json``.

Runs inside the pipeline on the in-memory network, or alone on a finished run
(``shipyard explain RUN``: the network from its checkpoint, the data rebuilt
from its saved preparation, nothing refitted), or on a bundle and a file of
records (``shipyard explain BUNDLE --data FILE``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from shipyard.data.prepared import Prepared
from shipyard.errors import DataError, ShipyardError
from shipyard.explain import Model, check_row, explain
from shipyard.modalities import modality_of
from shipyard.recipe import Recipe
from shipyard.rundir import RunDir
from shipyard.schema import coerce, onnx_feed
from shipyard.stages.base import RunContext, Stage, register_stage
from shipyard.tasks import get_task

EXPLAIN = "explain.json"


def network_model(recipe: Recipe, prepared: Prepared, network: torch.nn.Module) -> Model:
    """Wrap a run's preprocessing and PyTorch network as a :class:`~shipyard.explain.Model`."""
    pre, task = prepared.preprocessor, get_task(recipe.task)

    def predict(frame: pd.DataFrame) -> np.ndarray:
        return task.predict(network, pre.transform(frame).astype(np.float32))

    labels = [str(v) for v in prepared.labels] or None
    return Model(prepared.schema, predict, task, labels, prepared.positive_index, network, pre)


def explain_run(ctx: RunContext, row: int | None = None, record: dict[str, Any] | None = None) -> dict[str, Any]:
    """Explain the run's network on its test split and write ``explain.json``.

    ``record`` (raw column values, e.g. parsed from ``--record JSON``) is
    explained locally instead of a test row.

    Raises
    ------
    ShipyardError
        If ``row`` is not a test-row position; InputError if ``record`` does not match the input schema.
    """
    recipe, prepared = ctx.recipe, ctx.data
    spec = recipe.explain
    test = prepared.model_input.iloc[prepared.split.test]
    train = prepared.model_input.iloc[prepared.split.train]
    what = "explain.row" if row is None else "--row"
    row = spec.row if row is None else row
    check_row(row, len(test), what)
    result = explain(
        network_model(recipe, prepared, ctx.network),
        test,
        prepared.y[prepared.split.test],
        train,
        samples=spec.samples,
        background=spec.background,
        repeats=spec.permutation_repeats,
        depth=spec.surrogate_depth,
        row=row,
        seed=recipe.seed,
        record=None if record is None else coerce(pd.DataFrame([record]), prepared.schema, "--record"),
    )
    result["source"] = "run"
    ctx.run_dir.write_json(EXPLAIN, result)
    return result


def explain_bundle(bundle: str | Path, data: Path, target: str | None, row: int, samples: int = 200, background: int = 100, seed: int = 0) -> dict[str, Any]:
    """Explain a bundle's ONNX model on a file of records with the model-agnostic explainer.

    The records are both the rows explained and the SHAP background (a
    bundle holds no training data); with ``target``, permutation importance
    is computed too.

    Raises
    ------
    BundleError
        If the bundle is missing or was modified (sha256 mismatch).
    DataError
        If ``target`` is not a column of ``data`` or holds labels the bundle does not know.
    """
    from shipyard.data.loading import load_records
    from shipyard.export.bundle import read_manifest
    from shipyard.predictor import Predictor

    modality = read_manifest(bundle)[1].get("input", "tabular")
    if modality != "tabular":
        raise ShipyardError(f"{bundle}: explaining a bundle on --data is for table models; this one takes {modality}", "explain its run instead: shipyard explain RUN [--row N]")
    predictor = Predictor(bundle)
    frame = load_records(data, predictor.schema, role="--data")
    task = predictor.task
    labels = [str(v) for v in predictor.labels] or None
    y = None
    if target is not None:
        if target not in frame.columns:
            raise DataError(f"{data}: target column '{target}' not found", f"columns are: {', '.join(map(str, frame.columns))}")
        if labels is None:
            y = frame[target].to_numpy(dtype=np.float64)
        else:
            unknown = sorted(set(frame[target].astype(str)) - set(labels))
            if unknown:
                raise DataError(f"{data}: column '{target}' holds labels the model does not know: {unknown[:5]}", f"the model's labels are {labels}")
            y = frame[target].astype(str).map({n: i for i, n in enumerate(labels)}).to_numpy()
    model_input = coerce(frame, predictor.schema, str(data))
    check_row(row, len(model_input), "--row", str(data))
    schema = predictor.schema

    def predict(coerced: pd.DataFrame) -> np.ndarray:
        (out,) = predictor.session.run([task.output], onnx_feed(coerced, schema))
        return task.shape_output(out).astype(np.float64)

    model = Model(schema, predict, task, labels, predictor.positive_index)
    result = explain(model, model_input, y, model_input, samples=samples, background=background, row=row, seed=seed)
    result["source"] = f"bundle {predictor.path} on {data}"
    return result


def write_explain(path: Path, result: dict[str, Any]) -> Path:
    """Write an explanation as JSON, atomically, NaN as null (as every run file)."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return RunDir(path.parent).write_json(path.name, result)


@register_stage
class ExplainStage(Stage):
    """SHAP, permutation importance and a surrogate tree of the network (``explain.enabled``)."""

    name = "explain"
    section = "explain"
    order = 70
    writes = (EXPLAIN,)
    rerunnable = True
    message = "explaining the network (SHAP, permutation importance, surrogate tree)"

    def enabled(self, recipe: Recipe) -> bool:
        return recipe.explain.enabled

    def describe(self, recipe: Recipe) -> str:
        modality = modality_of(recipe)
        if modality is None:
            return self.message
        return f"explaining the network (Integrated Gradients over the {'tokens' if modality.name == 'text' else 'pixels'})"

    def check(self, recipe: Recipe, data: Prepared) -> None:
        check_row(recipe.explain.row, len(data.split.test), "explain.row")

    def run(self, ctx: RunContext) -> None:
        modality = modality_of(ctx.recipe)
        if modality is not None:  # token attributions, or pixel saliency
            ctx.run_dir.write_json(EXPLAIN, modality.explain(ctx))
            return
        explain_run(ctx)
