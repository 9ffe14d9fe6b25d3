"""`shipyard serve` as a real process on a loopback port, called over HTTP."""

from __future__ import annotations

import subprocess
import sys

import pytest
from serving_helpers import assert_serves_without_torch, served
from sklearn.datasets import load_breast_cancer


@pytest.fixture(scope="module")
def server(breast_cancer_run):
    with served(breast_cancer_run.path.parent / "latest") as (client, _):
        yield client


@pytest.fixture(scope="module")
def records():
    return load_breast_cancer(as_frame=True).data.head(5).to_dict(orient="records")


def test_healthz(server, breast_cancer_run):
    body = server.get("/healthz").json()
    assert body["status"] == "ok" and body["model"] == "breast-cancer"


def test_predict_matches_python_api(server, records, breast_cancer_run):
    import shipyard

    response = server.post("/v1/predict", json={"records": records})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = shipyard.load(breast_cancer_run.path).predict_proba(records)
    assert body["labels"] == ["benign" if p[0] > p[1] else "malignant" for p in expected]
    for row, exp in zip(body["probabilities"], expected):
        assert row["benign"] == pytest.approx(float(exp[0]), abs=1e-6)
        assert row["malignant"] == pytest.approx(float(exp[1]), abs=1e-6)


def test_values_far_outside_the_training_range_are_marked_not_refused(server, records, breast_cancer_run):
    """Beyond the training range but inside the accepted range: predicted and marked per feature with the range.
    Beyond the accepted range (export.input_range_margin): not predicted, listed in errors, not marked."""
    import json

    import numpy as np
    from sklearn.datasets import load_breast_cancer

    from shipyard.schema import Column, accepted_range

    manifest = json.loads((breast_cancer_run.bundle / "manifest.json").read_text())
    radius = next(c for c in manifest["inputs"] if c["name"] == "mean radius")
    with np.load(breast_cancer_run.path / "preparation" / "split.npz") as split:
        train = load_breast_cancer(as_frame=True).data.iloc[split["train"]]
    assert (radius["min"], radius["max"]) == (float(train["mean radius"].min()), float(train["mean radius"].max()))
    low, high = accepted_range(Column.from_dict(radius), manifest["input_range"]["margin"])
    far, beyond = 100.1, high + 1.0  # far outside the training range yet accepted; outside the accepted range
    assert radius["max"] * 1.5 < far < high
    odd = dict(records[0], **{"mean radius": far, "worst area": -1000.0})
    refused = dict(records[3], **{"mean radius": beyond, "worst area": -1000.0})
    response = server.post("/v1/predict", json={"records": [records[1], odd, records[2], refused]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert all(label is not None for label in body["labels"][:3])  # the first three predicted
    assert body["labels"][3] is None and [e["record"] for e in body["errors"]] == [3] and "mean radius" in body["errors"][0]["detail"]
    ood = body["out_of_distribution"]
    assert len(ood) == 4 and ood[0] == [] and ood[2] == [] and ood[3] == []
    marked = {m["column"]: m for m in ood[1]}
    assert set(marked) == {"mean radius", "worst area"}
    assert marked["mean radius"] == {"column": "mean radius", "value": far, "min": radius["min"], "max": radius["max"]}
    schema = server.get("/openapi.json").json()["components"]["schemas"]
    assert "out_of_distribution" in schema["PredictResponse"]["properties"] and "OutOfRange" in schema


def test_missing_value_as_null_is_imputed(server, records):
    record = dict(records[0], **{"mean radius": None})
    assert server.post("/v1/predict", json={"records": [record]}).status_code == 200


def test_openapi_lists_real_columns(server):
    schema = server.get("/openapi.json").json()["components"]["schemas"]["Record"]
    assert "mean radius" in schema["properties"] and "worst fractal dimension" in schema["required"]
    assert len(schema["properties"]) == 30


@pytest.mark.parametrize(
    "change,field",
    [
        (lambda r: {k: v for k, v in r.items() if k != "mean texture"}, "mean texture"),
        (lambda r: dict(r, **{"mean area": "big"}), "mean area"),
        (lambda r: dict(r, surprise=1), "surprise"),
    ],
)
def test_bad_record_gets_422_naming_the_field(server, records, change, field):
    response = server.post("/v1/predict", json={"records": [change(records[0])]})
    assert response.status_code == 422
    assert field in [str(part) for err in response.json()["detail"] for part in err["loc"]]


def test_non_finite_number_gets_422(server, records):
    body = '{"records": [' + __import__("json").dumps(records[0]).replace("17.99", "NaN") + "]}"
    response = server.post("/v1/predict", content=body.encode(), headers={"content-type": "application/json"})
    assert response.status_code == 422 and "mean radius" in response.text


def test_numeric_field_refuses_booleans_and_strings(server, records):
    for value in (True, "12.5"):
        response = server.post("/v1/predict", json={"records": [dict(records[0], **{"mean area": value})]})
        assert response.status_code == 422, value


def test_oversized_body_is_refused_before_parsing(server, records):
    body = b'{"records": [' + b" " * (33 * 1024 * 1024) + b"]}"
    response = server.post("/v1/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "at most 10000 records" in response.json()["detail"]
    assert server.get("/healthz").status_code == 200


def test_busy_port_is_a_one_line_error(server, breast_cancer_run):
    port = int(str(server.base_url).rsplit(":", 1)[1].strip("/"))
    proc = subprocess.run(
        [sys.executable, "-m", "shipyard.cli", "serve", str(breast_cancer_run.path), "--port", str(port)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2 and "cannot listen there" in proc.stderr and "Traceback" not in proc.stderr


def test_empty_request_gets_422(server):
    assert server.post("/v1/predict", json={"records": []}).status_code == 422
    assert server.post("/v1/predict", json={}).status_code == 422
    assert server.post("/v1/predict", content=b"not json", headers={"content-type": "application/json"}).status_code == 422


def test_serving_path_never_imports_torch(breast_cancer_run):
    assert_serves_without_torch(breast_cancer_run.bundle)


def test_unseen_category_is_served_with_a_warning(mixed_csv, tmp_path):
    import pandas as pd
    from fastapi.testclient import TestClient

    import shipyard
    from shipyard.recipe import recipe_from_dict
    from shipyard.serving.app import create_app

    recipe = recipe_from_dict({"name": "mixed-serve", "data": {"source": str(mixed_csv), "target": "diagnosis"}, "train": {"epochs": 10}})
    result = shipyard.run(recipe, runs_dir=tmp_path, track=False, progress=False)
    record = pd.read_csv(mixed_csv).drop(columns="diagnosis").iloc[0].to_dict()
    record = {k: (None if v != v else v) for k, v in record.items()}
    record["size"] = "gigantic"
    with TestClient(create_app(result.path)) as client:
        response = client.post("/v1/predict", json={"records": [record]})
    assert response.status_code == 200, response.text
    assert response.json()["warnings"] == ["column 'size': unseen category 'gigantic' (rows 0) encoded as all zeros"]


def test_the_model_lives_in_app_state_and_one_assignment_replaces_it(breast_cancer_run, tmp_path):
    """The handlers read the model through a dependency, so a new version is one atomic assignment (no closure)."""
    import copy

    from fastapi.testclient import TestClient

    from shipyard.predictor import Predictor
    from shipyard.serving.app import create_app

    app = create_app(breast_cancer_run.bundle)
    record = load_breast_cancer(as_frame=True).data.iloc[0].to_dict()  # a real record, inside the accepted range
    with TestClient(app) as client:
        before = client.post("/v1/predict", json={"records": [record]}).json()
        replacement = Predictor(breast_cancer_run.bundle)
        replacement.manifest = copy.deepcopy(replacement.manifest) | {"name": "breast-cancer-v2"}
        replacement.threshold = 0.0  # every record is predicted positive by this one
        app.state.model = replacement
        after = client.post("/v1/predict", json={"records": [record]}).json()
        assert client.get("/v1/model").json()["name"] == "breast-cancer-v2"
    assert before["model"] == "breast-cancer" and after["model"] == "breast-cancer-v2"
    assert after["labels"] == ["malignant"] and after["probabilities"] == before["probabilities"]
