"""Lower-precision graphs: the merged bundle graph lists each opset once (so onnxruntime's quantizers accept it),
int8 and float16 transforms of real exported networks, and clear errors when a transform cannot do its job."""

from __future__ import annotations

import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from shipyard.compression.formats import MIN_CALIBRATION_ROWS, FormatError, fp16, int8_dynamic, int8_static
from shipyard.export.onnx_graph import build_pipeline_onnx, merge_pipeline, preprocessing_onnx
from shipyard.models.mlp import MLP
from shipyard.schema import onnx_feed

from .conftest import rows, softmax_graph


@pytest.fixture(scope="module")
def mlp_graph(breast_cancer):
    _, prepared = breast_cancer
    torch.manual_seed(0)
    network = MLP(prepared.n_features, 2, [32, 16], 0.1, "relu").eval()
    return network, softmax_graph(network, prepared.n_features)


def _run(model: onnx.ModelProto, prepared, part: str = "test"):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    frame = prepared.model_input.iloc[getattr(prepared.split, part)]
    return session.run(["probabilities"], onnx_feed(frame, prepared.schema))[0]


def test_merged_graph_lists_each_opset_domain_once_and_quantizes_as_it_is(breast_cancer, mlp_graph, tmp_path):
    """onnx.compose.merge_models listed the default domain twice; quantize_dynamic then failed with
    'Failed to find proper ai.onnx domain' on the bundle's own graph."""
    from onnxruntime.quantization import quantize_dynamic

    _, prepared = breast_cancer
    network, _ = mlp_graph
    merged = build_pipeline_onnx(prepared.preprocessor, prepared.schema, nn.Sequential(network, nn.Softmax(dim=1)), prepared.n_features)
    domains = [entry.domain for entry in merged.opset_import]
    assert sorted(domains) == sorted(set(domains)) and "" in domains
    onnx.save(merged, tmp_path / "merged.onnx")
    quantize_dynamic(tmp_path / "merged.onnx", tmp_path / "q.onnx", op_types_to_quantize=["MatMul"])
    assert onnx.load(tmp_path / "q.onnx").graph.output[0].name == "probabilities"


@pytest.mark.parametrize("transform", ["int8_dynamic", "int8_static", "fp16"])
def test_transformed_network_merges_into_the_bundle_graph_and_stays_close(breast_cancer, mlp_graph, transform):
    _, prepared = breast_cancer
    _, graph = mlp_graph
    if transform == "int8_dynamic":
        low = int8_dynamic(graph)
    elif transform == "int8_static":
        low = int8_static(graph, prepared.X["train"][:200])
    else:
        low = fp16(graph)
    pre = preprocessing_onnx(prepared.preprocessor, prepared.schema)
    reference, merged = merge_pipeline(pre, graph), merge_pipeline(pre, low)
    # The graph's input columns and output survive shape inference and merging.
    assert [i.name for i in merged.graph.input] == [c.onnx_name for c in prepared.schema]
    assert [o.name for o in merged.graph.output] == ["probabilities"]
    assert merged.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # float16 keeps float32 outputs
    kinds = {init.data_type for init in low.graph.initializer}
    assert (onnx.TensorProto.INT8 in kinds) if transform.startswith("int8") else (onnx.TensorProto.FLOAT16 in kinds)
    diff = abs(_run(merged, prepared) - _run(reference, prepared)).max()
    assert 0 < diff < (0.1 if transform.startswith("int8") else 1e-3)
    assert len(merged.SerializeToString()) < len(reference.SerializeToString())


def test_a_network_without_quantizable_operators_is_refused_by_name(einsum_net):
    graph = softmax_graph(einsum_net, 30)
    for transform in (int8_dynamic, lambda g: int8_static(g, rows(64, 30))):
        with pytest.raises(FormatError) as info:
            transform(graph)
        message = info.value.one_line()
        assert "left every weight in float32" in message and "Einsum x2" in message, message


def test_static_quantization_refuses_too_few_calibration_rows(mlp_graph):
    _, graph = mlp_graph
    with pytest.raises(FormatError, match=f"9 calibration row.*fewer than the {MIN_CALIBRATION_ROWS}.*compress.calibration_rows"):
        int8_static(graph, rows(9, graph.graph.input[0].type.tensor_type.shape.dim[1].dim_value))
