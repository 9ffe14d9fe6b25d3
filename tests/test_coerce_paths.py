"""One coercion path: records coerced column by column (the server's and the Python API's path) mean exactly what a DataFrame of the same records means (training and batch prediction)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import InputError
from shipyard.schema import Column, coerce, coerce_records

COLUMNS = {
    "numeric": [
        [1.5, None, 3],
        [1, 2, 3],
        [True, False, None],
        ["1.5", " 2 ", "NA"],
        ["1e3", "nan", ""],
        [np.float32(0.25), np.int64(7), None],
        [3e38, -3e38, 0.0],
        [2**60, -(2**60), 1],
    ],
    "categorical": [
        ["a", None, "b"],
        [1001, "1001.0", 1001.0],
        ["02134", "00501", " 10001 "],
        [True, False, None],
        [1, None, 2.5],
        ["NA", "NC", "n/a"],
        [np.int64(3), np.float64(4.0), "x"],
    ],
    "boolean": [
        [True, False, None],
        ["yes", "NO", "t"],
        [1, 0, None],
        [1.0, 0.0, "false"],
        ["true", "", "N"],
    ],
}
BAD = {
    "numeric": [["big", 1.0, 2.0], [float("inf"), 0.0, 1.0], [1e39, 0.0, 1.0], [None, "1,5", 2]],
    "boolean": [["maybe", True, False], [2, 1, 0]],
}


def cases(table):
    return [(kind, values) for kind, rows in table.items() for values in rows]


def column(kind: str) -> Column:
    return Column("x", kind, "x", categories=["a", "b", "true", "false"], marker_values=["NA"] if kind == "categorical" else [])


@pytest.mark.parametrize("kind, values", cases(COLUMNS), ids=repr)
def test_records_and_frames_coerce_to_the_same_values(kind, values):
    schema = [column(kind)]
    records = [{"x": v} for v in values]
    frame = coerce(pd.DataFrame.from_records(records), schema)["x"].to_numpy()
    direct = coerce_records(records, schema)["x"]
    assert direct.dtype == frame.dtype
    if kind == "numeric":
        np.testing.assert_array_equal(direct, frame)  # NaN where missing in both
    else:
        assert direct.tolist() == frame.tolist()


@pytest.mark.parametrize("kind, values", cases(BAD), ids=repr)
def test_records_and_frames_refuse_the_same_values_with_the_same_message(kind, values):
    schema = [column(kind)]
    records = [{"x": v} for v in values]
    with pytest.raises(InputError) as from_frame:
        coerce(pd.DataFrame.from_records(records), schema)
    with pytest.raises(InputError) as from_records:
        coerce_records(records, schema)
    assert str(from_records.value) == str(from_frame.value)


def test_a_column_some_records_leave_out_is_missing_there_and_one_all_leave_out_is_refused():
    schema = [Column("a", "numeric", "a"), Column("b", "categorical", "b", categories=["u"])]
    out = coerce_records([{"a": 1.0, "b": "u"}, {"a": 2.0}], schema)
    assert np.isnan(out["a"]).tolist() == [False, False] and out["b"].tolist() == ["u", ""]
    with pytest.raises(InputError, match="missing column\\(s\\) 'b'"):
        coerce_records([{"a": 1.0}], schema)
    with pytest.raises(InputError, match="no records to predict"):
        coerce_records([], schema)
