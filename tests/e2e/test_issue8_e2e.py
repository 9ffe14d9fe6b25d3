"""Issue 8 end to end: real files, real runs, a real server (uvicorn on a loopback port) and `shipyard predict`.

- values that must mean the same in the CSV, the bundle, batch prediction and
  the server (items 4, 5, 7, 8, 9 and the one coercion path);
- repeated observations and panel data whose holdout and CV estimates must
  agree, with no entity on both sides of any split (items 1, 2, 10);
- a given test file (item 3); the report's findings (item 11); ``--quiet``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from serving_helpers import served
from typer.testing import CliRunner

import described
from shipyard.recipe import recipe_from_dict

FAST = {"model": {"hidden_sizes": [16]}, "train": {"epochs": 40, "batch_size": 64, "learning_rate": 0.01, "early_stopping": {"patience": 6}}}


def run_recipe(folder, data, runs, **sections):
    from shipyard.pipeline import run

    recipe = recipe_from_dict({"name": data["source"].split(".")[0], "data": data, **FAST, **sections}, base_dir=folder)
    return run(recipe, runs_dir=runs, track=False, progress=False)


# --- Values that change meaning between training and serving (items 4, 5, 7, 8, 9) -------------------------------


@pytest.fixture(scope="module")
def values_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("values")
    described.write_values_csv(folder / "values.csv", described.values_frame())
    result = run_recipe(folder, {"source": "values.csv", "target": "outcome"}, folder / "runs", explain={"enabled": False}, evaluate={"bootstrap": {"samples": 100}})
    return result, folder


@pytest.fixture(scope="module")
def values_server(values_run):
    with served(values_run[0].path) as (client, _):
        yield client


def _records(folder, rows):
    frame = pd.read_csv(folder / "values.csv", dtype=str, keep_default_na=False)
    out = []
    for _, row in frame.iloc[rows].iterrows():
        out.append(
            {
                "member_no": int(row["member_no"]),
                "zip": row["zip"],
                "site": row["site"],
                "flag": {"true": True, "false": False}.get(row["flag"]),  # JSON true / false, null when blank
                "country": row["country"],
                "color": row["color"],
                "x": float(row["x"]),
                "z": float(row["z"]),
            }
        )
    return out


def _proba(response, label="yes"):
    assert response.status_code == 200, response.text
    return np.array([p[label] for p in response.json()["probabilities"]])


def test_one_coercion_path_training_batch_and_server_read_every_value_alike(values_run, values_server, tmp_path):
    """Item 8: the same test records through training (predictions.csv), `shipyard predict` on a CSV, and the server."""
    result, folder = values_run
    stored = pd.read_csv(result.path / "predictions.csv")
    rows = stored["row"].to_numpy()
    trained = stored["network:yes"].to_numpy()
    # Batch prediction: the test rows as a CSV file, exactly as written in the training file.
    raw = (folder / "values.csv").read_text(encoding="utf-8").splitlines()
    (tmp_path / "batch.csv").write_text("\n".join([raw[0]] + [raw[r + 1] for r in rows]) + "\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "shipyard.cli", "predict", str(result.path), str(tmp_path / "batch.csv"), "-o", str(tmp_path / "out.csv")],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "unseen category" not in proc.stderr
    batch = pd.read_csv(tmp_path / "out.csv")["proba_yes"].to_numpy()
    # The server: the same records as a client sends them (JSON booleans, codes as strings).
    response = values_server.post("/v1/predict", json={"records": _records(folder, rows)})
    served_p = _proba(response)
    assert response.json()["warnings"] == []
    assert np.abs(batch - trained).max() < 1e-5
    assert np.abs(served_p - trained).max() < 1e-5
    # 'NA' is Namibia everywhere: a third of the rows, none read as missing, and it matters to the model.
    namibia = np.array([r["country"] == "NA" for r in _records(folder, rows)])
    assert 0.2 < namibia.mean() < 0.5
    assert served_p[namibia].mean() > served_p[~namibia].mean() + 0.1


def test_member_number_is_dropped_and_the_served_prediction_does_not_depend_on_it(values_run, values_server):
    """Item 4: member_no (a permutation of 100000..) is an identifier, dropped and recorded in the manifest."""
    result, folder = values_run
    manifest = values_server.get("/v1/model").json()
    assert manifest["preprocessing"]["dropped_columns"] == {"member_no": "identifier"}
    assert "member_no" not in [c["name"] for c in manifest["inputs"]]
    record = _records(folder, [0])[0]
    variants = [dict(record, member_no=n) for n in (100000, 100321, 999999)] + [{k: v for k, v in record.items() if k != "member_no"}]
    probabilities = _proba(values_server.post("/v1/predict", json={"records": variants}))
    assert np.ptp(probabilities) == 0.0


def test_zero_padded_codes_are_served_as_codes(values_run, values_server):
    """Item 5: zip '02134' is a category (no 422 'valid number'); site 001, 002 and 1 are three codes."""
    result, folder = values_run
    manifest = values_server.get("/v1/model").json()
    inputs = {c["name"]: c for c in manifest["inputs"]}
    assert inputs["zip"]["kind"] == "categorical" and set(inputs["zip"]["categories"]) == set(described.ZIPS)
    assert inputs["site"]["categories"] == ["001", "002", "1"]
    record = _records(folder, [0])[0]
    near, far = _proba(values_server.post("/v1/predict", json={"records": [dict(record, zip="02134"), dict(record, zip="94105")]}))
    assert near > far  # the model learned the codes, not a quantity 2134 < 94105
    profile = json.loads((result.path / "data_profile.json").read_text())
    assert any(f["code"] == "codes" and f["column"] == "zip" for f in profile["findings"])


def test_booleans_are_booleans_in_the_server_and_the_python_api(values_run, values_server):
    """Item 7: true/false in the CSV, JSON true/false, Python and pandas bool/boolean all mean the same."""
    import shipyard

    result, folder = values_run
    manifest = values_server.get("/v1/model").json()
    flag = {c["name"]: c for c in manifest["inputs"]}["flag"]
    assert flag["kind"] == "boolean" and flag["categories"] == ["", "false", "true"]
    record = _records(folder, [0])[0]
    response = values_server.post("/v1/predict", json={"records": [dict(record, flag=True), dict(record, flag=False), dict(record, flag="true"), dict(record, flag="no")]})
    p_true, p_false, p_text_true, p_no = _proba(response)
    assert response.json()["warnings"] == []
    assert p_true > p_false + 0.05 and p_text_true == p_true and p_no == p_false
    model = shipyard.load(result.path)
    frame = pd.DataFrame([record, record])
    frame["flag"] = [True, False]
    plain = model.predict_proba(frame)[:, 1]
    frame["flag"] = pd.array([True, False], dtype="boolean")
    nullable = model.predict_proba(frame)[:, 1]
    assert np.allclose(plain, [p_true, p_false], atol=1e-6) and np.allclose(nullable, plain)
    bad = values_server.post("/v1/predict", json={"records": [dict(record, flag="maybe")]})
    assert bad.status_code == 422 and "column 'flag' must be a boolean, got 'maybe'" in bad.text


def test_missing_categorical_values_follow_one_rule_everywhere(values_run, values_server):
    """Item 9: the profile, the report, the manifest and the server's warnings state the same rule."""
    from shipyard.schema import MISSING_RULE

    result, folder = values_run
    profile = json.loads((result.path / "data_profile.json").read_text())
    missing = next(f for f in profile["findings"] if f["code"] == "missing")
    assert "'flag'" in missing["message"] and MISSING_RULE in missing["message"] and "imputed" not in missing["message"].split(";")[0]
    manifest = values_server.get("/v1/model").json()
    assert manifest["missing_values"]["categorical"] == MISSING_RULE
    inputs = {c["name"]: c for c in manifest["inputs"]}
    assert inputs["flag"]["missing"] == "category" and inputs["color"]["missing"] == "unseen"
    assert MISSING_RULE in (result.path / "report.html").read_text(encoding="utf-8")
    record = _records(folder, [0])[0]
    response = values_server.post("/v1/predict", json={"records": [dict(record, flag=None), dict(record, color=None)]})
    assert response.status_code == 200
    # flag had blanks in training (its own category, no warning); color never did (all zeros, and said so).
    assert response.json()["warnings"] == [
        f"column 'color': missing value (rows 1) encoded as all zeros: the training split had no missing value there ({MISSING_RULE})"
    ]


def test_report_opens_with_the_findings(values_run):
    """Item 11: a findings section first, with the dropped columns and why, the codes, 'NA' kept, the overlap counts."""
    import re

    result, _ = values_run
    html = (result.path / "report.html").read_text(encoding="utf-8")
    ids = re.findall(r'<section class="report-section[^"]*" id="([^"]+)"', html)
    assert ids[0] == "findings"
    findings = html[html.index('id="findings"') : html.index("</section>", html.index('id="findings"'))]
    for text in ("member_no", "identifier", "&#39;NA&#39;", "zip", "between the splits", "No resampling or augmentation"):
        assert text in findings, text
    assert "never seen in training" not in html
    assert "none has exactly the inputs of a training row" in html


# --- Repeated observations and panel data: holdout and CV agree (items 1, 2, 10) -----------------------------------


def test_repeated_observations_holdout_agrees_with_cv_and_quiet_still_shows_findings(tmp_path):
    """Item 1 (done when): 1,316 passengers, 12 distinct inputs: the holdout estimate lies inside the 5-fold CV interval."""
    from shipyard.cli import app

    described.passengers().to_csv(tmp_path / "titanic.csv", index=False)
    recipe = {"name": "titanic", "data": {"source": "titanic.csv", "target": "survived"}, **FAST, "evaluate": {"cv": 5, "bootstrap": {"samples": 200}}, "explain": {"enabled": False}}
    (tmp_path / "titanic.yaml").write_text(json.dumps(recipe), encoding="utf-8")
    outcome = CliRunner().invoke(app, ["run", str(tmp_path / "titanic.yaml"), "--runs-dir", str(tmp_path / "runs"), "--no-track", "--quiet"])
    assert outcome.exit_code == 0, outcome.output
    text = " ".join(outcome.output.split())
    assert "data findings" in text and "data.split.duplicates: allow (chosen from the data)" in text
    run = tmp_path / "runs" / "titanic" / "latest"
    metrics = json.loads((run / "metrics.json").read_text())
    agreement = metrics["cv"]["holdout"]["metrics"]
    assert agreement["accuracy"]["agree"] and agreement["roc_auc"]["agree"], agreement
    assert metrics["cv"]["holdout"]["findings"] == [] and metrics["cv"]["grouped_by"] is None
    assert 0.7 < metrics["test"]["accuracy"] and 0.7 < metrics["test"]["roc_auc"]
    assert abs(metrics["split"]["test"] - 263) <= 3
    profile = json.loads((run / "data_profile.json").read_text())
    assert profile["dataset"]["overlap"]["test_rows_with_unseen_inputs"] == 0


def test_panel_grouped_by_person_holdout_agrees_with_grouped_cv(tmp_path):
    """Items 2 and 10 (done when): 545 persons x 8 years, regression on wage, grouped by nr everywhere."""
    from shipyard.evaluation.cv import cv_folds

    described.panel().to_csv(tmp_path / "panel.csv", index=False)
    result = run_recipe(
        tmp_path, {"source": "panel.csv", "target": "wage", "split": {"group": "nr"}}, tmp_path / "runs",
        task="regression", evaluate={"cv": 5, "bootstrap": {"samples": 200}}, explain={"enabled": False},
    )
    metrics = result.metrics
    assert metrics["cv"]["grouped_by"] == "nr"
    agreement = metrics["cv"]["holdout"]["metrics"]
    assert agreement["r2"]["agree"] and agreement["rmse"]["agree"], agreement
    assert metrics["test"]["r2"] > 0.05  # persons never seen: the person effect cannot be learned (the issue measured 0.136)
    frame = pd.read_csv(tmp_path / "panel.csv")
    with np.load(result.path / "preparation" / "split.npz") as parts:
        persons = {p: set(frame["nr"].iloc[parts[p]]) for p in ("train", "validation", "test")}
    assert not persons["train"] & persons["test"] and not persons["train"] & persons["validation"] and not persons["validation"] & persons["test"]
    recipe = recipe_from_dict({"name": "p", "task": "regression", "data": {"source": "panel.csv", "target": "wage", "split": {"group": "nr"}}, "evaluate": {"cv": 5}}, base_dir=tmp_path)
    for rest, test in cv_folds(recipe, frame["wage"].to_numpy(), [], pd.factorize(frame["nr"])[0]):
        assert not set(frame["nr"].iloc[rest]) & set(frame["nr"].iloc[test])
    html = (result.path / "report.html").read_text(encoding="utf-8")
    assert "none of their 109 &#39;nr&#39; entities has rows in training" in html


# --- A given test file (item 3) ------------------------------------------------------------------------------------------


def test_given_test_file_is_evaluated_and_named(tmp_path):
    """Item 3: 200 training and 332 test rows of a diabetes study; the test metrics are on the 332 given rows."""
    from shipyard.cli import app

    train, test = described.pima_pair(tmp_path)
    frame = pd.read_csv(train)
    pd.concat([frame, frame.iloc[[4, 9, 11]]], ignore_index=True).to_csv(train, index=False)  # three records exported twice
    recipe = {"name": "pima", "data": {"source": train.name, "target": "type", "test": test.name, "positive_class": "Yes"}, **FAST, "explain": {"enabled": False}}
    (tmp_path / "pima.yaml").write_text(json.dumps(recipe), encoding="utf-8")
    outcome = CliRunner().invoke(app, ["run", str(tmp_path / "pima.yaml"), "--runs-dir", str(tmp_path / "runs"), "--no-track", "--quiet"])
    assert outcome.exit_code == 0, outcome.output
    text = " ".join(outcome.output.split())
    assert "warning: 3 exact duplicate row(s), e.g. row 201 = row 5, row 202 = row 10, row 203 = row 12" in text
    run = tmp_path / "runs" / "pima" / "latest"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["split"]["test"] == 332 and metrics["split"]["train"] + metrics["split"]["validation"] == 203
    stored = pd.read_csv(run / "predictions.csv")
    assert stored["row"].min() == 203 and (stored["y_true"] == (pd.read_csv(test)["type"] == "Yes").astype(int)).all()
    assert "332 test rows from pima_test.csv (data.test)" in (run / "report.html").read_text(encoding="utf-8")
