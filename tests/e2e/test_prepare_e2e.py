"""The issue-3 examples end to end: prepare → train → evaluate → export → predict → serve."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from shipyard.predictor import Predictor
from shipyard.recipe import load_recipe

EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[2] / "examples"

pytestmark = pytest.mark.slow


def run_example(name, tmp_path_factory, epochs=60):
    from shipyard.pipeline import run

    recipe = load_recipe(EXAMPLES / name)
    recipe.train.epochs = epochs
    return run(recipe, runs_dir=tmp_path_factory.mktemp("runs"), track=False, progress=False)


@pytest.fixture(scope="module")
def imbalanced_run(tmp_path_factory):
    return run_example("imbalanced.yaml", tmp_path_factory)


@pytest.fixture(scope="module")
def clinic_run(tmp_path_factory):
    return run_example("clinic.yaml", tmp_path_factory)


def test_imbalanced_example_reports_balanced_metrics_and_a_prior_shift_threshold(imbalanced_run):
    metrics = imbalanced_run.metrics
    assert metrics["imbalance_ratio"] > 3
    assert set(metrics["per_class_recall"]) == {"benign", "malignant"}
    assert "balanced_accuracy" in metrics["test"]
    # Per-epoch progress and history use balanced accuracy, not plain accuracy.
    assert "val_balanced_accuracy" in imbalanced_run.history[0] and "val_accuracy" not in imbalanced_run.history[0]
    decision = metrics["decision"]
    assert decision["objective"] == "prior_shift_matched" and 0.5 < decision["threshold"] < 1.0
    assert decision["prior_shift_factor"] > 1.0  # the balanced weights raised the minority's odds; the threshold undoes it
    profile = json.loads((imbalanced_run.path / "data_profile.json").read_text())
    assert any(f["code"] == "class_imbalance" for f in profile["findings"])
    recipe = json.loads(json.dumps(__import__("yaml").safe_load((imbalanced_run.path / "recipe.yaml").read_text())))
    assert recipe["imbalance"]["class_weight"] == "balanced"


def test_predictor_and_server_apply_the_bundles_threshold(imbalanced_run):
    predictor = Predictor(imbalanced_run.bundle)
    manifest = predictor.manifest
    assert manifest["decision"]["threshold"] == imbalanced_run.metrics["decision"]["threshold"]
    assert "sampler" not in manifest["preprocessing"]  # the example weights the loss instead of resampling
    frame = pd.read_csv(EXAMPLES / "data" / "breast_cancer_imbalanced.csv").drop(columns=["target"])
    proba = predictor.predict_proba(frame)
    pos = predictor.labels.index("benign")
    expected = np.where(proba[:, pos] >= predictor.threshold, "benign", "malignant")
    assert predictor.predict(frame).tolist() == expected.tolist()
    # A threshold moved to 0.99 changes decisions the same way in the predictor and the server.
    predictor.threshold = 0.99
    strict = predictor.predict(frame)
    assert (strict == "benign").sum() <= (expected == "benign").sum()
    client = TestClient(__import__("shipyard.serving.app", fromlist=["create_app"]).create_app(imbalanced_run.bundle))
    records = frame.iloc[:40].astype(object).to_dict(orient="records")
    body = client.post("/v1/predict", json={"records": records}).json()
    assert body["labels"] == expected[:40].tolist()


def test_clinic_example_with_categories_and_missing_values_serves(clinic_run):
    parity = clinic_run.metrics["parity"]
    assert parity["max_abs_diff"] <= parity["tolerance"]
    predictor = Predictor(clinic_run.bundle)
    kinds = {c.name: c.kind for c in predictor.schema}
    assert kinds["size"] == "categorical" and kinds["smoothness"] == "numeric"
    steps = predictor.manifest["preprocessing"]
    assert steps["missing_indicator"] is True and steps["clip_quantile"] == 0.01 and steps["min_frequency"] == 5
    client = TestClient(__import__("shipyard.serving.app", fromlist=["create_app"]).create_app(clinic_run.bundle))
    record = {"smoothness": None, "concavity": 0.3, "worst_area": 2000.0, "worst_symmetry": 0.46, "size": "huge", "texture": None}
    response = client.post("/v1/predict", json={"records": [record]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["labels"][0] in ("benign", "malignant")
    assert any("unseen category 'huge'" in w for w in body["warnings"])


def test_cli_shows_per_class_recall_when_imbalanced(imbalanced_run, capsys, monkeypatch):
    from rich.console import Console

    from shipyard import cli

    monkeypatch.setattr(cli, "out", Console(width=300))
    cli._print_imbalance(imbalanced_run.metrics)
    shown = capsys.readouterr().out
    assert "per-class test recall" in shown and "balanced accuracy" in shown and "decision threshold" in shown


def test_tracked_run_logs_the_data_profile(breast_cancer_run):
    import mlflow

    run = mlflow.get_run(json.loads((breast_cancer_run.path / "run.json").read_text())["mlflow_run_id"])
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert "data_profile.json" in names
