"""Issue 9, the server under a hostile client and the bundle under a careless operator: real files, a real uvicorn process."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import httpx
import numpy as np
import onnx
import pandas as pd
import pytest
from serving_helpers import peak_rss_bytes, served
from sklearn.datasets import load_breast_cancer

import shipyard
from shipyard.errors import BundleError

SHIPYARD = [sys.executable, "-m", "shipyard.cli"]


@pytest.fixture(scope="module")
def server(breast_cancer_run):
    with served(breast_cancer_run.path.parent / "latest") as (client, proc):
        yield client, proc


@pytest.fixture(scope="module")
def records():
    return load_breast_cancer(as_frame=True).data.head(3).to_dict(orient="records")


# --- item 1: a value inside float32 range but far outside the training range ------------------------------------


def test_3e38_gets_a_per_record_error_and_the_other_records_are_predicted(server, records):
    client, _ = server
    batch = [records[0], dict(records[1], **{"mean radius": 3e38}), dict(records[2], **{"mean radius": -3e38})]
    response = client.post("/v1/predict", json={"records": batch})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["labels"][0] in ("benign", "malignant") and body["labels"][1:] == [None, None]
    assert body["probabilities"][0] is not None and body["probabilities"][1:] == [None, None]
    assert [e["record"] for e in body["errors"]] == [1, 2]
    assert "column 'mean radius' = 3e+38 is outside the accepted range" in body["errors"][0]["detail"]


def test_a_non_finite_output_is_a_per_record_error_not_class_0(breast_cancer_run, records):
    model = shipyard.load(breast_cancer_run.path)
    model.input_margin = None  # accept every float32 value: 3e38 then overflows inside the graph
    found = model.predict_records([records[0], dict(records[1], **{"mean smoothness": 3e38})])  # std 0.014: scaled, it overflows
    assert np.isfinite(found.output[0]).all() and np.isnan(found.output[1]).all()
    assert found.decided[1] is None and "not finite" in found.errors[1]
    with pytest.warns(RuntimeWarning, match="1 of 2 records could not be predicted"):
        assert model.predict([records[0], dict(records[1], **{"mean smoothness": 3e38})])[1] is None


def test_shipyard_predict_reports_records_it_cannot_predict(breast_cancer_run, tmp_path):
    frame = load_breast_cancer(as_frame=True).data.head(4)
    frame.loc[2, "mean radius"] = 3e38
    frame.to_csv(tmp_path / "in.csv", index=False)
    proc = subprocess.run([*SHIPYARD, "predict", str(breast_cancer_run.path), "in.csv", "-o", "out.csv"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "record 2 not predicted: column 'mean radius' = 3e+38 is outside the accepted range" in proc.stderr
    assert "1 of 4 records could not be predicted" in proc.stderr
    out = pd.read_csv(tmp_path / "out.csv")
    assert out["prediction"].isna().tolist() == [False, False, True, False]
    assert np.isnan(out.loc[2, "proba_malignant"]) and out["error"].notna().tolist() == [False, False, True, False]


# --- item 2: probes on every export, one opset entry per domain --------------------------------------------------


def test_export_checks_parity_on_probe_records(breast_cancer_run):
    probes = breast_cancer_run.metrics["parity"]["probes"]
    assert probes["rows"] == 1 + 30 * 5  # all missing, then per column: missing, min, max, lowest and highest accepted
    assert probes["flips"] == 0 and probes["max_abs_diff"] < 1e-3


def test_the_bundle_lists_each_opset_domain_once_and_can_be_quantized(breast_cancer_run, tmp_path, records):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(breast_cancer_run.bundle / "model.onnx"))
    domains = [o.domain for o in model.opset_import]
    assert sorted(domains) == sorted(set(domains)) and "" in domains
    quantize_dynamic(str(breast_cancer_run.bundle / "model.onnx"), str(tmp_path / "int8.onnx"), weight_type=QuantType.QInt8)
    assert (tmp_path / "int8.onnx").stat().st_size > 0


def test_a_class_flip_on_a_probe_fails_the_export(breast_cancer_run, tmp_path, monkeypatch):
    """PyTorch made to decide otherwise far outside the training range: the probes at the accepted limits catch it."""
    from shipyard.rundir import RunDir
    from shipyard.stages.base import RunContext
    from shipyard.stages.export import ParityError, export

    ctx = RunContext.from_run(RunDir(breast_cancer_run.path))
    task = ctx.task
    honest = type(task).predict

    def flipped(self, network, X):
        out = honest(self, network, X)
        far = np.abs(X).max(axis=1) > 40  # no test row is this far out; the "highest accepted" probes are
        out[far] = out[far][:, ::-1]
        return out

    monkeypatch.setattr(type(task), "predict", flipped)
    with pytest.raises(ParityError, match=r"decide differently on \d+ of 151 probe records \((lowest|highest) accepted of 'mean radius'"):
        export(ctx.recipe, ctx.data, ctx.network, ctx.metrics, tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


# --- item 3: every field that changes a prediction is checked; every file is listed --------------------------------


def _copy(run, tmp_path, name):
    target = tmp_path / name
    shutil.copytree(run.bundle, target)
    return target


def _edit_manifest(bundle, edit):
    manifest = json.loads((bundle / "manifest.json").read_text())
    edit(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))


@pytest.mark.parametrize(
    "field,edit",
    [
        ("decision", lambda m: m.__setitem__("decision", {"threshold": 0.999, "positive_label": "malignant"})),
        ("positive_label", lambda m: m.__setitem__("positive_label", "benign")),
        ("calibration", lambda m: m.__setitem__("calibration", {"temperature": 5.0})),
        ("inputs", lambda m: m["inputs"][0].__setitem__("max", 1e30)),
        ("input_range", lambda m: m.__setitem__("input_range", {"margin": None})),
    ],
)
def test_an_edited_prediction_field_is_refused_naming_it(breast_cancer_run, tmp_path, field, edit):
    bundle = _copy(breast_cancer_run, tmp_path, field)
    _edit_manifest(bundle, edit)
    with pytest.raises(BundleError, match=rf"manifest.json: {field} differs from the values recorded in the hashed model.onnx"):
        shipyard.load(bundle)


def _negate_weights(bundle):
    model = onnx.load(str(bundle / "model.onnx"))
    for init in model.graph.initializer:
        if init.name.startswith("net/") and init.data_type == onnx.TensorProto.FLOAT:
            init.CopyFrom(onnx.numpy_helper.from_array(-onnx.numpy_helper.to_array(init), init.name))
    onnx.save(model, str(bundle / "model.onnx"))


def test_an_emptied_files_map_with_a_replaced_graph_is_refused_and_never_served(breast_cancer_run, tmp_path):
    bundle = _copy(breast_cancer_run, tmp_path, "negated")
    _negate_weights(bundle)
    _edit_manifest(bundle, lambda m: m.__setitem__("files", {}))
    with pytest.raises(BundleError, match="model.onnx: the model file is not listed in manifest.json with its sha256"):
        shipyard.load(bundle)
    proc = subprocess.run([*SHIPYARD, "serve", str(bundle), "--port", "1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "the model file is not listed" in proc.stderr and "Traceback" not in proc.stderr


def test_extra_and_missing_files_are_refused_naming_the_file(breast_cancer_run, tmp_path):
    extra = _copy(breast_cancer_run, tmp_path, "extra")
    (extra / "model_v2.onnx").write_bytes((extra / "model.onnx").read_bytes())
    with pytest.raises(BundleError, match="model_v2.onnx: in the bundle but not listed in manifest.json"):
        shipyard.load(extra)
    missing = _copy(breast_cancer_run, tmp_path, "missing")
    (missing / "model.onnx").unlink()
    with pytest.raises(BundleError, match="model.onnx: listed in the manifest but missing"):
        shipyard.load(missing)


def test_healthz_names_the_verified_graph(server, breast_cancer_run):
    import hashlib

    client, _ = server
    body = client.get("/healthz").json()
    sha256 = hashlib.sha256((breast_cancer_run.bundle / "model.onnx").read_bytes()).hexdigest()
    assert body == {"status": "ok", "model": "breast-cancer", "version": sha256[:12], "sha256": sha256}


# --- item 7: the size limit counts the bytes received, whatever the transfer encoding ---------------------------------


def test_a_chunked_body_over_the_limit_is_refused_with_bounded_memory(server, records):
    client, proc = server
    assert client.post("/v1/predict", json={"records": records}).status_code == 200  # warm: the model has run
    before = peak_rss_bytes(proc.pid)

    def whitespace():  # 150 MB of whitespace, sent chunked (no Content-Length)
        for _ in range(150):
            yield b" " * (1 << 20)

    try:
        response = httpx.post(str(client.base_url).rstrip("/") + "/v1/predict", content=whitespace(), headers={"content-type": "application/json"}, timeout=60)
        status, text = response.status_code, response.text
    except httpx.TransportError as exc:  # the server may close before the client has sent everything
        pytest.fail(f"no response to an oversized chunked body: {exc!r}")
    assert status == 413 and "at most 10000 records" in text
    grown = peak_rss_bytes(proc.pid) - before
    assert grown < 120 * 2**20, f"peak RSS grew by {grown / 2**20:.0f} MB reading a 150 MB body"
    assert client.get("/healthz").status_code == 200


# --- items 8 and 9: no 5xx on any input; a wrong content type says what is expected -------------------------------------


def test_a_lone_surrogate_gets_422_naming_the_column(mixed_served):
    client, record = mixed_served
    body = '{"records": [' + json.dumps(dict(record, size="\ud800")) + "]}"  # json.dumps escapes it as \\ud800
    response = client.post("/v1/predict", content=body.encode(), headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert "column 'size' holds text that is not valid Unicode" in response.json()["detail"]
    key = '{"records": [' + json.dumps(dict(record, **{"\udc80": 1})) + "]}"
    assert client.post("/v1/predict", content=key.encode(), headers={"content-type": "application/json"}).status_code == 422


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_a_body_of_another_content_type_is_told_to_be_json(server, records, content_type):
    client, _ = server
    response = client.post("/v1/predict", content=json.dumps({"records": records}).encode(), headers={"content-type": content_type})
    assert response.status_code == 415
    assert response.json()["detail"] == f"the request body must be JSON sent with Content-Type: application/json (got '{content_type}')"


def test_a_json_body_without_a_content_type_is_told_to_send_one(server, records):
    """FastAPI does not parse a body sent without Content-Type: "not a valid dictionary" would blame a valid body."""
    client, _ = server
    request = client.build_request("POST", "/v1/predict", content=json.dumps({"records": records}).encode())
    assert "content-type" not in request.headers
    response = client.send(request)
    assert response.status_code == 415
    assert response.json()["detail"] == "the request body must be JSON sent with Content-Type: application/json (got no Content-Type)"


@pytest.fixture(scope="module")
def mixed_served(mixed_csv, tmp_path_factory):
    """A run with categorical columns and missing values (the fuzz test's richer schema), served."""
    from shipyard.recipe import recipe_from_dict

    recipe = recipe_from_dict(
        {
            "name": "mixed-hostile",
            "data": {"source": str(mixed_csv), "target": "diagnosis"},
            "train": {"epochs": 10},
            "explain": {"enabled": False},
            "evaluate": {"bootstrap": {"samples": 50}},
        }
    )
    result = shipyard.run(recipe, runs_dir=tmp_path_factory.mktemp("runs"), track=False, progress=False)
    record = pd.read_csv(mixed_csv).drop(columns="diagnosis").iloc[0].to_dict()
    with served(result.path) as (client, _):
        yield client, {k: (None if v != v else v) for k, v in record.items()}


def test_fuzz_the_openapi_document_no_5xx(mixed_served):
    """Schemathesis generates valid and invalid bodies from the app's own OpenAPI document (bounded: 150 cases)."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis import GenerationMode

    client, _ = mixed_served
    base = str(client.base_url).rstrip("/")
    operation = schemathesis.openapi.from_url(f"{base}/openapi.json")["/v1/predict"]["POST"]
    seen: dict[int, int] = {}

    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)))
    def check(case):
        response = case.call(base_url=base, timeout=30)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, (response.status_code, response.text[:300], case.body)

    check()
    assert seen.get(200, 0) > 0 and seen.get(422, 0) > 0, seen


def test_fuzz_hostile_values_in_every_field_no_5xx(mixed_served):
    """Hypothesis: lone surrogates, huge integers, infinities, nested values, extra keys, other content types (bounded: 250 cases)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    client, record = mixed_served
    inputs = client.get("/v1/model").json()["inputs"]
    # st.text never yields surrogates; joined characters do (lone surrogates, sent as \\udXXX escapes).
    text = st.lists(st.one_of(st.characters(codec=None), st.characters(codec=None, categories=["Cs"])), max_size=6).map("".join)
    scalar = st.one_of(
        st.none(), st.booleans(), text, st.floats(), st.integers(min_value=-(10**400), max_value=10**400), st.sampled_from([3e38, -3e38, 3.5e38, 1e-45])
    )
    value = st.recursive(scalar, lambda inner: st.one_of(st.lists(inner, max_size=2), st.dictionaries(text, inner, max_size=2)), max_leaves=4)
    valid_number = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False), st.integers(min_value=-(10**20), max_value=10**20))
    number = st.one_of(valid_number, valid_number, valid_number, value)  # mostly valid, so that most records reach the model
    category = st.one_of(text, text, st.none(), st.booleans(), st.integers(), st.floats(), value)
    hostile = st.fixed_dictionaries({c["name"]: (number if c["kind"] == "numeric" else category) for c in inputs})
    junk = st.one_of(value, st.fixed_dictionaries({"records": st.lists(st.fixed_dictionaries({}, optional={c["name"]: value for c in inputs} | {"extra": value}))}))
    body = st.one_of(st.fixed_dictionaries({"records": st.lists(hostile, min_size=1, max_size=3)}), junk)
    content_type = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", "application/problem+json", ""])
    seen: dict[int, int] = {}

    @settings(max_examples=250, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(body=body, content_type=content_type)
    def check(body, content_type):
        payload = json.dumps(body).encode()  # Infinity/NaN tokens and \\udXXX escapes included
        response = client.post("/v1/predict", content=payload, headers={"content-type": content_type} if content_type else {})
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, (response.status_code, response.text[:300], payload[:300])

    check()
    assert set(seen) <= {200, 400, 413, 415, 422}, seen


# --- item 10: /docs works offline ---------------------------------------------------------------------------------------


def test_docs_load_their_assets_from_the_server_and_render_offline(server):
    import chromium_check

    client, _ = server
    page = client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/") for a in assets), assets  # nothing from a CDN
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    assert client.get("/redoc").status_code == 200 and "cdn" not in client.get("/redoc").text.lower()
    dom = chromium_check._run(["--virtual-time-budget=15000", "--dump-dom", str(client.base_url).rstrip("/") + "/docs"])
    assert "Shipyard model: breast-cancer" in dom and "/v1/predict" in dom  # Swagger UI ran and rendered the document
