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
    _print_imbalance(metrics)
    parity = metrics["parity"]
    out.print(f"ONNX parity: max |Δp| = {parity['max_abs_diff']:.2e} on {parity['rows']} test rows (tolerance {parity['tolerance']:g})")
    latest = result.path.parent / "latest"
    out.print(f"run:     {result.path}")
    out.print(f"latest:  {latest}")
    out.print(f"bundle:  {result.bundle}")
    if result.model_version:
        out.print(f"mlflow:  registered model '{result.path.parent.name}' version {result.model_version}")
    out.print(f"time:    {result.seconds:.1f} s")
    out.print(f"serve:   shipyard serve {latest}")


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
            f"(tuned for {decision['objective']} on {decision['validation_rows']} validation rows; stored in the bundle)"
        )


def _fmt(value: Any) -> str:
    return "n/a" if value is None or value != value else f"{value:.4f}"


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
    """Check a recipe and print it with every default filled in."""
    import yaml

    from shipyard.recipe import load_recipe

    resolved = load_recipe(recipe).resolved()
    out.print(yaml.safe_dump(resolved, sort_keys=False), end="", highlight=False, markup=False)
    err.print(f"{recipe}: valid")


@app.command()
@_user_errors
def serve(
    path: Path = typer.Argument(..., help="Run directory or bundle folder."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, help="TCP port."),
) -> None:
    """Serve a bundle over HTTP (FastAPI + uvicorn, onnxruntime only)."""
    import uvicorn

    from shipyard.serving.app import create_app

    application = create_app(path)
    err.print(f"serving {path} on http://{host}:{port} (POST /v1/predict, GET /healthz, docs at /docs)")
    uvicorn.run(application, host=host, port=port, log_level="info")


@app.command()
@_user_errors
def predict(
    path: Path = typer.Argument(..., help="Run directory or bundle folder."),
    data: Path = typer.Argument(..., help="CSV, Parquet or JSON Lines file of raw records."),
    output: Path = typer.Option(..., "--output", "-o", help="CSV file to write: the input columns, prediction and one probability column per class."),
) -> None:
    """Predict a file of records with a bundle (onnxruntime only)."""
    from shipyard.data.loading import load_table
    from shipyard.predictor import Predictor

    predictor = Predictor(path)
    frame = load_table(str(data))
    proba = predictor.predict_proba(frame, source=str(data))
    for note in predictor.unseen_categories(frame):
        err.print(f"warning: {data}: {note}", highlight=False)
    result = frame.copy()
    result["prediction"] = [predictor.labels[i] for i in predictor.decide(proba)]
    for j, label in enumerate(predictor.labels):
        result[f"proba_{label}"] = proba[:, j]
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    result.to_csv(tmp, index=False)
    tmp.replace(output)
    err.print(f"wrote {len(result)} predictions to {output}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
