"""The evaluate stage in a real run: CIs and leaderboard in metrics.json, temperature scaling in the bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard.recipe import load_recipe

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_metrics_json_has_test_ci_baselines_calibration_diagnosis(breast_cancer_run):
    metrics = json.loads((breast_cancer_run.path / "metrics.json").read_text())
    for key, value in metrics["test"].items():
        ci = metrics["test_ci"][key]
        assert ci["value"] == pytest.approx(value)
        assert ci["low"] <= value <= ci["high"], key
    board = metrics["baselines"]
    assert set(board["models"]) == {"network", "logistic_regression", "hist_gradient_boosting", "dummy"}
    assert board["primary"] == "accuracy" and len(board["findings"]) == 3
    assert board["comparisons"]["dummy"]["verdict"] == "worse"
    assert metrics["calibration"]["bins"] == 10 and 0 <= metrics["calibration"]["ece"] < 0.2
    assert metrics["diagnosis"]["findings"]
    predictions = pd.read_csv(breast_cancer_run.path / "predictions.csv")
    assert len(predictions) == metrics["split"]["test"]
    assert {"network:benign", "network:malignant", "dummy:malignant"} <= set(predictions.columns)


def test_wine_with_temperature_scaling_and_cv(wine_run):
    """Multiclass run: calibrated bundle, cross-validation, and a report that renders fully in Chromium."""
    import chromium_check

    from shipyard.predictor import Predictor
    from shipyard.stages.prepare import fit_preprocessing, load_and_split
    from shipyard.training.checkpoint import load_checkpoint

    result = wine_run
    recipe = load_recipe(EXAMPLES / "wine.yaml")
    temp = result.metrics["calibration"]["temperature_scaling"]
    assert temp["validation_nll_after"] <= temp["validation_nll_before"] + 1e-9
    predictor = Predictor(result.bundle)
    assert predictor.manifest["calibration"]["temperature"] == pytest.approx(temp["temperature"])
    prepared = load_and_split(recipe)
    fit_preprocessing(recipe, prepared)
    test = prepared.frame.iloc[prepared.split.test]
    served = predictor.predict_proba(test)
    stored = pd.read_csv(result.path / "predictions.csv")
    network = stored[[c for c in stored.columns if c.startswith("network:")]].to_numpy()
    assert np.abs(served - network).max() < 1e-5  # the report, metrics and server see the same calibrated probabilities
    assert abs(temp["temperature"] - 1.0) > 1e-3
    # the checkpoint records the temperature, so explain (and later attack, compress) see the calibrated network
    assert load_checkpoint(result.path).info["wrappers"] == [{"type": "temperature", "temperature": temp["temperature"]}]
    cv = result.metrics["cv"]
    assert len(cv["folds"]) == 3 and 0 <= cv["std"]["accuracy"] and "f1_weighted" in cv["mean"]
    probe = chromium_check.probe(result.path / "report.html")
    assert chromium_check.problems(probe) == []
    ids = {s["id"] for s in probe["sections"]}
    assert {"data", "training", "metrics", "cv", "leaderboard", "confusion", "curves", "calibration", "explanations"} <= ids
    html = (result.path / "report.html").read_text()
    assert "Temperature scaling (T = " in html and "3-fold cross-validation" in html
    assert {"baselines", "test_ci"} <= set(result.metrics)


def test_cli_run_prints_metrics_with_intervals_and_findings(tmp_path):
    from typer.testing import CliRunner

    from shipyard.cli import app

    recipe = tmp_path / "iris.yaml"
    recipe.write_text(
        "name: iris\ndata: {source: 'sklearn:iris', target: target}\ntrain: {epochs: 10}\n"
        "evaluate: {bootstrap: {samples: 300}}\nexplain: {enabled: false}\n"
    )
    outcome = CliRunner().invoke(app, ["run", str(recipe), "--no-track", "--quiet", "--runs-dir", str(tmp_path / "runs")], env={"COLUMNS": "200"})
    assert outcome.exit_code == 0, outcome.output
    import re

    assert re.search(r"accuracy\s+│\s+\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]", outcome.output), outcome.output
    assert "95% bootstrap CI over 300 resamples" in outcome.output
    assert "majority-class dummy baseline" in outcome.output and "Calibration: ECE" in outcome.output
    assert (tmp_path / "runs" / "iris" / "latest" / "report.html").is_file()
