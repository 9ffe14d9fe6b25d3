"""The input schema: which raw columns a model takes, and how values are coerced.

This module depends only on numpy and pandas, so the serving path can use it
without importing torch or scikit-learn. Training, export, batch prediction and
the HTTP server all pass raw records through :func:`coerce`, so the model sees
the same values everywhere: one coercion path.

What a value means (the rules :func:`coerce` applies; ``tests/test_schema.py`` pins them):

- **numeric** columns take numbers (Python, numpy or pandas nullable numbers,
  booleans as 1/0, or numeric text such as ``"1.5"``); missing is ``None``,
  NaN, ``pd.NA`` or a missing marker (:data:`MISSING_MARKERS`, e.g. ``""``,
  ``"NA"``, ``"?"``); anything else, infinities and magnitudes beyond float32
  are refused.
- **boolean** columns take ``True``/``False`` (Python, numpy, pandas
  ``bool``/``boolean``), the words true/false, yes/no, y/n, t/f in any case,
  and 1/0 (numbers or text); they are fed to the graph as the categories
  ``"true"`` / ``"false"``. Anything else is refused.
- **categorical** columns take text as written (surrounding spaces removed),
  whole numbers written as integers (``1001``, ``1001.0`` and ``np.int64(1001)``
  are all the category ``"1001"``; the *text* ``"1001.0"`` stays ``"1001.0"``
  and the profile warns about it), other numbers as ``str(float)``, booleans
  as ``"True"``/``"False"``. Codes keep their leading zeros (``"02134"``).
- **missing categorical values** follow one rule (:data:`MISSING_RULE`):
  a missing value is the category ``""`` (shown as "missing"); a column whose
  training split had no missing value has no such category, so the encoder
  treats it like an unseen category (all zeros) and the predictor warns.
- A missing marker is a value, not a missing one, where training kept it as
  a category of that column (``Column.marker_values``, e.g. ``"NA"`` for
  Namibia beside other two-letter country codes).
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from shipyard.errors import InputError

FLOAT32_MAX = float(np.finfo(np.float32).max)
"""Numbers beyond this magnitude (and infinities) cannot be fed to the float32 model."""

MISSING_CATEGORY = ""
"""The category a missing value of a categorical or boolean column is mapped to."""

MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "-", "#n/a"})
"""Text that means "missing" (compared stripped and lower-cased), in files and in records alike."""

TRUE, FALSE = "true", "false"
"""The categories a boolean column is fed to the graph as."""

BOOLEAN_PAIRS = (("true", "false"), ("yes", "no"), ("y", "n"), ("t", "f"))
"""Spellings of a boolean (compared lower-cased); 1/0 are accepted too."""

_BOOLEAN_WORDS = {word: TRUE if i == 0 else FALSE for pair in BOOLEAN_PAIRS for i, word in enumerate(pair)} | {"1": TRUE, "0": FALSE}

KINDS = ("numeric", "categorical", "boolean")
TEXT_KINDS = ("categorical", "boolean")
"""Kinds fed to the ONNX graph as strings (and one-hot encoded)."""

MISSING_RULE = (
    "a missing categorical or boolean value is its own category when the training split has missing values in that column; "
    "in a column that had none it is encoded as all zeros, like an unseen category, with a warning"
)
"""The one rule for missing categorical values, stated the same way in the profile, the report, the manifest and the server's warnings."""


def missing_numeric_rule(imputer: str = "median") -> str:
    """The rule for missing numbers, in the words the profile, report and manifest use.

    Parameters
    ----------
    imputer : str
        ``prepare.numeric_imputer`` (``median``, ``mean``, ``most_frequent``, ``constant``).
    """
    how = {"most_frequent": "most frequent value", "constant": "constant prepare.fill_value"}.get(imputer, imputer)
    return f"a missing number is imputed with the training split's {how}"


@dataclass
class Column:
    """One raw input column.

    Attributes
    ----------
    name : str
        Column name as in the user's data.
    kind : {"numeric", "categorical", "boolean"}
        Numeric columns are fed as float32 (missing as NaN); categorical
        columns as strings (missing as ``""``); boolean columns as the strings
        ``"true"`` / ``"false"`` (missing as ``""``).
    onnx_name : str
        Name of the ONNX graph input that carries this column.
    categories : list of str
        Categories seen in the training split (categorical and boolean columns;
        ``""`` when the training split had missing values).
    marker_values : list of str
        Missing-marker spellings that are real values of this column (e.g.
        ``"NA"`` beside other country codes); empty for most columns.
    min, max : float or None
        Smallest and largest finite value in the training split (numeric
        columns only; None before the preprocessing is fitted, or when the
        column is entirely missing there). They define the range a bundle
        accepts (:func:`accepted_range`).
    """

    name: str
    kind: Literal["numeric", "categorical", "boolean"]
    onnx_name: str
    categories: list[str] = field(default_factory=list)
    marker_values: list[str] = field(default_factory=list)
    min: float | None = None
    max: float | None = None

    @property
    def is_text(self) -> bool:
        """Whether the column is fed to the graph as strings (categorical or boolean)."""
        return self.kind in TEXT_KINDS

    def to_dict(self) -> dict[str, Any]:
        """Return the column as manifest JSON.

        ``dtype`` is the graph input's (``float32`` or ``string``); text
        columns list their ``categories`` and say what a missing value
        becomes (``missing``: ``"category"`` or ``"unseen"``, see :data:`MISSING_RULE`);
        numeric columns give their training ``min``/``max`` when known.
        """
        data: dict[str, Any] = {"name": self.name, "kind": self.kind, "onnx_name": self.onnx_name}
        data["dtype"] = "float32" if self.kind == "numeric" else "string"
        if self.is_text:
            data["categories"] = list(self.categories)
            data["missing"] = "category" if MISSING_CATEGORY in self.categories else "unseen"
        if self.marker_values:
            data["marker_values"] = list(self.marker_values)
        if self.kind == "numeric":
            for key in ("min", "max"):
                if getattr(self, key) is not None:
                    data[key] = getattr(self, key)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Column":
        """Read a column from manifest JSON (older manifests without the newer keys included)."""
        return cls(
            data["name"], data["kind"], data["onnx_name"], list(data.get("categories", [])), list(data.get("marker_values", [])),
            data.get("min"), data.get("max"),
        )


def is_boolean_values(values: pd.Series) -> bool:
    """Whether a column's present values are booleans: ``bool`` dtypes, or only ``True``/``False`` and words of one pair.

    The pairs are true/false, yes/no, y/n and t/f (any case); text of two
    different pairs (``yes`` and ``false``) is not boolean. 0/1 numbers are
    left numeric.

    Parameters
    ----------
    values : Series of shape (n_rows,)
    """
    if pd.api.types.is_bool_dtype(values.dtype):
        return True
    if pd.api.types.is_numeric_dtype(values.dtype):
        return False
    present = values.dropna()
    if not len(present):
        return False
    words = set()
    for value in pd.unique(present):
        if isinstance(value, (bool, np.bool_)):
            continue
        if not isinstance(value, str):
            return False
        words.add(value.strip().lower())
    return not words or any(words <= set(pair) for pair in BOOLEAN_PAIRS)


def column_kind(values: pd.Series) -> str:
    """The schema kind a column is read as: ``boolean``, ``numeric`` or ``categorical``.

    Booleans first (:func:`is_boolean_values`); numeric dtypes are numeric;
    everything else (text, mixed) is categorical.
    """
    if is_boolean_values(values):
        return "boolean"
    if pd.api.types.is_numeric_dtype(values.dtype):
        return "numeric"
    return "categorical"


def marker_values_of(values: pd.Series) -> list[str]:
    """Missing-marker spellings present as values of a text column (kept by the reader as categories)."""
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return []
    found = {v.strip() for v in pd.unique(values.dropna()) if isinstance(v, str) and v.strip().lower() in MISSING_MARKERS and v.strip()}
    return sorted(found)


def infer_schema(frame: pd.DataFrame, features: list[str], types: dict[str, str] | None = None) -> list[Column]:
    """Infer the kind of each feature column.

    Parameters
    ----------
    frame : DataFrame of shape (n_rows, n_columns)
    features : list of str
        The input columns, in model order.
    types : dict of str to str, optional
        Kinds the recipe sets (``data.types``), overriding inference.

    Returns
    -------
    list of Column
        ``categories`` left empty (filled from the training split only);
        ``marker_values`` set for text columns that hold a missing marker as a value.
    """
    used: set[str] = set()
    schema = []
    for name in features:
        kind = (types or {}).get(name) or column_kind(frame[name])
        markers = marker_values_of(frame[name]) if kind == "categorical" else []
        schema.append(Column(name, kind, _onnx_name(name, used), marker_values=markers))
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


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def category_of(value: Any, marker_values: frozenset[str] | set[str] = frozenset()) -> str:
    """The category text of one raw value of a categorical column (:data:`MISSING_CATEGORY` when missing).

    Parameters
    ----------
    value : object
        A raw value: text, number, boolean, or a missing value.
    marker_values : set of str
        Missing-marker spellings that are values of this column.
    """
    if _is_missing(value):
        return MISSING_CATEGORY
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in MISSING_MARKERS and text not in marker_values:
            return MISSING_CATEGORY
        return text
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        if math.isfinite(value) and value.is_integer() and abs(value) < 2**63:
            return str(int(value))
        return str(value)
    return str(value).strip()


def boolean_of(value: Any) -> str | None:
    """``"true"``, ``"false"`` or :data:`MISSING_CATEGORY` for one raw value of a boolean column; None if it is no boolean."""
    if _is_missing(value):
        return MISSING_CATEGORY
    if isinstance(value, (bool, np.bool_)):
        return TRUE if value else FALSE
    if isinstance(value, str):
        text = value.strip().lower()
        if text in MISSING_MARKERS:
            return MISSING_CATEGORY
        return _BOOLEAN_WORDS.get(text)
    if isinstance(value, numbers.Real) and float(value) in (0.0, 1.0):
        return TRUE if float(value) == 1.0 else FALSE
    return None


def _map_unique(values: Any, fn: Any) -> np.ndarray:
    """Apply ``fn`` once per distinct raw value (keyed by type and value, so ``True``, ``1`` and ``1.0`` stay apart)."""
    cache: dict[Any, Any] = {}
    raw = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else values
    out = np.empty(len(raw), dtype=object)
    for i, value in enumerate(raw):
        try:
            key = (type(value), value)
            out[i] = cache[key] if key in cache else cache.setdefault(key, fn(value))
        except TypeError:  # unhashable (a list in a JSON record)
            out[i] = fn(value)
    return out


def coerce(frame: pd.DataFrame, schema: list[Column], source: str = "input") -> pd.DataFrame:
    """Turn raw records into the model's input frame (the rules are in the module docstring).

    A frame's view of :func:`coerce_columns`, the one coercion path.

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
        missing), str for categorical and boolean columns (``""`` where missing).

    Raises
    ------
    InputError
        If there are no rows, a column is missing, a numeric column holds a
        value that is not a number (or beyond float32), or a boolean column a
        value that is not a boolean. Row numbers in messages count from 0.
    """
    return pd.DataFrame(coerce_columns(frame, len(frame), schema, source), index=frame.index)


def coerce_records(records: list[dict[str, Any]], schema: list[Column], source: str = "input") -> dict[str, np.ndarray]:
    """:func:`coerce_columns` of a list of records (``{column: value}`` mappings), without building a DataFrame.

    As in a DataFrame built from the records, a column some records leave out
    is missing in those records; a column every record leaves out is a missing column.
    Numeric columns whose values are all plain numbers (or null) are converted
    together as one block.
    """
    numeric = [c for c in schema if c.kind == "numeric"]
    done: dict[str, np.ndarray] = {}
    if numeric and records and all(type(r) is dict for r in records):
        rows = [[record.get(c.name, _ABSENT) for c in numeric] for record in records]
        if all(type(v) in _PLAIN_NUMBERS for row in rows for v in row):
            try:
                block = np.array(rows, dtype=np.float64)
            except OverflowError:  # an integer beyond float64: the per-column path says so
                block = None
            if block is not None and not (np.abs(block) > FLOAT32_MAX).any():
                block = np.asfortranarray(block, dtype=np.float32)
                done = {c.onnx_name: block[:, j] for j, c in enumerate(numeric)}
    columns = {}
    for c in schema:
        if c.onnx_name in done:
            columns[c.name] = done[c.onnx_name]
            continue
        values = [record.get(c.name, _ABSENT) for record in records]
        if not all(v is _ABSENT for v in values):
            columns[c.name] = [None if v is _ABSENT else v for v in values]
    out = coerce_columns(columns, len(records), [c for c in schema if c.onnx_name not in done], source) if len(done) < len(schema) else {}
    return {c.onnx_name: done[c.onnx_name] if c.onnx_name in done else out[c.onnx_name] for c in schema}


_ABSENT = object()


def coerce_columns(columns: Any, n_rows: int, schema: list[Column], source: str = "input") -> dict[str, np.ndarray]:
    """The one coercion of raw values to the graph's inputs, column by column (no per-row pandas work).

    Parameters
    ----------
    columns : DataFrame or mapping of str to sequence
        Raw values by column name: a DataFrame's columns (dtypes are used:
        numeric columns take a vectorised path), or lists/arrays of Python
        values (e.g. JSON records); extra columns are ignored.
    n_rows : int
    schema : list of Column
    source : str
        What the records are (a file name, "request"), for messages.

    Returns
    -------
    dict of str to ndarray of shape (n_rows,)
        Keyed by ``onnx_name``: float32 for numeric columns (NaN where
        missing), object arrays of str for categorical and boolean columns.

    Raises
    ------
    InputError
        As :func:`coerce`.
    """
    if n_rows == 0:
        raise InputError(f"{source}: no records to predict", "send at least one record")
    present = set(columns.columns.tolist()) if isinstance(columns, pd.DataFrame) else columns
    absent = [c.name for c in schema if c.name not in present]
    if absent:
        raise InputError(
            f"{source}: missing column(s) {', '.join(repr(a) for a in absent)}",
            f"the model expects: {', '.join(c.name for c in schema)}",
        )
    out: dict[str, np.ndarray] = {}
    if isinstance(columns, pd.DataFrame):
        columns, out = _frame_columns(columns, schema, source)
    for col in schema:
        if col.onnx_name in out:
            continue
        values = columns[col.name]
        if col.kind == "numeric":
            out[col.onnx_name] = _numbers(values, col, source)
        elif col.kind == "boolean":
            mapped = _map_unique(values, boolean_of)
            bad = np.fromiter((m is None for m in mapped), dtype=bool, count=len(mapped))
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise InputError(
                    f"{source}: column '{col.name}' must be a boolean, got {_shown(_at(values, row))!r} in row {row}",
                    "send true or false (or yes/no, 1/0), or null for a missing value",
                )
            out[col.onnx_name] = mapped
        else:
            markers = frozenset(col.marker_values)
            out[col.onnx_name] = _map_unique(values, lambda v: category_of(v, markers))
    return out


def _frame_columns(frame: pd.DataFrame, schema: list[Column], source: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A frame's schema columns, and the plain numeric ones already coerced.

    Columns of plain numpy numeric (or bool) dtype are taken as one float64
    block, range-checked and cast once (column access and per-column work
    are what cost time in pandas); the others are returned as Series for the
    per-column rules.
    """
    order = frame.columns.tolist()
    dtypes = dict(zip(order, frame.dtypes.tolist()))
    plain = [c for c in schema if c.kind == "numeric" and isinstance(dtypes.get(c.name), np.dtype) and dtypes[c.name].kind in "fiub"]
    done: dict[str, np.ndarray] = {}
    if plain:
        names = [c.name for c in plain]
        block = (frame if names == order else frame[names]).to_numpy(dtype=np.float64)
        too_large = np.abs(block) > FLOAT32_MAX
        if too_large.any():
            row, j = (int(i) for i in np.argwhere(too_large)[0])
            _checked_float32(block[:, j], block[:, j], plain[j], source)  # raises, naming the column and the row
        block = np.asfortranarray(block, dtype=np.float32)  # each column contiguous
        done = {c.onnx_name: block[:, j] for j, c in enumerate(plain)}
    skip = {c.name for c in plain}
    return {c.name: frame[c.name] for c in schema if c.name not in skip}, done


def _at(values: Any, row: int) -> Any:
    return values.iloc[row] if isinstance(values, pd.Series) else values[row]


_PLAIN_NUMBERS = frozenset({float, int, bool, type(None), np.float64, np.float32, np.int64, np.int32, np.bool_})
"""Value types whose conversion to float64 needs no parsing (None is missing, booleans 1/0)."""


def _shown(value: Any) -> Any:
    """A value as the user wrote it (numpy scalars as plain Python ones), for messages."""
    return value.item() if isinstance(value, np.generic) else value


def _numbers(values: Any, col: Column, source: str) -> np.ndarray:
    if not isinstance(values, pd.Series):
        if all(type(v) in _PLAIN_NUMBERS for v in values):
            try:  # JSON numbers, None and booleans: one vectorised conversion, the same values as the parsing path below
                return _checked_float32(np.array(values, dtype=np.float64), values, col, source)
            except OverflowError:  # an integer beyond float64: the parsing path below says so
                pass
        values = pd.Series(values, dtype=object)
    kind = getattr(values.dtype, "kind", "O")
    if kind in "fiub" and isinstance(values.dtype, np.dtype):  # plain numpy numbers and booleans: no parsing, no copies beyond one cast
        return _checked_float32(values.to_numpy(dtype=np.float64), values, col, source)
    if pd.api.types.is_bool_dtype(values.dtype):
        values = values.astype("float64")
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers_ = pd.to_numeric(values, errors="coerce").astype("float64")
        bad = np.zeros(len(values), dtype=bool)
    else:
        raw = values.astype(object)
        text = raw.map(lambda v: v.strip() if isinstance(v, str) else v)
        marker = text.map(lambda v: isinstance(v, str) and v.lower() in MISSING_MARKERS).astype(bool)
        text = text.where(~marker, None).map(lambda v: float(v) if isinstance(v, (bool, np.bool_)) else v)
        numbers_ = pd.to_numeric(text, errors="coerce").astype("float64")
        bad = (numbers_.isna() & text.notna()).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{source}: column '{col.name}' must be numeric, got {_shown(values.iloc[row])!r} in row {row}",
            "send a number, or null for a missing value",
        )
    return _checked_float32(numbers_.to_numpy(dtype="float64"), values, col, source)


def _checked_float32(array: np.ndarray, values: Any, col: Column, source: str) -> np.ndarray:
    """float64 numbers as float32, refusing magnitudes (and infinities) beyond float32's range."""
    too_large = np.abs(array) > FLOAT32_MAX
    if too_large.any():
        row = int(np.flatnonzero(too_large)[0])
        raise InputError(
            f"{source}: column '{col.name}' has a value beyond the float32 range ({array[row]:g}) in row {row}",
            "send a finite number below 3.4e38 in magnitude, or null for a missing value",
        )
    return array.astype("float32")


def missing_notes(model_input: Any, schema: list[Column], encoding: str = "encoded as all zeros") -> list[str]:
    """Warnings for values the encoder turns into all zeros: unseen categories, and missing values a column never had in training.

    Parameters
    ----------
    model_input : DataFrame or mapping of str to ndarray
        From :func:`coerce` or :func:`coerce_columns` (keyed by ``onnx_name``).
    schema : list of Column
        With the training ``categories``.
    encoding : str
        What the encoder does with such a value (``"encoded as all zeros"`` for one-hot, ``"encoded as -1"`` for ordinal).

    Returns
    -------
    list of str
        One message per (column, value), e.g. ``"column 'color': unseen category 'teal' (rows 0, 3) encoded as all zeros"``.
    """
    notes = []
    for col in schema:
        if not col.is_text or not col.categories:
            continue
        known = set(col.categories)
        values = np.asarray(model_input[col.onnx_name], dtype=object)
        for value in sorted(set(values.tolist()) - known):
            rows = np.flatnonzero(values == value)[:5].tolist()
            where = f"(rows {', '.join(map(str, rows))})"
            if value == MISSING_CATEGORY:
                notes.append(f"column '{col.name}': missing value {where} {encoding}: the training split had no missing value there ({MISSING_RULE})")
            else:
                notes.append(f"column '{col.name}': unseen category {value!r} {where} {encoding}")
    return notes


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


def out_of_range(model_input: Any, schema: list[Column], margin: float | None) -> dict[int, str]:
    """Records holding a numeric value outside the accepted range (:func:`accepted_range`).

    Parameters
    ----------
    model_input : DataFrame or mapping of str to ndarray
        From :func:`coerce` or :func:`coerce_columns` (keyed by ``onnx_name``).
    schema : list of Column
    margin : float or None

    Returns
    -------
    dict of int to str
        Row position to a message naming the first offending column, its
        value and the accepted range; missing values (NaN) are accepted.
    """
    return RangeCheck(schema, margin)(model_input)


class RangeCheck:
    """:func:`out_of_range` with the accepted ranges computed once (the predictor keeps one per bundle).

    The common case, every value inside its range, costs one vectorised
    comparison over all numeric columns; messages are only built for the
    records that fail.

    Parameters
    ----------
    schema : list of Column
    margin : float or None
        ``input_range.margin``; None accepts every value.
    """

    def __init__(self, schema: list[Column], margin: float | None) -> None:
        self.margin = margin
        self.columns = [] if margin is None else [c for c in schema if c.kind == "numeric" and c.min is not None and c.max is not None]
        ranges = [accepted_range(c, margin) for c in self.columns]
        self.low = np.array([r[0] for r in ranges], dtype=np.float64).reshape(-1, 1)
        self.high = np.array([r[1] for r in ranges], dtype=np.float64).reshape(-1, 1)
        self.lows, self.highs = [float(r[0]) for r in ranges], [float(r[1]) for r in ranges]

    def outside(self, model_input: Any) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """The columns holding values outside their range: ``(index into columns, lows and highs; its values; row positions outside)``, in schema order.

        Parameters
        ----------
        model_input : DataFrame or mapping of str to ndarray of shape (n_rows,)
            Keyed by ``onnx_name``; NaN (missing) is never outside.
        """
        if not self.columns:
            return []
        values = [np.asarray(model_input[c.onnx_name]) for c in self.columns]
        block = np.array(values, dtype=np.float64) if len(values[0]) <= 256 else None
        if block is not None:
            if not ((block < self.low) | (block > self.high)).any():
                return []
            suspects = range(len(self.columns))
        else:
            # Python floats compare with float32 arrays without casting them to float64; NaN compares False: accepted
            suspects = [i for i, (v, low, high) in enumerate(zip(values, self.lows, self.highs)) if ((v < low) | (v > high)).any()]
        found = []
        for i in suspects:
            rows = np.flatnonzero((values[i] < self.lows[i]) | (values[i] > self.highs[i]))
            if len(rows):
                found.append((i, values[i], rows))
        return found

    def __call__(self, model_input: Any) -> dict[int, str]:
        """Row position to the message of its first offending column (see :func:`out_of_range`)."""
        errors: dict[int, str] = {}
        for i, column_values, rows in self.outside(model_input):
            col, low, high = self.columns[i], self.lows[i], self.highs[i]
            for row in rows:
                errors.setdefault(
                    int(row),
                    f"column '{col.name}' = {float(column_values[row]):.6g} is outside the accepted range [{low:.6g}, {high:.6g}] "
                    f"(the training range {col.min:.6g} to {col.max:.6g} widened by {self.margin:g} times its width)",
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


def check_text(model_input: Any, schema: list[Column], source: str = "input") -> None:
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
        values = np.asarray(model_input[col.onnx_name], dtype=object)
        if is_valid_text("".join(values)):
            continue
        row = next(i for i, value in enumerate(values) if not is_valid_text(value))
        raise invalid_text_error(source, col.name, values[row], row)
