"""The recipe's compress section: absent means no compression, `{}` means every default, mistakes name the key."""

from __future__ import annotations

import pytest

from shipyard.errors import RecipeError
from shipyard.recipe import recipe_from_dict

MINIMAL = {"name": "demo", "data": {"source": "sklearn:iris", "target": "target"}}


def test_absent_is_off_and_an_empty_section_takes_every_default():
    from shipyard.stages import get_stage

    assert recipe_from_dict(MINIMAL).compress is None
    assert not get_stage("compress").enabled(recipe_from_dict(MINIMAL))
    spec = recipe_from_dict({**MINIMAL, "compress": {}}).compress
    assert spec.formats == ["int8_dynamic", "int8_static", "fp16"] and spec.prune.amount == 0.5 and spec.distill.students == [[128]]
    assert spec.budget.metric is None and spec.budget.max_drop == 0.01 and spec.budget.objective == "latency"
    again = recipe_from_dict(recipe_from_dict({**MINIMAL, "compress": {"prune": None}}).resolved())  # as a run's recipe.yaml is read back
    assert again.compress.prune is None and again.compress.distill is not None


@pytest.mark.parametrize(
    "section, message",
    [
        ({"budget": {"objectiv": "size"}}, "compress.budget.objectiv: unknown key (did you mean 'objective'?)"),
        ({"prune": {"amont": 0.3}}, "compress.prune.amont: unknown key (did you mean 'amount'?)"),
        ({"prune": {"amount": 1.0}}, "compress.prune.amount: must be < 1.0, got 1.0"),
        ({"distill": {"students": [[0]]}}, "compress.distill: student hidden sizes must be >= 1, got [0]"),
        ({"formats": ["int4"]}, "compress.formats.0: must be one of 'int8_dynamic', 'int8_static' or 'fp16', got 'int4'"),
        ({"budget": {"objective": "speed"}}, "compress.budget.objective: must be one of 'latency' or 'size', got 'speed'"),
    ],
)
def test_mistakes_name_the_key(section, message):
    with pytest.raises(RecipeError) as info:
        recipe_from_dict({**MINIMAL, "compress": section}, source="r.yaml")
    assert str(info.value) == f"r.yaml: {message}"


def test_a_budget_metric_must_be_one_the_task_reports(breast_cancer):
    from shipyard.stages.compress import check_compress

    recipe, prepared = breast_cancer
    recipe = recipe.model_copy(update={"compress": recipe_from_dict({**MINIMAL, "compress": {"budget": {"metric": "rmse"}}}).compress})
    with pytest.raises(RecipeError, match="compress.budget.metric: 'rmse' is not a test metric of this classification task .*f1, roc_auc"):
        check_compress(recipe, prepared)
    recipe.compress.budget.metric = "roc_auc"
    check_compress(recipe, prepared)
