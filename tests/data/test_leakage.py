"""Leakage guarantees of the prepare stage.

- every fitted statistic equals the one fitted on the training split alone;
- samplers and augmentation never touch validation or test rows;
- the ONNX graph applies exactly the scikit-learn transformation (1e-5).
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType

from shipyard.recipe import recipe_from_dict
from shipyard.schema import onnx_feed
from shipyard.stages.prepare import fit_preprocessing, load_and_split

RICH = {
    "prepare": {
        "missing_indicator": True,
        "clip_quantile": 0.02,
        "scaler": "quantile",
        "min_frequency": 20,
        "augment": {"method": "mixup", "multiplier": 0.5},
        "reduce": {"method": "kbest", "k": 8},
    },
    "imbalance": {"sampler": "smotenc", "k_neighbors": 3},
}


def make_recipe(path, target="diagnosis", **sections):
    raw = {"name": "t", "seed": 0, "data": {"source": str(path), "target": target}}
    raw.update(sections)
    return recipe_from_dict(raw)


def prepared_for(path, sections, corrupt=False):
    prepared = load_and_split(make_recipe(path, **sections))
    if corrupt:
        # Validation and test rows are replaced by nonsense: nothing fitted may change.
        frame = prepared.frame.copy()
        held_out = np.concatenate([prepared.split.validation, prepared.split.test])
        for col in prepared.schema:
            if col.kind == "numeric":
                frame.loc[held_out, col.name] = frame.loc[held_out, col.name] * 1000 + 7
            else:
                frame.loc[held_out, col.name] = "never-seen"
        prepared.frame = frame
    fit_preprocessing(make_recipe(path, **sections), prepared)
    return prepared


def test_fitted_statistics_ignore_validation_and_test_rows(mixed_csv):
    clean = prepared_for(mixed_csv, RICH)
    dirty = prepared_for(mixed_csv, RICH, corrupt=True)
    np.testing.assert_array_equal(clean.X["train"], dirty.X["train"])
    np.testing.assert_array_equal(clean.X_fit, dirty.X_fit)
    np.testing.assert_array_equal(clean.y_fit, dirty.y_fit)
    assert [c.categories for c in clean.schema] == [c.categories for c in dirty.schema]
    columns_clean = clean.preprocessor.named_steps["columns"]
    columns_dirty = dirty.preprocessor.named_steps["columns"]
    num_c, num_d = columns_clean.named_transformers_["numeric"], columns_dirty.named_transformers_["numeric"]
    np.testing.assert_array_equal(num_c["impute"].statistics_, num_d["impute"].statistics_)
    np.testing.assert_array_equal(num_c["clip"].lower_, num_d["clip"].lower_)
    np.testing.assert_array_equal(num_c["clip"].upper_, num_d["clip"].upper_)
    np.testing.assert_array_equal(num_c["scale"].quantiles_, num_d["scale"].quantiles_)
    np.testing.assert_array_equal(clean.preprocessor.named_steps["reduce"].get_support(), dirty.preprocessor.named_steps["reduce"].get_support())
    # And they are the statistics of the training rows: refit by hand on them alone.
    train = clean.model_input.iloc[clean.split.train]
    numeric = [c.onnx_name for c in clean.schema if c.kind == "numeric"]
    values = train[numeric].to_numpy(np.float64)
    medians = np.nanmedian(values, axis=0)
    np.testing.assert_allclose(num_c["impute"].statistics_, medians)
    imputed = np.where(np.isnan(values), medians, values)  # clipping limits are learned after imputation
    np.testing.assert_allclose(num_c["clip"].lower_, np.quantile(imputed, 0.02, axis=0))


@pytest.mark.parametrize(
    "sampler, augment",
    [("smote", "none"), ("random_under", "none"), ("smotenc", "noise"), ("borderline_smote", "mixup"), ("none", "noise")],
)
def test_samplers_and_augmentation_touch_only_training_rows(mixed_csv, sampler, augment):
    sections = {"imbalance": {"sampler": sampler, "k_neighbors": 3}, "prepare": {"augment": {"method": augment, "multiplier": 1.0}}}
    prepared = prepared_for(mixed_csv, sections)
    columns = prepared.preprocessor
    split = prepared.split
    # Held-out parts: exactly their own rows, transformed, none added or removed.
    for part in ("validation", "test"):
        rows = getattr(split, part)
        assert len(prepared.X[part]) == len(rows)
        np.testing.assert_array_equal(prepared.X[part], columns.transform(prepared.model_input.iloc[rows]).astype(np.float32))
    fit_rows = {row.tobytes() for row in prepared.X_fit}
    held_out = {row.tobytes() for part in ("validation", "test") for row in prepared.X[part]}
    train_rows = {row.tobytes() for row in prepared.X["train"]}
    assert not (fit_rows & (held_out - train_rows)), "a validation or test row reached the rows the network fits"
    if sampler == "random_under":
        assert fit_rows <= train_rows and len(prepared.X_fit) < len(split.train)
    else:
        assert train_rows <= fit_rows  # originals kept
        assert len(prepared.X_fit) > len(split.train)
    counts = np.bincount(prepared.y_fit)
    if sampler != "none":
        assert counts.min() == counts.max() or sampler == "borderline_smote" or augment != "none"


def onnx_transform(prepared, rows):
    types = [(c.onnx_name, FloatTensorType([None, 1]) if c.kind == "numeric" else StringTensorType([None, 1])) for c in prepared.schema]
    model = convert_sklearn(prepared.preprocessor, initial_types=types, target_opset={"": 18, "ai.onnx.ml": 3})
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, onnx_feed(prepared.model_input.iloc[rows], prepared.schema))[0]


@pytest.mark.parametrize(
    "prepare",
    [
        {"scaler": "standard", "numeric_imputer": "mean", "missing_indicator": True},
        {"scaler": "minmax", "numeric_imputer": "constant", "fill_value": -1.0, "encoder": "ordinal"},
        {"scaler": "robust", "numeric_imputer": "most_frequent", "clip_quantile": 0.05},
        {"scaler": "power", "clip_quantile": 0.01, "min_frequency": 30},
        {"scaler": "quantile", "min_frequency": 30, "missing_indicator": True},
        {"reduce": {"method": "pca", "n_components": 0.9}},
        {"reduce": {"method": "pca", "n_components": 3}},
        {"reduce": {"method": "variance", "threshold": 0.2}},
        {"reduce": {"method": "kbest", "k": 4}},
        {"reduce": {"method": "l1", "C": 0.05}},
    ],
)
def test_onnx_graph_applies_exactly_the_fitted_transformation(mixed_csv, prepare):
    prepared = prepared_for(mixed_csv, {"prepare": prepare})
    out = onnx_transform(prepared, prepared.split.test)
    assert out.shape == prepared.X["test"].shape
    np.testing.assert_allclose(out, prepared.X["test"], atol=1e-5, rtol=0)


def test_reduction_is_listed_with_the_inputs_it_uses(mixed_csv):
    prepared = prepared_for(mixed_csv, {"prepare": {"reduce": {"method": "kbest", "k": 2}}})
    info = prepared.steps["reduce"]
    assert info["n_features_out"] == 2 and prepared.X["train"].shape[1] == 2
    names = {c.name for c in prepared.schema}
    assert set(info["used_inputs"]) | set(info["unused_inputs"]) == names
    assert 1 <= len(info["used_inputs"]) <= 2
