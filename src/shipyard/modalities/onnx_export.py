"""Export a network on one raw-input tensor (token ids, pixels) with ``torch.onnx.export(dynamo=True)`` and named dynamic axes."""

from __future__ import annotations

import json
import logging
import warnings
from typing import Any

import onnx
import torch
from torch import nn

from shipyard.export.bundle import GRAPH_LABELS, GRAPH_TASK
from shipyard.modalities.predictors import GRAPH_INPUT


def export_graph(module: nn.Module, example: torch.Tensor, input_name: str, dynamic: dict[int, tuple[str, int | None]], opset: int, output: str) -> onnx.ModelProto:
    """Export ``module`` (eval mode, on the CPU) to ONNX.

    Parameters
    ----------
    module : nn.Module
        Maps ``example``-shaped tensors to the output.
    example : Tensor
        An example input; its dtype is the graph input's.
    input_name : str
        Name of the graph's input.
    dynamic : dict of int to (str, int or None)
        Axis → (name, largest size or None): the axes that vary (batch, sequence).
    opset : int
        Default-domain opset (18 or later).
    output : str
        Name of the graph's output.

    Returns
    -------
    onnx.ModelProto
        Checked with ``onnx.checker.check_model``.
    """
    module = module.to("cpu").eval()
    dims = {axis: torch.export.Dim(name, max=largest) if largest else torch.export.Dim(name) for axis, (name, largest) in dynamic.items()}
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module, (example,), input_names=[input_name], output_names=[output], dynamo=True, opset_version=opset, dynamic_shapes=(dims,), verbose=False
        )
    model = program.model_proto
    model.producer_name = "shipyard"
    onnx.checker.check_model(model)
    return model


def parity_session(model: onnx.ModelProto) -> Any:
    """An onnxruntime CPU session of an exported graph, for the parity check."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def label_graph(model: onnx.ModelProto, labels: list, task: str, modality: str) -> None:
    """Record the labels, the task and the input modality inside the graph, so an edited manifest cannot relabel or reinterpret it."""
    onnx.helper.set_model_props(model, {GRAPH_LABELS: json.dumps([str(label) for label in labels]), GRAPH_TASK: task, GRAPH_INPUT: modality})


def bundle_manifest(recipe: Any, prepared: Any, metrics: dict[str, Any], parity: dict[str, Any], modality: str, inputs: list[dict[str, Any]], about: dict[str, Any]) -> dict[str, Any]:
    """The manifest of a text or image bundle: every bundle's fields (:func:`shipyard.stages.export.manifest_fields`), ``input`` naming the modality and ``about`` under its name.

    Parameters
    ----------
    recipe, prepared
        The run's.
    metrics : dict
        The run's ``metrics.json`` so far (test metrics, calibration, decision).
    parity : dict
        The export's parity check.
    modality : str
        ``text`` or ``image``.
    inputs : list of dict
        What a request record holds.
    about : dict
        What the predictor needs to turn records into the graph's input (tokenizer, pixel scale).
    """
    from shipyard.jsonsafe import finite
    from shipyard.stages.export import manifest_fields

    return {**manifest_fields(recipe, prepared, metrics, parity), "input": modality, "inputs": inputs, modality: finite(about)}
