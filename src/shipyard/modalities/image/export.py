"""Export an image network: one ONNX graph from pixels in [0, 1] (normalisation inside) to probabilities, checked against PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from shipyard.data.prepared import Prepared
from shipyard.export.bundle import write_bundle
from shipyard.modalities.onnx_export import bundle_manifest, export_graph, label_graph, parity_session
from shipyard.modalities.predictors import IMAGE_INPUT
from shipyard.recipe import Recipe
from shipyard.stages.export import parity_record, seal_graph
from shipyard.tasks import get_task


def export_image(recipe: Recipe, prepared: Prepared, network: nn.Module, metrics: dict[str, Any], bundle: Path) -> dict[str, Any]:
    """Write the bundle of an image network and check it reproduces PyTorch on every test image.

    ``model.onnx`` takes ``pixels`` float32 (batch, channels, height, width)
    in [0, 1] (dynamic batch) and standardises them with the training
    statistics inside the graph; the manifest records the shape and the raw
    full-intensity value, so the predictor scales nested arrays and PNGs alike.

    Returns
    -------
    dict
        ``max_abs_diff``, ``tolerance``, ``rows``.

    Raises
    ------
    ParityError
        If onnxruntime's outputs differ from PyTorch's by more than the tolerance on any test image.
    """
    task = get_task(recipe.task)
    preparation = prepared.preprocessor
    example = torch.zeros(2, *preparation.shape)
    model = export_graph(task.export_head(network), example, IMAGE_INPUT, {0: ("batch", None)}, recipe.export.opset, task.output)
    label_graph(model, prepared.labels, task.name, "image")
    session = parity_session(model)
    (onnx_output,) = session.run([task.output], {IMAGE_INPUT: np.ascontiguousarray(prepared.X["test"], dtype=np.float32)})
    torch_output = task.predict(network, prepared.X["test"])
    diff = float(np.abs(task.shape_output(onnx_output) - torch_output).max())
    parity = parity_record(diff, task.parity_tolerance(recipe, prepared), len(prepared.X["test"]), "test images")
    about = {
        "graph_input": IMAGE_INPUT,
        "shape": preparation.shape,
        "max_value": preparation.max_value,
        "normalisation": {"mean": preparation.mean, "std": preparation.std},
        "accepts": "base64 PNG, or nested arrays (height, width[, channels]) of raw pixel values in [0, max_value]",
    }
    manifest = bundle_manifest(recipe, prepared, metrics, parity, "image", [{"name": "image", "kind": "image", "dtype": "float32"}], about)
    write_bundle(bundle, {"model.onnx": seal_graph(model, manifest)}, manifest)
    return parity
