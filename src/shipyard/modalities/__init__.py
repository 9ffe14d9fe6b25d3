"""Input modalities: how a model kind's input is read, checked, prepared, exported, explained and served.

A model kind declares the input it takes (``ModelSpec.input``, also
:attr:`shipyard.models.registry.ModelKind.input`): ``tabular`` (columns of a
table: the path in :mod:`shipyard.data`), ``text`` (a column of raw text) or
``image`` (arrays of pixels). The task stays what it is: text and image
classification are :class:`~shipyard.tasks.classification.Classification`
over another input. A non-tabular modality is one
:class:`~shipyard.modalities.base.Modality` object; the shared code calls it
through small hooks where the tabular path would run (loading and splitting,
fitting and saving the preparation, the datasets the trainer iterates,
baselines, export, explanations, perturbation curves) and the bundle's
manifest names the input, so the predictor and the server decode records of
that modality (:mod:`shipyard.modalities.predictors`).

This module is torch-free: the recipe and the server import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.errors import RecipeError

if TYPE_CHECKING:  # pragma: no cover
    from shipyard.modalities.base import Modality
    from shipyard.recipe import Recipe

TABULAR = "tabular"
INPUTS = (TABULAR, "text", "image")
"""Every input modality a model kind may declare."""

_MODALITIES: dict[str, Any] = {}


def input_of(recipe: "Recipe") -> str:
    """The input modality of the recipe's model kind (``tabular``, ``text`` or ``image``)."""
    return type(recipe.model).input


def get_modality(name: str) -> "Modality":
    """The modality object for a non-tabular input (imported on first use).

    Raises
    ------
    KeyError
        For ``tabular`` or an unknown name.
    """
    if name not in _MODALITIES:
        if name == "text":
            from shipyard.modalities.text.modality import TextModality

            _MODALITIES[name] = TextModality()
        elif name == "image":
            from shipyard.modalities.image.modality import ImageModality

            _MODALITIES[name] = ImageModality()
        else:
            raise KeyError(name)
    return _MODALITIES[name]


def modality_of(recipe: "Recipe") -> "Modality | None":
    """The recipe's non-tabular modality, or None when the model takes a table (the :mod:`shipyard.data` path)."""
    name = input_of(recipe)
    return None if name == TABULAR else get_modality(name)


def check_recipe(recipe: "Recipe") -> None:
    """Refuse recipe keys that the model kind's input modality (or task) cannot honour.

    Raises
    ------
    RecipeError
        Naming the key and what would fix it.
    """
    spec = type(recipe.model)
    name = spec.input
    if recipe.task not in spec.tasks:
        raise RecipeError(
            f"model.type '{recipe.model.type}' takes {name} input for task {' or '.join(spec.tasks)}, not '{recipe.task}'",
            f"use task: {spec.tasks[0]}, or a tabular model kind",
        )
    data = recipe.data
    if name != "text" and data.text is not None:
        raise RecipeError(f"data.text: a text column needs a text model kind, not '{recipe.model.type}'", "use model.type: transformer")
    if name != "image" and data.images is not None:
        raise RecipeError(f"data.images: image data needs an image model kind, not '{recipe.model.type}'", "use model.type: cnn")
    if name != "image" and recipe.prepare.image_augment.enabled:
        raise RecipeError(f"prepare.image_augment: augments images, but model.type '{recipe.model.type}' takes {name} input", "remove prepare.image_augment")
    if name == TABULAR:
        if recipe.evaluate.from_scratch:
            raise RecipeError("evaluate.from_scratch: a tabular model starts from random weights already", "remove evaluate.from_scratch")
        if data.split.train_fraction != 1.0:
            raise RecipeError("data.split.train_fraction: applies to text and image inputs", "use evaluate.learning_curve to fit on fractions of a table")
        return
    from shipyard.modalities.base import is_pretrained

    if recipe.evaluate.from_scratch and not is_pretrained(recipe):
        raise RecipeError("evaluate.from_scratch: the model starts from random weights already", "remove evaluate.from_scratch, or start from pretrained weights")
    if data.features is not None:
        raise RecipeError(f"data.features: a {name} model reads {'data.text' if name == 'text' else 'the images'}, not table columns", "remove data.features")
    if name == "text" and data.text is None:
        raise RecipeError("data.text: model.type 'transformer' reads a column of raw text; name it", "add data.text: COLUMN")
    if name == "text" and data.text == data.target:
        raise RecipeError(f"data.text: '{data.text}' is also data.target", "name the text column and the label column")
    tabular_only = {
        "prepare.augment": recipe.prepare.augment.method != "none",
        "prepare.reduce": recipe.prepare.reduce.method != "none",
        "imbalance.sampler": recipe.imbalance.sampler != "none",
        "evaluate.cv_group": recipe.evaluate.cv_group is not None,
        "evaluate.cv": recipe.evaluate.cv is not None,
        "evaluate.learning_curve": recipe.evaluate.learning_curve is not None,
        "train.adversarial": recipe.train.adversarial is not None,
        "train.privacy": recipe.train.privacy is not None,
    }
    for key, used in tabular_only.items():
        if used:
            hint = "use imbalance.class_weight: balanced" if key == "imbalance.sampler" else f"remove {key}"
            if key == "prepare.augment" and name == "image":
                hint = "use prepare.image_augment"
            if key in ("train.adversarial", "train.privacy"):
                what = "adversarial training perturbs standardised table features" if key == "train.adversarial" else "DP-SGD is wired for table models only"
                raise RecipeError(f"{key}: not available for {name} input yet ({what})", f"remove {key}")
            if key in ("evaluate.cv", "evaluate.learning_curve"):
                raise RecipeError(f"{key}: not available for {name} input yet (folds would have to keep near-duplicates together)", f"remove {key}")
            raise RecipeError(f"{key}: works on table columns; model.type '{recipe.model.type}' takes {name} input", hint)


__all__ = ["INPUTS", "TABULAR", "check_recipe", "get_modality", "input_of", "modality_of"]
