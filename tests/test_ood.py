"""Out-of-distribution marking: numeric values far outside the training range are named per record with the range."""

from __future__ import annotations

import numpy as np

from shipyard.schema import Column
from shipyard.serving.ood import MARGIN, mark_records, out_of_range

SCHEMA = [
    Column("age", "numeric", "age", min=20.0, max=70.0),
    Column("dose", "numeric", "dose", min=5.0, max=5.0),  # constant in training
    Column("city", "categorical", "city", ["a", "b"]),
    Column("old", "numeric", "old"),  # a manifest from before ranges were recorded
]


def test_values_beyond_the_margin_are_marked_with_the_range():
    width = 70.0 - 20.0
    records = [
        {"age": 45.0, "dose": 5.0, "city": "a", "old": 1e9},  # in range; 'old' has no range: never marked
        {"age": 70.0 + MARGIN * width + 0.01, "dose": 5.0, "city": "z", "old": 0.0},
        {"age": 20.0 - MARGIN * width - 0.01, "dose": 50.0, "city": "a", "old": None},
        {"age": None, "dose": 5.4, "city": None, "old": None},  # missing: not marked; 5.4 within 10% of |5|
        {"age": 70.0 + MARGIN * width - 0.01, "dose": 4.6, "city": "a", "old": None},  # just inside the margin
    ]
    marks = mark_records(SCHEMA, records)
    assert marks[0] == [] and marks[3] == [] and marks[4] == []
    assert marks[1] == [{"column": "age", "value": records[1]["age"], "min": 20.0, "max": 70.0}]
    assert [m["column"] for m in marks[2]] == ["age", "dose"] and marks[2][1] == {"column": "dose", "value": 50.0, "min": 5.0, "max": 5.0}


def test_a_bundle_without_ranges_marks_nothing():
    plain = [Column("x", "numeric", "x")]
    assert mark_records(plain, [{"x": 1e30}, {"x": -1e30}]) == [[], []]
    assert out_of_range(plain, {"x": np.array([1e30])}) == [[]]


def test_ranges_round_trip_through_the_manifest_and_old_manifests_still_read():
    column = Column("age", "numeric", "age", min=20.0, max=70.0)
    assert column.to_dict() == {"name": "age", "kind": "numeric", "onnx_name": "age", "dtype": "float32", "min": 20.0, "max": 70.0}
    assert Column.from_dict(column.to_dict()) == column
    old = {"name": "age", "kind": "numeric", "onnx_name": "age", "dtype": "float32"}
    assert Column.from_dict(old).min is None and Column("age", "numeric", "age").to_dict() == old
    assert "min" not in Column("c", "categorical", "c", ["a"]).to_dict()
