"""examples/sms_spam.yaml end to end: data checks, fine-tuning, baselines, export, a real server, batch prediction, explanations, perturbation curves, the report."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd

from tests.conftest import EXAMPLES, shared_file
from serving_helpers import assert_serves_without_torch, served


def test_validate_names_a_missing_text_column_before_anything_is_written(tmp_path):
    shared_file("sms_spam_collection.csv")  # skips where the shared data folder is absent (the example reads it)
    done = subprocess.run([sys.executable, "-m", "shipyard.cli", "validate", str(EXAMPLES / "sms_spam.yaml")], capture_output=True, text=True)
    assert done.returncode == 0 and "valid; 5574 rows" in done.stderr
    recipe = tmp_path / "bad.yaml"
    recipe.write_text((EXAMPLES / "sms_spam.yaml").read_text().replace("text: text", "text: body"), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "shipyard.cli", "run", str(recipe), "--runs-dir", str(tmp_path / "runs"), "--no-track"], capture_output=True, text=True, cwd=EXAMPLES)
    assert done.returncode == 2 and "column 'body' (data.text) not found; columns are: text, label" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_the_data_checks_report_what_the_shared_sms_file_holds(sms_run):
    profile = json.loads((sms_run.path / "data_profile.json").read_text())
    text = profile["text"]
    assert text["exact_duplicates"]["surplus_rows"] == 403 and text["encoding"]["c1_control"] == 35
    assert text["groups_straddling_split"] == 0 and text["near_duplicates"]["row_split_leak"] > 0
    assert {f["code"] for f in profile["findings"]} >= {"duplicate_texts", "c1_control_characters", "class_imbalance"}


def test_fine_tuned_minilm_against_tfidf_and_from_scratch(sms_run):
    metrics = sms_run.metrics
    board = metrics["baselines"]["models"]
    assert set(board) == {"network", "tfidf_logistic_regression", "dummy", "from_scratch"}
    assert metrics["test"]["f1"] > 0.85 and metrics["test"]["accuracy"] > 0.95
    # What pretraining bought on SMS: F1 and accuracy come out close (spam words are easy to learn), the ranking and the probabilities do not.
    assert board["from_scratch"]["roc_auc"]["value"] < board["network"]["roc_auc"]["value"]
    assert board["from_scratch"]["log_loss"]["value"] > board["network"]["log_loss"]["value"]
    assert metrics["from_scratch"]["changes"] == {"pretrained": False, "freeze_layers": 0, "encoder_learning_rate": 0.001}
    assert metrics["parity"]["max_abs_diff"] <= metrics["parity"]["tolerance"] and metrics["parity"]["rows"] == metrics["split"]["test"]
    history = sms_run.history
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    summary = json.loads((sms_run.path / "data_summary.json").read_text())
    assert summary["rows_fitted_by_network"] < 0.35 * (summary["split"]["train"] / 0.3)  # train_fraction 0.3
    assert "data.split.train_fraction 0.3: the network is fitted on" in (sms_run.path / "report.html").read_text()


def test_the_bundle_holds_the_tokenizer_and_no_pickle(sms_run):
    manifest = json.loads((sms_run.bundle / "manifest.json").read_text())
    assert manifest["input"] == "text" and set(manifest["files"]) == {"model.onnx", "tokenizer.json"}
    assert manifest["text"]["max_length"] == 64 and manifest["inputs"] == [{"name": "text", "kind": "text", "dtype": "string"}]
    assert sms_run.model_version is not None  # registered in MLflow


def test_served_over_http_as_the_python_api_predicts(sms_run):
    import shipyard

    body = json.loads((EXAMPLES / "requests" / "sms_spam.json").read_text())
    expected = shipyard.load(sms_run.path).predict_proba(body["records"])
    with served(sms_run.path.parent / "latest") as (client, _):
        response = client.post("/v1/predict", json=body)
        assert response.status_code == 200, response.text
        out = response.json()
        assert out["labels"] == ["spam", "ham"]
        assert np.allclose([[p["ham"], p["spam"]] for p in out["probabilities"]], expected, atol=1e-6)
        long = client.post("/v1/predict", json={"records": [{"text": "free entry " * 100}]}).json()
        assert long["warnings"] == ["record 0: text of 202 tokens truncated to the model's 64"]
        assert long["version"] == out["version"] == client.get("/healthz").json()["version"]
        assert f"shipyard_records_predicted_total {len(body['records']) + 1}.0" in client.get("/metrics").text
        missing = client.post("/v1/predict", json={"records": [{"message": "hi"}]})
        assert missing.status_code == 422 and {tuple(d["loc"][-1:]) for d in missing.json()["detail"]} >= {("text",), ("message",)}
        wrong = client.post("/v1/predict", json={"records": [{"text": 5}]})
        assert wrong.status_code == 422
        assert "TextRecord" in client.get("/openapi.json").json()["components"]["schemas"]


def test_batch_prediction_reads_texts_as_written(sms_run, tmp_path):
    data = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["  URGENT! You have won a 1 week FREE membership, call 09061743806", "NA", "ok see you later"]}).to_csv(data, index=False)
    out = tmp_path / "out.csv"
    done = subprocess.run([sys.executable, "-m", "shipyard.cli", "predict", str(sms_run.path), str(data), "-o", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    result = pd.read_csv(out, keep_default_na=False)
    assert result["text"].tolist()[:2] == ["  URGENT! You have won a 1 week FREE membership, call 09061743806", "NA"]
    assert list(result.columns) == ["text", "prediction", "proba_ham", "proba_spam"] and result["prediction"].tolist() == ["spam", "ham", "ham"]
    # JSON Lines as a client writes them: a number, a missing key or a null is that record's error (as the server's 422), the others are predicted
    lines = tmp_path / "texts.jsonl"
    lines.write_text('{"text": "see you at lunch"}\n{"text": 5}\n{"txt": "x"}\n{"text": null}\n{"text": "\\u0000 "}\n')
    done = subprocess.run([sys.executable, "-m", "shipyard.cli", "predict", str(sms_run.path), str(lines), "-o", str(out)], capture_output=True, text=True)
    assert done.returncode == 1 and "record 1 not predicted: 'text' must be a string, got int" in done.stderr
    assert "record 2 not predicted: no 'text'" in done.stderr and "record 3 not predicted: no 'text'" in done.stderr
    assert "record 4: no word the model reads" in " ".join(done.stderr.split())
    result = pd.read_csv(out, keep_default_na=False)
    assert result["prediction"].tolist() == ["ham", "", "", "", "ham"] and result["error"].tolist()[:2] == ["", "'text' must be a string, got int (send the raw text)"]
    # a CSV keeps its other columns (to join the predictions back) and a blank line is an empty text: one output row per input line
    data.write_text("id,text\n7,first\n\n9,third\n")
    done = subprocess.run([sys.executable, "-m", "shipyard.cli", "predict", str(sms_run.path), str(data), "-o", str(out)], capture_output=True, text=True)
    result = pd.read_csv(out, keep_default_na=False)
    assert done.returncode == 0 and result["id"].astype(str).tolist() == ["7", "", "9"] and result["text"].tolist() == ["first", "", "third"] and len(result["prediction"]) == 3


def test_explained_and_perturbed_again_from_the_checkpoint(sms_run):
    explained = json.loads((sms_run.path / "explain.json").read_text())
    assert explained["kind"] == "text" and explained["n_texts"] == 16 and explained["completeness_error"] < 0.05
    assert explained["global"]["toward"] and explained["global"]["against"]
    done = subprocess.run([sys.executable, "-m", "shipyard.cli", "explain", str(sms_run.path), "--row", "3", "--samples", "2"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    again = json.loads((sms_run.path / "explain.json").read_text())
    assert again["texts"][0]["test_position"] == 3 and "tokens with the largest mean attribution" in done.stdout
    rob = json.loads((sms_run.path / "attack.json").read_text())
    typo, deletion = rob["curves"]["typos"]["accuracy"], rob["curves"]["word_deletion"]["accuracy"]
    assert rob["rates"] == [0.0, 0.05, 0.1, 0.2, 0.3] and typo[0] == deletion[0] == rob["clean"]["accuracy"]
    assert typo[-1] != typo[0] or deletion[-1] != deletion[0]  # the perturbations change predictions (how much is the measurement)
    assert all(0 <= v <= 1 for v in typo + deletion) and len(rob["examples"]) == 4
    done = subprocess.run([sys.executable, "-m", "shipyard.cli", "attack", str(sms_run.path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads((sms_run.path / "attack.json").read_text())["curves"] == rob["curves"]  # seeded: the same curves again


def test_the_report_renders_the_text_sections_in_chromium(sms_run):
    import chromium_check

    result = chromium_check.probe(sms_run.path / "report.html")
    assert chromium_check.problems(result) == []
    assert {"text_data", "leaderboard", "perturbation", "text_attributions"} <= {s["id"] for s in result["sections"]}


def test_serving_a_text_bundle_never_imports_torch(sms_run):
    assert_serves_without_torch(sms_run.bundle, "{'text': 'hi'}")


def test_compress_makes_the_text_variants_the_modality_allows(sms_run, tmp_path, monkeypatch):
    """The compress stage on a text run (a copy of it): fp32 and dynamic int8 of the network and of a 3-layer student, each a text bundle
    checked for parity and scored on the test texts; a format or student the text input cannot make is reported, not fatal."""
    import shutil

    import shipyard
    from shipyard.recipe import CompressSpec
    from shipyard.rundir import RunDir
    from shipyard.stages import RunContext
    from shipyard.stages.compress import check_compress, compress

    run = tmp_path / "run"
    shutil.copytree(sms_run.path, run, symlinks=True)
    ctx = RunContext.from_run(RunDir(run))
    ctx.recipe.compress = CompressSpec.model_validate(
        {
            "formats": ["int8_dynamic", "fp16"],
            "prune": None,
            "distill": {"students": [[3], [6]], "epochs": 1},
            "budget": {"max_drop": 0.05, "objective": "size"},
            "latency": {"repeats": 30, "warmup": 3, "request_repeats": 3, "throughput_batch": 8},
        }
    )
    check_compress(ctx.recipe, ctx.data)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    result = compress(ctx)
    assert list(cwd.iterdir()) == []  # onnxruntime's shape inference leaves sym_shape_infer_temp.onnx + data files where it runs
    by_name = {v["name"]: v for v in result["variants"]}
    assert set(by_name) == {"fp32", "int8_dynamic", "fp16", "student_3_layers_fp32", "student_3_layers_int8_dynamic", "student_3_layers_fp16"}
    assert by_name["fp16"]["status"] == "failed" and "only int8_dynamic" in by_name["fp16"]["error"]
    assert [s["name"] for s in result["skipped"]] == ["student_6_layers"]
    fp32, int8 = by_name["fp32"], by_name["int8_dynamic"]
    assert fp32["parity"]["max_abs_diff"] <= fp32["parity"]["tolerance"] and int8["parity"]["rows"] == len(ctx.data.split.test)
    assert int8["bytes"] < fp32["bytes"] / 2 and by_name["student_3_layers_fp32"]["parameters"] < fp32["parameters"]
    assert fp32["test"]["f1"] == sms_run.metrics["test"]["f1"]  # the fp32 graph scores what the network scored
    deployed = shipyard.load(run)
    assert (run / "bundle" / "tokenizer.json").is_file() and deployed.manifest["compression"]["variant"] == result["selected"]
    proba = deployed.predict_proba([{"text": "WINNER!! Claim your free prize now, call 09061743806"}, {"text": "see you at lunch"}])
    assert proba.shape == (2, 2) and proba[0, deployed.labels.index("spam")] > proba[1, deployed.labels.index("spam")]


def test_an_edited_tokenizer_setting_in_the_manifest_is_refused(sms_run, tmp_path):
    import shutil

    import pytest

    import shipyard
    from shipyard.errors import BundleError

    bundle = tmp_path / "bundle"
    shutil.copytree(sms_run.bundle, bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["text"]["max_length"] = 512
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="text differs from the values recorded"):
        shipyard.load(bundle)


def test_a_tampered_tokenizer_or_split_in_the_run_is_refused_before_anything_is_rewritten(sms_run, tmp_path):
    """The run's saved tokenizer and split are checked against the sha256 in preparation.json when a stage reloads the run."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(sms_run.path, run, ignore=shutil.ignore_patterns("compression"))
    before = (run / "attack.json").read_bytes()
    tokenizer = run / "preparation" / "tokenizer.json"
    tokenizer.write_text(tokenizer.read_text().replace('"[UNK]"', '"[XXX]"', 1))
    done = subprocess.run([sys.executable, "-m", "shipyard.cli", "attack", str(run)], capture_output=True, text=True)
    assert done.returncode == 2 and "tokenizer.json" in done.stderr and "modified" in done.stderr and "Traceback" not in done.stderr
    assert (run / "attack.json").read_bytes() == before


def test_an_empty_text_is_predicted_with_a_warning_naming_the_record(sms_run):
    """Training flags empty texts; serving one answers what the model says to no words, and says so."""
    import shipyard

    model = shipyard.load(sms_run.path)
    model_input = model.prepare([{"text": "see you at lunch"}, {"text": "   "}, {"text": ""}], "request")
    assert model.warnings(model_input) == [
        f"record {i}: no word the model reads (an empty text, whitespace or control characters); the prediction is the model's answer to no words" for i in (1, 2)
    ]
