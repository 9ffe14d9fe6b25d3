"""Compress stage: smaller and faster variants of the network, measured against ONNX fp32; the best within budget is deployed.

Runs after export when the recipe has a ``compress`` section, or alone on a
finished run (``shipyard compress RUN``: the network from its checkpoint, the
data from its saved preparation, nothing refitted). It

1. makes the networks: the trained one, a structurally pruned and fine-tuned one
   (``compress.prune``), and distilled students (``compress.distill``);
2. exports each as an fp32 bundle graph (checked against PyTorch like the export
   stage's) and in each lower precision of ``compress.formats`` (int8 dynamic,
   int8 static, float16), each a complete bundle in ``compression/<variant>/``;
3. evaluates every variant with the task's own evaluation on the raw rows, with
   bootstrap intervals, and checks it against its own network's fp32 graph
   within the tolerance declared for its precision (``compress.tolerance``),
   counting class flips against fp32;
4. measures file size, batch-1 latency (one thread; the raw session and the
   server's request path) and throughput, and PyTorch eager fp32 beside them;
5. chooses on the validation split the best variant within ``compress.budget``,
   confirms it on test, and deploys it as ``bundle/model.onnx`` (the others stay
   in ``compression/``, named in the manifest with their numbers).

A variant that cannot be made (an operator the quantizer does not support,
too few calibration rows, a student no smaller than the network) is reported
with the reason and the others go on; with no variant within the budget fp32
stays deployed and the reason is printed. Everything is written to
``compression.json``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from shipyard.compression.bench import COMPRESSION, VARIANTS, eager_latency, eager_pipeline_latency, measure_bundle, request_latency
from shipyard.compression.budget import REFERENCE, select
from shipyard.compression.formats import MIN_CALIBRATION_ROWS
from shipyard.compression.measure import CLOCK, THREADS
from shipyard.data.prepared import Prepared
from shipyard.errors import RecipeError, ShipyardError
from shipyard.export.bundle import write_bundle
from shipyard.models.registry import model_kind
from shipyard.recipe import CompressSpec, Recipe
from shipyard.stages.base import RunContext, Stage, register_stage
from shipyard.tasks import get_task


def compress_spec(recipe: Recipe) -> CompressSpec:
    """The recipe's ``compress`` section, or the defaults (``shipyard compress RUN`` on a run without one).

    A text model's defaults are what its input allows: dynamic int8 and a
    3-layer distilled student, no pruning, and latency timed over 200 calls (a
    MiniLM call takes milliseconds, not a table network's microseconds).
    """
    if recipe.compress is not None:
        return recipe.compress
    if recipe.data.text is not None:
        return CompressSpec.model_validate(
            {
                "formats": ["int8_dynamic"],
                "prune": None,
                "distill": {"students": [[3]], "epochs": recipe.train.epochs},
                "latency": {"repeats": 200, "warmup": 20, "request_repeats": 20},
            }
        )
    return CompressSpec()


def budget_metric(recipe: Recipe) -> str:
    """The budget's metric: ``compress.budget.metric`` or the task's primary metric."""
    metric = compress_spec(recipe).budget.metric
    return metric if metric is not None else get_task(recipe.task).primary_metric


def check_compress(recipe: Recipe, data: Prepared) -> None:
    """Refuse a budget metric the task does not report, pruning a model kind cannot do, and what the input modality cannot make.

    Raises
    ------
    RecipeError
        Naming the key.
    """
    from shipyard.modalities import modality_of

    spec, task = compress_spec(recipe), get_task(recipe.task)
    modality = modality_of(recipe)
    if modality is not None:  # which formats and students a text or image network can have
        modality.check_compress(recipe, spec)
    names = task.metric_names(data)
    metric = budget_metric(recipe)
    if metric not in names:
        raise RecipeError(f"compress.budget.metric: {metric!r} is not a test metric of this {task.name} task", f"choose one of {', '.join(names)}")
    if spec.prune is not None and model_kind(recipe.model.type).prune is None:
        raise RecipeError(f"compress.prune: model kind '{recipe.model.type}' has no structured pruning", "set compress.prune: null")


class TableVariants:
    """What the compress stage needs of a table network's variants: the networks, their graphs, outputs, bundle files and eager timing.

    A text or image modality supplies an object with the same methods
    (:meth:`shipyard.modalities.base.Modality.compression`), so one stage
    evaluates, measures, chooses and deploys the variants of every input.

    Parameters
    ----------
    ctx : RunContext
        The finished run (network, prepared data, recipe).
    """

    def __init__(self, ctx: RunContext) -> None:
        from shipyard.export.onnx_graph import preprocessing_onnx

        self.ctx = ctx
        self.pre = preprocessing_onnx(ctx.data.preprocessor, ctx.data.schema, ctx.recipe.export.opset)

    def networks(self, spec: CompressSpec, skipped: list[dict[str, str]]) -> list[tuple[str, Any, int, dict[str, Any]]]:
        """The networks to compress: (name, finished network, parameters, how it was made); the trained one first."""
        from shipyard.compression.networks import distill, parameter_count, prune, student_name
        from shipyard.compression.variants import TRAINED

        ctx = self.ctx
        recipe, data, log = ctx.recipe, ctx.data, ctx.console.log
        info = {"temperature_scaling": (ctx.metrics.get("calibration") or {}).get("temperature_scaling")}
        out = [(TRAINED, ctx.network, parameter_count(ctx.network), {"spec": recipe.model.model_dump(mode="json"), **info})]
        if recipe.train.privacy is not None:
            # Fine-tuning a pruned network or training a student reads the training rows again, outside the DP-SGD
            # accountant: the network's reported epsilon would no longer bound what the deployed weights reveal.
            reason = (
                "train.privacy: made by training on the training rows again, outside DP-SGD's privacy budget "
                "(the reported epsilon would not hold for it); only the trained network's own graphs are compressed"
            )
            for name, asked in (("pruned", spec.prune), *((student_name(h), spec.distill) for h in (spec.distill.students if spec.distill else []))):
                if asked is not None:
                    skipped.append({"name": name, "reason": reason})
                    log(f"{name}: skipped: {reason}")
            return out
        if spec.prune is not None:
            log(f"pruning {spec.prune.amount:.0%} of the hidden units, then {spec.prune.fine_tune_epochs} epoch(s) of fine-tuning")
            try:
                small = prune(recipe, data, ctx.network, spec.prune)
                out.append((small.name, small.network, small.parameters, small.info))
            except ShipyardError as exc:
                skipped.append({"name": "pruned", "reason": exc.one_line()})
                log(f"pruned: skipped: {exc.one_line()}")
        if spec.distill is not None:
            for hidden in spec.distill.students:
                name = student_name(hidden)
                log(f"distilling into {name} (T = {spec.distill.temperature:g}, alpha = {spec.distill.alpha:g}, {spec.distill.epochs} epochs)")
                try:
                    small = distill(recipe, data, ctx.network, hidden, spec.distill)
                    out.append((small.name, small.network, small.parameters, small.info))
                except ShipyardError as exc:
                    skipped.append({"name": name, "reason": exc.one_line()})
                    log(f"{name}: skipped: {exc.one_line()}")
        return out

    def calibration(self, spec: CompressSpec) -> Any:
        """Static quantization's calibration rows, or why there are none (logged) when there are too few."""
        from shipyard.compression.variants import calibration_rows

        ctx = self.ctx
        if "int8_static" not in spec.formats:
            return "not asked for"
        available = len(ctx.data.split.train)
        wanted = spec.calibration_rows
        if min(wanted, available) < MIN_CALIBRATION_ROWS:
            where = f"compress.calibration_rows is {wanted}" if wanted < MIN_CALIBRATION_ROWS else f"the training split holds only {available} rows"
            reason = f"{where}; static quantization needs at least {MIN_CALIBRATION_ROWS} calibration rows"
            ctx.console.log(f"int8_static: skipped: {reason}")
            return reason
        if available < wanted:
            ctx.console.log(f"int8_static: compress.calibration_rows asks for {wanted} rows; the training split holds {available}: calibrating on all of them")
        return calibration_rows(ctx.data, wanted, ctx.recipe.seed)

    def build(self, name: str, network: Any, parameters: int, formats: list[str], calibration: Any) -> list[Any]:
        """The network's variants (:func:`shipyard.compression.variants.build`)."""
        from shipyard.compression.variants import build

        return build(self.ctx.recipe, self.ctx.data, self.pre, name, network, parameters, formats, calibration)

    outputs = None
    """Variants are scored by the default of :func:`shipyard.compression.variants.evaluate`: the graph on the raw table rows."""

    def records(self) -> Any:
        """The raw test records the variants are timed on."""
        data = self.ctx.data
        return data.frame.iloc[data.split.test][data.features]

    def manifest(self, metrics: dict[str, Any], parity: dict[str, Any]) -> dict[str, Any]:
        """A variant bundle's manifest fields."""
        from shipyard.stages.export import bundle_manifest

        return bundle_manifest(self.ctx.recipe, self.ctx.data, metrics, parity)

    def files(self, graph: bytes) -> dict[str, bytes]:
        """A variant bundle's files, given its sealed graph."""
        return {"model.onnx": graph}

    def eager(self, parameters: int) -> dict[str, Any]:
        """PyTorch eager fp32 of the trained network: on preprocessed features, and with scikit-learn's transform of the raw row."""
        ctx = self.ctx
        latency, data = compress_spec(ctx.recipe).latency, ctx.data
        network = eager_latency(ctx.network, ctx.task, data.X["test"], latency.repeats, latency.warmup, latency.throughput_batch)
        with_preprocessing = eager_pipeline_latency(
            ctx.network, ctx.task, data.preprocessor, data.model_input.iloc[data.split.test], max(latency.repeats // 10, 10), latency.warmup // 10
        )
        return {"network": {**network, "parameters": parameters}, "network_with_preprocessing": with_preprocessing}


def variant_source(ctx: RunContext) -> Any:
    """The run's variants: :class:`TableVariants`, or what the input modality makes (e.g. int8 and fewer-layer students of a text encoder)."""
    from shipyard.modalities import modality_of

    modality = modality_of(ctx.recipe)
    return TableVariants(ctx) if modality is None else modality.compression(ctx)


def compress(ctx: RunContext) -> dict[str, Any]:
    """Build, evaluate, measure and choose the variants of ``ctx.network``; deploy the chosen one; write ``compression.json``.

    Returns
    -------
    dict
        The content of ``compression.json``: ``budget``, ``selected``, ``reason``,
        ``confirmed_on_test``, ``variants`` (one record each, the measurements and
        any error), ``skipped`` (networks not made, with the reason), ``eager``
        (PyTorch eager fp32), ``threads``, ``clock``.
    """
    from shipyard.compression.variants import evaluate

    recipe, data, run = ctx.recipe, ctx.data, ctx.run_dir
    spec, log = compress_spec(recipe), ctx.console.log
    metric = budget_metric(recipe)
    source = variant_source(ctx)
    skipped: list[dict[str, str]] = []
    networks = source.networks(spec, skipped)
    calibration = source.calibration(spec)
    log(f"exporting {len(networks)} network(s) in fp32 and {', '.join(spec.formats) or 'no other format'}")
    variants = []
    made = {}
    for name, network, parameters, info in networks:
        made[name] = info
        variants += source.build(name, network, parameters, list(spec.formats), calibration)
    for v in variants:
        if v.status != "ok":
            log(f"{v.name}: failed: {v.error}")
    reference = next(v for v in variants if v.name == REFERENCE)
    if reference.status != "ok":
        raise ShipyardError(f"compress: the trained network's fp32 graph, the reference, failed: {reference.error}", "check the export stage's parity first")
    tolerances = spec.tolerance.model_dump()
    evaluate(recipe, data, variants, tolerances, metric, source.outputs)

    partial = run.path / (VARIANTS + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    records_frame = source.records()
    latency = spec.latency
    log(
        f"measuring {sum(v.status == 'ok' for v in variants)} variant(s): batch-1 latency over {latency.repeats} calls "
        f"({THREADS} thread), throughput at batch {latency.throughput_batch}"
    )
    records = [_write_and_measure(ctx, source, v, made[v.network], partial, records_frame) for v in variants]
    eager = source.eager(networks[0][2])
    selection = select(records, metric, spec.budget.max_drop, spec.budget.objective)
    if latency.request_repeats:
        # The request path (coercion + session + warnings) is timed for fp32 and the deployed variant; `shipyard bench RUN` times every variant.
        log(f"timing {latency.request_repeats} calls through shipyard.load (the server's request path) for fp32 and {selection['selected']}")
        for record in records:
            if record["name"] in (REFERENCE, selection["selected"]):
                record["latency"]["request"] = request_latency(partial / record["name"], records_frame, latency.request_repeats, min(latency.warmup, 20))
    for record in records:
        if record["name"] in selection["drops"]:
            record["drop"] = selection["drops"][record["name"]]
            record["eligible"] = record["name"] in selection["eligible"]
    result = {
        "budget": {"metric": metric, "max_drop": spec.budget.max_drop, "objective": spec.budget.objective, "split": "validation"},
        "selected": selection["selected"],
        "chosen_on_validation": selection["chosen_on_validation"],
        "confirmed_on_test": selection["confirmed_on_test"],
        "reason": selection["reason"],
        "eligible": selection["eligible"],
        "reference": REFERENCE,
        "variants": records,
        "skipped": skipped,
        "networks": made,
        "eager": eager,
        "threads": THREADS,
        "clock": CLOCK,
        "calibration_rows": None if isinstance(calibration, str) else int(len(calibration)),
        "tolerance": tolerances,
    }
    _deploy(ctx, source, result, partial)
    run.write_json(COMPRESSION, result)
    chosen = next(r for r in records if r["name"] == result["selected"])
    ctx.metrics["compression"] = {
        "selected": result["selected"],
        "reason": result["reason"],
        "confirmed_on_test": result["confirmed_on_test"],
        "test": chosen["test"],
        "bytes": chosen["bytes"],
        "latency_p50_us": chosen["latency"]["session"]["p50"],
    }
    ctx.write_metrics()
    log(f"deployed {result['selected']}: {result['reason']}")
    return result


def _write_and_measure(ctx: RunContext, source: Any, v: Any, network_info: dict[str, Any], partial: Path, records: Any) -> dict[str, Any]:
    """Write a built variant as a bundle in ``partial/<name>/`` and measure it; the variant's ``compression.json`` record."""
    from shipyard.stages.export import seal_graph

    record: dict[str, Any] = {"name": v.name, "network": v.network, "format": v.format, "reference": v.reference, "parameters": v.parameters, "status": v.status}
    if v.status != "ok":
        return {**record, "error": v.error}
    metrics = {
        "test": v.record["test"],
        "positive_label": v.record.get("positive_label"),
        "decision": v.record.get("decision"),
        "calibration": {"temperature_scaling": network_info.get("temperature_scaling")},
    }
    manifest = {**source.manifest(metrics, v.record["parity"]), "variant": {"name": v.name, "network": v.network, "format": v.format}}
    write_bundle(partial / v.name, source.files(seal_graph(v.payload, manifest)), manifest)
    record.update({k: v.record[k] for k in ("parity", "validation", "test", "test_ci", "delta_test_ci", "decision") if k in v.record})
    latency = compress_spec(ctx.recipe).latency
    record.update(measure_bundle(partial / v.name, records, latency.repeats, latency.warmup, 0, latency.throughput_batch))
    record["file"] = f"{VARIANTS}/{v.name}/model.onnx"
    return record


def _deploy(ctx: RunContext, source: Any, result: dict[str, Any], partial: Path) -> None:
    """Copy the selected variant's graph into ``bundle/`` (manifest naming every variant) and move ``compression/`` into place."""
    from shipyard.export.bundle import read_manifest

    run = ctx.run_dir
    selected = result["selected"]
    _, manifest = read_manifest(partial / selected)
    payload = (partial / selected / manifest["model_file"]).read_bytes()
    for key in ("format", "created", "files", "versions"):
        manifest.pop(key, None)
    manifest["compression"] = {
        "variant": selected,
        "reason": result["reason"],
        "budget": result["budget"],
        "confirmed_on_test": result["confirmed_on_test"],
        "variants": [
            {
                "name": r["name"],
                "status": r["status"],
                **(
                    {
                        "file": r["file"],
                        "bytes": r["bytes"],
                        "sha256": r["sha256"],
                        "parameters": r["parameters"],
                        "validation": r["validation"].get(result["budget"]["metric"]),
                        "test": r["test"].get(result["budget"]["metric"]),
                        "latency_p50_us": r["latency"]["session"]["p50"],
                        "max_abs_diff": r["parity"]["max_abs_diff"],
                    }
                    if r["status"] == "ok"
                    else {"error": r.get("error", "")}
                ),
            }
            for r in result["variants"]
        ],
    }
    target = run.path / VARIANTS
    previous = run.path / (VARIANTS + ".prev")
    shutil.rmtree(previous, ignore_errors=True)
    if target.exists():
        os.replace(target, previous)
    os.replace(partial, target)
    shutil.rmtree(previous, ignore_errors=True)
    write_bundle(run.bundle, source.files(payload), manifest)


@register_stage
class CompressStage(Stage):
    """Compressed variants (int8, float16, pruned, distilled) measured against ONNX fp32; the best within budget is deployed."""

    name = "compress"
    section = "compress"
    order = 65
    writes = (COMPRESSION, VARIANTS)
    rerunnable = True
    message = "compressing the network (quantization, pruning, distillation) within the accuracy budget"

    def enabled(self, recipe: Recipe) -> bool:
        return recipe.compress is not None

    def check(self, recipe: Recipe, data: Prepared) -> None:
        check_compress(recipe, data)

    def run(self, ctx: RunContext) -> None:
        compress(ctx)
