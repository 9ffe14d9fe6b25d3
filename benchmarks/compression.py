"""Compression and inference speed: every variant of two runs measured side by side in one process, with the targets.

Usage::

    .venv/bin/python benchmarks/compression.py [--rounds 3] [--repeats 3000] [--json benchmarks/compression_results.json]

Runs ``examples/digits_large.yaml`` (MLP [1024, 1024, 512], 1.65M parameters) and
``examples/breast_cancer.yaml`` with a ``compress`` section (the defaults, students
[8] and [4]) through the whole pipeline (explanations off), then measures again,
in ``--rounds`` interleaved rounds, PyTorch eager fp32 and every variant's
bundle: batch-1 latency over ``--repeats`` calls after a warm-up, one thread,
as this thread's CPU time per call (``time.thread_time_ns``: immune to the
preemption other processes cause on a shared machine) and wall clock; the
request path (``shipyard.load(bundle).predict_with_warnings([record])``, what
the server calls) for fp32 and the deployed variant; throughput at batch 1024.
The median over rounds is reported, with the load average.

Targets (issue 12): the deployed variant's batch-1 p50 at least 3x lower than
PyTorch eager fp32, and on the large network also at least 1.5x lower than
ONNX fp32 with a file at least 3x smaller, with F1 within the budget.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]


def _recipes():
    from shipyard.recipe import CompressSpec, load_recipe

    large = load_recipe(ROOT / "examples" / "digits_large.yaml")
    small = load_recipe(ROOT / "examples" / "breast_cancer.yaml")
    small.compress = CompressSpec.model_validate({"distill": {"students": [[8], [4]]}, "budget": {"metric": "f1"}})
    for recipe in (large, small):
        recipe.explain.enabled = False
        recipe.compress.latency.request_repeats = 0  # measured below, interleaved
    return {"digits_large": (large, True), "breast_cancer": (small, False)}


def measure(run_path: Path, rounds: int, repeats: int, request_repeats: int) -> dict:
    """Interleaved rounds over eager and every variant; the median of each figure over the rounds."""
    from shipyard.compression.bench import COMPRESSION, eager_latency, measure_bundle, request_latency
    from shipyard.rundir import RunDir
    from shipyard.stages.base import RunContext

    ctx = RunContext.from_run(RunDir(run_path))
    result = json.loads((run_path / COMPRESSION).read_text())
    records = ctx.data.frame.iloc[ctx.data.split.test][ctx.data.features]
    ok = [v for v in result["variants"] if v["status"] == "ok"]
    timed: dict[str, list[dict]] = {"eager": []}
    loads = []
    for _ in range(rounds):
        loads.append(os.getloadavg()[0])
        timed["eager"].append(eager_latency(ctx.network, ctx.task, ctx.data.X["test"], repeats, 300, 1024))
        for v in ok:
            m = measure_bundle(run_path / "compression" / v["name"], records, repeats, 300, 0, 1024)
            if v["name"] in ("fp32", result["selected"]) and request_repeats:
                m["latency"]["request"] = request_latency(run_path / "compression" / v["name"], records, request_repeats, 20)
            timed.setdefault(v["name"], []).append(m)

    def median(runs: list[dict]) -> dict:
        out = {"throughput": float(np.median([r["throughput"] for r in runs]))}
        for path in ("session", "request"):
            if path in runs[0]["latency"]:
                out[path] = {k: float(np.median([r["latency"][path][k] for r in runs])) for k in ("p50", "p99", "wall_p50", "wall_p99")}
        return out

    return {"result": result, "timed": {name: median(runs) for name, runs in timed.items()}, "load": loads}


def table(name: str, large: bool, data: dict) -> tuple[Table, dict]:
    result, timed = data["result"], data["timed"]
    metric = result["budget"]["metric"]
    variants = {v["name"]: v for v in result["variants"] if v["status"] == "ok"}
    eager, fp32 = timed["eager"]["session"], timed["fp32"]["session"]
    t = Table(title=f"{name}: batch-1 µs (thread CPU time, median of rounds), 1 thread; budget {metric} drop <= {result['budget']['max_drop']}")
    for col in ("variant", "KB", "p50", "p99", "wall p50", "request p50 (wall)", "rows/s", f"val {metric}", f"test {metric}", "Δ test", "×eager", "×fp32", "×size"):
        t.add_column(col, justify="left" if col == "variant" else "right")
    t.add_row("pytorch eager fp32", "", f"{eager['p50']:.1f}", f"{eager['p99']:.1f}", f"{eager['wall_p50']:.1f}", "", f"{timed['eager']['throughput']:,.0f}", *[""] * 6)
    for vname, v in variants.items():
        s = timed[vname]["session"]
        req = timed[vname].get("request")
        t.add_row(
            ("* " if vname == result["selected"] else "") + vname,
            f"{v['bytes'] / 1024:.1f}",
            f"{s['p50']:.1f}",
            f"{s['p99']:.1f}",
            f"{s['wall_p50']:.1f}",
            f"{req['wall_p50']:.0f}" if req else "",
            f"{timed[vname]['throughput']:,.0f}",
            f"{v['validation'][metric]:.4f}",
            f"{v['test'][metric]:.4f}",
            f"{-v['drop']['test'] + 0.0:+.4f}",
            f"{eager['p50'] / s['p50']:.2f}",
            f"{fp32['p50'] / s['p50']:.2f}",
            f"{variants['fp32']['bytes'] / v['bytes']:.2f}",
        )
    chosen = result["selected"]
    s = timed[chosen]["session"]
    targets = {
        "selected": chosen,
        "reason": result["reason"],
        "x_eager": eager["p50"] / s["p50"],
        "x_fp32": fp32["p50"] / s["p50"],
        "x_size": variants["fp32"]["bytes"] / variants[chosen]["bytes"],
        "test_drop": variants[chosen]["drop"]["test"],
        "validation_drop": variants[chosen]["drop"]["validation"],
    }
    targets["pass"] = {
        "3x eager": targets["x_eager"] >= 3,
        "within budget": targets["test_drop"] <= result["budget"]["max_drop"] and targets["validation_drop"] <= result["budget"]["max_drop"],
    }
    if large:
        targets["pass"].update({"1.5x fp32": targets["x_fp32"] >= 1.5, "3x size": targets["x_size"] >= 3})
    return t, targets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3000)
    parser.add_argument("--request-repeats", type=int, default=200)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "compression_results.json")
    args = parser.parse_args()

    from shipyard.pipeline import run

    console = Console(width=200)
    out = {"machine": {"cpus": os.cpu_count(), "load_before": os.getloadavg()[0]}, "datasets": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (recipe, large) in _recipes().items():
            tic = time.perf_counter()
            result = run(recipe, runs_dir=tmp, track=False, progress=False)
            seconds = time.perf_counter() - tic
            data = measure(result.path, args.rounds, args.repeats, args.request_repeats)
            t, targets = table(name, large, data)
            console.print(t)
            full = data["result"]["eager"]["network_with_preprocessing"]["latency"]["session"]
            console.print(
                f"pytorch eager with scikit-learn's transform of the raw row: p50 {full['p50']:.0f} µs; "
                f"run {seconds:.0f} s; load average during timing {np.mean(data['load']):.1f} on {os.cpu_count()} cores"
            )
            console.print(f"deployed {targets['selected']}: {targets['reason']}")
            console.print("targets: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in targets["pass"].items()))
            out["datasets"][name] = {"targets": targets, "timed": data["timed"], "load": data["load"], "run_seconds": seconds, "compression": data["result"]}
    args.json.write_text(json.dumps(out, indent=1, default=float) + "\n")
    console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
