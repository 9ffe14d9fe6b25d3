"""examples/digits_cnn.yaml end to end, and transfer from Semeion (examples/semeion_cnn.yaml → examples/digits_transfer.yaml)."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.datasets import load_digits

from serving_helpers import assert_serves_without_torch, served


def _png(pixels: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray((pixels / 16 * 255).round().astype(np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def test_the_cnn_beats_the_pixel_baselines_or_matches_them(digits_run):
    metrics = digits_run.metrics
    assert metrics["test"]["accuracy"] > 0.95
    assert set(metrics["baselines"]["models"]) == {"network", "logistic_regression", "hist_gradient_boosting", "dummy"}
    assert metrics["parity"]["max_abs_diff"] <= metrics["parity"]["tolerance"]
    manifest = json.loads((digits_run.bundle / "manifest.json").read_text())
    assert manifest["input"] == "image" and manifest["image"]["shape"] == [1, 8, 8] and manifest["image"]["max_value"] == 16
    assert list(manifest["files"]) == ["model.onnx"]  # normalisation inside the graph
    summary = json.loads((digits_run.path / "data_summary.json").read_text())
    assert summary["preprocessing"]["augment"]["rotation"] == 10


def test_served_as_png_and_as_nested_arrays(digits_run):
    import shipyard

    digits = load_digits()
    images = digits.images[:6]
    expected = shipyard.load(digits_run.path).predict_proba([{"image": image} for image in images])
    with served(digits_run.path.parent / "latest") as (client, _):
        arrays = client.post("/v1/predict", json={"records": [{"image": image.tolist()} for image in images]})
        pngs = client.post("/v1/predict", json={"records": [{"image": _png(image)} for image in images]})
        assert arrays.status_code == 200 and pngs.status_code == 200, (arrays.text, pngs.text)
        as_arrays = np.array([[p[str(k)] for k in range(10)] for p in arrays.json()["probabilities"]])
        assert np.allclose(as_arrays, expected, atol=1e-6)
        assert arrays.json()["labels"] == pngs.json()["labels"]  # 8-bit PNG rounding changes no decision here
        assert sum(int(label) == digit for label, digit in zip(arrays.json()["labels"], digits.target[:6])) >= 5
        # an image the model cannot read is that record's error; the other records are predicted
        wrong = client.post("/v1/predict", json={"records": [{"image": [[0] * 16] * 16}, {"image": images[0].tolist()}, {"image": "bm90IGFuIGltYWdl"}]})
        assert wrong.status_code == 200 and wrong.json()["labels"][1] == arrays.json()["labels"][0]
        assert [e["record"] for e in wrong.json()["errors"]] == [0, 2] and "the model takes 8x8" in wrong.json()["errors"][0]["detail"]
        assert "not a PNG or other image file" in wrong.json()["errors"][1]["detail"]
        # the server's request path: pixels beyond the training range refuse that record only; the version and the metrics
        mixed = client.post("/v1/predict", json={"records": [{"image": images[0].tolist()}, {"image": (images[1] + 17).tolist()}]})
        body = mixed.json()
        assert mixed.status_code == 200 and body["labels"][0] == arrays.json()["labels"][0] and body["labels"][1] is None
        assert body["errors"] == [{"record": 1, "detail": "pixel values must be finite and in [0, 16] (the units of the training images)"}]
        assert body["version"] == client.get("/healthz").json()["version"]
        assert "shipyard_records_predicted_total 14.0" in client.get("/metrics").text


def test_batch_prediction_of_a_folder_of_pngs_and_of_a_npz(digits_run, tmp_path):
    digits = load_digits()
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i in range(4):
        (folder / f"{i}.png").write_bytes(base64.b64decode(_png(digits.images[i])))
    np.savez(tmp_path / "some.npz", X=digits.images[:4])
    for data in (folder, tmp_path / "some.npz"):
        out = tmp_path / f"{data.stem}.csv"
        done = subprocess.run([sys.executable, "-m", "shipyard.cli", "predict", str(digits_run.path), str(data), "-o", str(out)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        result = pd.read_csv(out)
        assert len(result) == 4 and list(result.columns)[:2] == ["image", "prediction"] and result.filter(like="proba_").shape[1] == 10


def test_explained_attacked_and_reported(digits_run):
    import chromium_check

    explained = json.loads((digits_run.path / "explain.json").read_text())
    assert explained["kind"] == "image" and explained["completeness_error"] < 0.05 and len(explained["saliency"]) == 12
    assert explained["n_misclassified"] == len(explained["misclassified"]) or len(explained["misclassified"]) == 24
    rob = json.loads((digits_run.path / "attack.json").read_text())
    fgsm, pgd = rob["curves"]["fgsm"], rob["curves"]["pgd"]
    assert fgsm[0] == pgd[0] and pgd[-1] <= fgsm[-1] and pgd[-1] < pgd[0]  # PGD is the stronger attack
    result = chromium_check.probe(digits_run.path / "report.html")
    assert chromium_check.problems(result) == []
    assert {"image_data", "image_errors", "image_saliency", "perturbation"} <= {s["id"] for s in result["sections"]}
    done = subprocess.run([sys.executable, "-m", "shipyard.cli", "explain", str(digits_run.bundle), "--data", "x.csv"], capture_output=True, text=True)
    assert done.returncode == 2 and "explain its run instead" in done.stderr


def test_transfer_from_semeion_keeps_the_frozen_block_and_reports_from_scratch(transfer_runs):
    import torch

    from shipyard.models.cnn import cnn
    from shipyard.training.checkpoint import load_checkpoint

    semeion, transfer = transfer_runs
    assert semeion.metrics["test"]["accuracy"] > 0.85
    source = cnn(load_checkpoint(semeion.path).network).blocks[0].state_dict()
    tuned = cnn(load_checkpoint(transfer.path).network).blocks
    assert all(torch.equal(source[k], v) for k, v in tuned[0].state_dict().items())  # frozen: weights and batch-norm statistics
    assert not torch.equal(cnn(load_checkpoint(semeion.path).network).blocks[1][0].weight, tuned[1][0].weight)  # fine-tuned
    profile = json.loads((semeion.path / "data_profile.json").read_text())
    assert profile["images"]["source_shape"] == [16, 16, 1] and profile["images"]["shape"] == [1, 8, 8]
    board = transfer.metrics["baselines"]["models"]
    assert "from_scratch" in board and transfer.metrics["split"]["train"] < 130


def test_serving_an_image_bundle_never_imports_torch(digits_run):
    assert_serves_without_torch(digits_run.bundle, "{'image': [[0] * 8] * 8}")


def test_compress_is_refused_for_an_image_network_before_anything_runs(digits_run):
    import pytest

    from shipyard.errors import RecipeError
    from shipyard.recipe import CompressSpec
    from shipyard.rundir import RunDir
    from shipyard.stages import RunContext
    from shipyard.stages.compress import check_compress

    ctx = RunContext.from_run(RunDir(digits_run.path))
    ctx.recipe.compress = CompressSpec(prune=None)
    with pytest.raises(RecipeError, match="compress: not available for image models yet"):
        check_compress(ctx.recipe, ctx.data)


def test_a_missing_split_in_the_run_is_refused_naming_it(digits_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(digits_run.path, run)
    (run / "preparation" / "split.npz").unlink()
    done = subprocess.run([sys.executable, "-m", "shipyard.cli", "explain", str(run)], capture_output=True, text=True)
    assert done.returncode == 2 and "split.npz" in done.stderr and "Traceback" not in done.stderr
