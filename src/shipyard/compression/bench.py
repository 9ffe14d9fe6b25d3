"""Measure bundles side by side: file size, batch-1 latency (raw session and the server's request path), throughput.

Used by the compress stage for every variant and by ``shipyard bench PATH``,
which re-measures a run's variants (or one bundle) without rebuilding them
and prints the table. Latency is measured as :mod:`shipyard.compression.measure`
describes: one thread, many calls after a warm-up, thread CPU time and wall clock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shipyard.compression.measure import CLOCK, THREADS, rows_per_second, session, time_calls
from shipyard.export.bundle import read_manifest
from shipyard.schema import Column

COMPRESSION = "compression.json"
"""The run file that records every variant's numbers and the selection (read by the report and ``shipyard bench``)."""
VARIANTS = "compression"
"""The run folder holding one bundle per variant (``compression/<name>/``)."""


def measure_bundle(folder: Path, records: pd.DataFrame, repeats: int, warmup: int, request_repeats: int, batch: int) -> dict[str, Any]:
    """Measure one bundle on raw records.

    Parameters
    ----------
    folder : Path
        A bundle folder (its hashes are checked).
    records : DataFrame of shape (n_rows, n_columns)
        Raw records with the bundle's input columns; the first is the batch-1 input,
        all of them (repeated to ``batch`` rows) the throughput input.
    repeats, warmup : int
        Timed and untimed batch-1 calls of the raw onnxruntime session (one thread).
    request_repeats : int
        Timed batch-1 calls of ``shipyard.load(folder).predict_with_warnings([record])``, the call
        the server makes per request (coercion, the session, unseen-category warnings); 0 skips.
    batch : int
        Rows per call for the throughput.

    Returns
    -------
    dict
        ``bytes`` (model file), ``sha256``, ``latency`` (``session`` and, unless skipped, ``request``:
        :func:`~shipyard.compression.measure.time_calls` results in µs) and ``throughput`` (rows/s at ``batch``).
    """
    from shipyard.predictor import load

    folder, manifest = read_manifest(folder)
    model_file = folder / manifest["model_file"]
    predictor = load(folder)  # the bundle's own reading of records (table columns, texts, images)
    task_output = next(iter(manifest["outputs"]))
    sess = session(model_file)
    one = predictor.feed(predictor.prepare(records.iloc[:1], "benchmark records"))
    reps = int(np.ceil(batch / len(records)))
    many = predictor.feed(predictor.prepare(pd.concat([records] * reps).iloc[:batch], "benchmark records"))
    out: dict[str, Any] = {
        "bytes": model_file.stat().st_size,
        "sha256": manifest["files"][manifest["model_file"]]["sha256"],
        "latency": {"session": time_calls(lambda: sess.run([task_output], one), repeats, warmup)},
        "throughput": rows_per_second(lambda: sess.run([task_output], many), batch),
    }
    if request_repeats > 0:
        out["latency"]["request"] = request_latency(folder, records, request_repeats, min(warmup, 20))
    return out


def request_latency(folder: Path, records: pd.DataFrame, repeats: int, warmup: int) -> dict[str, float]:
    """Batch-1 latency of ``shipyard.load(folder).predict_with_warnings([record])``: the call the server makes per request.

    It coerces the raw record (``schema.coerce``), runs the bundle's own session (its default
    threads) and checks for unseen categories. Read the wall-clock figures: the session may
    use other threads.

    Returns
    -------
    dict
        :func:`~shipyard.compression.measure.time_calls` of the call, in µs.
    """
    from shipyard.predictor import load

    predictor = load(folder)
    record = records.iloc[:1].to_dict(orient="records")
    return time_calls(lambda: predictor.predict_with_warnings(record, source="benchmark"), repeats, warmup)


def eager_latency(network: Any, task: Any, features: np.ndarray, repeats: int, warmup: int, batch: int) -> dict[str, Any]:
    """PyTorch eager fp32: the network and the task's head on preprocessed features, one thread, ``torch.inference_mode``.

    Parameters
    ----------
    network : nn.Module
        The finished network.
    task : Task
    features : ndarray of shape (n_rows, n_features)
        Preprocessed rows; the first is the batch-1 input.

    Returns
    -------
    dict
        ``latency`` (``session``: the network call, in µs), ``throughput`` (rows/s at ``batch``).
    """
    import torch

    from shipyard.training.device import torch_threads

    head = task.export_head(network).eval()
    x1 = torch.from_numpy(np.ascontiguousarray(features[:1], dtype=np.float32))
    reps = int(np.ceil(batch / len(features)))
    xb = torch.from_numpy(np.ascontiguousarray(np.concatenate([features] * reps)[:batch], dtype=np.float32))

    def call(x: Any) -> Any:
        with torch.inference_mode():
            return head(x)

    with torch_threads(THREADS):
        return {"latency": {"session": time_calls(lambda: call(x1), repeats, warmup)}, "throughput": rows_per_second(lambda: call(xb), batch)}


def eager_pipeline_latency(network: Any, task: Any, preprocessor: Any, records: pd.DataFrame, repeats: int, warmup: int) -> dict[str, Any]:
    """PyTorch eager fp32 with scikit-learn preprocessing: ``preprocessor.transform`` of one coerced row, then the network.

    The Python equivalent of one bundle graph (raw columns in); one thread.

    Returns
    -------
    dict
        ``latency`` (``session``: µs per call).
    """
    import torch

    from shipyard.training.device import torch_threads

    head = task.export_head(network).eval()
    row = records.iloc[:1]

    def call() -> Any:
        with torch.inference_mode():
            return head(torch.from_numpy(np.ascontiguousarray(preprocessor.transform(row), dtype=np.float32)))

    with torch_threads(THREADS):
        return {"latency": {"session": time_calls(call, repeats, warmup)}}


def synthetic_records(schema: list[Column], n: int = 64) -> pd.DataFrame:
    """Records for timing a bundle without data: numeric columns 0.0, categorical columns their first training category."""
    return pd.DataFrame({c.name: [0.0 if c.kind == "numeric" else (c.categories[0] if c.categories else "")] * n for c in schema})


def table(result: dict[str, Any]) -> Any:
    """A rich table of a ``compression.json`` result: one row per variant, the deployed one marked ``*``.

    Columns: variant, KB, batch-1 p50 and p99 (thread CPU µs), request-path p50 (wall µs), rows/s,
    the budget metric on validation and test, its change on test against fp32, the parity statistic
    (99th percentile of the rows' |Δ| to the variant's reference graph; the maximum for fp32 graphs;
    ``!`` beyond the declared tolerance), class flips against fp32, and the speed-up against PyTorch eager and
    ONNX fp32 and the size ratio against ONNX fp32.
    """
    from rich.table import Table

    budget = result.get("budget", {})
    metric = budget.get("metric", "")
    variants = result.get("variants", [])
    ref = next((v for v in variants if v["name"] == result.get("reference", "fp32") and v.get("status") == "ok"), None)
    eager = (result.get("eager") or {}).get("network")
    title = f"variants (batch-1 latency in µs of thread CPU time, {result.get('threads', THREADS)} thread"
    title += f"; budget: {metric} drop <= {budget['max_drop']:g} on validation, by {budget.get('objective')})" if budget.get("max_drop") is not None else ")"
    t = Table(title=title, title_justify="left")
    t.add_column("variant", no_wrap=True)
    for col in ("KB", "p50", "p99", "req p50", "rows/s", f"val {metric}", f"test {metric}", "Δ test", "|Δ| p99", "flips", "×eager", "×fp32", "×size"):
        t.add_column(col, justify="right", no_wrap=True)
    if eager:
        lat = eager["latency"]["session"]
        t.add_row("pytorch eager fp32", "", f"{lat['p50']:.1f}", f"{lat['p99']:.1f}", "", f"{eager.get('throughput', 0):,.0f}", *[""] * 8)
    for v in variants:
        name = ("* " if v["name"] == result.get("selected") else "  ") + v["name"]
        if v.get("status") != "ok":
            t.add_row(name, *["-"] * 13)
            continue
        lat = v["latency"]["session"]
        request = v["latency"].get("request")
        parity = v.get("parity", {})
        flips = parity.get("flips")
        dtest = (v.get("drop") or {}).get("test")
        t.add_row(
            name,
            f"{v['bytes'] / 1024:.1f}",
            f"{lat['p50']:.1f}",
            f"{lat['p99']:.1f}",
            f"{request['wall_p50']:.0f}" if request else "",
            f"{v.get('throughput', 0):,.0f}",
            f"{v['validation'].get(metric, float('nan')):.4f}",
            f"{v['test'].get(metric, float('nan')):.4f}",
            "" if dtest is None else f"{-dtest + 0.0:+.4f}",
            f"{parity.get('p99_abs_diff', parity.get('max_abs_diff', float('nan'))):.1e}" + ("" if parity.get("within", True) else "!"),
            "" if flips is None else str(flips),
            f"{eager['latency']['session']['p50'] / lat['p50']:.2f}" if eager else "",
            f"{ref['latency']['session']['p50'] / lat['p50']:.2f}" if ref else "",
            f"{ref['bytes'] / v['bytes']:.2f}" if ref else "",
        )
    return t


def remeasure(result: dict[str, Any], run_path: Path, records: pd.DataFrame, spec: Any, network: Any = None, task: Any = None, features: np.ndarray | None = None) -> dict[str, Any]:
    """Measure again every built variant of a run's ``compression.json`` (``compression/<name>/``) and PyTorch eager.

    Sizes, latencies and throughputs are replaced; metrics, parity and the selection are kept
    (``shipyard compress RUN`` rebuilds and re-chooses).

    Parameters
    ----------
    result : dict
        The run's ``compression.json``.
    run_path : Path
    records : DataFrame
        Raw records (the test rows).
    spec : LatencySpec
    network, task, features : optional
        The finished network, its task and preprocessed test rows, to measure PyTorch eager too.

    Returns
    -------
    dict
        ``result``, updated in place.
    """
    for record in result["variants"]:
        if record.get("status") != "ok":
            continue
        record.update(measure_bundle(run_path / VARIANTS / record["name"], records, spec.repeats, spec.warmup, spec.request_repeats, spec.throughput_batch))
    if network is not None:
        eager = result.setdefault("eager", {})
        parameters = (eager.get("network") or {}).get("parameters")
        eager["network"] = {**eager_latency(network, task, features, spec.repeats, spec.warmup, spec.throughput_batch), "parameters": parameters}
    return result


def bundle_result(folder: Path, records: pd.DataFrame, spec: Any) -> dict[str, Any]:
    """A ``compression.json``-shaped result for one bundle: its size, latency and throughput, and the manifest's test metrics.

    There is no validation split and no selection: the bundle is the only variant.
    """
    folder, manifest = read_manifest(folder)
    variant = manifest.get("variant") or {"name": "fp32", "network": "trained", "format": "fp32"}
    metrics = manifest.get("metrics", {}).get("test", {})
    metric = next(iter(metrics), "")
    record = {
        **variant,
        "status": "ok",
        "parameters": 0,
        "test": metrics,
        "validation": {},
        "parity": manifest.get("parity", {}),
        **measure_bundle(folder, records, spec.repeats, spec.warmup, spec.request_repeats, spec.throughput_batch),
        "file": str(folder / manifest["model_file"]),
    }
    return {
        "budget": {"metric": metric, "max_drop": None, "objective": None, "split": None},
        "selected": record["name"],
        "reason": f"the bundle {folder}",
        "reference": record["name"],
        "variants": [record],
        "threads": THREADS,
        "clock": CLOCK,
    }
