"""The report's compression section: every variant's numbers, the budget's choice, and a latency-metric Pareto plot.

Reads only ``compression.json`` (written by the compress stage, updated by ``shipyard bench``).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from shipyard.evaluation.bootstrap import LOWER_IS_BETTER  # noqa: E402
from shipyard.report.sections import Figure, ReportContext, Section, Table, register_section  # noqa: E402

COMPRESSION = "compression.json"


def pareto_front(points: list[tuple[float, float]], higher_is_better: bool) -> list[int]:
    """Indices of the points no other point beats on both latency (lower) and metric, sorted by latency.

    Parameters
    ----------
    points : list of (latency, metric)
    higher_is_better : bool
        Orientation of the metric.
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1] if higher_is_better else points[i][1]))
    front, best = [], None
    for i in order:
        value = points[i][1] if higher_is_better else -points[i][1]
        if best is None or value > best:
            front.append(i)
            best = value
    return front


def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None or value != value else f"{value:.{digits}f}"


@register_section("compression", "Compression and inference speed", order=65)
def compression_section(ctx: ReportContext) -> Section | None:
    """Table of variants (size, latency, throughput, budget metric with CIs, parity, flips) and the Pareto plot."""
    if not ctx.has(COMPRESSION):
        return None
    result = ctx.json(COMPRESSION)
    budget = result["budget"]
    metric = budget["metric"]
    variants = result["variants"]
    ok = [v for v in variants if v.get("status") == "ok"]
    ref = next(v for v in ok if v["name"] == result.get("reference", "fp32"))
    eager = (result.get("eager") or {}).get("network")
    section = Section(
        paragraphs=[
            f"Deployed: {result['selected']} ({result['reason']}).",
            f"Budget: {metric} may drop by at most {budget['max_drop']:g} against ONNX fp32 on the validation split; the objective is "
            f"{'the lowest batch-1 latency' if budget['objective'] == 'latency' else 'the smallest file'}; the chosen variant is then "
            "confirmed on the test split. Latency: batch 1, one thread, p50/p99 of this thread's CPU time per call after a warm-up "
            f"({ref['latency']['session']['calls']} calls); the request path is shipyard.load(bundle) with the server's per-request call "
            "(wall clock). Parity: each test row's largest output difference against the float32 graph of the same network; the "
            "99th percentile over the rows must stay within the tolerance declared for the precision (fp32 graphs: the maximum, against "
            "PyTorch, within the export tolerance); flips: test rows whose decided class differs from fp32's.",
        ]
    )
    if eager:
        lat = eager["latency"]["session"]
        text = (
            f"PyTorch eager fp32 (the network on preprocessed features, one thread): p50 {lat['p50']:.1f} µs, p99 {lat['p99']:.1f} µs; "
            f"ONNX fp32 with the preprocessing in the graph: p50 {ref['latency']['session']['p50']:.1f} µs."
        )
        full = (result.get("eager") or {}).get("network_with_preprocessing")
        if full:
            text += f" PyTorch eager with scikit-learn's transform of the raw row: p50 {full['latency']['session']['p50']:.0f} µs."
        section.paragraphs.append(text)
    for item in result.get("skipped", []):
        section.findings.append(f"{item['name']} was not made: {item['reason']}")
    for v in variants:
        if v.get("status") != "ok":
            section.findings.append(f"{v['name']} failed: {v.get('error', '')}")
        elif not v["parity"]["within"]:
            section.findings.append(
                f"{v['name']} is outside its parity tolerance (|Δ| p99 {v['parity'].get('p99_abs_diff', v['parity']['max_abs_diff']):.3g} > {v['parity']['tolerance']:.3g}) and was not eligible."
            )
    rows = []
    for v in ok:
        lat = v["latency"]["session"]
        request = v["latency"].get("request")
        ci = v.get("test_ci", {}).get(metric, {})
        delta = v.get("delta_test_ci") or {}
        flips = v["parity"].get("flips")
        rows.append(
            [
                ("▶ " if v["name"] == result["selected"] else "") + v["name"],
                f"{v['parameters']:,}",
                f"{v['bytes'] / 1024:.1f}",
                f"{ref['bytes'] / v['bytes']:.2f}x",
                f"{lat['p50']:.1f} / {lat['p99']:.1f}",
                f"{ref['latency']['session']['p50'] / lat['p50']:.2f}x" + (f" / {eager['latency']['session']['p50'] / lat['p50']:.2f}x" if eager else ""),
                "" if not request else f"{request['wall_p50']:.0f}",
                f"{v['throughput']:,.0f}",
                _fmt(v["validation"].get(metric)),
                f"{_fmt(ci.get('value'))} [{_fmt(ci.get('low'))}, {_fmt(ci.get('high'))}]",
                f"{-(v.get('drop') or {}).get('test', 0.0) + 0.0:+.4f}" + (f" [{delta['low']:+.4f}, {delta['high']:+.4f}]" if delta.get("low") is not None else ""),
                (f"{v['parity']['p99_abs_diff']:.2g} / " if "p99_abs_diff" in v["parity"] else "") + f"{v['parity']['max_abs_diff']:.2g} (≤ {v['parity']['tolerance']:.2g})",
                "" if flips is None else str(flips),
            ]
        )
    section.tables.append(
        Table(
            [
                "variant",
                "parameters",
                "KB",
                "smaller",
                "p50 / p99 µs",
                "faster than fp32 / eager",
                "request p50 µs",
                "rows/s (batch 1024)",
                f"validation {metric}",
                f"test {metric} [95% CI]",
                "Δ test vs fp32 [paired CI]",
                "|Δ| p99 / max (tolerance)",
                "flips",
            ],
            rows,
            "Variants (▶ deployed). Δ is the metric's change against ONNX fp32 (negative is worse for higher-is-better metrics).",
        )
    )
    section.figures.append(_pareto(ok, result, metric))
    return section


def _pareto(ok: list[dict], result: dict, metric: str) -> Figure:
    from matplotlib.lines import Line2D

    higher = metric not in LOWER_IS_BETTER
    points = [(v["latency"]["session"]["p50"], v["test"][metric]) for v in ok]
    sizes = np.array([v["bytes"] for v in ok], dtype=float)
    area = 30 + 900 * sizes / sizes.max()
    selected, reference = result["selected"], result.get("reference", "fp32")
    colors = ["#c44e52" if v["name"] == selected else ("#55a868" if v["name"] == reference else "#4c72b0") for v in ok]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.scatter([p[0] for p in points], [p[1] for p in points], s=area, c=colors, alpha=0.6, edgecolors="black", linewidths=0.5)
    front = pareto_front(points, higher)
    ax.plot([points[i][0] for i in front], [points[i][1] for i in front], "--", color="grey", linewidth=1)
    # Name the variants on the front, the deployed one and fp32; the table names the rest.
    named = sorted(set(front) | {i for i, v in enumerate(ok) if v["name"] in (selected, reference)})
    for k, i in enumerate(named):
        ax.annotate(ok[i]["name"], points[i], fontsize=7, xytext=(6, 6 if k % 2 == 0 else -10), textcoords="offset points")
    latencies = [p[0] for p in points]
    wide = max(latencies) > 3 * min(latencies)
    if wide:
        ax.set_xscale("log")
    ax.set_xlabel("batch-1 latency p50 (µs, thread CPU time" + (", log scale)" if wide else ")"))
    ax.set_ylabel(f"test {metric}")
    handles = [
        Line2D([], [], marker="o", linestyle="", color="#c44e52", label=f"deployed ({selected})"),
        Line2D([], [], marker="o", linestyle="", color="#55a868", label="ONNX fp32"),
        Line2D([], [], linestyle="--", color="grey", label="Pareto front"),
    ]
    ax.legend(handles=handles, loc="best", fontsize=8)
    return Figure.from_matplotlib(
        fig, f"Latency against test {metric}, one marker per variant; marker area proportional to the file size; dashed: the Pareto front (no variant is both faster and better)."
    )
