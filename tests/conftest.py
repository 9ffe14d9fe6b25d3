"""Shared fixtures: an isolated MLflow store, and runs trained once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session", autouse=True)
def _mlflow_store(tmp_path_factory: pytest.TempPathFactory):
    """Every test logs to its own throwaway MLflow SQLite store, never the user's."""
    store = tmp_path_factory.mktemp("mlflow")
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{store / 'mlflow.db'}"
    yield store
    if old is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old


SLOW_FOLDERS = {"e2e", "conformance"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Whole-pipeline tests are ``slow``: everything under tests/e2e and tests/conformance, and modules that say so."""
    for item in items:
        if SLOW_FOLDERS & set(item.path.parts):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def wine_run(tmp_path_factory: pytest.TempPathFactory):
    """The wine example (3 classes) run once with temperature scaling and 3-fold CV, for every multiclass test."""
    from shipyard.pipeline import run
    from shipyard.recipe import load_recipe

    recipe = load_recipe(EXAMPLES / "wine.yaml")
    recipe.evaluate.calibration.temperature_scaling = True
    recipe.evaluate.bootstrap.samples = 200
    recipe.evaluate.cv = 3
    recipe.explain.samples = 40
    return run(recipe, runs_dir=tmp_path_factory.mktemp("runs"), track=False, progress=False)


@pytest.fixture(scope="session")
def breast_cancer_run(tmp_path_factory: pytest.TempPathFactory):
    """The example breast-cancer recipe run once, tracked, for tests that only read its outputs."""
    from shipyard.pipeline import run

    runs = tmp_path_factory.mktemp("runs")
    return run(EXAMPLES / "breast_cancer.yaml", runs_dir=runs, track=True, progress=False)


@pytest.fixture(scope="session")
def mixed_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real dataset with numeric and string categorical columns and missing values.

    Built from scikit-learn's breast_cancer: 'mean radius' is binned into the
    strings small/medium/large, 'mean texture' into low/high, and about 5% of
    cells in four columns are blanked.
    """
    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    cols = ["mean radius", "mean texture", "mean smoothness", "mean concavity", "worst area", "worst symmetry"]
    frame = bunch.frame[cols].copy()
    frame["size"] = pd.cut(frame.pop("mean radius"), [0, 12, 16, 100], labels=["small", "medium", "large"]).astype(str)
    frame["texture"] = np.where(frame.pop("mean texture") > 19, "high", "low")
    frame["diagnosis"] = np.where(bunch.target == 1, "benign", "malignant")
    rng = np.random.default_rng(0)
    for col in ["size", "texture", "mean smoothness", "worst area"]:
        frame.loc[rng.random(len(frame)) < 0.05, col] = np.nan
    path = tmp_path_factory.mktemp("data") / "mixed.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def digits_large_run(tmp_path_factory: pytest.TempPathFactory):
    """examples/digits_large.yaml (a 1.65M-parameter MLP, compressed within an F1 budget) run once, as written,
    without the explain stage and with fewer timed calls, for every compression test that reads a real run."""
    from shipyard.pipeline import run
    from shipyard.recipe import load_recipe

    recipe = load_recipe(EXAMPLES / "digits_large.yaml")
    recipe.explain.enabled = False
    recipe.evaluate.bootstrap.samples = 200
    recipe.compress.latency.repeats = 500
    recipe.compress.latency.request_repeats = 20
    return run(recipe, runs_dir=tmp_path_factory.mktemp("runs"), track=False, progress=False)


def shared_file(name: str) -> Path:
    """A file of the shared data folder (``$SHIPYARD_SHARED_DATA``, else the nearest ``shared/data`` above the checkout)."""
    from shipyard.modalities.sources import shared_folder

    folder = shared_folder(ROOT)
    if folder is None or not (folder / name).is_file():
        pytest.skip(f"shared data file {name} not found")
    return folder / name


@pytest.fixture(scope="session")
def sms_texts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400 real SMS messages (the shared SMS Spam Collection: the first 340 ham and 60 spam rows, texts untouched)."""
    import pandas as pd

    frame = pd.read_csv(shared_file("sms_spam_collection.csv"), dtype=str, keep_default_na=False)
    sample = pd.concat([frame[frame["label"] == "ham"].head(340), frame[frame["label"] == "spam"].head(60)]).sort_index()
    path = tmp_path_factory.mktemp("data") / "sms_400.csv"
    sample.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def sms_run(tmp_path_factory: pytest.TempPathFactory):
    """examples/sms_spam.yaml run once (MiniLM fine-tuned on 30% of the SMS training split), tracked in MLflow.

    As written, except that the perturbation curves use 150 test texts and one
    draw per rate (the example: 300 and two), which keeps CI's budget.
    """
    from shipyard.pipeline import run
    from shipyard.recipe import load_recipe

    shared_file("sms_spam_collection.csv")
    recipe = load_recipe(EXAMPLES / "sms_spam.yaml")
    recipe.attack.rows, recipe.attack.repeats = 150, 1
    return run(recipe, runs_dir=tmp_path_factory.mktemp("runs"), track=True, progress=False)


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory: pytest.TempPathFactory):
    """examples/digits_cnn.yaml run once as written."""
    from shipyard.pipeline import run

    return run(EXAMPLES / "digits_cnn.yaml", runs_dir=tmp_path_factory.mktemp("runs"), track=False, progress=False)


@pytest.fixture(scope="session")
def transfer_runs(tmp_path_factory: pytest.TempPathFactory):
    """examples/semeion_cnn.yaml, then examples/digits_transfer.yaml starting from it (its init_from pointed at that run)."""
    from shipyard.pipeline import run
    from shipyard.recipe import load_recipe

    shared_file("semeion_handwritten_digits.npz")
    runs = tmp_path_factory.mktemp("runs")
    semeion = run(EXAMPLES / "semeion_cnn.yaml", runs_dir=runs, track=False, progress=False)
    recipe = load_recipe(EXAMPLES / "digits_transfer.yaml")
    recipe.model.init_from = str(semeion.path)
    return semeion, run(recipe, runs_dir=runs, track=False, progress=False)
