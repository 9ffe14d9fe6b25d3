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
        Smallest and largest finite value in the training split (numeric
        columns only; None before the preprocessing is fitted, or when the
        column is entirely missing there). They define the range a bundle
        accepts (:func:`accepted_range`).
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
        for key in ("min", "max"):
            if data[key] is None or self.kind != "numeric":
                data.pop(key)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Column":
        """Read a column from manifest JSON (manifests without ``min``/``max`` are read as before)."""
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


INPUT_RANGE_MARGIN = 10.0
"""Default of ``export.input_range_margin``: how many training-range widths beyond the training range a bundle accepts."""


def accepted_range(col: Column, margin: float | None) -> tuple[float, float]:
    """The values a bundle accepts in a numeric column: the training range widened by ``margin`` widths on each side.

    A network has seen nothing beyond its training range; far beyond it, its
    output is extrapolation with no evidence behind it, and beyond a few
    orders of magnitude the float32 arithmetic of the graph overflows (a
    value of 3e38 became NaN probabilities). So a bundle accepts
    ``[min - margin * w, max + margin * w]`` with ``w = max - min`` (or
    ``max(|max|, 1)`` for a column constant in training), clipped to float32.

    Parameters
    ----------
    col : Column
        A numeric column with the training split's ``min`` and ``max``.
    margin : float or None
        Widths of the training range accepted beyond it on each side
        (``export.input_range_margin``); None accepts every float32 value.

    Returns
    -------
    (float, float)
        Lowest and highest accepted value. Every float32 value when
        ``margin`` is None or the column has no recorded range (a bundle
        made before ranges were recorded).
    """
    if margin is None or col.min is None or col.max is None:
        return -FLOAT32_MAX, FLOAT32_MAX
    width = col.max - col.min
    if not width > 0:
        width = max(abs(col.max), 1.0)
    return max(col.min - margin * width, -FLOAT32_MAX), min(col.max + margin * width, FLOAT32_MAX)


def out_of_range(model_input: pd.DataFrame, schema: list[Column], margin: float | None) -> dict[int, str]:
    """Records holding a numeric value outside the accepted range (:func:`accepted_range`).

    Parameters
    ----------
    model_input : DataFrame of shape (n_rows, n_columns)
        From :func:`coerce`.
    schema : list of Column
    margin : float or None

    Returns
    -------
    dict of int to str
        Row position to a message naming the first offending column, its
        value and the accepted range; missing values (NaN) are accepted.
    """
    errors: dict[int, str] = {}
    if margin is None:
        return errors
    for col in schema:
        if col.kind != "numeric" or col.min is None or col.max is None:
            continue
        low, high = accepted_range(col, margin)
        values = model_input[col.onnx_name].to_numpy()
        for row in np.flatnonzero((values < low) | (values > high)):
            errors.setdefault(
                int(row),
                f"column '{col.name}' = {float(values[row]):.6g} is outside the accepted range [{low:.6g}, {high:.6g}] "
                f"(the training range {col.min:.6g} to {col.max:.6g} widened by {margin:g} times its width)",
            )
    return errors


def is_valid_text(value: str) -> bool:
    """Whether a string has a UTF-8 encoding (False for a lone surrogate such as ``"\ud800"``)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def invalid_text_error(source: str, column: str, value: str, row: int) -> InputError:
    """The error for a value that is not valid Unicode text, quoting it with the surrogate escaped."""
    shown = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return InputError(
        f"{source}: column '{column}' holds text that is not valid Unicode ('{shown}': a lone surrogate) in row {row}",
        "send UTF-8 text; escapes \\ud800-\\udfff must come in surrogate pairs",
    )


def check_text(model_input: pd.DataFrame, schema: list[Column], source: str = "input") -> None:
    """Refuse categorical values that are not valid Unicode text (e.g. a lone surrogate such as ``"\ud800"``).

    JSON can carry a lone surrogate as an escape; Python keeps it in a
    ``str``, but it has no UTF-8 encoding, so onnxruntime, pandas and
    pyarrow cannot take it.

    Raises
    ------
    InputError
        Naming the column and the row.
    """
    for col in schema:
        if col.kind != "categorical":
            continue
        values = model_input[col.onnx_name].to_numpy()
        if is_valid_text("".join(values)):
            continue
        row = next(i for i, value in enumerate(values) if not is_valid_text(value))
        raise invalid_text_error(source, col.name, values[row], row)
