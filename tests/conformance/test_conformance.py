"""The conformance suite: every registered model kind x every task passes the same checks.

In the manner of scikit-learn's ``parametrize_with_checks``: a new model kind
(:func:`shipyard.models.registry.register_model_kind`) or task
(:func:`shipyard.tasks.register_task`) is picked up by the parametrisation
below and is done when every check passes on real data: it trains, exports
within the parity tolerance, reloads from its checkpoint with identical
outputs, is served, and is explained (in the run and again from the
checkpoint alone).
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
    "classification": lambda fixtures: {"source": str(fixtures["mixed_csv"]), "target": "diagnosis"},
    "regression": lambda fixtures: {"source": "sklearn:diabetes", "target": "target"},
}
CASES = [(kind, task) for kind in sorted(model_kinds()) for task in sorted(_TASKS)]


@pytest.fixture(scope="module")
def runs(mixed_csv, tmp_path_factory):
    """One short run per (model kind, task), trained once for every check."""
    from shipyard.pipeline import run
    from shipyard.recipe import recipe_from_dict

    cache: dict = {}

    def get(kind: str, task: str):
        if (kind, task) not in cache:
            recipe = recipe_from_dict(
                {
                    "name": f"conformance-{kind}-{task}",
                    "task": task,
                    "data": DATA[task]({"mixed_csv": mixed_csv}),
                    "model": {"type": kind},
                    "train": {"epochs": 6, "batch_size": 64, "checkpoint_every": 2},
                    "evaluate": {"bootstrap": {"samples": 50}, "baseline": False},
                    "explain": {"samples": 20, "background": 20, "permutation_repeats": 1},
                }
            )
            cache[kind, task] = run(recipe, runs_dir=tmp_path_factory.mktemp("conformance"), track=False, progress=False)
        return cache[kind, task]

    return get


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
    from shipyard.predictor import Predictor
    from shipyard.stages import RunContext
    from shipyard.rundir import RunDir

    result = runs(kind, task)
    parity = result.metrics["parity"]
    assert parity["max_abs_diff"] <= parity["tolerance"]
    ctx = RunContext.from_run(RunDir(result.path))
    test_rows = ctx.data.frame.iloc[ctx.data.split.test]
    served = Predictor(result.bundle).predict_with_warnings(test_rows)[0]
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

    from shipyard.predictor import Predictor
    from shipyard.serving.app import create_app

    result = runs(kind, task)
    predictor = Predictor(result.bundle)
    records = json.loads(_test_records(result).to_json(orient="records"))
    with TestClient(create_app(result.bundle)) as client:
        response = client.post("/v1/predict", json={"records": records})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = predictor.predict(pd.DataFrame(records))
    if predictor.labels:
        assert body["labels"] == list(expected) and len(body["probabilities"]) == len(records)
    else:
        assert np.allclose(body["predictions"], expected.astype(float), rtol=1e-6)


def _test_records(result) -> pd.DataFrame:
    from shipyard.predictor import Predictor
    from shipyard.rundir import RunDir
    from shipyard.stages import RunContext

    ctx = RunContext.from_run(RunDir(result.path))
    names = [c.name for c in Predictor(result.bundle).schema]
    return ctx.data.frame.iloc[ctx.data.split.test[:5]][names]


@pytest.mark.parametrize("kind, task", CASES)
def test_is_explained_in_the_run_and_again_from_its_checkpoint(runs, kind, task):
    from shipyard.rundir import RunDir
    from shipyard.stages import RunContext, get_stage

    result = runs(kind, task)
    first = json.loads((result.path / "explain.json").read_text())
    shap = first["shap"]
    assert set(shap["ranking"]) == set(shap["columns"]) and shap["additivity_max_error"] < 1e-3
    ctx = RunContext.from_run(RunDir(result.path))
    get_stage("explain").run(ctx)
    again = json.loads((result.path / "explain.json").read_text())
    assert again["shap"]["ranking"] == shap["ranking"]
    assert np.allclose(again["shap"]["values"], shap["values"], atol=1e-6)


@pytest.mark.parametrize("kind, task", CASES)
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
