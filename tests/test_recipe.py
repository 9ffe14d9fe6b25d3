"""Recipe validation: defaults, and one-line errors that name the key."""

from __future__ import annotations

import pytest

from shipyard.errors import RecipeError
from shipyard.recipe import load_recipe, recipe_from_dict

MINIMAL = {"name": "demo", "data": {"source": "sklearn:iris", "target": "target"}}


def test_minimal_recipe_gets_working_defaults():
    recipe = recipe_from_dict(MINIMAL)
    assert recipe.train.epochs >= 1
    assert recipe.model.type == "mlp"
    assert recipe.data.split.test == 0.2
    resolved = recipe.resolved()
    assert resolved["train"]["early_stopping"]["patience"] == 10
    assert "base_dir" not in resolved


def _error(raw) -> str:
    with pytest.raises(RecipeError) as info:
        recipe_from_dict(raw, source="r.yaml")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_bound_violation_names_key_and_value():
    raw = {**MINIMAL, "train": {"epochs": 0}}
    assert _error(raw) == "r.yaml: train.epochs: must be >= 1, got 0"


def test_unknown_key_suggests_close_match():
    raw = {**MINIMAL, "train": {"epoch": 5}}
    assert "train.epoch: unknown key (did you mean 'epochs'?)" in _error(raw)


def test_unknown_top_level_key_lists_close_match():
    raw = {**MINIMAL, "trian": {}}
    assert "did you mean 'train'?" in _error(raw)


def test_wrong_type_names_key():
    raw = {**MINIMAL, "train": {"batch_size": "big"}}
    message = _error(raw)
    assert message.startswith("r.yaml: train.batch_size:") and "'big'" in message


def test_literal_lists_allowed_values():
    raw = {**MINIMAL, "model": {"activation": "sigmoid"}}
    message = _error(raw)
    assert "model.activation: must be one of" in message and "'relu'" in message


def test_missing_required_key():
    assert "data.target: required key is missing" in _error({"name": "x", "data": {"source": "a.csv"}})


def test_split_must_leave_training_rows():
    raw = {**MINIMAL, "data": {**MINIMAL["data"], "split": {"validation": 0.5, "test": 0.45}}}
    assert "data.split: validation + test must be < 0.9" in _error(raw)


def test_integer_positive_class_means_that_label():
    raw = {**MINIMAL, "data": {**MINIMAL["data"], "positive_class": 1}}
    assert recipe_from_dict(raw).data.positive_class == "1"


def test_load_recipe_file_errors(tmp_path):
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(RecipeError, match="not valid YAML at line"):
        load_recipe(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    with pytest.raises(RecipeError, match="must be a YAML mapping"):
        load_recipe(scalar)


def test_relative_data_path_resolves_against_recipe_folder(tmp_path):
    path = tmp_path / "sub" / "r.yaml"
    path.parent.mkdir()
    path.write_text("name: x\ndata: {source: d.csv, target: y}\n")
    assert load_recipe(path).base_dir == path.parent.resolve()
