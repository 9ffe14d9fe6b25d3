"""Raw records to model input: coercion and its errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import InputError
from shipyard.schema import Column, coerce, infer_schema

SCHEMA = [Column("mean radius", "numeric", "mean_radius"), Column("color", "categorical", "color", ["red", "blue"])]


def test_infer_schema_kinds_and_safe_onnx_names():
    frame = pd.DataFrame({"mean radius": [1.0], "2nd": [1], "color": ["r"], "flag": [True]})
    schema = infer_schema(frame, list(frame.columns))
    assert [(c.kind, c.onnx_name) for c in schema] == [
        ("numeric", "mean_radius"), ("numeric", "c_2nd"), ("categorical", "color"), ("boolean", "flag")
    ]


def test_coerce_types_and_missing_values():
    frame = pd.DataFrame({"mean radius": ["1.5", None, 3], "color": ["red", None, "green"], "extra": [1, 2, 3]})
    out = coerce(frame, SCHEMA)
    assert out["mean_radius"].dtype == np.float32
    assert np.isnan(out["mean_radius"][1]) and out["mean_radius"][0] == 1.5
    assert list(out["color"]) == ["red", "", "green"]
    assert list(out.columns) == ["mean_radius", "color"]


def test_string_in_numeric_column_names_column_and_row():
    frame = pd.DataFrame({"mean radius": [1.0, "abc"], "color": ["red", "red"]})
    with pytest.raises(InputError, match="column 'mean radius' must be numeric, got 'abc' in row 1"):
        coerce(frame, SCHEMA, "x.csv")


def test_missing_column_and_no_rows():
    with pytest.raises(InputError, match="missing column\\(s\\) 'color'"):
        coerce(pd.DataFrame({"mean radius": [1.0]}), SCHEMA)
    with pytest.raises(InputError, match="no records"):
        coerce(pd.DataFrame(columns=["mean radius", "color"]), SCHEMA)


def test_infinite_value_is_refused():
    frame = pd.DataFrame({"mean radius": [1.0, np.inf], "color": ["red", "red"]})
    with pytest.raises(InputError, match="column 'mean radius' has a value beyond the float32 range \\(inf\\) in row 1"):
        coerce(frame, SCHEMA)


def test_value_beyond_float32_is_refused():
    frame = pd.DataFrame({"mean radius": [1.0, 1e300], "color": ["red", "red"]})
    with pytest.raises(InputError, match="beyond the float32 range \\(1e\\+300\\) in row 1"):
        coerce(frame, SCHEMA)


def test_booleans_in_a_categorical_column_match_training_categories():
    frame = pd.DataFrame({"mean radius": [1.0, 2.0], "color": [True, np.False_]})
    assert list(coerce(frame, SCHEMA)["color"]) == ["True", "False"]
