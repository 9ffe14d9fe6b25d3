"""Export stage: the ONNX pipeline (preprocessing + network + the task's head), its parity check, and the bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from torch import nn

from shipyard.data.prepared import Prepared
from shipyard.errors import ShipyardError
from shipyard.export.bundle import GRAPH_LABELS, GRAPH_TASK, write_bundle
from shipyard.export.onnx_graph import build_pipeline_onnx
from shipyard.recipe import Recipe
from shipyard.schema import MISSING_RULE, missing_numeric_rule, onnx_feed
from shipyard.stages.base import RunContext, Stage, register_stage
from shipyard.tasks import get_task


class ParityError(ShipyardError):
    """The exported ONNX pipeline does not reproduce the PyTorch pipeline."""


def export(recipe: Recipe, prepared: Prepared, model: nn.Module, metrics: dict[str, Any], bundle: Path) -> dict[str, float]:
    """Export the ONNX pipeline, check parity on the test split, and write the bundle.

    Returns
    -------
    dict
        ``max_abs_diff``, ``tolerance`` and ``rows`` of the parity check.

    Raises
    ------
    ParityError
        If onnxruntime's outputs differ from PyTorch's by more than the task's
        parity tolerance (``export.parity_tolerance``) on any test row.
    """
    task = get_task(recipe.task)
    onnx_model = build_pipeline_onnx(prepared.preprocessor, prepared.schema, task.export_head(model), prepared.n_features, recipe.export.opset, task.output)
    # The labels and task also travel inside the hashed graph, so an edited manifest cannot relabel the outputs.
    onnx.helper.set_model_props(onnx_model, {GRAPH_LABELS: json.dumps([str(label) for label in prepared.labels]), GRAPH_TASK: task.name})
    payload = onnx_model.SerializeToString()
    session = ort.InferenceSession(payload, providers=["CPUExecutionProvider"])
    test_input = prepared.model_input.iloc[prepared.split.test]
    (onnx_output,) = session.run([task.output], onnx_feed(test_input, prepared.schema))
    torch_output = task.predict(model, prepared.X["test"])
    diff = float(np.abs(task.shape_output(onnx_output) - torch_output).max())
    tolerance = task.parity_tolerance(recipe, prepared)
    if not diff <= tolerance:
        raise ParityError(
            f"export: ONNX and PyTorch outputs differ by up to {diff:.3g} on the test split (tolerance {tolerance:g})",
            "report this with the recipe; raise export.parity_tolerance only if the difference is understood",
        )
    parity = {"max_abs_diff": diff, "tolerance": tolerance, "rows": int(len(test_input))}
    manifest = {
        "name": recipe.name,
        "task": task.name,
        "model_file": "model.onnx",
        "inputs": [c.to_dict() for c in prepared.schema],
        "missing_values": {"numeric": missing_numeric_rule(recipe.prepare.numeric_imputer), "categorical": MISSING_RULE},
        "outputs": task.manifest_outputs(prepared),
        "labels": prepared.labels,
        "positive_label": metrics.get("positive_label"),
        "target": recipe.data.target,
        "metrics": {"test": metrics["test"]},
        "parity": parity,
        "calibration": {"temperature": (metrics.get("calibration", {}).get("temperature_scaling") or {}).get("temperature")},
        "preprocessing": prepared.steps,
        "decision": metrics.get("decision"),
    }
    write_bundle(bundle, {"model.onnx": payload}, manifest)
    return parity


@register_stage
class ExportStage(Stage):
    """Write ``bundle/`` (``manifest.json`` + ``model.onnx``) after checking ONNX against PyTorch."""

    name = "export"
    section = "export"
    order = 60
    writes = ("bundle",)
    message = "exporting the ONNX bundle and checking parity"

    def run(self, ctx: RunContext) -> None:
        ctx.metrics["parity"] = export(ctx.recipe, ctx.data, ctx.network, ctx.metrics, ctx.run_dir.bundle)
        ctx.write_metrics()
