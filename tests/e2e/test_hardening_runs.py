"""Issue 9, runs and the registry: a killed run, two runs at once, a real MLflow model, one decision rule, CV folds, verdicts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

SHIPYARD = [sys.executable, "-m", "shipyard.cli"]

TINY = """\
name: {name}
data: {{source: sklearn:iris, target: target}}
model: {{hidden_sizes: [8]}}
train: {{epochs: {epochs}, checkpoint_every: 1, early_stopping: {{enabled: false}}}}
evaluate: {{baseline: false, bootstrap: {{samples: 20}}}}
explain: {{enabled: false}}
"""


# --- item 4: a killed run is marked as such by the next command ---------------------------------------------------------


def test_a_run_killed_mid_training_is_marked_killed_by_the_next_command(tmp_path):
    from mlflow import MlflowClient

    (tmp_path / "recipe.yaml").write_text(TINY.format(name="killed", epochs=2000))
    proc = subprocess.Popen([*SHIPYARD, "run", "recipe.yaml", "-q"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline, epoch = time.monotonic() + 300, 0
    while time.monotonic() < deadline and epoch < 3:
        time.sleep(0.1)
        for info in tmp_path.glob("runs/killed/2*/checkpoint/checkpoint.json"):
            try:
                epoch = json.loads(info.read_text())["epoch"]
            except (json.JSONDecodeError, FileNotFoundError):
                pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert epoch >= 3, "training never started"
    run = next(tmp_path.glob("runs/killed/2*"))
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "running" and record["pid"] == proc.pid and record["host"]

    report = subprocess.run([*SHIPYARD, "report", str(run)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr
    assert f"warning: {run}: marked failed: its process (pid {proc.pid} on {record['host']}) ended without finishing it" in report.stderr
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "failed" and record["killed"] is True and "ended without finishing it" in record["error"]
    assert MlflowClient(tracking_uri=record["mlflow_tracking_uri"]).get_run(record["mlflow_run_id"]).info.status == "KILLED"
    assert "This run is incomplete: it was killed" in (run / "report.html").read_text()
    assert not (tmp_path / "runs" / "killed" / "latest").exists()


# --- item 5: two runs of one new recipe at once both register; a tracking failure keeps the finished model ----------------

BARRIER = textwrap.dedent(
    """
    # Each process waits for the other before its first call of each registry method, so that both look
    # the registered model up, and then both create it, at the same moment.
    import os, time
    from pathlib import Path
    import mlflow.tracking.client as client_module

    _folder = Path(os.environ["SHIPYARD_TEST_BARRIER"])
    _passed = set()

    def _barrier(name):
        if name in _passed:
            return
        _passed.add(name)
        (_folder / name).mkdir(exist_ok=True)
        (_folder / name / str(os.getpid())).touch()
        deadline = time.monotonic() + 240
        while len(list((_folder / name).iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)

    for _name in ("get_registered_model", "create_registered_model"):
        _original = getattr(client_module.MlflowClient, _name)
        def _wrapped(self, *args, _original=_original, _name=_name, **kwargs):
            _barrier(_name)
            return _original(self, *args, **kwargs)
        setattr(client_module.MlflowClient, _name, _wrapped)
    """
)


def test_two_runs_of_a_new_recipe_at_once_both_register(tmp_path):
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_experiment("twins")  # the store and the experiment exist: the race under test is the registration's

    (tmp_path / "recipe.yaml").write_text(TINY.format(name="twins", epochs=3))
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(BARRIER)
    (tmp_path / "barrier").mkdir()
    hook = os.pathsep.join(filter(None, [str(tmp_path / "hook"), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": hook, "SHIPYARD_TEST_BARRIER": str(tmp_path / "barrier")}
    procs = [
        subprocess.Popen([*SHIPYARD, "run", "recipe.yaml", "-q", "--runs-dir", f"runs{i}"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]
    outcomes = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    assert [code for code, _ in outcomes] == [0, 0], outcomes
    assert len(list((tmp_path / "barrier" / "create_registered_model").iterdir())) == 2  # both created it at the same moment
    versions = MlflowClient().search_model_versions("name='twins'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    for i in range(2):
        record = json.loads((tmp_path / f"runs{i}" / "twins" / "latest" / "run.json").read_text())
        assert record["status"] == "complete" and record["model_version"] in ("1", "2") and "tracking_error" not in record


def test_a_tracking_failure_after_training_keeps_the_finished_model(tmp_path, monkeypatch):
    from shipyard.pipeline import run
    from shipyard.recipe import recipe_from_dict
    from shipyard.tracking import Tracker

    def broken(self, *args, **kwargs):
        raise RuntimeError("Registered Model (name=lost) already exists")

    monkeypatch.setattr(Tracker, "log_run_files", broken)
    recipe = recipe_from_dict(
        {"name": "lost", "data": {"source": "sklearn:iris", "target": "target"}, "train": {"epochs": 3}, "explain": {"enabled": False}, "evaluate": {"baseline": False, "bootstrap": {"samples": 20}}}
    )
    result = run(recipe, runs_dir=tmp_path, track=True, progress=False)
    record = json.loads((result.path / "run.json").read_text())
    assert record["status"] == "complete" and "already exists" in record["tracking_error"]
    assert (tmp_path / "lost" / "latest").resolve() == result.path
    import shipyard

    iris = {"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4, "petal width (cm)": 0.2}
    assert shipyard.load(result.path).predict([iris]).shape == (1,)


# --- item 6: the registered version is a real MLflow model ---------------------------------------------------------------


def test_the_registered_version_loads_with_mlflow_pyfunc_and_predicts_like_the_bundle(breast_cancer_run):
    import mlflow

    import shipyard

    uri = f"models:/breast-cancer/{breast_cancer_run.model_version}"
    info = mlflow.models.get_model_info(uri)
    inputs = info.signature.inputs.to_dict()
    assert len(inputs) == 30 and {c["type"] for c in inputs} == {"double"}
    assert "python_function" in info.flavors and info.flavors["python_function"]["loader_module"] == "shipyard.mlflow_pyfunc"
    frame = load_breast_cancer(as_frame=True).data.head(20).copy()
    frame.loc[3, "mean texture"] = np.nan  # a missing value is accepted
    got = mlflow.pyfunc.load_model(uri).predict(frame)
    bundle = shipyard.load(breast_cancer_run.path)
    assert list(got["prediction"]) == list(bundle.predict(frame))
    assert np.allclose(got["proba_malignant"], bundle.predict_proba(frame)[:, 1])
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(json.loads((breast_cancer_run.path / "run.json").read_text())["mlflow_run_id"])}
    assert not any(path.endswith((".pkl", ".pickle")) for path in artifacts)


def test_nullable_integer_columns_round_trip_and_mlflow_models_serve_answers(tmp_path):
    """Integer columns declared so that a missing value is accepted, in Python and through `mlflow models serve`."""
    import httpx
    import mlflow
    from serving_helpers import free_port

    import shipyard
    from shipyard.mlflow_pyfunc import as_signature_types

    rng = np.random.default_rng(0)
    n = 240
    frame = pd.DataFrame({"visits": rng.integers(0, 20, n), "age": rng.integers(18, 90, n), "plan": rng.choice(["basic", "pro"], n)})
    frame["churn"] = np.where(frame["visits"] + rng.normal(0, 3, n) < 8, "yes", "no")
    frame.to_csv(tmp_path / "churn.csv", index=False)
    (tmp_path / "recipe.yaml").write_text(
        "name: churn-ints\ndata: {source: churn.csv, target: churn}\ntrain: {epochs: 5}\nexplain: {enabled: false}\nevaluate: {baseline: false, bootstrap: {samples: 20}}\n"
    )
    result = shipyard.run(tmp_path / "recipe.yaml", runs_dir=tmp_path / "runs", track=True, progress=False)
    uri = f"models:/churn-ints/{result.model_version}"
    rows = frame.drop(columns="churn").head(6).astype({"visits": "Int64"})
    rows.loc[2, "visits"] = pd.NA  # a nullable integer column with a missing value
    got = mlflow.pyfunc.load_model(uri).predict(as_signature_types(rows, shipyard.load(result.path).schema))
    assert got["prediction"].notna().all() and got["error"].isna().all()

    port = free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", uri, "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        body = {"dataframe_split": {"columns": ["visits", "age", "plan"], "data": [[3, 40, "pro"], [None, 50, None], [15, 33, "basic"]]}}
        deadline, response = time.monotonic() + 180, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                response = httpx.post(f"http://127.0.0.1:{port}/invocations", json=body, timeout=10)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        assert response is not None and response.status_code == 200, server.stdout.read() if server.poll() is not None else response
        predictions = response.json()["predictions"]
        assert [p["prediction"] for p in predictions] == list(shipyard.load(result.path).predict([{"visits": 3, "age": 40, "plan": "pro"}, {"visits": None, "age": 50, "plan": None}, {"visits": 15, "age": 33, "plan": "basic"}]))
    finally:
        server.terminate()
        server.wait(timeout=30)


# --- items 11 and 15: one decision rule everywhere; verdicts on imbalanced data --------------------------------------------


@pytest.fixture(scope="module")
def imbalanced_run(tmp_path_factory):
    """Noisy, imbalanced (about 1 in 8 positive) data with an F1-tuned threshold that moves many test decisions."""
    from sklearn.datasets import make_classification

    from shipyard.pipeline import run
    from shipyard.recipe import recipe_from_dict

    X, y = make_classification(n_samples=1500, n_features=6, n_informative=3, weights=[0.88], flip_y=0.05, class_sep=0.8, random_state=0)
    folder = tmp_path_factory.mktemp("imbalanced")
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)]).assign(label=np.where(y == 1, "rare", "common"))
    frame.to_csv(folder / "imbalanced.csv", index=False)
    recipe = recipe_from_dict(
        {
            "name": "imbalanced-threshold",
            "data": {"source": "imbalanced.csv", "target": "label", "positive_class": "rare"},
            "imbalance": {"threshold": {"objective": "f1"}},
            "train": {"epochs": 40},
            "evaluate": {"bootstrap": {"samples": 300}},
            "explain": {"enabled": False},
        },
        base_dir=folder,
    )
    return run(recipe, runs_dir=folder / "runs", track=False, progress=False)


def test_the_tuned_threshold_is_the_rule_of_every_reported_number(imbalanced_run, capsys):
    from shipyard.cli import _print_metrics
    from shipyard.decision import decide

    metrics = imbalanced_run.metrics
    threshold = metrics["decision"]["threshold"]
    assert metrics["decision"]["test_at_argmax"]["f1"] != pytest.approx(metrics["test"]["f1"])  # the threshold moves decisions here
    network = metrics["baselines"]["models"]["network"]
    for key, value in metrics["test"].items():
        assert metrics["test_ci"][key]["value"] == pytest.approx(value, nan_ok=True), key
        assert network[key]["value"] == pytest.approx(value, nan_ok=True), key
    predictions = pd.read_csv(imbalanced_run.path / "predictions.csv")
    proba = predictions[["network:common", "network:rare"]].to_numpy()
    decided = decide(proba, 1, threshold)
    tp = int(((decided == 1) & (predictions["y_true"] == 1)).sum())
    assert metrics["confusion_matrix"][1][1] == tp
    assert metrics["test"]["precision"] == pytest.approx(tp / max(1, int((decided == 1).sum())))
    _print_metrics(metrics)
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in capsys.readouterr().out.splitlines() if line.count("│") > 3}
    for key in ("f1", "precision", "recall", "accuracy"):
        assert rows[key].startswith(f"{metrics['test'][key]:.3f}"), (key, rows[key])  # the CLI table's network column
    manifest = json.loads((imbalanced_run.bundle / "manifest.json").read_text())
    assert manifest["decision"]["threshold"] == threshold


def test_imbalanced_verdicts_use_balanced_accuracy_macro_f1_and_pr_auc(imbalanced_run):
    board = imbalanced_run.metrics["baselines"]
    assert imbalanced_run.metrics["imbalance_ratio"] > 3
    assert board["verdict_metrics"] == ["balanced_accuracy", "f1_macro", "pr_auc"] and board["primary"] == "balanced_accuracy"
    dummy = board["comparisons"]["dummy"]["by_metric"]
    assert {m: c["verdict"] for m, c in dummy.items()} == {"balanced_accuracy": "worse", "f1_macro": "worse", "pr_auc": "worse"}
    finding = next(f for f in board["findings"] if "majority-class dummy" in f)
    assert finding.startswith("The network beats the majority-class dummy baseline on balanced_accuracy, f1_macro, pr_auc")


# --- item 12: cross-validation folds without a positive row ----------------------------------------------------------------


def test_cv_folds_without_a_positive_report_null_and_a_finding(tmp_path):
    from shipyard.data.preparation import load_and_split
    from shipyard.evaluation.cv import cross_validate
    from shipyard.recipe import recipe_from_dict

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.data.iloc[:, :6].copy()
    frame["diagnosis"] = np.where(bunch.target == 0, "malignant", "benign")
    malignant = frame["diagnosis"] == "malignant"
    # Every malignant row belongs to one of two sites; grouped folds keep a site whole, so most folds hold no malignant row.
    frame["site"] = np.where(malignant, np.where(np.arange(len(frame)) % 2 == 0, "m0", "m1"), "b" + (np.arange(len(frame)) % 8).astype(str))
    frame.to_csv(tmp_path / "sites.csv", index=False)
    recipe = recipe_from_dict(
        {
            "name": "sites",
            "data": {"source": "sites.csv", "target": "diagnosis", "positive_class": "malignant", "features": list(frame.columns[:6])},
            "train": {"epochs": 3},
            "evaluate": {"cv": 5, "cv_group": "site"},
        },
        base_dir=tmp_path,
    )
    cv = cross_validate(recipe, load_and_split(recipe))
    lacking = [f for f in cv["folds"] if "malignant" in f["absent_classes"]]
    assert len(lacking) >= 3
    for fold in lacking:
        for key in ("recall", "f1", "balanced_accuracy", "roc_auc", "pr_auc"):
            assert np.isnan(fold["metrics"][key]), (fold["fold"], key)
    assert cv["defined"]["recall"] == 5 - len(lacking) and cv["defined"]["accuracy"] == 5
    defined = [f["metrics"]["recall"] for f in cv["folds"] if f not in lacking]
    assert cv["mean"]["recall"] == pytest.approx(np.mean(defined))
    assert cv["findings"] and cv["findings"][0].startswith(f"In {len(lacking)} of 5 folds the test rows hold no row of class 'malignant'")
