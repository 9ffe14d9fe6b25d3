"""What operators expect of `shipyard serve`: readiness, Prometheus metrics, micro-batching, auth, workers, access logs.

Every test talks to a real `shipyard serve` process on a loopback port.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from serving_helpers import ServerProcess

from shipyard.predictor import Predictor


class Server(ServerProcess):
    """A served bundle, with its Prometheus metrics parsed."""

    def metrics(self) -> dict[str, list]:
        text = httpx.get(f"{self.base}/metrics", timeout=5).text
        return {family.name: family.samples for family in text_string_to_metric_families(text)}


def sample(metrics: dict, family: str, suffix: str = "", **labels) -> float:
    """The value of one sample of a parsed family (0 when absent)."""
    for s in metrics.get(family, []):
        if s.name == family + suffix and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return 0.0


@pytest.fixture(scope="module")
def records(breast_cancer_run):
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).data.to_dict(orient="records")


def test_readyz_metrics_and_access_log(breast_cancer_run, records):
    server = Server(breast_cancer_run.bundle, "--max-wait-ms", "2")
    try:
        assert httpx.get(f"{server.base}/readyz").json()["status"] == "ready"
        for i in range(5):
            response = httpx.post(f"{server.base}/v1/predict", json={"records": records[i : i + 3]}, headers={"X-Request-ID": f"req-{i}"})
            assert response.status_code == 200 and response.headers["x-request-id"] == f"req-{i}"
        generated = httpx.get(f"{server.base}/healthz").headers["x-request-id"]
        assert len(generated) == 32  # a fresh id when the client sends none
        assert httpx.post(f"{server.base}/v1/predict", json={"records": [{"mean radius": 1}]}).status_code == 422
        metrics = server.metrics()
        assert sample(metrics, "shipyard_requests", "_total", route="/v1/predict", status="200") == 5
        assert sample(metrics, "shipyard_requests", "_total", route="/v1/predict", status="422") == 1
        assert sample(metrics, "shipyard_records_predicted", "_total") == 15
        assert sample(metrics, "shipyard_request_duration_seconds", "_count", route="/v1/predict") == 6
        assert sample(metrics, "shipyard_batch_records", "_sum") >= 15  # the warm-up's calls are not counted
        predictor = Predictor(breast_cancer_run.bundle)
        assert sample(metrics, "shipyard_model_info", name="breast-cancer", version=predictor.version, sha256=predictor.sha256) == 1
        info = httpx.get(f"{server.base}/v1/model").json()
        assert info["version"] == predictor.version and info["session"]["intra_op_num_threads"] == 1 and info["session"]["allow_spinning"] is False
        assert info["serving"] == {"batching": False, "max_batch_size": 256, "max_wait_ms": 2.0, "workers": 1, "intra_op_threads": 1, "access_log": True, "auth": False}
    finally:
        log = server.stop()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    mine = [line for line in lines if line["request_id"] == "req-3"]
    assert len(mine) == 1 and mine[0]["status"] == 200 and mine[0]["path"] == "/v1/predict" and mine[0]["latency_ms"] > 0
    assert mine[0]["model_version"] == predictor.version
    assert "mean radius" not in log and str(records[3]["mean radius"]) not in log  # no record contents in the log


def test_unseen_categories_are_counted_by_column(mixed_csv, tmp_path):
    import pandas as pd

    from shipyard.pipeline import run
    from shipyard.recipe import recipe_from_dict

    recipe = recipe_from_dict(
        {"name": "mixed", "data": {"source": str(mixed_csv), "target": "diagnosis"}, "train": {"epochs": 3}, "explain": {"enabled": False}, "evaluate": {"baseline": False}}
    )
    result = run(recipe, runs_dir=tmp_path, track=False, progress=False)
    rows = json.loads(pd.read_csv(mixed_csv).drop(columns="diagnosis").head(3).to_json(orient="records"))
    rows[0]["size"], rows[1]["size"], rows[2]["texture"] = "enormous", "tiny", "silky"
    server = Server(result.bundle, "--no-access-log")
    try:
        body = httpx.post(f"{server.base}/v1/predict", json={"records": rows}).json()
        assert len(body["warnings"]) == 3
        metrics = server.metrics()
        assert sample(metrics, "shipyard_unseen_categories", "_total", column="size") == 2
        assert sample(metrics, "shipyard_unseen_categories", "_total", column="texture") == 1
    finally:
        server.stop()


async def _concurrent(base: str, bodies: list[dict]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        return await asyncio.gather(*(client.post("/v1/predict", json=body) for body in bodies))


def test_micro_batching_returns_each_request_its_own_answers_in_order(breast_cancer_run, records):
    """Many concurrent requests of different sizes, one with a bad record: each gets exactly its own answers."""
    predictor = Predictor(breast_cancer_run.bundle)
    rng = np.random.default_rng(0)
    bodies, expected = [], []
    for i in range(48):
        rows = [records[j] for j in rng.choice(len(records), size=int(rng.integers(1, 6)), replace=False)]
        bodies.append({"records": rows})
        expected.append(predictor.predict_proba(rows))
    bad = dict(records[0], **{"mean radius": "big"})
    bodies.insert(20, {"records": [records[1], bad]})
    server = Server(breast_cancer_run.bundle, "--batching", "--max-wait-ms", "20", "--max-batch-size", "64", "--no-access-log")
    try:
        responses = asyncio.run(_concurrent(server.base, bodies))
        metrics = server.metrics()
    finally:
        server.stop()
    assert responses.pop(20).status_code == 422
    for response, want in zip(responses, expected):
        assert response.status_code == 200, response.text
        got = np.array([[p[label] for label in predictor.labels] for p in response.json()["probabilities"]])
        assert got.shape == want.shape and np.allclose(got, want, atol=1e-6)
    calls = sample(metrics, "shipyard_batch_records", "_count")
    assert calls < 48  # requests shared onnxruntime calls
    assert sample(metrics, "shipyard_records_predicted", "_total") == sum(len(b["records"]) for b in bodies) - 2


def test_api_key_required_for_predictions_and_the_manifest_when_configured(breast_cancer_run, records, tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text("# one key per line\nk3y-0123456789abcdefXYZ\nanother-key-0123456789\n")
    server = Server(breast_cancer_run.bundle, "--api-key-file", str(keys), "--no-access-log")
    body = {"records": records[:1]}
    try:
        missing = httpx.post(f"{server.base}/v1/predict", json=body)
        wrong = httpx.post(f"{server.base}/v1/predict", json=body, headers={"Authorization": "Bearer k3y-0123456789abcdefXYz"})
        basic = httpx.post(f"{server.base}/v1/predict", json=body, headers={"Authorization": "Basic k3y-0123456789abcdefXYZ"})
        good = httpx.post(f"{server.base}/v1/predict", json=body, headers={"Authorization": "Bearer another-key-0123456789"})
        open_routes = [httpx.get(f"{server.base}{route}").status_code for route in ("/healthz", "/readyz", "/metrics")]
        manifest = [httpx.get(f"{server.base}/v1/model", headers=h).status_code for h in ({}, {"Authorization": "Bearer another-key-0123456789"})]
    finally:
        server.stop()
    for response in (missing, wrong, basic):
        assert response.status_code == 401 and response.json() == {"detail": "unauthorized"}
        assert response.headers["www-authenticate"] == "Bearer"
    assert good.status_code == 200 and open_routes == [200, 200, 200]
    assert manifest == [401, 200]  # the manifest lists the training categories


def test_weak_or_missing_api_keys_are_refused_in_one_line(breast_cancer_run, tmp_path):
    (tmp_path / "weak.txt").write_text("short\n")
    for args, message in (
        (["--api-key-file", str(tmp_path / "weak.txt")], "key 1 is shorter than 16 characters"),
        (["--api-key-file", str(tmp_path / "none.txt")], "none.txt: file not found"),
    ):
        proc = subprocess.run([sys.executable, "-m", "shipyard.cli", "serve", str(breast_cancer_run.bundle), *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_two_workers_answer_with_the_same_behaviour_and_aggregated_metrics(breast_cancer_run, records):
    predictor = Predictor(breast_cancer_run.bundle)
    server = Server(breast_cancer_run.bundle, "--workers", "2", "--no-access-log")
    try:
        children = [int(p) for p in Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children").read_text().split()]
        bodies = [{"records": records[i : i + 2]} for i in range(0, 80, 2)]
        responses = asyncio.run(_concurrent(server.base, bodies))
        assert all(r.status_code == 200 for r in responses)
        for body, response in zip(bodies, responses):
            assert response.json()["labels"] == list(predictor.predict(body["records"]))
        totals = [sample(server.metrics(), "shipyard_requests", "_total", route="/v1/predict", status="200") for _ in range(4)]
    finally:
        log = server.stop()
    assert "Warning" not in log, log  # e.g. prometheus-client's "Clearing labels has not been implemented in multi-process mode"
    assert len(children) >= 2, children  # uvicorn's worker processes
    assert set(totals) == {40.0}  # every worker reports the requests of all
