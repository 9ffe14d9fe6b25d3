"""The input schema: which raw columns a model takes, and how values are coerced.

This module depends only on numpy and pandas, so the serving path can use it
without importing torch or scikit-learn. Training, export, batch prediction and
the HTTP server all pass raw records through :func:`coerce`, so the model sees
the same values everywhere.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from shipyard.errors import InputError

FLOAT32_MAX = float(np.finfo(np.float32).max)
"""Numbers beyond this magnitude (and infinities) cannot be fed to the float32 model."""

MISSING_CATEGORY = ""
"""The category a missing value of a categorical column is mapped to."""


@dataclass
class Column:
    """One raw input column.

    Attributes
    ----------
    name : str
        Column name as in the user's data.
    kind : {"numeric", "categorical"}
        Numeric columns are fed as float32 (missing as NaN); categorical
        columns as strings (missing as ``""``).
    onnx_name : str
        Name of the ONNX graph input that carries this column.
    categories : list of str
        Categories seen in the training split (categorical columns only).
    min, max : float or None
        The smallest and largest value in the training split (numeric columns
        only; None before preprocessing is fitted, or when every value is missing).
    """

    name: str
    kind: Literal["numeric", "categorical"]
    onnx_name: str
    categories: list[str] = field(default_factory=list)
    min: float | None = None
    max: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the column as manifest JSON (``min``/``max`` only for numeric columns that have them)."""
        data = asdict(self)
        data["dtype"] = "float32" if self.kind == "numeric" else "string"
        if self.kind == "numeric":
            data.pop("categories")
        if self.kind != "numeric" or self.min is None:
            data.pop("min")
            data.pop("max")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Column":
        """Read a column from manifest JSON (a manifest without ``min``/``max`` reads as None)."""
        return cls(data["name"], data["kind"], data["onnx_name"], list(data.get("categories", [])), data.get("min"), data.get("max"))


def infer_schema(frame: pd.DataFrame, features: list[str]) -> list[Column]:
    """Infer the kind of each feature column from its pandas dtype.

    Numeric dtypes (not bool) are numeric; everything else (strings, bool,
    category) is categorical. ``categories`` is left empty; fill it from the
    training split only.

    Parameters
    ----------
    frame : DataFrame of shape (n_rows, n_columns)
    features : list of str
        The input columns, in model order.
    """
    used: set[str] = set()
    schema = []
    for name in features:
        dtype = frame[name].dtype
        numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        schema.append(Column(name, "numeric" if numeric else "categorical", _onnx_name(name, used)))
    return schema


def _onnx_name(name: str, used: set[str]) -> str:
    base = re.sub(r"\W", "_", name) or "col"
    if base[0].isdigit():
        base = "c_" + base
    candidate, i = base, 1
    while candidate in used:
        i += 1
        candidate = f"{base}_{i}"
    used.add(candidate)
    return candidate


def coerce(frame: pd.DataFrame, schema: list[Column], source: str = "input") -> pd.DataFrame:
    """Turn raw records into the model's input frame.

    Parameters
    ----------
    frame : DataFrame of shape (n_rows, n_any_columns)
        Raw records; extra columns are ignored.
    schema : list of Column
    source : str
        What the records are (a file name, "request"), for messages.

    Returns
    -------
    DataFrame of shape (n_rows, len(schema))
        Columns named by ``onnx_name``: float32 for numeric columns (NaN where
        missing), str for categorical columns (``""`` where missing).

    Raises
    ------
    InputError
        If there are no rows, a column is missing, or a numeric column holds a
        value that is not a number.
    """
    if len(frame) == 0:
        raise InputError(f"{source}: no records to predict", "send at least one record")
    absent = [c.name for c in schema if c.name not in frame.columns]
    if absent:
        raise InputError(
            f"{source}: missing column(s) {', '.join(repr(a) for a in absent)}",
            f"the model expects: {', '.join(c.name for c in schema)}",
        )
    out = {}
    for col in schema:
        values = frame[col.name]
        if col.kind == "numeric":
            if pd.api.types.is_bool_dtype(values.dtype):
                values = values.astype("float64")
            numbers = pd.to_numeric(values, errors="coerce")
            bad = numbers.isna() & values.notna() & ~_is_blank(values)
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise InputError(
                    f"{source}: column '{col.name}' must be numeric, got {values.iloc[row]!r} in row {row}",
                    "send a number, or null for a missing value",
                )
            too_large = np.abs(numbers.to_numpy(dtype="float64")) > FLOAT32_MAX
            if too_large.any():
                row = int(np.flatnonzero(too_large)[0])
                raise InputError(
                    f"{source}: column '{col.name}' has a value beyond the float32 range ({float(numbers.iloc[row]):g}) in row {row}",
                    "send a finite number below 3.4e38 in magnitude, or null for a missing value",
                )
            out[col.onnx_name] = numbers.astype("float32").to_numpy()
        else:
            text = values.astype(object).where(values.notna(), MISSING_CATEGORY)
            out[col.onnx_name] = np.array([_as_category(v) for v in text], dtype=object)
    return pd.DataFrame(out, index=frame.index)


def _is_blank(values: pd.Series) -> pd.Series:
    return values.map(lambda v: isinstance(v, str) and v.strip() == "").astype(bool)


def _as_category(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def onnx_feed(model_input: pd.DataFrame, schema: list[Column]) -> dict[str, np.ndarray]:
    """Return the onnxruntime feed for a coerced frame: one (n_rows, 1) array per column."""
    feed = {}
    for col in schema:
        values = model_input[col.onnx_name].to_numpy()
        feed[col.onnx_name] = values.astype(np.float32 if col.kind == "numeric" else object).reshape(-1, 1)
    return feed
