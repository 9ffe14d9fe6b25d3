"""Recipe sections of issue 3: defaults, misspelt keys and bad values give one-line errors."""

from __future__ import annotations

import pytest

from shipyard.errors import RecipeError
from shipyard.recipe import recipe_from_dict

BASE = {"name": "r", "data": {"source": "sklearn:breast_cancer", "target": "target"}}


def test_defaults_change_nothing_unless_asked():
    recipe = recipe_from_dict(BASE)
    assert recipe.prepare.fail_on == ["error"] and recipe.prepare.drop_duplicates is False
    assert recipe.imbalance.sampler == "none" and recipe.imbalance.threshold.objective == "none"
    assert recipe.prepare.reduce.method == "none" and recipe.prepare.augment.method == "none"


@pytest.mark.parametrize(
    "section, message",
    [
        ({"imbalance": {"threshold": {"objectve": "f1"}}}, "imbalance.threshold.objectve: unknown key (did you mean 'objective'?)"),
        ({"imbalance": {"sampler": "smot"}}, "imbalance.sampler: must be one of"),
        ({"prepare": {"reduce": {"metod": "pca"}}}, "prepare.reduce.metod: unknown key (did you mean 'method'?)"),
        ({"prepare": {"fail_on": ["fatal"]}}, "prepare.fail_on.0: must be one of"),
        ({"prepare": {"clip_quantile": 0.7}}, "prepare.clip_quantile: must be < 0.5"),
    ],
)
def test_bad_keys_and_values_name_the_key(section, message):
    with pytest.raises(RecipeError) as info:
        recipe_from_dict({**BASE, **section})
    assert message in info.value.one_line()


def test_a_class_too_rare_to_split_is_named_by_its_label_not_its_index(tmp_path):
    """Trial: y = x,z,x,x,... said "class 1 has 1 row(s)"; the class is 'z'. A numeric target with many values read as
    classes also gets the regression hint."""
    from shipyard.errors import DataError
    from shipyard.pipeline import check_inputs

    (tmp_path / "rare.csv").write_text("a,y\n" + "".join(f"{i},{'z' if i == 1 else 'x'}\n" for i in range(40)))
    with pytest.raises(DataError, match=r"target column 'y': class 'z' has 1 row\(s\)") as caught:
        check_inputs(recipe_from_dict({"name": "rare", "data": {"source": str(tmp_path / "rare.csv"), "target": "y"}}))
    assert "regression" not in str(caught.value.one_line())
    (tmp_path / "numeric.csv").write_text("a,y\n" + "".join(f"{i},{100 + i // 2 if i < 60 else 171}\n" for i in range(61)))
    with pytest.raises(DataError, match=r"class 171 has 1 row\(s\)") as caught:
        check_inputs(recipe_from_dict({"name": "numeric", "data": {"source": str(tmp_path / "numeric.csv"), "target": "y"}}))
    assert "set task: regression" in caught.value.one_line()


def test_a_free_text_column_gets_the_unseen_in_training_finding(tmp_path):
    """Trial: every SMS text of the test split was absent from training, and the profile said nothing (text was skipped)."""
    from shipyard.pipeline import check_inputs

    words = ["free", "call", "now", "win", "meet", "later", "home", "prize", "text", "me"]
    rows = [f"{i % 7},\"{' '.join(words[(i * k) % 10] for k in range(1, 9))} number {i}\",{'spam' if i % 3 == 0 else 'ham'}" for i in range(120)]
    (tmp_path / "sms.csv").write_text("n,message,label\n" + "\n".join(rows) + "\n")
    prepared = check_inputs(recipe_from_dict({"name": "sms", "data": {"source": str(tmp_path / "sms.csv"), "target": "label"}}))
    assert prepared.profile["columns"]["message"]["kind"] == "text"
    assert "message" in prepared.profile["dataset"]["overlap"]["test_categories_unseen_in_training"]
    assert any(f["code"] == "unseen_in_training" and f.get("column") == "message" for f in prepared.profile["findings"])
