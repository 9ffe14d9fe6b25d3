"""Out-of-distribution marking: numeric values far outside the range seen in training.

The server answers every record (an unusual value is not an error) and names,
per record, each numeric feature whose value lies beyond the training range by
more than :data:`MARGIN` of that range's width, with the range. The range is
the manifest's ``inputs[i].min`` / ``max`` (the training split's); a bundle
without them marks nothing. Numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shipyard.schema import Column

MARGIN = 0.1
"""How far beyond the training range, as a fraction of its width (max - min), a value must lie to be marked."""


def out_of_range(schema: list[Column], columns: Mapping[str, np.ndarray], margin: float = MARGIN) -> list[list[dict[str, Any]]]:
    """Per record, the numeric features far outside their training range.

    Parameters
    ----------
    schema : list of Column
        With ``min`` and ``max`` on numeric columns.
    columns : mapping of str to ndarray of shape (n_records,)
        Raw values by column name (NaN for missing values, which are never marked).
    margin : float
        A value is marked below ``min - margin * (max - min)`` or above ``max + margin * (max - min)``
        (``margin * max(|min|, 1)`` when the column was constant in training).

    Returns
    -------
    list of list of dict
        One list per record, empty when every value is in range; each entry
        ``{"column", "value", "min", "max"}``.
    """
    n = len(next(iter(columns.values()))) if columns else 0
    marks: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    for col in schema:
        if col.kind != "numeric" or col.min is None or col.max is None or col.name not in columns:
            continue
        values = np.asarray(columns[col.name], dtype=np.float64)
        width = col.max - col.min
        slack = margin * (width if width > 0 else max(abs(col.min), 1.0))
        with np.errstate(invalid="ignore"):
            far = (values < col.min - slack) | (values > col.max + slack)
        for row in np.flatnonzero(far):
            marks[row].append({"column": col.name, "value": float(values[row]), "min": col.min, "max": col.max})
    return marks


def mark_records(schema: list[Column], records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """:func:`out_of_range` of request records (``{column name: value or None}``)."""
    columns = {
        col.name: np.array([record.get(col.name) for record in records], dtype=np.float64)
        for col in schema
        if col.kind == "numeric" and col.min is not None
    }
    return out_of_range(schema, columns) if columns else [[] for _ in records]
