"""Probe records for the export's parity check: the inputs a test split rarely holds.

The parity check compares the ONNX graph with the PyTorch pipeline; on test
rows alone it never sees a missing value in a column that had none, a
category the encoder drops, or a value at the edge of what the bundle
accepts. :func:`probe_records` builds those records on purpose from the
input schema and the training rows, as raw values (so they go through the
same coercion as a request):

- every column missing at once, and each column missing alone;
- per numeric column: the training minimum and maximum, and the lowest and
  highest value the bundle accepts (:func:`shipyard.schema.accepted_range`,
  far beyond the training range);
- per boolean column: each spelling a request may use (``true``, ``"True"``,
  ``"true"``, ``1``, ``1.0`` and their opposites);
- per categorical column: a category never seen, the categories too rare to
  be encoded (fewer than ``prepare.min_frequency`` training rows), and for a
  column of booleans each spelling a request may use (``true``, ``"True"``,
  ``"true"``, ``1``, ``1.0`` and their opposites).

Every other column of a probe holds a typical training value (the median, or
the most frequent category). Depends only on numpy and pandas.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from shipyard.schema import INPUT_RANGE_MARGIN, MISSING_CATEGORY, Column, accepted_range

UNSEEN = "__shipyard_unseen_category__"
"""The category no training split holds, used as the unseen-category probe."""
BOOLEAN_SPELLINGS: tuple[Any, ...] = (True, False, "True", "False", "true", "false", 1, 0, 1.0, 0.0)
"""The spellings of a boolean a request or a file may carry."""
MAX_RARE = 20
"""At most this many infrequent categories are probed per column."""


def probe_records(schema: list[Column], train_input: pd.DataFrame, margin: float | None, min_frequency: int = 1) -> tuple[pd.DataFrame, list[str]]:
    """Raw probe records and what each one probes.

    Parameters
    ----------
    schema : list of Column
        With the training categories and numeric ranges recorded
        (:func:`shipyard.data.preprocess.record_categories`).
    train_input : DataFrame of shape (n_train, n_columns)
        The coerced training rows (columns named by ``onnx_name``).
    margin : float or None
        ``export.input_range_margin``; None probes at the default margin
        (:data:`shipyard.schema.INPUT_RANGE_MARGIN`) instead of the float32 limits.
    min_frequency : int
        ``prepare.min_frequency``: categories with fewer training rows are probed as infrequent.

    Returns
    -------
    records : DataFrame of shape (n_probes, n_columns)
        Raw values keyed by column name (``None`` for missing), object dtype.
    kinds : list of str
        One description per probe, e.g. ``"max of 'age'"`` or ``"unseen category in 'city'"``.
    """
    base = {col.name: _typical(col, train_input[col.onnx_name]) for col in schema}
    rows: list[dict[str, Any]] = [{name: None for name in base}]
    kinds = ["every column missing"]

    def add(kind: str, col: Column, value: Any) -> None:
        rows.append(dict(base, **{col.name: value}))
        kinds.append(kind)

    for col in schema:
        add(f"missing '{col.name}'", col, None)
        if col.kind == "numeric":
            if col.min is None or col.max is None:
                continue
            low, high = accepted_range(col, INPUT_RANGE_MARGIN if margin is None else margin)
            for name, value in (("min", col.min), ("max", col.max), ("lowest accepted", low), ("highest accepted", high)):
                add(f"{name} of '{col.name}' ({value:.6g})", col, float(value))
            continue
        if col.kind == "boolean":
            for spelling in BOOLEAN_SPELLINGS:
                add(f"boolean {spelling!r} in '{col.name}'", col, spelling)
            continue
        add(f"unseen category in '{col.name}'", col, UNSEEN)
        counts = train_input[col.onnx_name].value_counts()
        rare = sorted(str(c) for c, n in counts.items() if n < min_frequency and c != MISSING_CATEGORY)[:MAX_RARE]
        for category in rare:
            add(f"infrequent category {category!r} of '{col.name}'", col, category)
        if set(col.categories) - {MISSING_CATEGORY} <= {"True", "False"} and len(col.categories) > 0:
            for spelling in BOOLEAN_SPELLINGS:
                add(f"boolean {spelling!r} in '{col.name}'", col, spelling)
    return pd.DataFrame(rows, columns=list(base), dtype=object), kinds


def _typical(col: Column, values: pd.Series) -> Any:
    """The median of a numeric training column, or its most frequent category."""
    if col.kind == "numeric":
        finite = values.to_numpy(dtype=np.float64)
        finite = finite[np.isfinite(finite)]
        return float(np.median(finite)) if len(finite) else None
    counts = values.value_counts()
    return str(counts.index[0]) if len(counts) else None
