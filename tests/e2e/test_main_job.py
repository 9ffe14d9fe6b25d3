"""The main job end to end on real data: train, evaluate, export, track, predict."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest

import shipyard
from shipyard.errors import BundleError, DataError
from shipyard.recipe import recipe_from_dict
from shipyard.stages.export import ParityError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

METRIC_KEYS = {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"}


def test_breast_cancer_meets_the_quality_bar(breast_cancer_run):
    test = breast_cancer_run.metrics["test"]
    assert test["accuracy"] >= 0.95
    assert test["roc_auc"] >= 0.98
    assert METRIC_KEYS <= set(test) and METRIC_KEYS <= set(breast_cancer_run.metrics["baseline"])


def test_run_directory_layout(breast_cancer_run):
    path = breast_cancer_run.path
    for name in ("recipe.yaml", "metrics.json", "history.json", "run.json", "data_summary.json", "bundle/manifest.json", "bundle/model.onnx"):
        assert (path / name).is_file(), name
    assert (path.parent / "latest").resolve() == path
    assert json.loads((path / "run.json").read_text())["status"] == "complete"
    history = json.loads((path / "history.json").read_text())
    assert history[0]["epoch"] == 1 and {"train_loss", "val_loss", "val_accuracy"} <= set(history[0])
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["test"] == breast_cancer_run.metrics["test"]
    assert sum(map(sum, metrics["confusion_matrix"])) == metrics["split"]["test"]
    resolved = (path / "recipe.yaml").read_text()
    assert "weight_decay" in resolved and "early_stopping" in resolved


def test_bundle_manifest_hashes_and_no_pickle(breast_cancer_run):
    bundle = breast_cancer_run.bundle
    assert sorted(p.name for p in bundle.iterdir()) == ["manifest.json", "model.onnx"]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["labels"] == ["benign", "malignant"]
    assert manifest["positive_label"] == "malignant"
    assert len(manifest["inputs"]) == 30 and manifest["inputs"][0] == {
        "name": "mean radius", "kind": "numeric", "onnx_name": "mean_radius", "dtype": "float32", "min": 6.981, "max": 27.22
    }
    digest = hashlib.sha256((bundle / "model.onnx").read_bytes()).hexdigest()
    assert manifest["files"]["model.onnx"]["sha256"] == digest
    assert {"shipyard", "torch", "onnxruntime"} <= set(manifest["versions"])
    assert manifest["parity"]["max_abs_diff"] <= 1e-5
    model = onnx.load(str(bundle / "model.onnx"))
    assert [i.name for i in model.graph.input][:2] == ["mean_radius", "mean_texture"]
    assert [o.name for o in model.graph.output] == ["probabilities"]


def test_mlflow_run_and_registered_version(breast_cancer_run):
    from mlflow import MlflowClient

    client = MlflowClient()
    run_info = json.loads((breast_cancer_run.path / "run.json").read_text())
    run = client.get_run(run_info["mlflow_run_id"])
    assert run.data.params["train.epochs"] == "200"
    assert run.data.metrics["test_accuracy"] == pytest.approx(breast_cancer_run.metrics["test"]["accuracy"])
    steps = client.get_metric_history(run.info.run_id, "val_loss")
    assert len(steps) == breast_cancer_run.metrics["training"]["epochs_run"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "bundle")}
    assert {"bundle/manifest.json", "bundle/model.onnx"} <= artifacts
    version = client.get_model_version("breast-cancer", breast_cancer_run.model_version)
    assert version.run_id == run.info.run_id and version.source.startswith("models:/")  # the logged MLflow model, whose data is the bundle


def test_python_api_load_predicts_like_the_run(breast_cancer_run):
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).data
    model = shipyard.load(breast_cancer_run.path)
    proba = model.predict_proba(frame)
    assert proba.shape == (569, 2) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    labels = model.predict(frame.head(3))
    assert set(labels) <= {"benign", "malignant"}
    assert model.predict(frame.iloc[0].to_dict()).shape == (1,)


def test_tampered_bundle_is_refused(breast_cancer_run, tmp_path):
    import shutil

    copy = tmp_path / "bundle"
    shutil.copytree(breast_cancer_run.bundle, copy)
    with open(copy / "model.onnx", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(BundleError, match="sha256 does not match"):
        shipyard.load(copy)
    with pytest.raises(BundleError, match="no such file"):
        shipyard.load(tmp_path / "nowhere")


def test_edited_manifest_is_refused(breast_cancer_run, tmp_path):
    import shutil

    for edit, message in [
        (lambda m: m["labels"].append("unsure"), "labels .* differ from those recorded in model.onnx"),
        (lambda m: m["labels"].reverse(), r'labels \["malignant", "benign"\] differ from those recorded in model.onnx'),
        (lambda m: m["inputs"].pop(), "inputs do not match model.onnx's"),
    ]:
        copy = tmp_path / f"bundle{len(message)}"
        shutil.copytree(breast_cancer_run.bundle, copy)
        manifest = json.loads((copy / "manifest.json").read_text())
        edit(manifest)
        (copy / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(BundleError, match=message):
            shipyard.load(copy)


def test_explain_falls_back_when_reduction_mixes_columns(tmp_path):
    raw = _quick({"name": "pca", "data": {"source": "sklearn:wine", "target": "target"}, "prepare": {"reduce": {"method": "pca", "n_components": 4}}})
    raw["explain"] = {"samples": 20, "background": 10, "permutation_repeats": 2}
    result = shipyard.run(recipe_from_dict(raw), runs_dir=tmp_path, track=False, progress=False)
    explained = json.loads((result.path / "explain.json").read_text())
    assert "PermutationExplainer" in json.dumps(explained)
    assert json.loads((result.path / "run.json").read_text())["status"] == "complete"


def test_predict_accepts_a_mapping_of_columns(breast_cancer_run):
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).data.head(4)
    model = shipyard.load(breast_cancer_run.bundle)
    columns = {k: list(v) for k, v in frame.to_dict(orient="list").items()}
    assert np.array_equal(model.predict(columns), model.predict(frame))


def _quick(raw: dict) -> dict:
    base = {"train": {"epochs": 30, "early_stopping": {"patience": 5}}, "seed": 1}
    return {**base, **raw}


def test_wine_multiclass(wine_run):
    result = wine_run
    test = result.metrics["test"]
    assert {"f1_weighted", "precision_weighted", "recall_weighted"} <= set(test) and METRIC_KEYS <= set(test)
    assert test["accuracy"] >= 0.9 and test["roc_auc"] >= 0.95
    assert len(result.metrics["confusion_matrix"]) == 3
    assert result.metrics["parity"]["max_abs_diff"] <= 1e-5


def test_mixed_numeric_categorical_missing(mixed_csv, tmp_path):
    recipe = recipe_from_dict(_quick({"name": "mixed", "data": {"source": str(mixed_csv), "target": "diagnosis"}}))
    result = shipyard.run(recipe, runs_dir=tmp_path, track=False, progress=False)
    manifest = json.loads((result.bundle / "manifest.json").read_text())
    kinds = {c["name"]: (c["kind"], c.get("categories")) for c in manifest["inputs"]}
    assert kinds["size"] == ("categorical", ["", "large", "medium", "small"])
    assert kinds["texture"][0] == "categorical" and kinds["worst area"][0] == "numeric"
    assert result.metrics["parity"]["max_abs_diff"] <= 1e-5
    assert result.metrics["test"]["roc_auc"] > 0.9
    # Unseen category and missing values at predict time: handled, not a crash.
    model = shipyard.load(result.path)
    raw = pd.read_csv(mixed_csv).drop(columns="diagnosis").head(4)
    raw.loc[0, "size"] = "enormous"
    raw.loc[1, "mean smoothness"] = np.nan
    proba = model.predict_proba(raw)
    assert np.isfinite(proba).all() and proba.shape == (4, 2)
    assert model.unseen_categories(raw) == ["column 'size': unseen category 'enormous' (rows 0) encoded as all zeros"]


def test_same_recipe_and_seed_give_identical_metrics(tmp_path):
    raw = _quick({"name": "twice", "data": {"source": "sklearn:breast_cancer", "target": "target"}})
    first = shipyard.run(recipe_from_dict(raw), runs_dir=tmp_path, track=False, progress=False)
    second = shipyard.run(recipe_from_dict(raw), runs_dir=tmp_path, track=False, progress=False)
    assert first.path != second.path
    assert first.metrics["test"] == second.metrics["test"]
    assert first.history == [dict(h, seconds=s["seconds"]) for h, s in zip(second.history, first.history)]


def test_failed_run_never_becomes_latest(tmp_path):
    raw = _quick({"name": "strict", "data": {"source": "sklearn:iris", "target": "target"}})
    good = shipyard.run(recipe_from_dict(raw), runs_dir=tmp_path, track=False, progress=False)
    raw["export"] = {"parity_tolerance": 1e-30}
    with pytest.raises(ParityError, match="differ by up to"):
        shipyard.run(recipe_from_dict(raw), runs_dir=tmp_path, track=False, progress=False)
    assert (tmp_path / "strict" / "latest").resolve() == good.path
    failed = [p for p in (tmp_path / "strict").iterdir() if p.name not in ("latest", good.path.name)]
    assert len(failed) == 1 and json.loads((failed[0] / "run.json").read_text())["status"] == "failed"
    assert not (failed[0] / "bundle").exists()


def test_bad_data_writes_nothing(tmp_path):
    raw = {"name": "bad", "data": {"source": "sklearn:iris", "target": "species"}}
    with pytest.raises(DataError, match="target column 'species' not found"):
        shipyard.run(recipe_from_dict(raw), runs_dir=tmp_path / "runs", track=False, progress=False)
    assert not (tmp_path / "runs").exists()
