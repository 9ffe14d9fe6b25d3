"""Loading, checking and splitting data: real files, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shipyard.data.checks import select_columns
from shipyard.data.loading import load_table
from shipyard.data.split import stratified_split
from shipyard.errors import DataError


@pytest.mark.parametrize("name,rows,classes", [("breast_cancer", 569, 2), ("wine", 178, 3), ("iris", 150, 3), ("digits", 1797, 10)])
def test_builtin_datasets(name, rows, classes):
    frame = load_table(f"sklearn:{name}")
    assert len(frame) == rows
    assert frame["target"].nunique() == classes


def test_breast_cancer_labels_are_class_names():
    assert set(load_table("sklearn:breast_cancer")["target"]) == {"malignant", "benign"}


def test_csv_parquet_jsonl_load_the_same_table(tmp_path):
    frame = pd.DataFrame({"a": [1.5, 2.0, np.nan], "b": ["x", "y", "z"], "y": [0, 1, 0]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    frame.to_json(tmp_path / "t.jsonl", orient="records", lines=True)
    for name in ("t.csv", "t.parquet", "t.jsonl"):
        loaded = load_table(name, base_dir=tmp_path)
        assert list(loaded.columns) == ["a", "b", "y"], name
        assert loaded["a"].isna().sum() == 1
        assert list(loaded["b"]) == ["x", "y", "z"]


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="missing.csv: data file not found"):
        load_table("missing.csv", base_dir=tmp_path)


def test_empty_and_header_only_csv(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty.csv: the file is empty"):
        load_table(str(tmp_path / "empty.csv"))
    (tmp_path / "header.csv").write_text("a,b,y\n")
    with pytest.raises(DataError, match="header.csv: no data rows"):
        load_table(str(tmp_path / "header.csv"))


def test_unreadable_csv(tmp_path):
    (tmp_path / "latin.csv").write_bytes("a,y\ncaf\xe9,1\n".encode("latin-1"))
    assert list(load_table(str(tmp_path / "latin.csv"))["a"]) == ["caf\xe9"]
    (tmp_path / "ragged.csv").write_text("a,y\n1,2\n3,4,5\n")
    with pytest.raises(DataError, match="ragged.csv: cannot read CSV"):
        load_table(str(tmp_path / "ragged.csv"))


def test_unknown_kind_and_unknown_builtin(tmp_path):
    (tmp_path / "t.xlsx").write_bytes(b"x")
    with pytest.raises(DataError, match="unknown file kind '.xlsx'"):
        load_table(str(tmp_path / "t.xlsx"))
    with pytest.raises(DataError, match="sklearn:mnist: unknown built-in dataset"):
        load_table("sklearn:mnist")


def test_target_absent_lists_columns():
    frame = pd.DataFrame({"a": [1, 2], "b": [3, 4]})
    with pytest.raises(DataError, match="target column 'label' not found; columns are: a, b"):
        select_columns(frame, "label", None, "d.csv")


def _read_target(frame: pd.DataFrame, task: str = "classification"):
    """The task's own check of the target column (what select_columns leaves to the task)."""
    from shipyard.recipe import recipe_from_dict
    from shipyard.tasks import get_task

    recipe = recipe_from_dict({"name": "x", "task": task, "data": {"source": "d.csv", "target": "y"}})
    return get_task(task).read_target(frame["y"], recipe)


def test_single_class_target():
    frame = pd.DataFrame({"a": [1, 2, 3], "y": ["yes", "yes", "yes"]})
    with pytest.raises(DataError, match="single class \\('yes'\\)"):
        _read_target(frame)


def test_entirely_empty_feature_column():
    frame = pd.DataFrame({"a": [1, 2, 3], "blank": [np.nan] * 3, "y": [0, 1, 0]})
    with pytest.raises(DataError, match="'blank' are entirely empty"):
        select_columns(frame, "y", None, "d.csv")


def test_split_is_stratified_disjoint_and_seeded():
    y = pd.Series(np.repeat([0, 1, 2], [100, 60, 40]))
    split = stratified_split(y, validation=0.15, test=0.2, seed=3)
    parts = [split.train, split.validation, split.test]
    assert sum(map(len, parts)) == len(y)
    assert len(np.intersect1d(split.train, split.test)) == 0 and len(np.intersect1d(split.validation, split.test)) == 0
    for part in parts:
        share = np.bincount(y.iloc[part], minlength=3) / len(part)
        assert np.allclose(share, [0.5, 0.3, 0.2], atol=0.06)
    again = stratified_split(y, validation=0.15, test=0.2, seed=3)
    assert np.array_equal(split.test, again.test)


def test_split_refuses_a_class_too_small():
    y = pd.Series([0] * 20 + [1] * 2)
    with pytest.raises(DataError, match="class 1 has 2 row"):
        stratified_split(y, 0.15, 0.2, seed=0)


def test_continuous_target_is_refused_for_classification():
    frame = pd.DataFrame({"a": range(50), "y": np.linspace(0.5, 99.3, 50)})
    with pytest.raises(DataError, match="target column 'y' holds continuous values \\(50 distinct"):
        _read_target(frame)
    assert _read_target(frame, "regression").y.dtype == np.float64
