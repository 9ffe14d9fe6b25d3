"""Lower-precision versions of an exported network graph: int8 (dynamic and static) and float16.

Every transform takes the network's own ONNX graph (input ``features``, the
preprocessed float matrix; :func:`shipyard.export.onnx_graph.export_network`),
never the merged bundle graph, so the preprocessing (string inputs, the
``ai.onnx.ml`` operators) is never touched; the result is merged into the same
preprocessing graph afterwards (:func:`shipyard.export.onnx_graph.merge_pipeline`).
torch is not imported here.

Choices, measured on this machine (``benchmarks/compression.py``, the
research notes in ``benchmarks/RESULTS.md``):

- onnxruntime's ``quant_pre_process`` (shape inference and graph optimisation)
  runs first, as its quantizers ask.
- int8 weights are signed (``QInt8``): unsigned weights were 3x slower at
  batch 1024 on this CPU. Per-channel scales cost 8-15 µs per call on a
  [1024, 1024, 512] network and gained no accuracy, so weights get one scale
  per tensor.
- Static quantization writes the QDQ format: standard ONNX QuantizeLinear /
  DequantizeLinear pairs that onnxruntime fuses into integer kernels when it
  loads the graph (as fast as the QOperator format here: 44 µs per call on the
  large network, per-channel 59 µs), and that other runtimes can read. Its
  activations are uint8, and the nodes that produce the graph's outputs stay in
  float: quantizing the softmax would round every probability to a multiple of 1/256.
- float16 keeps float32 inputs and outputs (``keep_io_types``). onnxruntime's
  CPU provider runs it at float32 speed; its gain is a file half the size.

A transform that cannot do its job raises :class:`FormatError` with the
reason, e.g. when the quantizer finds no operator it supports holding weights
(it would otherwise return the graph unchanged without a word).
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import onnx

from shipyard.errors import ShipyardError

FORMATS = ("int8_dynamic", "int8_static", "fp16")
"""Transforms of a network's fp32 graph, in the order variants are built."""
PRECISION = {"int8_dynamic": "int8", "int8_static": "int8", "fp16": "fp16"}
"""Which declared parity tolerance (``compress.tolerance``) applies to each format."""
MIN_CALIBRATION_ROWS = 32
"""Fewest training rows static quantization calibrates on. Its activation ranges are the minimum and maximum
seen on these rows; with a single row, breast_cancer lost 0.014 F1 (max |Δp| 0.21) in our study."""

_INT8 = (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)


class FormatError(ShipyardError):
    """A network graph could not be converted to a lower precision."""


@contextmanager
def _quiet() -> Iterator[None]:
    """onnxruntime's quantizers log advice through the root logger and warn; the user needs neither."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def _prepared(net: onnx.ModelProto, folder: Path) -> Path:
    """Save the graph and run onnxruntime's quantization pre-processing on it; return the pre-processed file."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source, target = folder / "net.onnx", folder / "net_pre.onnx"
    onnx.save(net, str(source))
    quant_pre_process(str(source), str(target))
    return target


def _weight_ops(net: onnx.ModelProto) -> Counter:
    """Operator types of the nodes that read a weight (an initializer with two or more dimensions)."""
    weights = {init.name for init in net.graph.initializer if len(init.dims) >= 2}
    return Counter(node.op_type for node in net.graph.node if any(name in weights for name in node.input))


def _check_quantized(before: onnx.ModelProto, after: onnx.ModelProto, fmt: str) -> None:
    if not any(init.data_type in _INT8 for init in after.graph.initializer):
        found = ", ".join(f"{op} x{n}" for op, n in sorted(_weight_ops(before).items())) or "none"
        raise FormatError(
            f"{fmt}: onnxruntime's quantizer left every weight in float32 (operators holding weights: {found}); "
            "it quantizes MatMul, Gemm and Conv weights",
            "this model kind's operators cannot be quantized by onnxruntime; the other variants are unaffected",
        )


def _output_nodes(net: onnx.ModelProto) -> list[str]:
    outputs = {o.name for o in net.graph.output}
    return [node.name for node in net.graph.node if outputs & set(node.output)]


def int8_dynamic(net: onnx.ModelProto) -> onnx.ModelProto:
    """Dynamic int8 quantization: int8 weights, activations quantized per call (onnxruntime ``quantize_dynamic``).

    Parameters
    ----------
    net : onnx.ModelProto
        A network graph (input ``features``).

    Returns
    -------
    onnx.ModelProto

    Raises
    ------
    FormatError
        If nothing could be quantized, or the quantizer failed (its message is kept).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp, _quiet():
        folder = Path(tmp)
        try:
            source = _prepared(net, folder)
            quantize_dynamic(str(source), str(folder / "q.onnx"), weight_type=QuantType.QInt8, per_channel=False)
            out = onnx.load(str(folder / "q.onnx"))
        except Exception as exc:  # noqa: BLE001  onnxruntime raises many kinds; the message is what matters
            raise FormatError(f"int8_dynamic: onnxruntime's quantizer failed: {type(exc).__name__}: {exc}") from exc
    _check_quantized(net, out, "int8_dynamic")
    return out


class _Rows:
    """onnxruntime ``CalibrationDataReader`` over preprocessed rows, one row per call."""

    def __init__(self, rows: np.ndarray, name: str) -> None:
        self._rows = iter(np.asarray(rows, dtype=np.float32))
        self._name = name

    def get_next(self) -> dict[str, np.ndarray] | None:
        row = next(self._rows, None)
        return None if row is None else {self._name: row[None, :]}


def int8_static(net: onnx.ModelProto, calibration: np.ndarray) -> onnx.ModelProto:
    """Static int8 quantization (QDQ): int8 weights, uint8 activations with ranges calibrated on ``calibration``.

    Parameters
    ----------
    net : onnx.ModelProto
        A network graph (input ``features``).
    calibration : ndarray of shape (n_rows, n_features)
        Preprocessed training rows (at least :data:`MIN_CALIBRATION_ROWS`).

    Returns
    -------
    onnx.ModelProto

    Raises
    ------
    FormatError
        If there are too few calibration rows, nothing could be quantized, or the quantizer failed.
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    if len(calibration) < MIN_CALIBRATION_ROWS:
        raise FormatError(
            f"int8_static: {len(calibration)} calibration row(s), fewer than the {MIN_CALIBRATION_ROWS} its activation ranges need",
            f"set compress.calibration_rows to at least {MIN_CALIBRATION_ROWS} (the training split must hold that many rows)",
        )

    class Reader(_Rows, CalibrationDataReader):
        pass

    with tempfile.TemporaryDirectory() as tmp, _quiet():
        folder = Path(tmp)
        try:
            source = _prepared(net, folder)
            prepared = onnx.load(str(source))
            quantize_static(
                str(source),
                str(folder / "q.onnx"),
                Reader(calibration, prepared.graph.input[0].name),
                quant_format=QuantFormat.QDQ,
                per_channel=False,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=_output_nodes(prepared),
            )
            out = onnx.load(str(folder / "q.onnx"))
        except Exception as exc:  # noqa: BLE001
            raise FormatError(f"int8_static: onnxruntime's quantizer failed: {type(exc).__name__}: {exc}") from exc
    _check_quantized(net, out, "int8_static")
    return out


def fp16(net: onnx.ModelProto) -> onnx.ModelProto:
    """Float16 weights and computation, float32 inputs and outputs (onnxconverter-common's ``convert_float_to_float16``).

    Raises
    ------
    FormatError
        If the converter fails or onnxruntime's CPU provider cannot load the result.
    """
    import onnxruntime as ort
    from onnxconverter_common import float16

    with _quiet():
        try:
            out = float16.convert_float_to_float16(net, keep_io_types=True)
        except Exception as exc:  # noqa: BLE001
            raise FormatError(f"fp16: conversion failed: {type(exc).__name__}: {exc}") from exc
    try:
        ort.InferenceSession(out.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001  e.g. an operator without a float16 CPU kernel
        raise FormatError(f"fp16: onnxruntime's CPU provider cannot run the float16 graph: {exc}", "the other variants are unaffected") from exc
    return out


def convert(net: onnx.ModelProto, fmt: str, calibration: np.ndarray | None = None) -> onnx.ModelProto:
    """Apply the transform named ``fmt`` (one of :data:`FORMATS`) to a network graph.

    Raises
    ------
    FormatError
        As the transform does; ValueError for an unknown format.
    """
    if fmt == "int8_dynamic":
        return int8_dynamic(net)
    if fmt == "int8_static":
        return int8_static(net, np.zeros((0, 0), np.float32) if calibration is None else calibration)
    if fmt == "fp16":
        return fp16(net)
    raise ValueError(f"unknown format {fmt!r}; one of {FORMATS}")
