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


# --- The coercion semantics every path shares (training, batch prediction, the server, shipyard.load) ---------------
# schema.coerce may be rewritten for speed; these tests pin what a value means.

BOOL = [Column("flag", "boolean", "flag", ["false", "true"])]


@pytest.mark.parametrize(
    "value,expected",
    [
        (True, "true"), (False, "false"), (np.True_, "true"), (np.False_, "false"),
        ("true", "true"), ("False", "false"), ("TRUE", "true"), (" yes ", "true"), ("No", "false"),
        ("y", "true"), ("N", "false"), ("t", "true"), ("f", "false"),
        (1, "true"), (0, "false"), (1.0, "true"), (0.0, "false"), ("1", "true"), ("0", "false"),
        (None, ""), (np.nan, ""), (pd.NA, ""), ("", ""), ("NA", ""), ("null", ""),
    ],
)
def test_a_boolean_is_boolean_in_every_spelling(value, expected):
    frame = pd.DataFrame({"flag": pd.Series([value], dtype=object)})
    assert list(coerce(frame, BOOL)["flag"]) == [expected]


def test_pandas_bool_and_nullable_boolean_columns_are_booleans():
    assert list(coerce(pd.DataFrame({"flag": [True, False]}), BOOL)["flag"]) == ["true", "false"]
    nullable = pd.DataFrame({"flag": pd.array([True, None, False], dtype="boolean")})
    assert list(coerce(nullable, BOOL)["flag"]) == ["true", "", "false"]


def test_a_value_that_is_no_boolean_is_refused_naming_column_and_row():
    with pytest.raises(InputError, match="column 'flag' must be a boolean, got 'maybe' in row 1"):
        coerce(pd.DataFrame({"flag": ["true", "maybe"]}), BOOL, "request")
    with pytest.raises(InputError, match="got 2 in row 0"):
        coerce(pd.DataFrame({"flag": [2]}), BOOL)


def test_boolean_columns_are_inferred_from_words_bools_and_pandas_dtypes():
    frame = pd.DataFrame(
        {
            "csv": ["true", "false", np.nan, "true"],
            "yn": ["Yes", "no", "yes", "No"],
            "json": pd.Series([True, None, False, True], dtype=object),
            "nullable": pd.array([True, None, False, True], dtype="boolean"),
            "mixed_pairs": ["yes", "false", "yes", "false"],
            "zero_one": [0, 1, 1, 0],
            "words": ["yes", "no", "maybe", "no"],
        }
    )
    kinds = {c.name: c.kind for c in infer_schema(frame, list(frame.columns))}
    assert kinds == {
        "csv": "boolean", "yn": "boolean", "json": "boolean", "nullable": "boolean",
        "mixed_pairs": "categorical", "zero_one": "numeric", "words": "categorical",
    }
    assert [c.kind for c in infer_schema(frame, ["words", "zero_one"], {"zero_one": "boolean", "words": "categorical"})] == ["categorical", "boolean"]


CODES = [Column("code", "categorical", "code")]


@pytest.mark.parametrize(
    "value,expected",
    [
        ("02134", "02134"), ("00501", "00501"), (2134, "2134"), (np.int64(1001), "1001"), (1001.0, "1001"),
        ("1001", "1001"), ("1001.0", "1001.0"), (2.5, "2.5"), (np.float32(2.5), "2.5"), (" red ", "red"),
        (True, "True"), (np.False_, "False"), (None, ""), (np.nan, ""), ("", ""), ("  ", ""),
        ("NA", ""), ("n/a", ""), ("N/A", ""), ("null", ""), ("None", ""), ("?", ""), ("-", ""), ("#N/A", ""), ("nan", ""),
    ],
)
def test_categorical_values_codes_and_missing_markers(value, expected):
    frame = pd.DataFrame({"code": pd.Series([value], dtype=object)})
    assert list(coerce(frame, CODES)["code"]) == [expected]


def test_a_missing_marker_that_training_kept_as_a_category_is_that_category():
    country = [Column("country", "categorical", "country", ["NA", "NC", "NE"], marker_values=["NA"])]
    frame = pd.DataFrame({"country": ["NA", " NA ", "na", "N/A", None, "NC"]})
    # 'NA' is Namibia in this column; other spellings of missing stay missing.
    assert list(coerce(frame, country)["country"]) == ["NA", "NA", "", "", "", "NC"]


@pytest.mark.parametrize("value,expected", [("1.5", 1.5), (" 2 ", 2.0), (3, 3.0), (True, 1.0), ("NA", None), ("?", None), ("", None), (None, None), (pd.NA, None)])
def test_numeric_values_and_missing_markers(value, expected):
    out = coerce(pd.DataFrame({"mean radius": pd.Series([value], dtype=object), "color": ["red"]}), SCHEMA)["mean_radius"][0]
    assert (np.isnan(out) if expected is None else out == expected)


def test_missing_and_unseen_categories_are_both_named_with_one_rule():
    from shipyard.schema import MISSING_RULE, missing_notes

    schema = [Column("color", "categorical", "color", ["blue", "red"]), Column("size", "categorical", "size", ["", "L", "S"])]
    frame = pd.DataFrame({"color": ["red", None, "teal"], "size": [None, "S", "XL"]})
    notes = missing_notes(coerce(frame, schema), schema)
    assert notes == [
        f"column 'color': missing value (rows 1) encoded as all zeros: the training split had no missing value there ({MISSING_RULE})",
        "column 'color': unseen category 'teal' (rows 2) encoded as all zeros",
        "column 'size': unseen category 'XL' (rows 2) encoded as all zeros",
    ]  # 'size' had missing values in training: a missing size is its own category, no warning


def test_column_json_is_backward_compatible():
    old = {"name": "color", "kind": "categorical", "onnx_name": "color", "dtype": "string", "categories": ["a", "b"]}
    col = Column.from_dict(old)
    assert col == Column("color", "categorical", "color", ["a", "b"], [])
    assert col.to_dict() == old | {"missing": "unseen"}
    new = Column("country", "categorical", "country", ["", "NA"], ["NA"])
    assert Column.from_dict(new.to_dict()) == new and new.to_dict()["missing"] == "category"
    assert "categories" not in Column("x", "numeric", "x").to_dict()
    assert Column.from_dict(Column("f", "boolean", "f", ["false", "true"]).to_dict()).kind == "boolean"
