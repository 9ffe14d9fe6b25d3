"""Build one ONNX graph from raw input columns to class probabilities.

The fitted scikit-learn preprocessor is converted with skl2onnx
(:func:`preprocessing_onnx`), the network with ``torch.onnx.export`` (dynamo
exporter, :func:`export_network`), and the two are joined with
``onnx.compose.merge_models`` after aligning their opset and IR versions
(:func:`merge_pipeline`). The compress stage merges quantized or float16
networks into the same preprocessing graph the same way.
"""

from __future__ import annotations

import copy
import logging
import warnings

import onnx
import torch
from onnx import compose, version_converter
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from torch import nn

from shipyard.schema import Column

PROBABILITIES = "probabilities"
PREDICTION = "prediction"
"""Output of a regression bundle: values of shape (batch, 1) in target units."""
FEATURES = "features"


def build_pipeline_onnx(
    preprocessor: ColumnTransformer, schema: list[Column], model: nn.Module, n_features: int, opset: int = 18, output: str = PROBABILITIES
) -> onnx.ModelProto:
    """Return the ONNX model of preprocessing followed by the network and its output head.

    Parameters
    ----------
    preprocessor : ColumnTransformer
        Fitted on the training split; takes the columns named by ``Column.onnx_name``.
    schema : list of Column
        One graph input per column, shape (batch, 1): float for numeric,
        string for categorical.
    model : nn.Module
        The network with the task's head (:meth:`shipyard.tasks.base.Task.export_head`):
        maps (batch, n_features) to probabilities (batch, n_classes) or values (batch, 1).
    n_features : int
        Width of the preprocessor output.
    opset : int
        Default-domain opset of the result (18 or later).
    output : str
        Name of the graph's output (the task's ``output``: ``probabilities`` or ``prediction``).

    Returns
    -------
    onnx.ModelProto
        Inputs: one per column. Output ``output``: float tensor of shape (batch, n_outputs).
    """
    return merge_pipeline(preprocessing_onnx(preprocessor, schema, opset), export_network(model, n_features, opset, output))


def preprocessing_onnx(preprocessor: ColumnTransformer, schema: list[Column], opset: int = 18) -> onnx.ModelProto:
    """Convert the fitted preprocessing with skl2onnx: one (batch, 1) input per raw column, one float output.

    Returns
    -------
    onnx.ModelProto
        Inputs named by ``Column.onnx_name`` (float for numeric, string for
        categorical columns); output (batch, n_features) float.
    """
    types = [
        (c.onnx_name, FloatTensorType([None, 1]) if c.kind == "numeric" else StringTensorType([None, 1])) for c in schema
    ]
    return convert_sklearn(preprocessor, initial_types=types, target_opset={"": opset, "ai.onnx.ml": 3})


def merge_pipeline(pre: onnx.ModelProto, net: onnx.ModelProto) -> onnx.ModelProto:
    """Join the preprocessing graph and a network graph (input ``features``) into one checked model.

    Parameters
    ----------
    pre : onnx.ModelProto
        From :func:`preprocessing_onnx` (not modified).
    net : onnx.ModelProto
        From :func:`export_network`, or a quantized / float16 version of it
        (opset imports no node uses, as onnxruntime's tools add, are dropped first).

    Returns
    -------
    onnx.ModelProto
        One opset import per domain, checked with ``onnx.checker.check_model(full_check=True)``.
    """
    net = one_opset_per_domain(copy.deepcopy(net), drop_unused=True)
    # Shape inference (onnxruntime's quantization pre-processing) lists the output among the value infos;
    # add_prefix would then rename the graph's output with them.
    outputs = {o.name for o in net.graph.output}
    kept = [info for info in net.graph.value_info if info.name not in outputs]
    del net.graph.value_info[:]
    net.graph.value_info.extend(kept)
    opset = next(o.version for o in net.opset_import if o.domain in ("", "ai.onnx"))
    pre = _align(copy.deepcopy(pre), opset, max(net.ir_version, pre.ir_version))
    net.ir_version = pre.ir_version
    net = compose.add_prefix(net, "net/", rename_inputs=True, rename_outputs=False)
    merged = compose.merge_models(pre, net, io_map=[(pre.graph.output[0].name, f"net/{FEATURES}")])
    # merge_models lists the default domain once per model; onnxruntime's quantizers then fail
    # ("Failed to find proper ai.onnx domain"): keep one entry per domain.
    one_opset_per_domain(merged)
    merged.producer_name = "shipyard"
    onnx.checker.check_model(merged, full_check=True)
    return merged


def one_opset_per_domain(model: onnx.ModelProto, drop_unused: bool = False) -> onnx.ModelProto:
    """List each operator-set domain once in ``opset_import`` (the highest version), in place; ``drop_unused`` also drops domains no node uses.

    ``onnx.compose.merge_models`` concatenates the two models' imports, so the
    default domain appeared twice (``[("ai.onnx.ml", 1), ("", 18), ("", 18)]``);
    ``onnx.checker`` accepts that, but tools that look the domain up (e.g.
    onnxruntime's ``quantize_dynamic``: "Failed to find proper ai.onnx
    domain") refuse the graph. ``"ai.onnx"`` is the default domain ``""``.

    Returns
    -------
    onnx.ModelProto
        ``model`` itself.
    """
    used = {"" if n.domain == "ai.onnx" else n.domain for n in model.graph.node} | {""}
    versions: dict[str, int] = {}
    for entry in model.opset_import:
        domain = "" if entry.domain == "ai.onnx" else entry.domain
        if drop_unused and domain not in used:
            continue
        versions[domain] = max(versions.get(domain, 0), entry.version)
    del model.opset_import[:]
    model.opset_import.extend(onnx.helper.make_opsetid(domain, version) for domain, version in versions.items())
    return model


def export_network(model: nn.Module, n_features: int, opset: int, output: str) -> onnx.ModelProto:
    """Export a network on preprocessed features with ``torch.onnx.export(dynamo=True)`` and a dynamic batch axis.

    Returns
    -------
    onnx.ModelProto
        Input ``features`` (batch, n_features), output named ``output``.
    """
    wrapped = model.to("cpu").eval()
    example = (torch.zeros(2, n_features),)
    batch = torch.export.Dim("batch")
    # The exporter logs each step and warns about internals; the user needs neither.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            wrapped,
            example,
            input_names=[FEATURES],
            output_names=[output],
            dynamo=True,
            opset_version=opset,
            dynamic_shapes=({0: batch},),
            verbose=False,
        )
    return program.model_proto


def _align(model: onnx.ModelProto, opset: int, ir_version: int) -> onnx.ModelProto:
    """Raise the default-domain opset to ``opset`` and set the IR version, so merging is allowed."""
    current = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), opset)
    if current != opset:
        model = version_converter.convert_version(model, opset)
    model.ir_version = ir_version
    return model
