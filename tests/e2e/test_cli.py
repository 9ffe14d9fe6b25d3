"""The `shipyard` command as a user runs it: real processes, exit codes, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SHIPYARD = [sys.executable, "-m", "shipyard.cli"]


def shipyard(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*SHIPYARD, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300)


def assert_user_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def write_recipe(folder: Path, text: str) -> Path:
    path = folder / "recipe.yaml"
    path.write_text(text)
    return path


def test_version(tmp_path):
    proc = shipyard("--version", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == "shipyard 0.1.0"


def test_validate_prints_resolved_recipe(tmp_path):
    write_recipe(tmp_path, "name: demo\ndata: {source: sklearn:iris, target: target}\n")
    proc = shipyard("validate", "recipe.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "early_stopping:" in proc.stdout and "patience: 10" in proc.stdout and "valid" in proc.stderr


@pytest.mark.parametrize(
    "recipe,fragments",
    [
        ("name: demo\ndata: {source: sklearn:iris, target: target}\ntrain: {epochs: 0}\n", ["train.epochs: must be >= 1, got 0"]),
        ("name: demo\ndata: {source: sklearn:iris, target: target}\ntrain: {epoch: 3}\n", ["train.epoch: unknown key", "'epochs'"]),
        ("name: demo\ndata: {source: sklearn:iris, target: target}\ntrain: {batch_size: lots}\n", ["train.batch_size", "'lots'"]),
        ("name: demo\ndata: {source: missing.csv, target: y}\n", ["missing.csv: data file not found"]),
        ("name: demo\ndata: {source: empty.csv, target: y}\n", ["empty.csv: the file is empty"]),
        ("name: demo\ndata: {source: table.csv, target: label}\n", ["target column 'label' not found", "columns are: a, b, blank, one, y"]),
        ("name: demo\ndata: {source: table.csv, target: one}\n", ["'one' has a single class"]),
        ("name: demo\ndata: {source: table.csv, target: y}\n", ["'blank' are entirely empty"]),
        ("name: demo\ndata: {source: table.csv, target: y, features: [a]}\ntrain: {device: tpu}\n", ["train.device: must match", "'tpu'"]),
        ("name: demo\nname: other\ndata: {source: sklearn:iris, target: target}\n", ["not valid YAML at line 2", "'name' is given twice"]),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, recipe, fragments):
    (tmp_path / "empty.csv").write_text("")
    pd.DataFrame({"a": range(30), "b": ["x", "y", "z"] * 10, "blank": [None] * 30, "one": ["k"] * 30, "y": [0, 1] * 15}).to_csv(
        tmp_path / "table.csv", index=False
    )
    write_recipe(tmp_path, recipe)
    proc = shipyard("run", "recipe.yaml", "--no-track", cwd=tmp_path)
    assert_user_error(proc, *fragments)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "mlflow.db").exists()


def test_validate_checks_the_data_too(tmp_path):
    write_recipe(tmp_path, "name: demo\ndata: {source: sklearn:iris, target: species}\n")
    assert_user_error(shipyard("validate", "recipe.yaml", cwd=tmp_path), "target column 'species' not found")
    write_recipe(tmp_path, "name: demo\ndata: {source: sklearn:iris, target: target}\n")
    proc = shipyard("validate", "recipe.yaml", cwd=tmp_path)
    assert proc.returncode == 0 and "150 rows, 4 feature columns, 3 classes" in proc.stderr


def test_validate_runs_the_same_checks_as_run(tmp_path):
    write_recipe(tmp_path, "name: demo\ndata: {source: sklearn:iris, target: target}\nevaluate: {cv: 3, cv_group: site}\n")
    assert_user_error(shipyard("validate", "recipe.yaml", cwd=tmp_path), "evaluate.cv_group: column 'site' not found")
    write_recipe(tmp_path, "name: demo\ndata: {source: sklearn:iris, target: target}\nexplain: {row: 100000}\n")
    assert_user_error(shipyard("validate", "recipe.yaml", cwd=tmp_path), "explain.row 100000 is out of range")


def test_unusable_mlflow_store_fails_fast_and_writes_nothing(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    write_recipe(tmp_path, "name: demo\ndata: {source: sklearn:iris, target: target}\n")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}", "MLFLOW_HTTP_REQUEST_TIMEOUT": "3"}
    proc = subprocess.run([*SHIPYARD, "run", "recipe.yaml"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert_user_error(proc, f"MLflow tracking store http://127.0.0.1:{port}: cannot be used", "--no-track")
    assert not (tmp_path / "runs").exists()


def test_runs_dir_that_is_a_file(tmp_path):
    (tmp_path / "afile").write_text("x")
    write_recipe(tmp_path, "name: demo\ndata: {source: sklearn:iris, target: target}\n")
    assert_user_error(shipyard("run", "recipe.yaml", "--no-track", "--runs-dir", "afile", cwd=tmp_path), "afile: runs directory is a file")


def test_missing_recipe_and_debug_traceback(tmp_path):
    assert_user_error(shipyard("run", "nope.yaml", cwd=tmp_path), "nope.yaml: recipe file not found")
    proc = shipyard("--debug", "run", "nope.yaml", cwd=tmp_path)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_run_then_predict_csv(tmp_path):
    write_recipe(
        tmp_path,
        "name: iris-cli\ndata: {source: sklearn:iris, target: target}\ntrain: {epochs: 40}\n",
    )
    proc = shipyard("run", "recipe.yaml", "--no-track", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "roc_auc" in proc.stdout and "runs/iris-cli/latest" in proc.stdout and "ONNX parity" in proc.stdout
    assert "PGD (L-inf)" in proc.stdout and "ROC-AUC" in proc.stdout  # the attack stage's findings
    from sklearn.datasets import load_iris

    load_iris(as_frame=True).data.head(10).to_csv(tmp_path / "records.csv", index=False)
    proc = shipyard("predict", "runs/iris-cli/latest", "records.csv", "-o", "out/pred.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = pd.read_csv(tmp_path / "out" / "pred.csv")
    assert len(out) == 10 and set(out["prediction"]) <= {"setosa", "versicolor", "virginica"}
    assert [c for c in out.columns if c.startswith("proba_")] == ["proba_setosa", "proba_versicolor", "proba_virginica"]
    assert out.filter(like="proba_").sum(axis=1).round(4).eq(1).all()

    bad = load_iris(as_frame=True).data.head(3)
    bad["sepal width (cm)"] = bad["sepal width (cm)"].astype(object)
    bad.loc[2, "sepal width (cm)"] = "wide"
    bad.drop(columns="petal length (cm)").to_csv(tmp_path / "missing_col.csv", index=False)
    bad.to_csv(tmp_path / "mistyped.csv", index=False)
    assert_user_error(
        shipyard("predict", "runs/iris-cli/latest", "missing_col.csv", "-o", "x.csv", cwd=tmp_path),
        "missing_col.csv: missing column(s) 'petal length (cm)'",
    )
    assert_user_error(
        shipyard("predict", "runs/iris-cli/latest", "mistyped.csv", "-o", "x.csv", cwd=tmp_path),
        "column 'sepal width (cm)' must be numeric, got 'wide' in row 2",
    )
    assert not (tmp_path / "x.csv").exists()
    mostly_numbers = load_iris(as_frame=True).data.head(40)
    mostly_numbers["sepal width (cm)"] = mostly_numbers["sepal width (cm)"].astype(object)
    mostly_numbers.loc[5, "sepal width (cm)"] = "abc"
    mostly_numbers.to_csv(tmp_path / "mostly.csv", index=False)
    proc = shipyard("predict", "runs/iris-cli/latest", "mostly.csv", "-o", "mostly_pred.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "column 'sepal width (cm)': 1 value(s) that are not numbers read as missing (e.g. ['abc'] in data rows [6])" in proc.stderr
    assert_user_error(shipyard("predict", "runs/nothing", "records.csv", "-o", "x.csv", cwd=tmp_path), "runs/nothing: no such file")
    assert_user_error(shipyard("predict", "runs/iris-cli/latest", "records.csv", "-o", "out", cwd=tmp_path), "--output out: is a folder")
    assert_user_error(
        shipyard("predict", "runs/iris-cli/latest", "nope.csv", "-o", "x.csv", cwd=tmp_path), "nope.csv: data file not found", "the DATA argument"
    )
    proc = shipyard("predict", "runs/iris-cli/latest", "records.csv", "-o", "pred.parquet", cwd=tmp_path)
    assert proc.returncode == 0 and len(pd.read_parquet(tmp_path / "pred.parquet")) == 10
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []
