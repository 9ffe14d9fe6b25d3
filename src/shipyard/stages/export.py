"""Export stage: the ONNX pipeline (preprocessing + network + the task's head), its parity check, and the bundle.

Parity is checked on the test rows (every output within
``export.parity_tolerance``) and on probe records built on purpose
(:mod:`shipyard.export.probes`: missing values, unseen and infrequent
categories, the training range and the accepted limits, boolean spellings),
where any change of the predicted class fails the export.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from torch import nn

from shipyard.data.prepared import Prepared
from shipyard.jsonsafe import finite
from shipyard.errors import ShipyardError
from shipyard.export.bundle import GRAPH_LABELS, GRAPH_PREDICTION, GRAPH_TASK, canonical_json, prediction_fields, write_bundle
from shipyard.export.onnx_graph import build_pipeline_onnx
from shipyard.export.probes import probe_records
from shipyard.modalities import modality_of
from shipyard.recipe import Recipe
from shipyard.schema import MISSING_RULE, coerce, missing_numeric_rule, onnx_feed
from shipyard.stages.base import RunContext, Stage, register_stage
from shipyard.tasks import get_task


class ParityError(ShipyardError):
    """The exported ONNX pipeline does not reproduce the PyTorch pipeline."""


def parity_record(diff: float, tolerance: float, rows: int, what: str) -> dict[str, Any]:
    """The parity record of an export, or a ParityError when onnxruntime and PyTorch differ by more than the tolerance.

    Parameters
    ----------
    diff : float
        Largest |onnxruntime - PyTorch| output difference.
    tolerance : float
    rows : int
        Rows compared.
    what : str
        What the rows are ("test texts", "test images"), for the message.

    Raises
    ------
    ParityError
    """
    if not diff <= tolerance:
        raise ParityError(
            f"export: ONNX and PyTorch outputs differ by up to {diff:.3g} on the {what} (tolerance {tolerance:g})",
            "report this with the recipe; raise export.parity_tolerance only if the difference is understood",
        )
    return {"max_abs_diff": diff, "tolerance": tolerance, "rows": int(rows)}


def export(recipe: Recipe, prepared: Prepared, model: nn.Module, metrics: dict[str, Any], bundle: Path) -> dict[str, Any]:
    """Export the ONNX pipeline, check parity on the test split and on probe records, and write the bundle.

    Returns
    -------
    dict
        ``max_abs_diff``, ``tolerance`` and ``rows`` of the test rows, and
        ``probes``: ``rows``, ``max_abs_diff`` (largest probability or value
        difference), ``max_rel_diff`` (relative to max(1, |PyTorch output|)),
        ``flips`` (probes whose decided class differs), ``non_finite`` (probes
        whose output is not finite in both) and ``flipped`` (what the flipped
        probes probe).

    Raises
    ------
    ParityError
        If onnxruntime's outputs differ from PyTorch's by more than the task's
        parity tolerance (``export.parity_tolerance``) on any test row, or if
        the decided class (or the finiteness of the output) of any probe differs.
    """
    task = get_task(recipe.task)
    onnx_model = build_pipeline_onnx(prepared.preprocessor, prepared.schema, task.export_head(model), prepared.n_features, recipe.export.opset, task.output)
    parity = check_parity(recipe, prepared, model, graph_payload(onnx_model, prepared, task.name))
    session = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    parity["probes"] = probe_parity(recipe, prepared, model, session, metrics)
    if parity["probes"]["flips"]:
        probes = parity["probes"]
        raise ParityError(
            f"export: ONNX and PyTorch decide differently on {probes['flips']} of {probes['rows']} probe records "
            f"({'; '.join(probes['flipped'][:3])})",
            "report this with the recipe: the bundle would not predict what the network predicts on such records",
        )
    manifest = bundle_manifest(recipe, prepared, metrics, parity)
    write_bundle(bundle, {"model.onnx": seal_graph(onnx_model, manifest)}, manifest)
    return parity


def graph_payload(onnx_model: onnx.ModelProto, prepared: Prepared, task_name: str) -> bytes:
    """The serialized graph, with the labels and task recorded inside it (enough to run and check it).

    A bundle's graph is sealed with :func:`seal_graph` instead, which records every prediction field.
    """
    onnx.helper.set_model_props(onnx_model, {GRAPH_LABELS: json.dumps([str(label) for label in prepared.labels]), GRAPH_TASK: task_name})
    return onnx_model.SerializeToString()


def seal_graph(graph: onnx.ModelProto | bytes, manifest: dict[str, Any]) -> bytes:
    """The bundle's graph with the labels, the task and every other field that changes a prediction recorded inside it.

    They travel inside the hashed graph, so an edited manifest cannot relabel
    the outputs, move the threshold or widen the accepted range
    (:func:`shipyard.export.bundle.prediction_mismatch` checks them on load).

    Parameters
    ----------
    graph : onnx.ModelProto or bytes
        The graph (serialized or not).
    manifest : dict
        The bundle's manifest fields (:func:`bundle_manifest`).
    """
    model = onnx.load_from_string(graph) if isinstance(graph, bytes) else graph
    props = {p.key: p.value for p in model.metadata_props}  # what the graph already records (e.g. a text graph's input) stays
    props.update(
        {
            GRAPH_LABELS: json.dumps([str(label) for label in manifest["labels"]]),
            GRAPH_TASK: manifest["task"],
            GRAPH_PREDICTION: canonical_json(json.loads(json.dumps(prediction_fields(manifest)))),
        }
    )
    onnx.helper.set_model_props(model, props)
    return model.SerializeToString()


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
    return parity_record(diff, task.parity_tolerance(recipe, prepared), len(test_input), "test split")


def manifest_fields(recipe: Recipe, prepared: Prepared, metrics: dict[str, Any], parity: dict[str, Any]) -> dict[str, Any]:
    """The manifest fields every bundle has, whatever its input (names, task, outputs, labels, metrics, parity, decision).

    Parameters
    ----------
    metrics : dict
        The model's ``test`` metrics, ``positive_label``, ``decision`` and ``calibration`` (as ``metrics.json``).
    parity : dict
        Its parity check.

    Returns
    -------
    dict
        JSON-ready: an undefined metric (NaN, e.g. the precision of a model
        that never predicts the positive class) is null, as in ``metrics.json``.
    """
    task = get_task(recipe.task)
    return finite({
        "name": recipe.name,
        "task": task.name,
        "model_file": "model.onnx",
        "outputs": task.manifest_outputs(prepared),
        "labels": prepared.labels,
        "positive_label": metrics.get("positive_label"),
        "target": recipe.data.target,
        "metrics": {"test": metrics["test"]},
        "parity": parity,
        "calibration": {"temperature": (metrics.get("calibration", {}).get("temperature_scaling") or {}).get("temperature")},
        "preprocessing": prepared.steps,
        "decision": metrics.get("decision"),
    })


def bundle_manifest(recipe: Recipe, prepared: Prepared, metrics: dict[str, Any], parity: dict[str, Any]) -> dict[str, Any]:
    """The manifest fields of a table bundle (``write_bundle`` adds the files, versions and format).

    :func:`manifest_fields` with the input columns, the accepted range and the
    missing-value rules.
    """
    return {
        **manifest_fields(recipe, prepared, metrics, parity),
        "inputs": [c.to_dict() for c in prepared.schema],
        "input_range": {"margin": recipe.export.input_range_margin},
        "missing_values": {"numeric": missing_numeric_rule(recipe.prepare.numeric_imputer), "categorical": MISSING_RULE},
    }


def probe_parity(recipe: Recipe, prepared: Prepared, model: nn.Module, session: ort.InferenceSession, metrics: dict[str, Any]) -> dict[str, Any]:
    """Compare the ONNX graph with the PyTorch pipeline on the probe records of :func:`shipyard.export.probes.probe_records`.

    Both sides get the same coerced records (the request path's coercion);
    classes are decided by the bundle's rule (arg-max, or the tuned threshold).

    Returns
    -------
    dict
        ``rows``, ``max_abs_diff``, ``max_rel_diff``, ``flips``, ``non_finite``, ``flipped``.
    """
    task = get_task(recipe.task)
    train_input = prepared.model_input.iloc[prepared.split.train]
    raw, kinds = probe_records(prepared.schema, train_input, recipe.export.input_range_margin, recipe.prepare.min_frequency)
    probe_input = coerce(raw, prepared.schema, "export probes")
    (onnx_output,) = session.run([task.output], onnx_feed(probe_input, prepared.schema))
    onnx_output = np.asarray(task.shape_output(onnx_output), dtype=np.float64)
    X = np.asarray(prepared.preprocessor.transform(probe_input), dtype=np.float32)
    torch_output = np.asarray(task.predict(model, X), dtype=np.float64)
    rows = lambda out: np.isfinite(out).reshape(len(out), -1).all(axis=1)  # noqa: E731
    finite_onnx, finite_torch = rows(onnx_output), rows(torch_output)
    both = finite_onnx & finite_torch
    diff = np.abs(onnx_output - torch_output).reshape(len(raw), -1)[both]
    scale = np.maximum(1.0, np.abs(torch_output).reshape(len(raw), -1)[both])
    flipped = finite_onnx != finite_torch
    if task.has_classes:
        decided = lambda out: task.decisions(out, prepared.labels, prepared.positive_index, (metrics.get("decision") or {}).get("threshold"))  # noqa: E731
        flipped |= both & (decided(onnx_output) != decided(torch_output))
    return {
        "rows": int(len(raw)),
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "max_rel_diff": float((diff / scale).max()) if diff.size else 0.0,
        "flips": int(flipped.sum()),
        "non_finite": int((~finite_onnx & ~finite_torch).sum()),
        "flipped": [kinds[i] for i in np.flatnonzero(flipped)],
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
        modality = modality_of(ctx.recipe)
        # tables: the preprocessing graph, the test rows and the probe records; text and images: raw input → probabilities, the test rows
        write = export if modality is None else modality.export
        ctx.metrics["parity"] = write(ctx.recipe, ctx.data, ctx.network, ctx.metrics, ctx.run_dir.bundle)
        ctx.write_metrics()
