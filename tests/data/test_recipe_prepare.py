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
