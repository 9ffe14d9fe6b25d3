"""The ``shipyard`` command: one sub-command per verb.

Errors a user can cause print one line (``error: ...``) and exit with status 2;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import functools
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
    recipe: Path = typer.Argument(..., help="Recipe YAML file."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Root folder of run directories."),
    track: bool = typer.Option(True, "--track/--no-track", help="Log to MLflow and register the bundle."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Run a recipe: prepare, train, evaluate, export."""
    from shipyard.pipeline import run as run_pipeline

    result = run_pipeline(recipe, runs_dir=runs_dir, track=track, progress=not quiet)
    metrics = result.metrics
    table = Table(title=f"test metrics ({metrics['split']['test']} rows)")
    table.add_column("metric")
    table.add_column("network", justify="right")
    baseline = metrics.get("baseline")
    if baseline:
        table.add_column("logistic regression", justify="right")
    for key, value in metrics["test"].items():
        row = [key, _fmt(value)]
        if baseline:
            row.append(_fmt(baseline.get(key)))
        table.add_row(*row)
    out.print(table)
    _print_confusion(metrics)
    parity = metrics["parity"]
    out.print(f"ONNX parity: max |Δp| = {parity['max_abs_diff']:.2e} on {parity['rows']} test rows (tolerance {parity['tolerance']:g})")
    latest = result.path.parent / "latest"
    out.print(f"run:     {result.path}")
    out.print(f"latest:  {latest}")
    out.print(f"bundle:  {result.bundle}")
    if result.model_version:
        out.print(f"mlflow:  registered model '{result.path.parent.name}' version {result.model_version}")
    out.print(f"time:    {result.seconds:.1f} s")
    out.print(f"serve:   {_command()} serve {latest}")


def _command() -> str:
    """How the user can call shipyard again: plain 'shipyard' when it is on PATH."""
    import shutil

    exe = Path(sys.argv[0])
    found = shutil.which("shipyard")
    if exe.name == "shipyard" and (found is None or Path(found).resolve() != exe.resolve()):
        return str(exe)
    return "shipyard"


def _print_confusion(metrics: dict[str, Any]) -> None:
    labels = metrics["labels"]
    table = Table(title="confusion matrix (rows: true, columns: predicted)")
    table.add_column("")
    for label in labels:
        table.add_column(label, justify="right")
    for label, row in zip(labels, metrics["confusion_matrix"]):
        table.add_row(label, *map(str, row))
    out.print(table)


def _fmt(value: Any) -> str:
    return "n/a" if value is None or value != value else f"{value:.4f}"


@app.command()
@_user_errors
def validate(recipe: Path = typer.Argument(..., help="Recipe YAML file.")) -> None:
    """Check a recipe and its data; print the recipe with every default filled in."""
    import yaml

    from shipyard.recipe import load_recipe

    from shipyard.stages.prepare import load_and_split
    from shipyard.training.device import resolve_device

    parsed = load_recipe(recipe)
    out.print(yaml.safe_dump(parsed.resolved(), sort_keys=False), end="", highlight=False, markup=False)
    prepared = load_and_split(parsed)
    resolve_device(parsed.train.device)
    sizes = prepared.split.sizes()
    err.print(
        f"{recipe}: valid; {len(prepared.frame)} rows, {len(prepared.features)} feature columns, "
        f"{len(prepared.labels)} classes; split {sizes['train']}/{sizes['validation']}/{sizes['test']}",
        highlight=False,
    )


@app.command()
@_user_errors
def serve(
    path: Path = typer.Argument(..., help="Run directory or bundle folder."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, help="TCP port."),
) -> None:
    """Serve a bundle over HTTP (FastAPI + uvicorn, onnxruntime only)."""
    import socket

    import uvicorn

    from shipyard.serving.app import create_app

    application = create_app(path)
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise ShipyardError(f"--host {host} --port {port}: cannot listen there ({exc.strerror})", "choose another --port") from None
    err.print(f"serving {path} on http://{host}:{port} (POST /v1/predict, GET /healthz, docs at /docs)")
    uvicorn.run(application, host=host, port=port, log_level="info")


@app.command()
@_user_errors
def predict(
    path: Path = typer.Argument(..., help="Run directory or bundle folder."),
    data: Path = typer.Argument(..., help="CSV, Parquet or JSON Lines file of raw records."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="File to write (.csv, .parquet or .jsonl): the input columns, prediction and one probability column per class."
    ),
) -> None:
    """Predict a file of records with a bundle (onnxruntime only)."""
    from shipyard.data.loading import load_table
    from shipyard.predictor import Predictor

    writers = {".csv": "to_csv", ".parquet": "to_parquet", ".jsonl": "to_json"}
    if output.is_dir():
        raise ShipyardError(f"--output {output}: is a folder", "name a file, e.g. predictions.csv")
    if output.suffix.lower() not in writers:
        raise ShipyardError(f"--output {output}: unknown file kind '{output.suffix}'", "use .csv, .parquet or .jsonl")
    predictor = Predictor(path)
    frame = load_table(str(data), role="the DATA argument")
    proba = predictor.predict_proba(frame, source=str(data))
    for note in predictor.unseen_categories(frame):
        err.print(f"warning: {data}: {note}", highlight=False)
    result = frame.copy()
    result["prediction"] = [predictor.labels[i] for i in proba.argmax(axis=1)]
    for j, label in enumerate(predictor.labels):
        result[f"proba_{label}"] = proba[:, j]
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
    err.print(f"wrote {len(result)} predictions to {output}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
