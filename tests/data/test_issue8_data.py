"""Issue 8, before any training: splits that match the data, identifiers, given test files, the regression checks.

Every dataset is rebuilt from the issue's description (``tests/described.py``)
and written to a real file; the expected values are the correct ones.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import described
from shipyard.cli import app
from shipyard.data.profile import row_hash
from shipyard.errors import DataError, RecipeError
from shipyard.evaluation.cv import cv_folds
from shipyard.recipe import load_recipe, recipe_from_dict
from shipyard.stages.prepare import load_and_split


def prepare(tmp_path, data, **sections):
    return load_and_split(recipe_from_dict({"name": "t", "data": data, **sections}, base_dir=tmp_path))


def codes(profile):
    out: dict[str, list] = {}
    for f in profile["findings"]:
        out.setdefault(f["code"], []).append(f)
    return out


def sides(split, n):
    side = np.full(n, "", dtype=object)
    for part in ("train", "validation", "test"):
        side[getattr(split, part)] = part
    return side


# --- Item 1: legitimately repeated rows -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def passengers_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("titanic") / "titanic.csv"
    described.passengers().to_csv(path, index=False)
    return path


def test_repeated_observations_are_split_like_any_row_and_the_profile_says_why(passengers_csv):
    prepared = prepare(passengers_csv.parent, {"source": passengers_csv.name, "target": "survived"})
    sizes = prepared.split.sizes()
    # About 65/15/20 of the 1,316 rows, as asked, instead of 1003/44/269.
    assert abs(sizes["test"] - 0.2 * 1316) <= 3 and abs(sizes["validation"] - 0.15 * 1316) <= 3
    split = prepared.profile["dataset"]["split"]["duplicates"]
    assert split["policy"] == "allow" and split["chosen_by"] == "data"
    assert split["distinct_rows"] == 12 and split["repeated_rows"] == 1304
    assert "repeated observations" in split["reason"]
    found = codes(prepared.profile)
    assert "data.split.duplicates: allow (chosen from the data)" in found["split_duplicates"][0]["message"]
    # Every test combination occurs in training: nothing for the network to meet for the first time.
    overlap = prepared.profile["dataset"]["overlap"]
    assert overlap["test_rows_with_unseen_inputs"] == 0 and "unseen_combinations" not in found
    assert overlap["test_rows_identical_to_training"] == sizes["test"]
    assert prepared.groups is None


def test_grouping_repeated_observations_is_flagged_as_unseen_combinations(passengers_csv):
    prepared = prepare(passengers_csv.parent, {"source": passengers_csv.name, "target": "survived", "split": {"duplicates": "group"}})
    found = codes(prepared.profile)
    assert found["unseen_combinations"][0]["severity"] == "warning"
    assert f"{prepared.split.sizes()['test']} of {prepared.split.sizes()['test']} test rows" in found["unseen_combinations"][0]["message"]
    hashes = row_hash(prepared.frame, ["class", "age", "sex"])
    side = sides(prepared.split, len(hashes))
    assert pd.DataFrame({"h": hashes, "s": side}).groupby("h")["s"].nunique().max() == 1


def test_accidental_copies_are_kept_together_by_default(tmp_path):
    """breast_cancer with 12 copied records: chance cannot explain them, so auto chooses group."""
    from .conftest import breast_cancer_frame

    frame = breast_cancer_frame()
    frame = pd.concat([frame, frame.iloc[:12]], ignore_index=True)
    (tmp_path / "copies.csv").write_text(frame.to_csv(index=False), encoding="utf-8")
    prepared = prepare(tmp_path, {"source": "copies.csv", "target": "diagnosis"})
    info = prepared.profile["dataset"]["split"]["duplicates"]
    assert info["policy"] == "group" and info["repeated_rows"] == 12 and info["chance_repeats"] == 0
    assert prepared.profile["dataset"]["duplicate_groups_straddling_split"] == 0
    # Item 12: the duplicate rows are named, not only counted (1-based data rows).
    message = codes(prepared.profile)["duplicate_rows"][0]["message"]
    assert "12 exact duplicate row(s), e.g. row 570 = row 1, row 571 = row 2" in message


def test_choose_duplicates_rule():
    from shipyard.data.split import choose_duplicates

    rng = np.random.default_rng(0)
    discrete = pd.DataFrame({"a": rng.choice(list("xy"), 500), "b": rng.choice(list("uvw"), 500)})
    assert choose_duplicates(discrete, ["a", "b"])["policy"] == "allow"
    continuous = pd.DataFrame({"a": rng.normal(size=300)})
    copies = pd.concat([continuous, continuous.iloc[:30]], ignore_index=True)
    assert choose_duplicates(copies, ["a"])["policy"] == "group"
    assert choose_duplicates(copies, ["a"], "allow")["policy"] == "allow"
    assert choose_duplicates(continuous, ["a"])["reason"].startswith("no two rows")


def test_holdout_outside_the_cv_interval_is_a_finding():
    """Item 1's contradiction: holdout AUC 0.263 / accuracy 0.264 against 5-fold CV 0.83 / 0.79."""
    from shipyard.evaluation.cv import compare_holdout

    cv = {"k": 5, "mean": {"accuracy": 0.79, "roc_auc": 0.83}, "std": {"accuracy": 0.02, "roc_auc": 0.03}}
    result = compare_holdout(cv, {"accuracy": 0.264, "roc_auc": 0.263}, "accuracy")
    assert not result["metrics"]["accuracy"]["agree"] and not result["metrics"]["roc_auc"]["agree"]
    assert "accuracy 0.264 vs CV 0.790" in result["findings"][0]
    assert compare_holdout(cv, {"accuracy": 0.78, "roc_auc": 0.84}, "accuracy")["findings"] == []


# --- Item 2: entities straddling the split ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def panel_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("panel") / "panel.csv"
    described.panel().to_csv(path, index=False)
    return path


@pytest.mark.parametrize("task,target", [("regression", "wage"), ("classification", "union")])
def test_entity_id_is_detected_and_its_straddling_reported(panel_csv, task, target):
    prepared = prepare(panel_csv.parent, {"source": panel_csv.name, "target": target}, task=task)
    entity = codes(prepared.profile)["entity_column"][0]
    assert entity["column"] == "nr" and entity["severity"] == "warning"
    assert "545 values, 8.0 rows each" in entity["message"] and "100% of the test split's entities" in entity["message"]
    assert "data.split.group: nr" in entity["hint"]
    assert prepared.profile["dropped_columns"]["nr"] == "identifier"  # an id is not a feature


@pytest.mark.parametrize("task,target", [("regression", "wage"), ("classification", "union")])
def test_split_group_keeps_every_person_on_one_side_of_every_split(panel_csv, task, target):
    recipe = recipe_from_dict(
        {"name": "p", "task": task, "data": {"source": panel_csv.name, "target": target, "split": {"group": "nr"}}, "evaluate": {"cv": 5}},
        base_dir=panel_csv.parent,
    )
    prepared = load_and_split(recipe)
    nr = prepared.frame["nr"].to_numpy()
    parts = {p: set(nr[getattr(prepared.split, p)]) for p in ("train", "validation", "test")}
    assert not parts["train"] & parts["test"] and not parts["train"] & parts["validation"] and not parts["validation"] & parts["test"]
    assert "nr" not in prepared.features and prepared.profile["dropped_columns"]["nr"] == "split group (data.split.group)"
    assert prepared.profile["dataset"]["overlap"]["test_groups_in_training"] == 0
    assert "entity_column" not in codes(prepared.profile)
    # The CV folds, and the validation rows carved from each fold's training rows, hold disjoint persons too.
    from shipyard.data.split import grouped_holdout
    from shipyard.tasks import get_task

    for rest, test in cv_folds(recipe, prepared.y, prepared.labels, prepared.groups):
        assert not set(nr[rest]) & set(nr[test])
        train_rows, val_rows = grouped_holdout(rest, get_task(task).strata(prepared.y[rest]), prepared.groups, 0.15 / 0.8, 0)
        assert not set(nr[train_rows]) & set(nr[val_rows])
    # Stratified where possible: the test split's class balance is close to the whole data's.
    if task == "classification":
        assert abs(prepared.y[prepared.split.test].mean() - prepared.y.mean()) < 0.05


def test_split_group_errors_name_the_column(panel_csv, tmp_path):
    with pytest.raises(DataError, match="data.split.group: column 'person' not found"):
        prepare(panel_csv.parent, {"source": panel_csv.name, "target": "wage", "split": {"group": "person"}}, task="regression")
    with pytest.raises(RecipeError, match="split.group: 'wage' is the target column"):
        recipe_from_dict({"name": "p", "data": {"source": "x.csv", "target": "wage", "split": {"group": "wage"}}})


# --- Item 3: a given test file ----------------------------------------------------------------------------------------


def test_given_test_file_is_the_test_split_read_and_checked_like_the_source(tmp_path):
    train, test = described.pima_pair(tmp_path)
    prepared = prepare(tmp_path, {"source": train.name, "target": "type", "test": test.name, "positive_class": "Yes"})
    sizes = prepared.split.sizes()
    assert sizes["test"] == 332 and sizes["train"] + sizes["validation"] == 200
    assert np.array_equal(prepared.split.test, np.arange(200, 532))
    assert abs(sizes["validation"] - 0.15 * 200) <= 2
    dataset = prepared.profile["dataset"]
    assert dataset["split"]["given"] == {"test": "pima_test.csv"}
    assert dataset["split"]["files"] == [{"role": "data.source", "rows": 200}, {"role": "data.test", "rows": 332}]
    assert prepared.labels == ["No", "Yes"] and prepared.positive_index == 1


def test_schema_differences_of_a_given_file_are_named(tmp_path):
    train, test = described.pima_pair(tmp_path)
    frame = pd.read_csv(test)
    frame.drop(columns=["skin"]).to_csv(tmp_path / "no_skin.csv", index=False)
    with pytest.raises(DataError, match=r"data.test no_skin.csv: column\(s\) 'skin' of data.source are missing"):
        prepare(tmp_path, {"source": train.name, "target": "type", "test": "no_skin.csv"})
    frame.assign(bp=np.where(np.arange(len(frame)) % 2, "high", "low")).to_csv(tmp_path / "text_bp.csv", index=False)
    with pytest.raises(DataError, match="data.test text_bp.csv: column 'bp' is numeric in data.source but holds text here, e.g. 'low' \\(row 1\\)"):
        prepare(tmp_path, {"source": train.name, "target": "type", "test": "text_bp.csv"})
    frame.assign(type=frame["type"].str.lower()).to_csv(tmp_path / "lower.csv", index=False)
    with pytest.raises(DataError, match="data.test lower.csv: target column 'type' holds label\\(s\\) 'no', 'yes' that data.source does not have"):
        prepare(tmp_path, {"source": train.name, "target": "type", "test": "lower.csv"})
    # A few non-numbers in the test file are read as missing and reported, naming the file.
    frame.assign(glu=frame["glu"].astype(object).where(np.arange(len(frame)) != 4, "n.a.")).to_csv(tmp_path / "dirty.csv", index=False)
    prepared = prepare(tmp_path, {"source": train.name, "target": "type", "test": "dirty.csv"})
    mixed = [f for f in prepared.profile["findings"] if f["code"] == "mixed_types"]
    assert mixed and mixed[0]["message"].startswith("data.test: column 'glu'") and "'n.a.' (row 5)" in mixed[0]["message"]


def test_given_validation_and_test_files(tmp_path):
    train, test = described.pima_pair(tmp_path)
    described.pima(60, 3).assign(clinic="north").to_csv(tmp_path / "val.csv", index=False)
    prepared = prepare(tmp_path, {"source": train.name, "target": "type", "validation": "val.csv", "test": test.name})
    assert prepared.split.sizes() == {"train": 200, "validation": 60, "test": 332}
    extra = codes(prepared.profile)["extra_columns"][0]["message"]
    assert extra == "data.validation: column(s) 'clinic' are not in data.source and are ignored"


# --- Item 4: integer identifiers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_member_number_is_an_identifier_dropped_by_default(tmp_path, task):
    from .conftest import breast_cancer_frame

    frame = breast_cancer_frame()
    rng = np.random.default_rng(0)
    frame.insert(0, "member_no", rng.permutation(np.arange(100000, 100000 + len(frame))))
    target = "diagnosis" if task == "classification" else "worst area"
    frame.to_csv(tmp_path / "members.csv", index=False)
    prepared = prepare(tmp_path, {"source": "members.csv", "target": target}, task=task)
    assert prepared.profile["columns"]["member_no"]["kind"] == "identifier"
    assert prepared.profile["dropped_columns"]["member_no"] == "identifier"
    assert "member_no" not in prepared.features
    # Named like an id, an integer column is one even when it does not count up: 'patient_nr' 1..n shuffled.
    frame["patient_nr"] = rng.permutation(len(frame)) * 7 + 3
    frame.to_csv(tmp_path / "members.csv", index=False)
    prepared = prepare(tmp_path, {"source": "members.csv", "target": target}, task=task)
    assert prepared.profile["dropped_columns"]["patient_nr"] == "identifier"
    # An integer measurement is not: 'worst area' rounded stays a feature.
    frame["area_int"] = frame["mean radius"].mul(100).round().astype(int)
    frame.to_csv(tmp_path / "members.csv", index=False)
    assert prepare(tmp_path, {"source": "members.csv", "target": target}, task=task).profile["columns"]["area_int"]["kind"] == "numeric"


# --- Item 6: JSON Lines code column mixing numbers and text --------------------------------------------------------


def test_jsonl_code_column_mixing_numbers_and_text_gets_findings(tmp_path):
    described.code_jsonl(tmp_path / "codes.jsonl")
    prepared = prepare(tmp_path, {"source": "codes.jsonl", "target": "label"})
    found = codes(prepared.profile)
    mixed = found["mixed_types"][0]
    assert mixed["column"] == "code" and "1001 (row 1)" in mixed["message"] and "'guitar' (row 3)" in mixed["message"]
    spelling = found["number_spellings"][0]
    assert "1001 (row 1) and '1001.0' (row 8) are the same number written differently" in spelling["message"]
    assert [c.kind for c in prepared.schema] == ["categorical", "numeric"]
    assert set(prepared.model_input["code"]) == {"1001", "1002", "guitar", "drum", "", "1001.0"}


# --- Item 10: regression gets the same checks ----------------------------------------------------------------------------


def test_regression_profile_command_works_on_the_example(tmp_path):
    out = tmp_path / "p.json"
    result = CliRunner().invoke(app, ["profile", str(described.Path(__file__).resolve().parents[2] / "examples" / "diabetes.yaml"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    profile = json.loads(out.read_text())
    assert profile["dataset"]["task"] == "regression" and profile["dataset"]["split"]["duplicates"]["policy"] == "group"


def test_regression_column_equal_to_ten_times_the_target_is_an_error(tmp_path):
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame["progression_x10"] = frame["target"] * 10
    frame.to_csv(tmp_path / "leak.csv", index=False)
    recipe = {"name": "d", "task": "regression", "data": {"source": "leak.csv", "target": "target"}}
    with pytest.raises(DataError, match=r"error \(leakage\): column 'progression_x10' alone predicts the target \(\|Spearman rho\| 1.000"):
        load_and_split(recipe_from_dict(recipe, base_dir=tmp_path))


def test_regression_duplicates_never_straddle_and_identifiers_and_groups_apply(tmp_path):
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame = pd.concat([frame, frame.iloc[:40]], ignore_index=True)  # 40 copied records
    frame.insert(0, "record_no", np.random.default_rng(1).permutation(np.arange(5000, 5000 + len(frame))))
    frame.to_csv(tmp_path / "dups.csv", index=False)
    prepared = prepare(tmp_path, {"source": "dups.csv", "target": "target"}, task="regression")
    assert prepared.profile["dataset"]["split"]["duplicates"]["policy"] == "group"
    features = [c for c in frame.columns if c not in ("target", "record_no")]
    hashes = row_hash(prepared.frame, features)
    side = sides(prepared.split, len(hashes))
    assert pd.DataFrame({"h": hashes, "s": side}).groupby("h")["s"].nunique().max() == 1
    assert prepared.profile["dataset"]["overlap"]["test_rows_identical_to_training"] == 0
    assert prepared.profile["dropped_columns"] == {"record_no": "identifier"}


# --- Item 12: small things ---------------------------------------------------------------------------------------------


def test_unquoted_yes_in_yaml_gets_the_hint_to_quote_it(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: pima\ndata:\n  source: pima_train.csv\n  target: type\n  positive_class: Yes\n", encoding="utf-8")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert 'data.positive_class: got the YAML boolean true' in str(info.value) and 'quote it, e.g. positive_class: "Yes"' in str(info.value)


@pytest.mark.parametrize(
    "imbalance,message",
    [
        ({"sampler": "smote", "k_neighbors": 5}, "imbalance.sampler 'smote': class 'rare' has 4 training row(s), but k_neighbors=5 needs at least 6"),
        ({"sampler": "smotenc"}, "imbalance.sampler 'smotenc': every input column is categorical ('class', 'age', 'sex'); SMOTE-NC needs numeric columns too"),
    ],
)
def test_validate_refuses_a_sampler_that_would_fail_on_the_data(tmp_path, passengers_csv, imbalance, message):
    if imbalance["sampler"] == "smote":
        rng = np.random.default_rng(0)
        frame = pd.DataFrame({"x": rng.normal(size=100), "y": ["common"] * 94 + ["rare"] * 6})
        frame.to_csv(tmp_path / "d.csv", index=False)
        data = {"source": "d.csv", "target": "y"}
    else:
        (tmp_path / "titanic.csv").write_text(passengers_csv.read_text())
        data = {"source": "titanic.csv", "target": "survived"}
    path = tmp_path / "r.yaml"
    import yaml

    path.write_text(yaml.safe_dump({"name": "s", "data": data, "imbalance": imbalance}), encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and message in " ".join(result.output.split())


def test_cross_validation_with_a_given_test_file_folds_the_source_rows_only(tmp_path):
    """The given test file is a population of its own: CV over data.source, the holdout on the file, then compared."""
    from shipyard.evaluation.cv import cross_validate

    train, test = described.pima_pair(tmp_path)
    recipe = recipe_from_dict(
        {"name": "p", "data": {"source": train.name, "target": "type", "test": test.name}, "train": {"epochs": 3}, "evaluate": {"cv": 4}},
        base_dir=tmp_path,
    )
    result = cross_validate(recipe, load_and_split(recipe))
    assert sum(f["test"] for f in result["folds"]) == 200
