"""The conformance suite: every registered model kind x every task passes the same checks.

In the manner of scikit-learn's ``parametrize_with_checks``: a new model kind
(:func:`shipyard.models.registry.register_model_kind`) or task
(:func:`shipyard.tasks.register_task`) is picked up by the parametrisation
below and is done when every check passes on real data of its input modality
(a table, texts, images) for every task it serves: it trains, exports within
the parity tolerance, reloads from its checkpoint with identical outputs, is
served from raw records, and is explained (in the run and again from the
checkpoint alone); text and image kinds also draw their perturbation curves.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from shipyard.models.registry import model_kinds
from shipyard.tasks import _TASKS

pytestmark = pytest.mark.slow

DATA = {
    # Numeric and categorical columns with missing values (the shared mixed_csv fixture), and a numeric target.
    ("tabular", "classification"): lambda fixtures: {"source": str(fixtures["mixed_csv"]), "target": "diagnosis"},
    ("tabular", "regression"): lambda fixtures: {"source": "sklearn:diabetes", "target": "target"},
    # 400 real SMS messages (the sms_texts fixture); 8x8 handwritten digits.
    ("text", "classification"): lambda fixtures: {"source": str(fixtures["sms_texts"]), "text": "text", "target": "label", "positive_class": "spam"},
    ("image", "classification"): lambda fixtures: {"source": "sklearn:digits", "target": "target"},
}
SETTINGS = {
    # What keeps each modality's run short: a frozen encoder but for its last layer, short texts, two epochs.
    "tabular": ({}, {"epochs": 6, "batch_size": 64, "checkpoint_every": 2}),
    "text": ({"max_length": 32, "freeze_layers": 5}, {"epochs": 2, "batch_size": 32, "checkpoint_every": 1, "learning_rate": 0.003}),
    "image": ({"channels": [16, 32]}, {"epochs": 6, "batch_size": 64, "checkpoint_every": 2}),
}
CASES = [(kind, task) for kind, spec in sorted(model_kinds().items()) for task in sorted(_TASKS) if task in spec.spec.tasks]


def _input(kind: str) -> str:
    return model_kinds()[kind].input


@pytest.fixture(scope="module")
def runs(mixed_csv, sms_texts, tmp_path_factory):
    """One short run per (model kind, task), trained once for every check."""
    from shipyard.pipeline import run
    from shipyard.recipe import recipe_from_dict

    cache: dict = {}

    def get(kind: str, task: str):
        if (kind, task) not in cache:
            model, train = SETTINGS[_input(kind)]
            recipe = recipe_from_dict(
                {
                    "name": f"conformance-{kind}-{task}",
                    "task": task,
                    "data": DATA[_input(kind), task]({"mixed_csv": mixed_csv, "sms_texts": sms_texts}),
                    "model": {"type": kind, **model},
                    "train": train,
                    "evaluate": {"bootstrap": {"samples": 50}, "baseline": False},
                    "explain": {"samples": 4 if _input(kind) == "text" else 20, "background": 20, "permutation_repeats": 1},
                    # text and images: a short curve on 40 test rows; tables: the attack stage's defaults (every test row)
                    "attack": {"rows": 40, "rates": [0.0, 0.3], "pixel_epsilons": [0.0, 0.1], "pgd_steps": 3, "repeats": 1} if _input(kind) != "tabular" else {},
                }
            )
            cache[kind, task] = run(recipe, runs_dir=tmp_path_factory.mktemp("conformance"), track=False, progress=False)
        return cache[kind, task]

    return get


def _records(result) -> list[dict]:
    """Five test rows as a client sends them: table columns, {"text": ...}, or {"image": nested raw pixel values}."""
    import shipyard
    from shipyard.rundir import RunDir
    from shipyard.stages import RunContext

    ctx = RunContext.from_run(RunDir(result.path))
    predictor = shipyard.load(result.bundle)
    rows = ctx.data.frame.iloc[ctx.data.split.test[:5]]
    if predictor.manifest.get("input") == "image":
        scale = predictor.manifest["image"]["max_value"]
        return [{"image": (np.asarray(image).transpose(1, 2, 0) * scale).tolist()} for image in rows["image"]]
    names = [c.name for c in predictor.schema]
    return json.loads(rows[names].to_json(orient="records"))


def _network_outputs(result) -> np.ndarray:
    frame = pd.read_csv(result.path / "predictions.csv")
    columns = [c for c in frame.columns if c == "network" or c.startswith("network:")]
    out = frame[columns].to_numpy(dtype=np.float64)
    return out[:, 0] if out.shape[1] == 1 else out


@pytest.mark.parametrize("kind, task", CASES)
def test_trains(runs, kind, task):
    result = runs(kind, task)
    history = result.history
    assert 1 <= len(history) <= 6 and history[-1]["train_loss"] < history[0]["train_loss"]
    assert all(np.isfinite(v) for v in result.metrics["test"].values() if v is not None)
    assert json.loads((result.path / "run.json").read_text())["status"] == "complete"


@pytest.mark.parametrize("kind, task", CASES)
def test_exports_within_the_parity_tolerance(runs, kind, task):
    import shipyard
    from shipyard.rundir import RunDir
    from shipyard.stages import RunContext

    result = runs(kind, task)
    parity = result.metrics["parity"]
    assert parity["max_abs_diff"] <= parity["tolerance"]
    predictor = shipyard.load(result.bundle)
    ctx = RunContext.from_run(RunDir(result.path))
    test_rows = ctx.data.frame.iloc[ctx.data.split.test]
    if _input(kind) == "image":  # the bundle takes raw pixel values; the frame holds them scaled to [0, 1]
        scale = predictor.manifest["image"]["max_value"]
        test_rows = [{"image": np.asarray(image).transpose(1, 2, 0) * scale} for image in test_rows["image"]]
    served = predictor.predict_with_warnings(test_rows)[0]
    assert np.abs(served - _network_outputs(result)).max() <= parity["tolerance"]


@pytest.mark.parametrize("kind, task", CASES)
def test_reloads_from_its_checkpoint_with_identical_outputs(runs, kind, task):
    from shipyard.rundir import RunDir
    from shipyard.stages import RunContext
    from shipyard.training.checkpoint import load_checkpoint

    result = runs(kind, task)
    checkpoint = load_checkpoint(result.path)
    assert checkpoint.complete and checkpoint.info["model"]["type"] == kind and checkpoint.info["task"] == task
    ctx = RunContext.from_run(RunDir(result.path))  # the saved preprocessing: nothing refitted
    outputs = ctx.task.predict(checkpoint.network, ctx.data.X["test"])
    assert outputs.dtype == np.float32 and np.array_equal(outputs, _network_outputs(result).astype(np.float32))  # bit for bit


@pytest.mark.parametrize("kind, task", CASES)
def test_is_served(runs, kind, task):
    from fastapi.testclient import TestClient

    import shipyard
    from shipyard.serving.app import create_app

    result = runs(kind, task)
    predictor = shipyard.load(result.bundle)
    records = _records(result)
    with TestClient(create_app(result.bundle)) as client:
        response = client.post("/v1/predict", json={"records": records})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = predictor.predict(pd.DataFrame(records))
    if predictor.labels:
        assert body["labels"] == list(expected) and len(body["probabilities"]) == len(records)
    else:
        assert np.allclose(body["predictions"], expected.astype(float), rtol=1e-6)


@pytest.mark.parametrize("kind, task", CASES)
def test_is_explained_in_the_run_and_again_from_its_checkpoint(runs, kind, task):
    from shipyard.rundir import RunDir
    from shipyard.stages import RunContext, get_stage

    result = runs(kind, task)
    first = json.loads((result.path / "explain.json").read_text())
    ctx = RunContext.from_run(RunDir(result.path))
    get_stage("explain").run(ctx)
    again = json.loads((result.path / "explain.json").read_text())
    if _input(kind) == "tabular":
        shap = first["shap"]
        assert set(shap["ranking"]) == set(shap["columns"]) and shap["additivity_max_error"] < 1e-3
        assert again["shap"]["ranking"] == shap["ranking"]
        assert np.allclose(again["shap"]["values"], shap["values"], atol=1e-6)
    elif _input(kind) == "text":  # Integrated Gradients over the tokens: complete, and the same from the checkpoint
        assert first["kind"] == "text" and len(first["texts"]) == 4 and first["completeness_error"] < 0.05
        for one, two in zip(first["texts"], again["texts"]):
            assert one["tokens"] == two["tokens"] and len(one["attributions"]) == len(one["tokens"])
            assert np.allclose(one["attributions"], two["attributions"], atol=1e-5)
            assert abs(sum(one["attributions"]) - (one["output"] - one["baseline_output"])) <= one["delta"] + 1e-5
    else:  # saliency maps of the image's pixels, and the misclassified test images
        assert first["kind"] == "image" and first["completeness_error"] < 0.05 and first["n_test"] == len(ctx.data.split.test)
        assert np.allclose([s["map"] for s in first["saliency"]], [s["map"] for s in again["saliency"]], atol=1e-5)
        assert first["n_misclassified"] == int((np.argmax(_network_outputs(result), 1) != ctx.data.y[ctx.data.split.test]).sum())


@pytest.mark.parametrize("kind, task", [case for case in CASES if _input(case[0]) != "tabular"])
def test_draws_its_perturbation_curves(runs, kind, task):
    result = runs(kind, task)
    rob = json.loads((result.path / "attack.json").read_text())
    curves = list(rob["curves"].values())
    points = [c["accuracy"] if isinstance(c, dict) else c for c in curves]
    assert all(len(p) == 2 and all(0 <= v <= 1 for v in p) for p in points)
    assert len({p[0] for p in points}) == 1  # no perturbation: every curve starts at the clean accuracy


@pytest.mark.parametrize("kind, task", [case for case in CASES if _input(case[0]) == "tabular"])
def test_is_attacked_in_the_run_and_again_from_its_checkpoint(runs, kind, task):
    """The attack stage works on every kind and task: epsilon 0 is the test metrics, PGD does no better than clean,
    one-hot columns stay fixed, and a re-run from the checkpoint gives the same curves."""
    from shipyard.rundir import RunDir
    from shipyard.stages import RunContext, get_stage

    result = runs(kind, task)
    first = json.loads((result.path / "attack.json").read_text())
    assert first["clean"] == result.metrics["test"]
    metric = first["primary_metric"]
    pgd = first["curves"]["inf"]["pgd"]
    worse = (lambda a, b: a >= b - 1e-9) if metric == "rmse" else (lambda a, b: a <= b + 1e-9)
    assert worse(pgd[-1]["scores"][metric], first["clean"][metric])
    if task == "classification":
        assert set(first["space"]["fixed_columns"]) == {"size", "texture"}
    assert first["membership"]["members"] > 0
    ctx = RunContext.from_run(RunDir(result.path))
    get_stage("attack").run(ctx)
    again = json.loads((result.path / "attack.json").read_text())
    assert again["curves"] == first["curves"] and again["membership"] == first["membership"]
