"""Export stage: the ONNX pipeline, its parity check, and the bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch

from shipyard.errors import ShipyardError
from shipyard.export.bundle import GRAPH_LABELS, GRAPH_TASK, write_bundle
from shipyard.export.onnx_graph import PREDICTION, PROBABILITIES, build_pipeline_onnx
from shipyard.recipe import Recipe
from shipyard.schema import onnx_feed
from shipyard.stages.prepare import Prepared
from shipyard.stages.train import predict_proba_torch, predict_values_torch


class ParityError(ShipyardError):
    """The exported ONNX pipeline does not reproduce the PyTorch pipeline."""


def export(recipe: Recipe, prepared: Prepared, model: torch.nn.Module, metrics: dict[str, Any], bundle: Path) -> dict[str, float]:
    """Export the ONNX pipeline, check parity on the test split, and write the bundle.

    Raises
    ------
    ParityError
        If onnxruntime's probabilities differ from PyTorch's by more than
        ``export.parity_tolerance`` on any test row.
    """
    n_features = prepared.X["train"].shape[1]
    regression = recipe.task == "regression"
    onnx_model = build_pipeline_onnx(prepared.preprocessor, prepared.schema, model, n_features, recipe.export.opset, recipe.task)
    # The labels and task also travel inside the hashed graph, so an edited manifest cannot relabel the outputs.
    onnx.helper.set_model_props(onnx_model, {GRAPH_LABELS: json.dumps([str(label) for label in prepared.labels]), GRAPH_TASK: recipe.task})
    payload = onnx_model.SerializeToString()
    session = ort.InferenceSession(payload, providers=["CPUExecutionProvider"])
    test_input = prepared.model_input.iloc[prepared.split.test]
    output = PREDICTION if regression else PROBABILITIES
    (onnx_proba,) = session.run([output], onnx_feed(test_input, prepared.schema))
    torch_proba = predict_values_torch(model, prepared.X["test"]).reshape(-1, 1) if regression else predict_proba_torch(model, prepared.X["test"])
    diff = float(np.abs(onnx_proba - torch_proba).max())
    tolerance = recipe.export.parity_tolerance
    if regression:  # values are in target units: the tolerance is relative to the target's scale
        tolerance *= max(1.0, float(np.abs(prepared.y).max()))
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
        "outputs": {PREDICTION: {"dtype": "float32", "shape": ["batch", 1]}} if regression else {PROBABILITIES: {"dtype": "float32", "shape": ["batch", len(prepared.labels)]}},
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
