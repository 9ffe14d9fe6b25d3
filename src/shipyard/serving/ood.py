"""Out-of-distribution marking: numeric values far outside the range seen in training.

Two ranges apply to a numeric value. Beyond the *accepted* range (the training
range widened by ``export.input_range_margin`` widths,
:func:`shipyard.schema.accepted_range`) a record is not predicted and gets an
error. Inside it but beyond the training range by more than :data:`MARGIN` of
that range's width, the record is predicted as usual and marked here: per
record, each such feature with the training range. The range is the
manifest's ``inputs[i].min`` / ``max`` (the training split's); a bundle
without them marks nothing. Numpy only; the bounds are computed once per
bundle (:class:`shipyard.schema.RangeCheck`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

from shipyard.schema import Column, RangeCheck

MARGIN = 0.1
"""How far beyond the training range, as a fraction of its width (max - min), a value must lie to be marked."""


class OutOfDistribution:
    """Marks, per record, the numeric features far outside their training range.

    Parameters
    ----------
    schema : list of Column
        With ``min`` and ``max`` on numeric columns.
    margin : float
        A value is marked below ``min - margin * (max - min)`` or above ``max + margin * (max - min)``
        (``margin * max(|max|, 1)`` when the column was constant in training).
    """

    def __init__(self, schema: list[Column], margin: float = MARGIN) -> None:
        self.check = RangeCheck(schema, margin)

    def __call__(self, columns: Mapping[str, np.ndarray], n_rows: int, skip: Collection[int] = ()) -> list[list[dict[str, Any]]]:
        """The marks of each record.

        Parameters
        ----------
        columns : mapping of str to ndarray of shape (n_rows,)
            Values keyed by ``Column.onnx_name`` (NaN for missing values, which are never marked).
        n_rows : int
        skip : collection of int
            Rows not to mark (records that were not predicted).

        Returns
        -------
        list of list of dict
            One list per record, empty when every value is in range; each entry
            ``{"column", "value", "min", "max"}`` (``value`` as the shortest decimal of the value given).
        """
        marks: list[list[dict[str, Any]]] = [[] for _ in range(n_rows)]
        for i, values, rows in self.check.outside(columns):
            col = self.check.columns[i]
            for row in rows:
                if int(row) not in skip:
                    # str() of a float32 is its shortest decimal: 100.1, not 100.09999847412109.
                    marks[row].append({"column": col.name, "value": float(str(values[row])), "min": col.min, "max": col.max})
        return marks


def out_of_range(schema: list[Column], columns: Mapping[str, np.ndarray], margin: float = MARGIN) -> list[list[dict[str, Any]]]:
    """Per record, the numeric features far outside their training range (:class:`OutOfDistribution` built for one call).

    Parameters
    ----------
    schema : list of Column
    columns : mapping of str to ndarray of shape (n_records,)
        Raw values keyed by ``Column.onnx_name``.
    margin : float
    """
    n_rows = len(next(iter(columns.values()))) if columns else 0
    return OutOfDistribution(schema, margin)(columns, n_rows)


def mark_records(schema: list[Column], records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """:func:`out_of_range` of request records (``{column name: value or None}``)."""
    columns = {
        col.onnx_name: np.array([record.get(col.name) for record in records], dtype=np.float64)
        for col in schema
        if col.kind == "numeric" and col.min is not None
    }
    return out_of_range(schema, columns) if columns else [[] for _ in records]
