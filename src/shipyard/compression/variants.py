"""Build and evaluate the compressed variants of a run's network.

A variant is one network (the trained one, the pruned one, each student)
exported as one bundle graph (raw columns in, the task's outputs out) in one
precision: fp32, or a transform of its network graph (:mod:`shipyard.compression.formats`).
The trained network's fp32 graph is the reference. Every variant is evaluated
by the task's own evaluation (:meth:`shipyard.tasks.base.Task.evaluate`, through
:func:`shipyard.evaluation.outputs.onnx_outputs`, on the raw rows as the bundle
sees them), with bootstrap intervals on the same resamples as the reference,
and checked against the float32 graph of its own network within the tolerance
declared for its precision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from shipyard.compression.budget import REFERENCE
from shipyard.compression.formats import PRECISION, FormatError, convert
from shipyard.data.prepared import Prepared
from shipyard.errors import ShipyardError
from shipyard.evaluation.bootstrap import interval, resample_weights, with_intervals
from shipyard.evaluation.outputs import ModelOutputs, onnx_outputs
from shipyard.export.onnx_graph import export_network, merge_pipeline
from shipyard.recipe import Recipe
from shipyard.tasks import Task, get_task

PARITY_PERCENTILE = 99
"""A lower-precision variant's parity statistic: this percentile over the test rows of each row's largest output difference
to the float32 graph of the same network. int8 moves a few rows near a decision boundary by much more than the rest (on
digits, one row by 0.81 while the 99th percentile was 0.04); a broken conversion moves many (one calibration row: 0.26).
The maximum and the class flips are reported beside it; the budget judges the metric."""
TRAINED = "trained"
"""Name of the run's own (trained, finished) network among the networks compressed."""


@dataclass
class Variant:
    """One compressed variant while it is built and evaluated.

    Attributes
    ----------
    name : str
        ``fp32``, ``int8_dynamic``, ... for the trained network; ``<network>_<format>`` for the others
        (``pruned_int8_dynamic``, ``student_128_fp32``).
    network : str
        ``trained``, ``pruned`` or ``student_...``.
    format : str
        ``fp32``, ``int8_dynamic``, ``int8_static`` or ``fp16``.
    reference : str
        The variant whose outputs its parity is checked against (the fp32 graph of the same network;
        the fp32 graphs themselves are checked against their PyTorch network).
    parameters : int
    payload : bytes or None
        The serialized bundle graph (None when building failed).
    status : {"ok", "failed"}
    error : str
        Why building or the parity check failed.
    record : dict
        What is measured (filled by :func:`evaluate`, the latency measurement and the selection).
    """

    name: str
    network: str
    format: str
    reference: str
    parameters: int
    payload: bytes | None = None
    status: str = "ok"
    error: str = ""
    record: dict[str, Any] = field(default_factory=dict)


def variant_name(network: str, fmt: str) -> str:
    """``fp32``/``int8_dynamic``/... for the trained network, ``<network>_<format>`` for the others."""
    return fmt if network == TRAINED else f"{network}_{fmt}"


def build_variants(
    network_name: str, parameters: int, formats: list[str], export_fp32: Callable[[], tuple[bytes, dict[str, Any]]], convert_to: Callable[[str], bytes]
) -> list[Variant]:
    """One network's variants: its fp32 bundle graph (checked against PyTorch), then each lower-precision graph.

    Parameters
    ----------
    network_name : str
    parameters : int
    formats : list of str
        Transforms to apply (:data:`shipyard.compression.formats.FORMATS`).
    export_fp32 : callable
        ``export_fp32() -> (payload, parity)``: the serialized fp32 bundle graph and its parity record
        against PyTorch; raises on failure.
    convert_to : callable
        ``convert_to(format) -> payload``: the bundle graph in that precision (called after ``export_fp32``);
        raises on failure.

    Returns
    -------
    list of Variant
        The fp32 variant first. A failure (export, parity, a transform) marks that variant
        failed with the reason; if the fp32 graph fails, every variant of the network fails.
    """
    fp32 = Variant(variant_name(network_name, "fp32"), network_name, "fp32", "pytorch", parameters)
    out = [fp32]
    try:
        fp32.payload, fp32.record["parity"] = export_fp32()
    except ShipyardError as exc:
        fp32.status, fp32.error, fp32.payload = "failed", exc.one_line(), None
    except Exception as exc:  # noqa: BLE001  an exporter failure is reported, the other networks go on
        fp32.status, fp32.error, fp32.payload = "failed", f"export failed: {type(exc).__name__}: {exc}", None
    for fmt in formats:
        variant = Variant(variant_name(network_name, fmt), network_name, fmt, fp32.name, parameters)
        out.append(variant)
        if fp32.status != "ok":
            variant.status, variant.error = "failed", f"its fp32 graph failed ({fp32.error})"
            continue
        try:
            variant.payload = convert_to(fmt)
        except ShipyardError as exc:
            variant.status, variant.error = "failed", exc.one_line()
        except Exception as exc:  # noqa: BLE001
            variant.status, variant.error = "failed", f"{fmt}: {type(exc).__name__}: {exc}"
    return out


def build(
    recipe: Recipe,
    prepared: Prepared,
    pre: onnx.ModelProto,
    network_name: str,
    network: Any,
    parameters: int,
    formats: list[str],
    calibration: np.ndarray | str,
) -> list[Variant]:
    """Export one table network as an fp32 bundle graph, check it against PyTorch, and make each lower-precision graph (:func:`build_variants`).

    Parameters
    ----------
    pre : onnx.ModelProto
        The preprocessing graph (:func:`shipyard.export.onnx_graph.preprocessing_onnx`).
    network_name : str
    network : nn.Module
        Finished network.
    parameters : int
    formats : list of str
        Transforms to apply (:data:`shipyard.compression.formats.FORMATS`).
    calibration : ndarray of shape (n_rows, n_features), or str
        Preprocessed training rows for static quantization, or why there are none (the int8_static
        variant then fails with that reason).
    """
    from shipyard.stages.export import check_parity, graph_payload

    task = get_task(recipe.task)
    graphs: dict[str, onnx.ModelProto] = {}

    def export_fp32() -> tuple[bytes, dict[str, Any]]:
        graphs["network"] = export_network(task.export_head(network), prepared.n_features, recipe.export.opset, task.output)
        payload = graph_payload(merge_pipeline(pre, graphs["network"]), prepared, task.name)
        return payload, check_parity(recipe, prepared, network, payload)

    def convert_to(fmt: str) -> bytes:
        if fmt == "int8_static" and isinstance(calibration, str):
            raise FormatError(f"int8_static: {calibration}")
        converted = convert(graphs["network"], fmt, None if isinstance(calibration, str) else calibration)
        return graph_payload(merge_pipeline(pre, converted), prepared, task.name)

    return build_variants(network_name, parameters, formats, export_fp32, convert_to)


def evaluate(
    recipe: Recipe,
    prepared: Prepared,
    variants: list[Variant],
    tolerances: dict[str, float],
    metric: str,
    outputs_of: Callable[[Variant], ModelOutputs] | None = None,
) -> None:
    """Evaluate every built variant with the task's evaluation and check its parity; fills each ``record``.

    Each record gets ``test`` (the task's test metrics), ``test_ci`` (bootstrap intervals,
    ``evaluate.bootstrap`` resamples shared by all variants), ``validation`` (the same metrics on
    the validation split, at the variant's own decision rule), ``decision`` (a tuned threshold, if
    any), ``delta_test_ci`` (paired bootstrap interval of the budget metric's difference to the
    reference), ``parity`` (``max_abs_diff`` against its reference graph on the test rows;
    ``p99_abs_diff``, the statistic held to the declared ``tolerance`` for lower precisions
    (:data:`PARITY_PERCENTILE`; fp32 graphs hold their maximum to the export tolerance); ``within``; ``flips``: test rows whose decided class differs from the
    reference's, for tasks with classes). A variant outside its tolerance keeps status ok but is
    not eligible for deployment.
    """
    from shipyard.compression.measure import session

    task = get_task(recipe.task)
    spec = recipe.evaluate.bootstrap
    seed = recipe.seed if spec.seed is None else spec.seed
    y_val, y_test = prepared.y[prepared.split.validation], prepared.y[prepared.split.test]
    weights = resample_weights(len(y_test), spec.samples, seed)
    pos = prepared.positive_index
    outputs: dict[str, ModelOutputs] = {}
    stats: dict[str, dict[str, np.ndarray]] = {}
    for variant in variants:
        if variant.status != "ok":
            continue
        model = outputs_of(variant) if outputs_of is not None else onnx_outputs(task, session(variant.payload), prepared, variant.name)
        outputs[variant.name] = model
        metrics, _ = task.evaluate(recipe, prepared, model)
        decision = metrics.get("decision")
        threshold = None if decision is None else decision["threshold"]
        record = variant.record
        record["test"] = metrics["test"]
        record["validation"] = task.scores(y_val, model("validation"), pos, threshold)
        record["decision"] = decision
        stats[variant.name] = task.bootstrap_scores(y_test, model("test"), weights, pos)
        record["test_ci"] = with_intervals(metrics["test"], stats[variant.name], spec.confidence)
        record["labels"], record["positive_label"] = metrics.get("labels"), metrics.get("positive_label")
    reference = outputs.get(REFERENCE)
    for variant in variants:
        if variant.status != "ok":
            continue
        record = variant.record
        if variant.format == "fp32":
            parity = dict(record["parity"], reference="pytorch", statistic="max", within=True)
        else:
            ref = outputs.get(variant.reference)
            rows = np.abs(outputs[variant.name]("test") - ref("test")).reshape(len(y_test), -1).max(axis=1)
            p99 = float(np.percentile(rows, PARITY_PERCENTILE))
            tolerance = task.parity_tolerance(recipe, prepared, tolerances[PRECISION[variant.format]])
            parity = {
                "max_abs_diff": float(rows.max()),
                "p99_abs_diff": p99,
                "statistic": "p99",
                "tolerance": tolerance,
                "rows": len(y_test),
                "reference": variant.reference,
                "within": bool(p99 <= tolerance),
            }
        if reference is not None:
            parity["flips"] = _flips(task, prepared, outputs[variant.name], reference, record.get("decision"), variants)
        record["parity"] = parity
        if reference is not None and metric in stats[variant.name]:
            low, high = interval(stats[variant.name][metric] - stats[REFERENCE][metric], spec.confidence)
            record["delta_test_ci"] = {"metric": metric, "low": low, "high": high}


def _flips(task: Task, prepared: Prepared, model: ModelOutputs, reference: ModelOutputs, decision: dict | None, variants: list[Variant]) -> int | None:
    """Test rows whose decided class differs from the reference's (each at its own decision rule); None for values."""
    if not task.has_classes:
        return None
    ref_decision = next((v.record.get("decision") for v in variants if v.name == REFERENCE), None)
    labels, pos = prepared.labels, prepared.positive_index
    ours = task.decisions(model("test"), labels, pos, None if decision is None else decision["threshold"])
    theirs = task.decisions(reference("test"), labels, pos, None if ref_decision is None else ref_decision["threshold"])
    return int(np.sum(ours != theirs))


def calibration_rows(prepared: Prepared, wanted: int, seed: int) -> np.ndarray:
    """Up to ``wanted`` preprocessed training rows (a seeded random sample when the split holds more)."""
    X = prepared.X["train"]
    if len(X) <= wanted:
        return X
    rows = np.random.default_rng(seed).choice(len(X), size=wanted, replace=False)
    return X[np.sort(rows)]
