"""evaluate.cv: k-fold with preparation refitted per fold, grouped folds, and the errors users can cause."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import DataError
from shipyard.evaluation.cv import cross_validate, cv_folds
from shipyard.recipe import recipe_from_dict
from shipyard.stages.prepare import load_and_split



pytestmark = pytest.mark.slow

def _recipe(tmp_path, frame, **evaluate):
    frame.to_csv(tmp_path / "d.csv", index=False)
    return recipe_from_dict(
        # x predicts y by construction here; the profile's leakage check would rightly stop the run.
        {"name": "cv", "data": {"source": "d.csv", "target": "y"}, "train": {"epochs": 5}, "evaluate": evaluate, "prepare": {"fail_on": []}},
        base_dir=tmp_path,
    )


def test_cv_on_wine_refits_per_fold_and_reports_mean_std():
    recipe = recipe_from_dict({"name": "w", "data": {"source": "sklearn:wine", "target": "target"}, "train": {"epochs": 8}, "evaluate": {"cv": 3}})
    prepared = load_and_split(recipe)
    result = cross_validate(recipe, prepared)
    assert result["k"] == 3 and len(result["folds"]) == 3
    tests = [f["test"] for f in result["folds"]]
    assert sum(tests) == len(prepared.frame)  # every row is a test row exactly once
    acc = [f["metrics"]["accuracy"] for f in result["folds"]]
    assert result["mean"]["accuracy"] == pytest.approx(np.mean(acc))
    assert result["std"]["accuracy"] == pytest.approx(np.std(acc, ddof=1))
    assert prepared.preprocessor is None  # the run's own preparation is untouched


def test_grouped_folds_keep_groups_together(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=120), "patient": np.repeat([f"p{i}" for i in range(20)], 6)})
    frame["y"] = np.where(frame["x"] > 0, "a", "b")
    recipe = _recipe(tmp_path, frame, cv=4, cv_group="patient")
    prepared = load_and_split(recipe)
    for train, test in cv_folds(recipe, prepared.y, prepared.labels, frame["patient"].to_numpy()):
        assert not set(frame["patient"].iloc[train]) & set(frame["patient"].iloc[test])


def test_cv_errors_name_the_class_and_the_group_column(tmp_path):
    from shipyard.pipeline import run

    frame = pd.DataFrame({"x": np.random.default_rng(1).normal(size=40), "y": ["common"] * 36 + ["rare"] * 4})
    recipe = _recipe(tmp_path, frame, cv=5)
    with pytest.raises(DataError, match="evaluate.cv: 5 folds need at least 5 rows of every class, but class 'rare' of column 'y' has 4"):
        run(recipe, runs_dir=tmp_path / "runs", track=False, progress=False)
    assert not (tmp_path / "runs").exists()  # checked before the run directory is made
    recipe = _recipe(tmp_path, frame, cv=3, cv_group="site")
    with pytest.raises(DataError, match="evaluate.cv_group: column 'site' not found"):
        run(recipe, runs_dir=tmp_path / "runs", track=False, progress=False)
