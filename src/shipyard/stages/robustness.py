"""Robustness stage: accuracy of a text or image model under perturbed inputs, as curves (``robustness.json``).

Text: character-level typos and word deletion at increasing rates
(:mod:`shipyard.modalities.text.perturb`). Images: FGSM and PGD within the
pixel range at increasing L-infinity budgets
(:mod:`shipyard.modalities.image.attacks`). Tabular models are left to the
attack stage. Re-runnable on a finished run: ``shipyard robustness RUN``.
"""

from __future__ import annotations

from shipyard.data.prepared import Prepared
from shipyard.errors import RecipeError
from shipyard.modalities import modality_of
from shipyard.recipe import Recipe
from shipyard.stages.base import RunContext, Stage, register_stage

ROBUSTNESS = "robustness.json"


@register_stage
class RobustnessStage(Stage):
    """Perturbation curves of text and image models (``robustness.enabled``)."""

    name = "robustness"
    section = "robustness"
    order = 75
    writes = (ROBUSTNESS,)
    rerunnable = True
    message = "measuring accuracy under perturbed inputs"

    def enabled(self, recipe: Recipe) -> bool:
        return recipe.robustness.enabled and modality_of(recipe) is not None

    def check(self, recipe: Recipe, data: Prepared) -> None:
        spec = recipe.robustness
        if modality_of(recipe).name == "text" and not spec.rates:
            raise RecipeError("robustness.rates: give at least one rate", "e.g. [0.0, 0.1, 0.2]")
        if modality_of(recipe).name == "image" and not spec.epsilons:
            raise RecipeError("robustness.epsilons: give at least one epsilon", "e.g. [0.0, 0.05, 0.1]")

    def run(self, ctx: RunContext) -> None:
        ctx.run_dir.write_json(ROBUSTNESS, modality_of(ctx.recipe).robustness(ctx))
