"""Explanations: the synthetic-importance check, additivity, the CLI on runs and bundles, and bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shipyard.cli import app
from shipyard.recipe import recipe_from_dict

IMPORTANT = {"signal", "group"}



pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    """A run on data whose label depends only on 'signal' (numeric) and 'group' (categorical)."""
    from shipyard.pipeline import run

    rng = np.random.default_rng(0)
    n = 700
    frame = pd.DataFrame({f"noise{i}": rng.normal(size=n) for i in range(4)})
    frame["signal"] = rng.normal(size=n)
    frame["group"] = rng.choice(["a", "b", "c"], size=n)
    frame["colour"] = rng.choice(["red", "blue"], size=n)  # categorical noise
    logit = 3.0 * frame["signal"] + np.where(frame["group"] == "b", 3.0, -1.5)
    frame["label"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    folder = tmp_path_factory.mktemp("synthetic")
    frame.to_csv(folder / "synthetic.csv", index=False)
    recipe = recipe_from_dict(
        {
            "name": "synthetic",
            "data": {"source": "synthetic.csv", "target": "label"},
            "train": {"epochs": 60, "early_stopping": {"patience": 10}},
            "evaluate": {"bootstrap": {"samples": 100}},
            "explain": {"samples": 60, "background": 40, "permutation_repeats": 5},
        },
        base_dir=folder,
    )
    return run(recipe, runs_dir=folder / "runs", track=False, progress=False)


def test_shap_and_permutation_rank_the_two_true_columns_first(synthetic_run):
    ex = json.loads((synthetic_run.path / "explain.json").read_text())
    assert ex["shap"]["explainer"].startswith("DeepExplainer")
    assert set(ex["shap"]["ranking"][:2]) == IMPORTANT
    assert set(ex["permutation"]["ranking"][:2]) == IMPORTANT
    # One-hot groups are summed back: one entry per raw column.
    assert len(ex["shap"]["mean_abs"]) == 7 and "group" in ex["shap"]["mean_abs"]
    assert ex["surrogate"]["fidelity"] > 0.8 and "signal" in ex["surrogate"]["rules"]


def test_shap_values_add_up_to_output_minus_expected_value(synthetic_run):
    ex = json.loads((synthetic_run.path / "explain.json").read_text())
    local = ex["local"]
    assert sum(local["values"]) == pytest.approx(local["output"] - local["expected_value"], abs=1e-4)
    assert ex["shap"]["additivity_max_error"] < 1e-4
    # The explained output is the log-odds the bundle serves.
    from shipyard.predictor import Predictor

    frame = pd.read_csv(synthetic_run.path.parents[2] / "synthetic.csv")
    predictions = pd.read_csv(synthetic_run.path / "predictions.csv")
    record = frame.iloc[[int(predictions["row"].iloc[local["row"]])]]
    p = Predictor(synthetic_run.bundle).predict_proba(record)[0]
    assert np.log(p[1] / p[0]) == pytest.approx(local["output"], abs=1e-4)


def test_model_agnostic_explainer_on_the_bundle_agrees_and_adds_up(synthetic_run, tmp_path):
    frame = pd.read_csv(synthetic_run.path.parents[2] / "synthetic.csv").iloc[:120]
    data = tmp_path / "rows.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "explain.json"
    result = CliRunner().invoke(app, ["explain", str(synthetic_run.bundle), "--data", str(data), "--target", "label", "--row", "3", "--samples", "40", "--output", str(out)])
    assert result.exit_code == 0, result.output
    ex = json.loads(out.read_text())
    assert ex["shap"]["explainer"].startswith("PermutationExplainer")
    assert set(ex["shap"]["ranking"][:2]) == IMPORTANT
    assert ex["shap"]["additivity_max_error"] < 1e-6
    assert "signal" in result.output


def test_explain_cli_on_a_run_and_bad_input(synthetic_run, tmp_path):
    runner = CliRunner()
    outcome = runner.invoke(app, ["explain", str(synthetic_run.path), "--row", "999"])
    assert outcome.exit_code == 2
    assert "--row 999 is out of range: the test split has 140 rows" in outcome.output and "0 to 139" in outcome.output
    copy = tmp_path / "run"
    shutil.copytree(synthetic_run.path, copy)
    outcome = runner.invoke(app, ["explain", str(copy), "--row", "5"])
    assert outcome.exit_code == 0, outcome.output
    assert json.loads((copy / "explain.json").read_text())["local"]["row"] == 5
    assert "test row 5" in (copy / "report.html").read_text()
    model = copy / "bundle" / "model.onnx"
    model.write_bytes(model.read_bytes()[:-1] + b"\0")
    outcome = runner.invoke(app, ["explain", str(copy)])
    assert outcome.exit_code == 2 and "sha256 does not match" in outcome.output
    outcome = runner.invoke(app, ["explain", str(tmp_path / "missing-bundle"), "--data", "x.csv"])
    assert outcome.exit_code == 2 and "no such file or directory" in outcome.output


def test_explain_a_json_record(synthetic_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(synthetic_run.path, copy)
    record = {"noise0": 0, "noise1": 0, "noise2": 0, "noise3": 0, "signal": 2.5, "group": "b", "colour": "red"}
    outcome = CliRunner().invoke(app, ["explain", str(copy), "--record", json.dumps(record)])
    assert outcome.exit_code == 0, outcome.output
    local = json.loads((copy / "explain.json").read_text())["local"]
    assert local["row"] == "record" and local["predicted"] == "yes"
    assert sum(local["values"]) == pytest.approx(local["output"] - local["expected_value"], abs=1e-4)
    top = sorted(zip(local["values"], json.loads((copy / "explain.json").read_text())["columns"]), reverse=True)[:2]
    assert {name for _, name in top} == IMPORTANT
    assert "the given record" in (copy / "report.html").read_text()
    outcome = CliRunner().invoke(app, ["explain", str(copy), "--record", "[1, 2]"])
    assert outcome.exit_code == 2 and "--record: expected a JSON object, got list" in outcome.output
    outcome = CliRunner().invoke(app, ["explain", str(copy), "--record", '{"signal": 1}'])
    assert outcome.exit_code == 2 and "--record: missing column(s)" in outcome.output


def test_fallback_to_the_model_agnostic_explainer_when_deeplift_does_not_add_up(tmp_path):
    """SiLU is not a DeepLIFT operator in SHAP: the stage falls back to the exact PermutationExplainer."""
    from shipyard.pipeline import run

    recipe = recipe_from_dict(
        {
            "name": "silu",
            "data": {"source": "sklearn:iris", "target": "target"},
            "model": {"activation": "silu", "hidden_sizes": [16, 16]},
            "train": {"epochs": 30},
            "evaluate": {"bootstrap": {"samples": 50}, "baseline": False},
            "explain": {"samples": 20, "background": 20, "permutation_repeats": 2, "row": 3},
        }
    )
    result = run(recipe, runs_dir=tmp_path, track=False, progress=False)
    ex = json.loads((result.path / "explain.json").read_text())
    assert ex["shap"]["explainer"].startswith("PermutationExplainer")
    assert ex["shap"]["additivity_max_error"] < 1e-6
    assert ex["local"]["row"] == 3 and ex["shap"]["output"].startswith("centred logits")
    assert {"petal length (cm)", "petal width (cm)"} & set(ex["shap"]["ranking"][:2])


def test_explain_row_out_of_range_in_the_recipe_stops_before_training(tmp_path):
    from shipyard.errors import ShipyardError
    from shipyard.pipeline import run

    recipe = recipe_from_dict({"name": "iris", "data": {"source": "sklearn:iris", "target": "target"}, "explain": {"row": 30}})
    with pytest.raises(ShipyardError, match="explain.row 30 is out of range: the test split has 30 rows"):
        run(recipe, runs_dir=tmp_path, track=False, progress=False)
    assert not (tmp_path / "iris").exists()
