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
    payload = graph_payload(onnx_model, prepared, task.name)
    parity = check_parity(recipe, prepared, model, payload)
    write_bundle(bundle, {"model.onnx": payload}, bundle_manifest(recipe, prepared, metrics, parity))
    return parity


def graph_payload(onnx_model: onnx.ModelProto, prepared: Prepared, task_name: str) -> bytes:
    """The serialized graph, with the labels and task recorded inside it.

    They travel inside the hashed graph, so an edited manifest cannot relabel the outputs.
    """
    onnx.helper.set_model_props(onnx_model, {GRAPH_LABELS: json.dumps([str(label) for label in prepared.labels]), GRAPH_TASK: task_name})
    return onnx_model.SerializeToString()


def check_parity(recipe: Recipe, prepared: Prepared, model: nn.Module, payload: bytes) -> dict[str, Any]:
    """Compare an exported pipeline (raw test rows through onnxruntime) with the PyTorch network (preprocessed rows).

    Returns
    -------
    dict
        ``max_abs_diff``, ``tolerance`` (the task's, from ``export.parity_tolerance``) and ``rows``.

    Raises
    ------
    ParityError
        If any test row's outputs differ by more than the tolerance.
    """
    task = get_task(recipe.task)
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
    return {"max_abs_diff": diff, "tolerance": tolerance, "rows": int(len(test_input))}


def bundle_manifest(recipe: Recipe, prepared: Prepared, metrics: dict[str, Any], parity: dict[str, Any]) -> dict[str, Any]:
    """The manifest fields of a bundle (``write_bundle`` adds the files, versions and format).

    Parameters
    ----------
    metrics : dict
        The model's ``test`` metrics, ``positive_label``, ``decision`` and ``calibration`` (as ``metrics.json``).
    parity : dict
        Its parity check.
    """
    task = get_task(recipe.task)
    return {
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
