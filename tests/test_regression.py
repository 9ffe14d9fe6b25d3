"""task: regression end to end on scikit-learn's diabetes data: metrics with CIs, bundle, serving, report."""

from __future__ import annotations

from pathlib import Path

import chromium_check
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from shipyard.errors import DataError, InputError, RecipeError
from shipyard.recipe import load_recipe, recipe_from_dict


pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def diabetes_run(tmp_path_factory):
    from shipyard.pipeline import run

    recipe = load_recipe(EXAMPLES / "diabetes.yaml")
    recipe.train.epochs = 60
    recipe.explain.samples = 50
    recipe.evaluate.learning_curve = [0.3, 1.0]
    return run(recipe, runs_dir=tmp_path_factory.mktemp("runs"), track=False, progress=False)


def test_regression_metrics_baselines_and_bundle(diabetes_run):
    metrics = diabetes_run.metrics
    assert set(metrics["test"]) == {"mae", "rmse", "r2", "mape"}
    for key, value in metrics["test"].items():
        assert metrics["test_ci"][key]["low"] <= value <= metrics["test_ci"][key]["high"]
    assert metrics["test"]["r2"] > 0.3  # the mean dummy scores 0
    board = metrics["baselines"]
    assert board["primary"] == "rmse" and set(board["models"]) == {"network", "linear_regression", "hist_gradient_boosting", "dummy_mean"}
    assert board["comparisons"]["dummy_mean"]["verdict"] == "worse"
    curve = metrics["learning_curve"]
    assert curve["metric"] == "rmse" and [p["train_rows"] for p in curve["points"]] == [round(0.3 * 286), 286]
    assert all(p["validation"] > 0 for p in curve["points"])

    from shipyard.predictor import Predictor
    from shipyard.serving.app import create_app

    predictor = Predictor(diabetes_run.bundle)
    assert predictor.task == "regression" and "prediction" in predictor.manifest["outputs"]
    stored = pd.read_csv(diabetes_run.path / "predictions.csv")
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame
    rows = frame.iloc[stored["row"].to_numpy()]
    values = predictor.predict(rows)
    assert np.abs(values - stored["network"].to_numpy()).max() < 1e-3
    assert np.allclose(stored["y_true"], rows["target"])
    with pytest.raises(InputError, match="regression model has no class probabilities"):
        predictor.predict_proba(rows)
    client = TestClient(create_app(diabetes_run.bundle))
    record = rows.drop(columns="target").iloc[0].to_dict()
    answer = client.post("/v1/predict", json={"records": [record]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0] == pytest.approx(float(values[0]), rel=1e-5)


def test_regression_report_and_explanations(diabetes_run):
    ex = (diabetes_run.path / "explain.json").read_text()
    assert '"bmi"' in ex
    result = chromium_check.probe(diabetes_run.path / "report.html")
    assert chromium_check.problems(result) == []
    ids = {s["id"] for s in result["sections"]}
    assert {"residuals", "leaderboard", "explanations", "training", "metrics", "robustness", "privacy"} <= ids
    assert not ids & {"confusion", "curves", "calibration"}
    assert "learning curve" in (diabetes_run.path / "report.html").read_text().lower()


def test_regression_is_attacked_on_its_error(diabetes_run):
    """A regression run's attack stage states what it measures: RMSE and its increase (no class to flip)."""
    import json

    result = json.loads((diabetes_run.path / "attack.json").read_text())
    assert result["primary_metric"] == "rmse" and "error increase" in result["measures"]
    assert result["clean"] == diabetes_run.metrics["test"]
    pgd = result["curves"]["inf"]["pgd"]
    assert [p["scores"]["rmse"] for p in pgd] == sorted(p["scores"]["rmse"] for p in pgd)
    assert pgd[-1]["scores"]["error_increase"] > 0.3 and "success_rate" not in pgd[-1]["scores"]
    assert result["pgd"]["random_start"] is False
    assert result["membership"]["loss_threshold"]["rows"] == 2 * result["membership"]["members"]
    assert "error increase" in (diabetes_run.path / "report.html").read_text()


def test_regression_bad_input(tmp_path):
    with pytest.raises(RecipeError, match="train.loss 'cross_entropy' does not fit task 'regression'"):
        recipe_from_dict({"name": "x", "task": "regression", "data": {"source": "a.csv", "target": "y"}, "train": {"loss": "cross_entropy"}})
    pd.DataFrame({"a": range(20), "y": ["low", "high"] * 10}).to_csv(tmp_path / "labels.csv", index=False)
    recipe = recipe_from_dict({"name": "x", "task": "regression", "data": {"source": "labels.csv", "target": "y"}}, base_dir=tmp_path)
    from shipyard.stages.prepare import load_and_split

    with pytest.raises(DataError, match="target column 'y' must be numeric for task: regression, got 'low' in row 0"):
        load_and_split(recipe)


def test_regression_on_a_continuous_target(tmp_path):
    """Non-integer targets are what regression is for (a classification-only 'continuous target' check must not fire)."""
    from shipyard.pipeline import run

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=150), "kind": rng.choice(["u", "v"], size=150)})
    frame["y"] = 2.5 * frame["x"] + np.where(frame["kind"] == "u", 1.25, -1.25) + rng.normal(0, 0.1, 150)
    frame.to_csv(tmp_path / "c.csv", index=False)
    recipe = recipe_from_dict(
        {
            "name": "continuous",
            "task": "regression",
            "data": {"source": "c.csv", "target": "y"},
            "train": {"epochs": 80, "loss": "huber", "learning_rate": 0.01},
            "evaluate": {"bootstrap": {"samples": 100}},
            "explain": {"samples": 20, "background": 20, "permutation_repeats": 2},
        },
        base_dir=tmp_path,
    )
    result = run(recipe, runs_dir=tmp_path / "runs", track=False, progress=False)
    assert result.metrics["test"]["r2"] > 0.8
    assert "mape" in result.metrics["test"]  # no true value is 0
    ranking = __import__("json").loads((result.path / "explain.json").read_text())["shap"]["ranking"]
    assert ranking[0] == "x"


def test_regression_predict_and_explain_bundle_cli(diabetes_run, tmp_path):
    from sklearn.datasets import load_diabetes
    from typer.testing import CliRunner

    from shipyard.cli import app

    load_diabetes(as_frame=True, scaled=False).frame.head(40).to_csv(tmp_path / "rows.csv", index=False)
    runner = CliRunner()
    outcome = runner.invoke(app, ["predict", str(diabetes_run.path), str(tmp_path / "rows.csv"), "-o", str(tmp_path / "pred.csv")])
    assert outcome.exit_code == 0, outcome.output
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert pred["prediction"].between(0, 500).all() and not [c for c in pred.columns if c.startswith("proba_")]
    outcome = runner.invoke(app, ["explain", str(diabetes_run.bundle), "--data", str(tmp_path / "rows.csv"), "--target", "target", "--samples", "20", "-o", str(tmp_path / "x.json")])
    assert outcome.exit_code == 0, outcome.output
    ex = __import__("json").loads((tmp_path / "x.json").read_text())
    assert ex["shap"]["output"] == "the predicted value (target units)" and ex["permutation"]["metric"] == "RMSE"
    outcome = runner.invoke(app, ["explain", str(diabetes_run.bundle), "--data", str(tmp_path / "rows.csv"), "--row", "40"])
    assert outcome.exit_code == 2 and "rows.csv has 40 rows" in outcome.output and "0 to 39" in outcome.output


def test_explain_a_regression_run_from_its_checkpoint(diabetes_run, monkeypatch):
    """`shipyard explain RUN` on a regression run: the checkpoint's network (with its rescaling) and the saved preprocessing."""
    import json

    from typer.testing import CliRunner

    import shipyard.data.preparation as preparation
    from shipyard.cli import app

    before = json.loads((diabetes_run.path / "explain.json").read_text())
    # Nothing may be refitted: fitting the preprocessing again would be a bug here.
    monkeypatch.setattr(preparation, "fit_preprocessing", lambda *a, **k: (_ for _ in ()).throw(AssertionError("refitted")))
    outcome = CliRunner().invoke(app, ["explain", str(diabetes_run.path), "--samples", "50"])
    assert outcome.exit_code == 0, outcome.output
    after = json.loads((diabetes_run.path / "explain.json").read_text())
    assert after["shap"]["ranking"] == before["shap"]["ranking"]
    assert np.allclose(after["local"]["values"], before["local"]["values"], atol=1e-6)
    assert after["local"]["predicted"] == pytest.approx(before["local"]["predicted"], rel=1e-6)
    assert 25 < after["local"]["predicted"] < 350  # in the target's units, not standardised


def test_regression_trains_on_the_augmented_rows(tmp_path):
    from shipyard.pipeline import run

    recipe = load_recipe(EXAMPLES / "diabetes.yaml")
    recipe.train.epochs = 3
    recipe.explain.enabled = False
    recipe.evaluate.learning_curve = None
    recipe.prepare.augment.method = "mixup"
    recipe.prepare.augment.multiplier = 1.0
    result = run(recipe, runs_dir=tmp_path, track=False, progress=False)
    summary = __import__("json").loads((result.path / "data_summary.json").read_text())
    assert summary["rows_fitted_by_network"] == 2 * summary["split"]["train"]
    assert summary["preprocessing"]["augment"] == {"method": "mixup", "rows_before": summary["split"]["train"], "rows_added": summary["split"]["train"]}


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"imbalance": {"sampler": "smote"}}, "imbalance.sampler: 'smote' needs class labels; task 'regression' has a numeric target"),
        ({"prepare": {"numeric_imputer": "iterative"}}, "prepare.numeric_imputer 'iterative': skl2onnx"),
        ({"imbalance": {"threshold": {"objective": "f1"}}}, "imbalance.threshold.objective: 'f1' needs class labels"),
        ({"evaluate": {"calibration": {"temperature_scaling": True}}}, "temperature_scaling: calibrates class probabilities"),
    ],
)
def test_regression_recipes_that_cannot_work_fail_validate_and_write_nothing(tmp_path, extra, message):
    import subprocess
    import sys

    import yaml

    recipe = {"name": "reg", "task": "regression", "data": {"source": "sklearn:diabetes", "target": "target"}, **extra}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    for verb in ("validate", "run"):
        proc = subprocess.run([sys.executable, "-m", "shipyard.cli", verb, "recipe.yaml", *(["--no-track"] if verb == "run" else [])], cwd=tmp_path, capture_output=True, text=True)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recipe.yaml"]
