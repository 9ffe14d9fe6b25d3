"""The ``shipyard`` command: one sub-command per verb.

Errors a user can cause print one line (``error: ...``) and exit with status 2;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path
from typing import Any, Callable

import typer
from rich.console import Console
from rich.table import Table

from shipyard import __version__
from shipyard.errors import ShipyardError

app = typer.Typer(
    help="Shipyard: from a dataset to a production-ready model with one declarative recipe.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)
_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        print(f"shipyard {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Shipyard command line."""
    _state["debug"] = debug
    _show_warnings()


class _WarningLine(logging.Handler):
    """Print the ``shipyard`` logger's warnings as ``warning: ...`` lines on stderr (e.g. a run found killed)."""

    def emit(self, record: logging.LogRecord) -> None:
        from rich.markup import escape

        err.print(f"[bold yellow]warning:[/] {escape(record.getMessage())}", highlight=False, soft_wrap=True)


def _show_warnings() -> None:
    logger = logging.getLogger("shipyard")
    if not any(isinstance(h, _WarningLine) for h in logger.handlers):
        logger.addHandler(_WarningLine(level=logging.WARNING))
        logger.propagate = False


def _user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ShipyardError as exc:
            if _state["debug"]:
                raise
            err.print(f"[bold red]error:[/] {exc.one_line()}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


@app.command()
@_user_errors
def run(
    recipe: Path = typer.Argument(None, help="Recipe YAML file (not needed with --resume)."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Root folder of run directories."),
    track: bool = typer.Option(True, "--track/--no-track", help="Log to MLflow and register the bundle."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or stage messages (findings and metrics are still printed)."),
    resume: Path = typer.Option(None, "--resume", help="An interrupted run directory: continue its training from the last checkpoint."),
) -> None:
    """Run a recipe: prepare, train, calibrate, evaluate, export, compress, explain, attack, report."""
    from shipyard.pipeline import run as run_pipeline

    if recipe is None and resume is None:
        raise ShipyardError("missing argument RECIPE", "pass a recipe file, or --resume RUN to continue an interrupted run")
    if recipe is not None and resume is not None:
        raise ShipyardError("give either RECIPE or --resume RUN, not both", "a resumed run uses the recipe saved in its run directory")
    result = run_pipeline(recipe, runs_dir=runs_dir, track=track, progress=not quiet, resume=resume)
    metrics = result.metrics
    _print_metrics(metrics)
    if "confusion_matrix" in metrics:
        _print_confusion(metrics)
    _print_imbalance(metrics)
    _print_data_findings(result.path)
    _print_findings(metrics)
    parity = metrics["parity"]
    delta = "|Δ value|" if "confusion_matrix" not in metrics else "|Δp|"
    out.print(f"ONNX parity: max {delta} = {parity['max_abs_diff']:.2e} on {parity['rows']} test rows (tolerance {parity['tolerance']:g})")
    probes = parity.get("probes")
    if probes:
        out.print(
            f"ONNX parity on {probes['rows']} probe records (missing values, unseen and rare categories, training min/max and the "
            f"accepted limits, boolean spellings): max {delta} = {probes['max_abs_diff']:.2e}, {probes['flips']} changed predictions"
            + (f", {probes['non_finite']} non-finite outputs" if probes.get("non_finite") else ""),
            highlight=False,
            soft_wrap=True,
        )
    if (result.path / "compression.json").is_file():
        import json

        _print_compression(json.loads((result.path / "compression.json").read_text(encoding="utf-8")))
    latest = result.path.parent / "latest"
    out.print(f"run:     {result.path}")
    out.print(f"latest:  {latest}")
    out.print(f"bundle:  {result.bundle}")
    if result.model_version:
        out.print(f"mlflow:  registered model '{result.path.parent.name}' version {result.model_version}")
    out.print(f"time:    {result.seconds:.1f} s")
    out.print(f"report:  {result.path / 'report.html'}")
    out.print(f"serve:   {_command()} serve {latest}")


def _command() -> str:
    """How the user can call shipyard again: plain 'shipyard' when it is on PATH."""
    import shutil

    exe = Path(sys.argv[0])
    found = shutil.which("shipyard")
    if exe.name == "shipyard" and (found is None or Path(found).resolve() != exe.resolve()):
        return str(exe)
    return "shipyard"


def _print_metrics(metrics: dict[str, Any]) -> None:
    """Test metrics of the network and each baseline, with bootstrap CIs: ``0.962 [0.941, 0.979]``."""
    from shipyard.evaluation.bootstrap import format_ci
    from shipyard.evaluation.leaderboard import NETWORK, TITLES

    board = metrics.get("baselines", {})
    models = board.get("models") or {NETWORK: metrics.get("test_ci", {})}
    boot = metrics.get("bootstrap", {})
    ci = f", {boot.get('confidence', 0.95):.0%} bootstrap CI over {boot['samples']} resamples" if boot.get("samples") else ""
    table = Table(title=f"test metrics ({metrics['split']['test']} rows{ci})")
    table.add_column("metric")
    for name in models:
        table.add_column(TITLES.get(name, name), justify="right")
    for key, value in metrics["test"].items():
        cells = [format_ci(models[name].get(key)) if models[name].get(key) else _fmt(value if name == NETWORK else None) for name in models]
        table.add_row(key, *cells)
    out.print(table)


def _print_data_findings(run_path: Path) -> None:
    """The data profile's errors and warnings, and how the split was made: shown with or without --quiet."""
    import json

    file = Path(run_path) / "data_profile.json"
    if not file.is_file():
        return
    profile = json.loads(file.read_text(encoding="utf-8"))
    shown = [f for f in profile.get("findings", []) if f["severity"] in ("error", "warning") or f["code"] == "split_duplicates"]
    dropped = profile.get("dropped_columns") or {}
    if not shown and not dropped:
        return
    out.print("data findings (data_profile.json):", highlight=False)
    for f in sorted(shown, key=lambda f: ("error", "warning", "info").index(f["severity"])):
        out.print(f"• {f['severity']}: {f['message']}", highlight=False)
    if dropped:
        out.print("• dropped columns: " + ", ".join(f"'{c}' ({why})" for c, why in dropped.items()), highlight=False)


def _print_findings(metrics: dict[str, Any]) -> None:
    """Plain-language findings: baselines that match the network, overfitting, calibration."""
    cv = metrics.get("cv")
    if cv:
        table = Table(title=f"{cv['k']}-fold cross-validation" + (f" grouped by '{cv['grouped_by']}'" if cv["grouped_by"] else "") + " (mean ± std; per fold)")
        table.add_column("metric")
        table.add_column("mean ± std", justify="right")
        table.add_column("folds", justify="right")
        for name, mean in cv["mean"].items():
            table.add_row(name, f"{_fmt(mean, 3)} ± {_fmt(cv['std'][name], 3)}", " ".join(_fmt(f["metrics"][name], 3) for f in cv["folds"]))
        out.print(table)
    lines = list((cv or {}).get("findings", []))
    lines += metrics.get("baselines", {}).get("findings", [])
    lines += metrics.get("diagnosis", {}).get("findings", [])
    cal = metrics.get("calibration")
    if cal:
        text = f"Calibration: ECE {cal['ece']:.3f} ({cal['bins']} bins), Brier {cal['brier']:.3f}"
        temp = cal.get("temperature_scaling")
        if temp:
            text += f"; temperature scaling T = {temp['temperature']:.3f} (validation ECE {temp['validation_ece_before']:.3f} → {temp['validation_ece_after']:.3f})"
        lines.append(text + ".")
        if temp and temp.get("warning"):
            lines.append(f"Warning: {temp['warning']}.")
    if cv:
        lines += cv.get("holdout", {}).get("findings", [])
    dp = metrics.get("dp_sgd")
    if dp:
        lines.append(f"DP-SGD: epsilon {dp['epsilon']:.3f} spent of {dp['target_epsilon']:g} (delta {dp['delta']:.1e}, noise multiplier {dp['noise_multiplier']:.3f}).")
    lines += metrics.get("attack", {}).get("findings", [])
    for line in lines:
        out.print(f"• {line}", highlight=False)


def _print_confusion(metrics: dict[str, Any]) -> None:
    labels = metrics["labels"]
    table = Table(title="confusion matrix (rows: true, columns: predicted)")
    table.add_column("")
    for label in labels:
        table.add_column(label, justify="right")
    for label, row in zip(labels, metrics["confusion_matrix"]):
        table.add_row(label, *map(str, row))
    out.print(table)


def _print_imbalance(metrics: dict[str, Any]) -> None:
    """Per-class recall when the classes are imbalanced (ratio > 3), and the tuned threshold if any."""
    ratio = metrics.get("imbalance_ratio")
    if ratio is not None and ratio > 3:
        out.print(f"imbalance ratio {ratio:.1f} (training split): accuracy alone is misleading; read balanced accuracy and per-class recall")
        table = Table(title="per-class test recall")
        table.add_column("class")
        table.add_column("recall", justify="right")
        for label, value in metrics["per_class_recall"].items():
            table.add_row(label, _fmt(value))
        table.add_row("[bold]balanced accuracy[/]", _fmt(metrics["test"]["balanced_accuracy"]))
        out.print(table)
    decision = metrics.get("decision")
    if decision:
        out.print(
            f"decision threshold: predict '{decision['positive_label']}' when p >= {decision['threshold']:.4f} "
            + (
                f"(objective {decision['objective']}: prior-shift factor {decision['prior_shift_factor']:.3g}, "
                f"target {decision['target_on_unweighted_posterior']:.3g} on the unweighted posterior; stored in the bundle)"
                if "prior_shift_factor" in decision
                else f"(tuned for {decision['objective']} on {decision['validation_rows']} validation rows; stored in the bundle)"
            )
        )


def _fmt(value: Any, digits: int = 4) -> str:
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"


@app.command()
@_user_errors
def profile(
    recipe: Path = typer.Argument(..., help="Recipe YAML file."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Also write the profile as JSON here."),
) -> None:
    """Profile a recipe's data: column kinds, missing values, duplicates, leakage, imbalance (no training)."""
    import json

    from shipyard.data.profile import profile_tables
    from shipyard.recipe import load_recipe
    from shipyard.stages.prepare import load_and_split

    loaded = load_recipe(recipe)
    # Report every finding here; the run itself stops on prepare.fail_on.
    loaded.prepare.fail_on = []
    prepared = load_and_split(loaded)
    for table in profile_tables(prepared.profile):
        out.print(table)
    if output is not None:
        output.write_text(json.dumps(prepared.profile, indent=2, default=str) + "\n", encoding="utf-8")
        err.print(f"wrote {output}")


@app.command()
@_user_errors
def validate(recipe: Path = typer.Argument(..., help="Recipe YAML file.")) -> None:
    """Check a recipe and its data; print the recipe with every default filled in."""
    import yaml

    from shipyard.pipeline import check_inputs
    from shipyard.recipe import load_recipe

    parsed = load_recipe(recipe)
    prepared = check_inputs(parsed)
    out.print(yaml.safe_dump(parsed.resolved(), sort_keys=False), end="", highlight=False, markup=False)
    sizes = prepared.split.sizes()
    target = f"{len(prepared.labels)} classes" if prepared.labels else "a numeric target"
    err.print(
        f"{recipe}: valid; {len(prepared.frame)} rows, {len(prepared.features)} feature columns, "
        f"{target}; split {sizes['train']}/{sizes['validation']}/{sizes['test']}",
        highlight=False,
    )


@app.command()
@_user_errors
def serve(
    path: Path = typer.Argument(..., help="Run directory or bundle folder."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Server processes (Prometheus metrics aggregated across them)."),
    batching: bool = typer.Option(False, "--batching/--no-batching", help="Group concurrent requests into one onnxruntime call (more requests/s under many clients, a little more latency at one)."),
    max_batch_size: int = typer.Option(256, "--max-batch-size", min=1, max=10_000, help="Most records per onnxruntime call."),
    max_wait_ms: float = typer.Option(0.0, "--max-wait-ms", min=0.0, max=1000.0, help="How long a batch waits for more requests (0: never delays a request)."),
    threads: int = typer.Option(1, "--threads", min=1, max=64, help="onnxruntime intra-op threads per process."),
    api_key_file: Path = typer.Option(None, "--api-key-file", help="Require 'Authorization: Bearer <key>' for predictions; one key per line (or set SHIPYARD_API_KEYS)."),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="One JSON line per request on stderr (no record contents)."),
) -> None:
    """Serve a bundle over HTTP (FastAPI + uvicorn, onnxruntime only)."""
    import os
    import shutil
    import socket
    import tempfile

    import uvicorn

    from shipyard.rundir import reap_stale_runs
    from shipyard.serving.app import create_app
    from shipyard.serving.settings import ENV, ServeSettings, read_api_keys

    reap_stale_runs(path)  # a run of this recipe left "running" by a killed process is marked so
    keys = read_api_keys(api_key_file)
    settings = ServeSettings(str(path), batching, max_batch_size, max_wait_ms, workers, threads, keys, access_log)
    application = create_app(path, settings)  # checks the bundle (and fails with one line) before binding
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise ShipyardError(f"--host {host} --port {port}: cannot listen there ({exc.strerror})", "choose another --port") from None
    auth = "; predictions need a bearer key" if keys else ""
    err.print(
        f"serving {path} on http://{host}:{port} with {workers} worker(s), micro-batching {'on' if batching else 'off'}{auth} "
        "(POST /v1/predict, GET /healthz /readyz /metrics /v1/model, docs at /docs)"
    )
    if workers == 1:
        uvicorn.run(application, host=host, port=port, log_level="warning", access_log=False)
        return
    metrics_dir = tempfile.mkdtemp(prefix="shipyard-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    os.environ[ENV] = settings.to_env()
    try:
        uvicorn.run(
            "shipyard.serving.app:create_app_from_env", factory=True, host=host, port=port, workers=workers, log_level="warning", access_log=False
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


@app.command()
@_user_errors
def predict(
    path: Path = typer.Argument(..., help="Run directory or bundle folder."),
    data: Path = typer.Argument(..., help="CSV, Parquet or JSON Lines file of raw records."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="File to write (.csv, .parquet or .jsonl): the input columns, prediction and one probability column per class."
    ),
) -> None:
    """Predict a file of records with a bundle (onnxruntime only).

    A record that cannot be predicted (a value outside the range the model
    accepts, an output that is not finite) gets an empty prediction and its
    reason in an ``error`` column; the others are predicted, the file is
    written, and the command exits with status 1.
    """
    from shipyard.predictor import load

    writers = {".csv": "to_csv", ".parquet": "to_parquet", ".jsonl": "to_json"}
    if output.is_dir():
        raise ShipyardError(f"--output {output}: is a folder", "name a file, e.g. predictions.csv")
    if output.suffix.lower() not in writers:
        raise ShipyardError(f"--output {output}: unknown file kind '{output.suffix}'", "use .csv, .parquet or .jsonl")
    from shipyard.rundir import reap_stale_runs

    reap_stale_runs(path)
    predictor = load(path)  # a table, text or image bundle (the manifest's input)
    records, frame = predictor.read_data(data)  # each input read as training read it
    inputs = {c.name for c in predictor.schema}
    for mixed in frame.attrs.get("reading", {}).get("mixed_types", []):
        if mixed["column"] in inputs and mixed.get("read_as", "missing") == "missing":
            err.print(
                f"warning: {data}: column '{mixed['column']}': {mixed['count']} value(s) that are not numbers read as missing "
                f"(e.g. {mixed['examples']} in data rows {mixed['rows']})",
                highlight=False,
            )
    result = frame.copy()
    found = predictor.predict_records(records, source=str(data))
    result["prediction"] = found.decided
    for j, label in enumerate(predictor.labels):  # class probabilities (none for regression)
        result[f"proba_{label}"] = found.output[:, j]
    if found.errors:
        result["error"] = [found.errors.get(i) for i in range(len(result))]
    for note in found.warnings:
        err.print(f"warning: {data}: {note}", highlight=False)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    kind = output.suffix.lower()
    try:
        if kind == ".csv":
            result.to_csv(tmp, index=False)
        elif kind == ".parquet":
            result.to_parquet(tmp, index=False)
        else:
            result.to_json(tmp, orient="records", lines=True)
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    if found.errors:
        for row, why in sorted(found.errors.items())[:10]:
            err.print(f"error: {data}: record {row} not predicted: {why}", highlight=False, soft_wrap=True)
        err.print(
            f"wrote {len(result) - len(found.errors)} predictions to {output}; {len(found.errors)} of {len(result)} records could not be predicted "
            "(empty prediction, reason in column 'error')",
            highlight=False,
        )
        raise typer.Exit(1)
    err.print(f"wrote {len(result)} predictions to {output}")


@app.command()
@_user_errors
def explain(
    path: Path = typer.Argument(..., help="Run directory (runs/NAME/latest) or bundle folder."),
    row: int = typer.Option(None, "--row", help="Test row (position among the test rows, or among --data rows) explained locally; default explain.row."),
    data: Path = typer.Option(None, "--data", help="Records to explain a bundle on (CSV, Parquet, JSON Lines); required for a bundle."),
    target: str = typer.Option(None, "--target", help="Label column of --data; enables permutation importance."),
    record: str = typer.Option(None, "--record", help='A JSON object of raw column values explained locally instead of a test row, e.g. \'{"age": 50, ...}\'.'),
    samples: int = typer.Option(None, "--samples", min=1, help="Rows explained with SHAP; default explain.samples (200)."),
    output: Path = typer.Option(None, "--output", "-o", help="Where to write the JSON (default: explain.json in the run)."),
) -> None:
    """Explain a model: SHAP values, permutation importance and a surrogate tree."""
    from shipyard.explain import check_row
    from shipyard.export.bundle import read_manifest
    from shipyard.modalities import modality_of
    from shipyard.rundir import resolve_run
    from shipyard.stages import RunContext, get_stage
    from shipyard.stages.explain import EXPLAIN, explain_bundle, explain_run, write_explain

    if row is not None and row < 0:
        raise ShipyardError(f"--row: {row} is negative", "give a test row position: 0 for the first")
    parsed = None
    if record is not None:
        import json

        try:
            parsed = json.loads(record)
        except json.JSONDecodeError as exc:
            raise ShipyardError(f"--record: not valid JSON ({exc.msg} at character {exc.pos})", "pass one JSON object of column values") from None
        if not isinstance(parsed, dict):
            raise ShipyardError(f"--record: expected a JSON object, got {type(parsed).__name__}", "pass one JSON object of column values")
    run_dir = None
    if data is None:
        try:
            run_dir = resolve_run(path)
        except ShipyardError:
            read_manifest(path)  # a missing or modified bundle is named first
            raise ShipyardError(f"{path}: a bundle holds no data to explain", "pass --data FILE (and --target COLUMN for permutation importance)") from None
    if run_dir is not None:
        read_manifest(run_dir.path)  # refuse a run whose bundle was modified
        ctx = RunContext.from_run(run_dir)  # the checkpoint's network and the saved preparation: nothing refitted
        if samples is not None:
            ctx.recipe.explain.samples = samples
        modality = modality_of(ctx.recipe)
        if modality is not None:  # token attributions or saliency maps
            if parsed is not None:
                article = "an" if modality.name[0] in "aeiou" else "a"
                raise ShipyardError(f"--record: explains a record of table columns; {path} is {article} {modality.name} model", "use --row N for a test row")
            ctx.recipe.explain.row = ctx.recipe.explain.row if row is None else row
            check_row(ctx.recipe.explain.row, len(ctx.data.split.test), "--row")
            result = modality.explain(ctx)
            written = write_explain(output or run_dir.path / EXPLAIN, result)
            get_stage("report").run(ctx)
            _print_modality_explanation(result)
            err.print(f"wrote {written}")
            return
        result = explain_run(ctx, row, parsed)
        written = run_dir.path / EXPLAIN
        if output is not None:
            written = write_explain(output, result)
        get_stage("report").run(ctx)
    else:
        result = explain_bundle(path, data, target, row or 0, samples or 200)
        written = write_explain(output or Path(EXPLAIN), result)
    _print_explanation(result)
    err.print(f"wrote {written}")


def _print_modality_explanation(result: dict[str, Any]) -> None:
    """Print a text run's top tokens and explained texts, or an image run's saliency summary."""
    if result["kind"] == "text":
        title = f"tokens with the largest mean attribution ({result['output']}; {result['n_texts']} texts)"
        table = Table(title=title, min_width=len(title))  # the title on one line, however short the tokens
        for head in ("token", "mean attribution", "count"):
            table.add_column(head, justify="left" if head == "token" else "right")
        for item in result["global"]["by_abs"][:15]:
            table.add_row(item["token"], f"{item['mean']:+.4f}", str(item["count"]))
        (out if out.is_terminal else Console(width=160)).print(table)  # a log or a pipe: no wrapped columns
        first = result["texts"][0]
        top = sorted(zip(first["tokens"], first["attributions"]), key=lambda t: -abs(t[1]))[:8]
        out.print(f"test row {first['test_position']} (true {first['true']}, predicted {first['predicted']}): " + ", ".join(f"{t} {a:+.3f}" for t, a in top), highlight=False)
    else:
        out.print(
            f"saliency of {len(result['saliency'])} test images ({result['method']}); {result['n_misclassified']} of {result['n_test']} test images misclassified",
            highlight=False,
        )
    out.print(
        f"completeness: |sum of attributions - (output - baseline output)| <= {result['max_abs_delta']:.2e} "
        f"({result['completeness_error']:.1%} of max(1, |output - baseline output|))",
        highlight=False,
    )


def _print_explanation(result: dict[str, Any]) -> None:
    sh, perm, local = result["shap"], result.get("permutation"), result["local"]
    table = Table(title=f"global importance ({sh['explainer']}; {sh['n_rows']} rows; SHAP in {sh['output']})")
    table.add_column("column")
    table.add_column("mean |SHAP|", justify="right")
    if perm:
        table.add_column(f"permutation: increase in {perm['metric']} ± std", justify="right")
    for name in sh["ranking"][:12]:
        cells = [name, f"{sh['mean_abs'][name]:.4f}"]
        if perm:
            cells.append(f"{perm['mean'][name]:.4f} ± {perm['std'][name]:.4f}")
        table.add_row(*cells)
    out.print(table)
    table = Table(title=f"{'the record' if local['row'] == 'record' else 'row ' + str(local['row'])}: output {local['output']:.4f} = expected {local['expected_value']:.4f} + Σ SHAP (predicted {local.get('predicted')}, true {local.get('true', 'n/a')})")
    table.add_column("column")
    table.add_column("value", justify="right")
    table.add_column("SHAP", justify="right")
    order = sorted(range(len(local["values"])), key=lambda i: -abs(local["values"][i]))[:10]
    for i in order:
        table.add_row(sh["columns"][i], str(local["data"][i]), f"{local['values'][i]:+.4f}")
    out.print(table)
    sur = result["surrogate"]
    out.print(f"surrogate tree (depth {sur['depth']}, {sur['leaves']} leaves): fidelity {sur['fidelity']:.3f} ({sur['fidelity_metric']})", highlight=False)
    for line in result.get("findings", []):
        out.print(f"• {line}", highlight=False)


@app.command()
@_user_errors
def compress(
    path: Path = typer.Argument(..., help="Run directory (runs/NAME/latest or runs/NAME/<timestamp>)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress messages."),
) -> None:
    """Compress a finished run's network (int8, float16, pruning, distillation) and deploy the best variant within the budget."""
    from shipyard.compression.bench import COMPRESSION
    from shipyard.export.bundle import read_manifest
    from shipyard.rundir import resolve_run
    from shipyard.stages import RunContext, get_stage
    from shipyard.stages.compress import check_compress
    from shipyard.stages.compress import compress as compress_run

    run_dir = resolve_run(path)
    status = run_dir.read_json("run.json").get("status")
    if status == "running":
        raise ShipyardError(f"{run_dir.path}: the run is still running", "wait for it to finish, then compress it")
    read_manifest(run_dir.path)  # a run without a bundle, or with a modified one, is refused here
    ctx = RunContext.from_run(run_dir, console=Console(stderr=True, quiet=quiet, log_path=False))  # nothing refitted
    check_compress(ctx.recipe, ctx.data)
    result = compress_run(ctx)
    get_stage("report").run(ctx)
    _print_compression(result)
    err.print(f"wrote {run_dir.path / COMPRESSION}, {run_dir.path / 'compression'}/ and {run_dir.bundle}")


def _print_compression(result: dict[str, Any]) -> None:
    """The variants table, what failed, and which variant is deployed and why."""
    from shipyard.compression.bench import table

    wide = out if out.is_terminal else Console(width=160)  # a log or a pipe: no truncated columns
    wide.print(table(result))
    for item in result.get("skipped", []):
        out.print(f"• {item['name']} not made: {item['reason']}", highlight=False)
    for variant in result["variants"]:
        if variant.get("status") != "ok":
            out.print(f"• {variant['name']} failed: {variant.get('error', '')}", highlight=False)
    out.print(f"deployed: {result['selected']} ({result['reason']})", highlight=False)


@app.command()
@_user_errors
def bench(
    path: Path = typer.Argument(..., help="Run directory (its variants in compression/, or its bundle) or bundle folder."),
    data: Path = typer.Option(None, "--data", help="Records to time a bundle on (CSV, Parquet, JSON Lines); default: the run's test rows, or records made from the schema."),
    repeats: int = typer.Option(None, "--repeats", min=10, help="Timed batch-1 calls per variant; default compress.latency.repeats (2000)."),
    request_repeats: int = typer.Option(None, "--request-repeats", min=0, help="Timed calls through shipyard.load (the server's request path); 0 skips."),
    output: Path = typer.Option(None, "--output", "-o", help="Where to write the JSON (default: the run's compression.json, or ./compression.json for a bundle)."),
) -> None:
    """Measure a run's compressed variants (or one bundle): size, batch-1 latency, request-path latency, throughput; print the table."""
    from shipyard.compression.bench import COMPRESSION, bundle_result, remeasure, synthetic_records
    from shipyard.data.loading import load_table
    from shipyard.export.bundle import read_manifest
    from shipyard.recipe import LatencySpec
    from shipyard.rundir import RunDir, resolve_run
    from shipyard.schema import Column
    from shipyard.stages import RunContext
    from shipyard.stages.compress import compress_spec

    try:
        run_dir = resolve_run(path)
    except ShipyardError:
        run_dir = None
    ctx = None
    if run_dir is not None:
        read_manifest(run_dir.path)
        ctx = RunContext.from_run(run_dir)
    spec = compress_spec(ctx.recipe).latency.model_copy() if ctx is not None else LatencySpec()
    if repeats is not None:
        spec.repeats = repeats
    if request_repeats is not None:
        spec.request_repeats = request_repeats
    if data is not None:
        records = load_table(str(data), role="--data")
    elif ctx is not None:
        records = ctx.data.frame.iloc[ctx.data.split.test][ctx.data.features]
    else:
        records = synthetic_records([Column.from_dict(c) for c in read_manifest(path)[1]["inputs"]])
    if ctx is not None and (run_dir.path / COMPRESSION).is_file():
        result = remeasure(run_dir.read_json(COMPRESSION), run_dir.path, records, spec, ctx.network, ctx.task, ctx.data.X["test"])
        target = output or run_dir.path / COMPRESSION
    else:
        result = bundle_result(run_dir.bundle if run_dir is not None else path, records, spec)
        target = output or Path(COMPRESSION)
    target = Path(target).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    RunDir(target.parent).write_json(target.name, result)
    _print_compression(result)
    err.print(f"wrote {target}")


@app.command()
@_user_errors
def attack(
    path: Path = typer.Argument(..., help="Run directory (runs/NAME/latest or runs/NAME/<timestamp>)."),
    rows: int = typer.Option(None, "--rows", help="Attack at most this many test rows; default attack.rows."),
) -> None:
    """Attack a finished run's network (FGSM, PGD, random noise) and test membership inference; writes attack.json.

    Text runs: accuracy under typos and word deletion; image runs: FGSM and PGD in pixel space.
    """
    from shipyard.export.bundle import read_manifest
    from shipyard.rundir import resolve_run
    from shipyard.stages import RunContext, get_stage
    from shipyard.stages.attack import ATTACK, attack_run

    if rows is not None and rows < 1:
        raise ShipyardError(f"--rows: {rows} rows", "attack at least 1 test row")
    run_dir = resolve_run(path)
    read_manifest(run_dir.path)  # refuse a run whose bundle was modified
    ctx = RunContext.from_run(run_dir)  # the checkpoint's network and the saved preparation: nothing refitted
    result = attack_run(ctx, rows)
    get_stage("report").run(ctx)
    _print_attack(result)
    err.print(f"wrote {run_dir.path / ATTACK}")


def _print_perturbation(result: dict[str, Any]) -> None:
    """A text or image run's curves: accuracy per typo / deletion rate, or per pixel epsilon of FGSM and PGD."""
    table = Table(title=f"accuracy under perturbation ({result['samples']} test rows)")
    steps = result.get("rates") or result.get("epsilons")
    table.add_column("rate" if "rates" in result else "epsilon (pixel range)")
    for kind in result["curves"]:
        table.add_column(kind.replace("_", " "), justify="right")
    for i, step in enumerate(steps):
        table.add_row(f"{step:g}", *[f"{(c['accuracy'] if isinstance(c, dict) else c)[i]:.4f}" for c in result["curves"].values()])
    out.print(table)


def _print_attack(result: dict[str, Any]) -> None:
    if result.get("kind") in ("text", "image"):
        _print_perturbation(result)
        return
    metric, names = result["primary_metric"], {"inf": "L-inf", "2": "L2"}
    for norm, methods in result["curves"].items():
        table = Table(title=f"test {metric} under {names[norm]} attacks ({result['rows']} rows; epsilon in training standard deviations)")
        table.add_column("epsilon", justify="right")
        for method in methods:
            table.add_column(method.upper() if method != "noise" else "noise", justify="right")
        first = next(iter(methods.values()))
        for k, point in enumerate(first):
            table.add_row(f"{point['epsilon']:g}", *[_fmt(methods[m][k]["scores"][metric]) for m in methods])
        out.print(table)
    membership = result.get("membership")
    if membership:
        table = Table(title=f"membership inference ({membership['members']} training vs {membership['non_members']} test rows)")
        for column in ("attack", "ROC-AUC [95% CI]", "advantage"):
            table.add_column(column, justify="right" if column != "attack" else "left")
        for key in ("loss_threshold", "black_box"):
            quality = membership[key]
            table.add_row(key.replace("_", " "), f"{quality['auc']:.3f} [{quality['auc_ci'][0]:.3f}, {quality['auc_ci'][1]:.3f}]", f"{quality['advantage']:.3f}")
        out.print(table)
    for line in result["findings"]:
        out.print(f"• {line}", highlight=False)


@app.command()
@_user_errors
def report(path: Path = typer.Argument(..., help="Run directory (runs/NAME/latest or runs/NAME/<timestamp>).")) -> None:
    """Rebuild a run's self-contained report.html from the files in its run directory."""
    from shipyard.report import build_report

    target = build_report(path)
    err.print(f"wrote {target}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
