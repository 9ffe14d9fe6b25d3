"""Read CSV files the way they come: any common encoding, delimiter and number format.

:func:`read_csv` detects

- the encoding: UTF-8 with or without a byte-order mark, else Windows-1252 /
  Latin-1 (every byte decodes, so this never fails);
- the delimiter among ``,`` ``;`` tab and ``|`` (the one that splits the first
  rows into the most, equally wide, fields);
- the number format: decimal point or decimal comma, with ``,`` / ``.`` /
  space thousands separators;
- common missing markers: empty, ``NA``, ``N/A``, ``NaN``, ``null``, ``None``,
  ``?``, ``-``, ``#N/A`` (case-insensitive), except where a marker is plainly
  a category of a text column (``NA`` = Namibia beside other two-letter
  codes): that one is kept as a value and reported (``kept_markers``).

Quoted fields may hold delimiters and newlines (pandas' C parser). A column
whose values are mostly numbers is numeric; the few values that are not are
read as missing and reported (``mixed_types``: the values and 1-based data
row numbers), so the profile can name them. Digit strings with a significant
leading zero (``02134``, ``001``) are codes and stay text (``codes``). A text
column that holds numbers too is reported (``mixed_types`` read as text), and
so is one number written two ways (``1001`` and ``1001.0``:
``number_spellings``), as those would be two categories.

:func:`type_columns` applies the same rules to the object columns of JSON
Lines and Parquet tables, so a value reads the same from every format; with
``kinds`` (the recipe's ``data.types``, or a bundle's schema in batch
prediction) a column is read as the kind it had in training.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import DataError
from shipyard.schema import MISSING_MARKERS, category_of

DELIMITERS = (",", ";", "\t", "|")
NUMERIC_SHARE = 0.8
"""A column is numeric when at least this share of its non-missing values are numbers."""

_DOT = re.compile(r"^[+-]?(\d+|\d{1,3}(,\d{3})+)?(\.\d+)?([eE][+-]?\d+)?$")
_COMMA = re.compile(r"^[+-]?(\d+|\d{1,3}(\.\d{3})+)?(,\d+)?([eE][+-]?\d+)?$")
_SPACES = re.compile(r"[\s\u00a0\u202f']")
_CODE = r"^0\d+$"
"""A digit string with a leading zero: a code (zip, site), not a quantity."""
CODE_SHARE = 0.01
"""A column of digit strings is a column of codes when at least this share of its values has a leading zero."""
PLAIN_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
"""Text that is a number in plain notation (used to spot numbers inside a text column)."""


def decode(raw: bytes) -> tuple[str, str]:
    """Decode file bytes.

    Returns
    -------
    (str, str)
        The text and the encoding used: ``utf-8-sig`` (UTF-8 with a BOM),
        ``utf-8``, ``cp1252`` or ``latin-1``.
    """
    if raw.startswith(codecs.BOM_UTF8):
        return raw[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace"), "utf-8-sig"
    for encoding in ("utf-8", "cp1252", "latin-1"):
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def sniff_delimiter(text: str) -> str:
    """Return the delimiter that splits the first rows into the most, equally wide, fields.

    Quoted fields are honoured (the rows are parsed with :mod:`csv`), so a
    delimiter inside quotes does not count. Falls back to ``,``.
    """
    sample = text[: 1 << 16]
    best, best_score = ",", (0.0, 1)
    for delimiter in DELIMITERS:
        try:
            # newline="": a bare carriage return ends a row, as pandas' parser reads it.
            rows = [r for r in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter) if r][:50]
        except csv.Error:  # e.g. a NUL byte: this delimiter cannot be judged on the sample
            continue
        if len(sample) == 1 << 16 and len(rows) > 2:
            rows = rows[:-1]  # the sample may cut the last row
        widths = [len(r) for r in rows]
        if not widths:
            continue
        mode = max(set(widths), key=widths.count)
        score = (widths.count(mode) / len(widths), mode)
        if mode > 1 and score > best_score:
            best, best_score = delimiter, score
    return best


def detect_decimal(cells: pd.Series) -> str:
    """Return ``","`` when the cells use decimal commas (``3,14``, ``1.234,5``), else ``"."``.

    Only unambiguous cells count: ``1,234`` could be either and is ignored.
    """
    text = cells.astype(str).str.replace(_SPACES, "", regex=True)
    comma = text.str.match(r"^[+-]?\d*,(\d{1,2}|\d{4,})$") | text.str.match(r"^[+-]?\d{1,3}(\.\d{3})+,\d+$")
    dot = text.str.match(r"^[+-]?\d*\.(\d{1,2}|\d{4,})$") | text.str.match(r"^[+-]?\d{1,3}(,\d{3})+\.\d+$")
    return "," if comma.sum() > dot.sum() else "."


def parse_numbers(values: pd.Series, decimal: str) -> pd.Series:
    """Parse strings as numbers in the given format; NaN where a value is not a number.

    Parameters
    ----------
    values : Series of str
    decimal : {".", ","}
        The decimal separator; the other one (and spaces) may group thousands.

    Returns
    -------
    Series of float64
    """
    text = values.astype(str).str.replace(_SPACES, "", regex=True)
    if decimal == ",":
        ok = text.str.match(_COMMA) & text.str.contains(r"\d")
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    else:
        ok = text.str.match(_DOT) & text.str.contains(r"\d")
        text = text.str.replace(",", "", regex=False)
    return pd.to_numeric(text.where(ok), errors="coerce").astype("float64")


def read_csv(path: str | Path, kinds: dict[str, str] | None = None, keep: dict[str, set[str]] | None = None) -> pd.DataFrame:
    """Read a CSV file, detecting encoding, delimiter, number format and missing markers.

    Parameters
    ----------
    path : str or Path
    kinds : dict of str to str, optional
        Column to ``numeric``, ``categorical`` or ``boolean``: read the column
        as that kind instead of inferring it (``data.types``; a bundle's schema
        when predicting).
    keep : dict of str to set of str, optional
        Column to the missing-marker spellings that are values there (a
        bundle's ``marker_values``).

    Returns
    -------
    DataFrame of shape (n_rows, n_columns)
        Numeric columns as float64 (int64 when every value is a whole number
        and none is missing), other columns as str with NaN where missing.
        ``frame.attrs["reading"]`` holds the report: ``encoding``,
        ``delimiter``, ``decimal``, ``rows``, ``numeric_columns``,
        ``mixed_types`` (per column: ``column``, ``count``, ``given``,
        ``examples``, ``rows``, ``read_as``: ``missing`` for the few
        non-numbers of a numeric column, ``text`` for numbers among text,
        ``not numeric`` for a column ``kinds`` calls numeric that mostly holds
        text, left as text), ``codes``, ``kept_markers`` and ``number_spellings``.

    Raises
    ------
    DataError
        If the file is empty or cannot be parsed as CSV.
    """
    path = Path(path)
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path}: the file is empty", "a CSV needs a header row and at least one data row")
    text, encoding = decode(raw)
    delimiter = sniff_delimiter(text)
    try:
        cells = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, na_filter=False, engine="c")
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty", "a CSV needs a header row and at least one data row") from None
    except pd.errors.ParserError as exc:
        first = str(exc).strip().splitlines()[0]
        raise DataError(f"{path}: cannot read CSV (delimiter {delimiter!r}): {first}", "check quoting and that every row has the same number of fields") from None
    header = [str(c).strip() for c in next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])]
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:  # pandas would rename the second one ('a.1'), a name the data never had
        raise DataError(
            f"{path}: column name(s) {', '.join(repr(c) for c in repeated)} appear more than once in the header",
            "give every column its own name",
        )
    cells.columns = [str(c).strip() for c in cells.columns]
    stripped = {c: cells[c].astype(object).str.strip() for c in cells.columns}
    present = [s[~s.str.lower().isin(MISSING_MARKERS)] for s in stripped.values()]
    decimal = detect_decimal(pd.concat(present)) if present else "."
    frame, report = _type_all(stripped, decimal, kinds, keep, cells.index)
    frame.attrs["reading"] = {"encoding": encoding, "delimiter": delimiter, "decimal": decimal, "rows": int(len(frame)), **report}
    return frame


def type_columns(frame: pd.DataFrame, kinds: dict[str, str] | None = None, keep: dict[str, set[str]] | None = None) -> pd.DataFrame:
    """Apply the CSV reader's rules to a table read from JSON Lines or Parquet.

    Numeric, boolean and datetime columns are kept as they are; object and
    string columns go through the same rules as CSV cells (missing markers,
    codes with leading zeros, mostly-numeric columns, numbers among text).

    Parameters
    ----------
    frame : DataFrame of shape (n_rows, n_columns)
    kinds, keep : dict, optional
        As in :func:`read_csv`.

    Returns
    -------
    DataFrame of shape (n_rows, n_columns)
        With ``attrs["reading"]`` as :func:`read_csv` writes it (without the CSV format keys).
    """
    columns: dict[str, pd.Series] = {}
    typed: set[str] = set()
    for name in frame.columns:
        values = frame[name]
        forced = (kinds or {}).get(str(name))
        plain = pd.api.types.is_object_dtype(values.dtype) or pd.api.types.is_string_dtype(values.dtype)
        if plain or (forced and forced != "numeric" and pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)):
            columns[str(name)] = pd.Series([v.strip() if isinstance(v, str) else v for v in values.astype(object)], index=values.index, dtype=object)
        else:
            columns[str(name)] = values
            typed.add(str(name))
    frame_out, report = _type_all(columns, ".", kinds, keep, frame.index, typed)
    frame_out.attrs["reading"] = {"rows": int(len(frame_out)), **report}
    return frame_out


def _type_all(
    columns: dict[str, pd.Series],
    decimal: str,
    kinds: dict[str, str] | None,
    keep: dict[str, set[str]] | None,
    index: pd.Index,
    typed: set[str] = frozenset(),  # type: ignore[assignment]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    out: dict[str, pd.Series] = {}
    report: dict[str, Any] = {"numeric_columns": [], "mixed_types": [], "codes": [], "kept_markers": [], "number_spellings": []}
    for name, values in columns.items():
        if name in typed:
            out[name] = values  # already typed by the file format (numbers, booleans, dates)
            if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
                report["numeric_columns"].append(name)
            continue
        column, notes = _type_column(name, values, decimal, (kinds or {}).get(name), frozenset((keep or {}).get(name, ())))
        out[name] = column
        for key, entry in notes.items():
            report[key].append(entry)
        if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
            report["numeric_columns"].append(name)
    return pd.DataFrame(out, index=index), report


def _rows(mask: np.ndarray, n: int = 3) -> list[int]:
    """1-based data row numbers of the first ``n`` rows in ``mask``."""
    return [int(r) + 1 for r in np.flatnonzero(mask)[:n]]


def _shape(value: str) -> str:
    """The character classes of a value: ``NA`` and ``NC`` -> ``AA``, ``a1`` -> ``a9``."""
    return re.sub(r"[A-Z]", "A", re.sub(r"[a-z]", "a", re.sub(r"\d", "9", value)))


def plausible_markers(values: pd.Series, is_marker: pd.Series) -> dict[str, int]:
    """Missing markers that are plainly categories of a text column, with their counts.

    A marker spelling (``NA``) counts as a category when it occurs at least
    twice and at least 90% of the column's other values have exactly its
    shape (:func:`_shape`: two capital letters, say), as in a column of
    two-letter country codes where ``NA`` is Namibia.

    Parameters
    ----------
    values : Series of str
        Stripped cells of one column.
    is_marker : Series of bool
        Which cells are missing markers.
    """
    others = values[~is_marker & values.map(lambda v: isinstance(v, str) and v != "")]
    if others.nunique() < 2:
        return {}
    shapes = others.map(_shape)
    kept = {}
    for token, count in values[is_marker].value_counts().items():
        if token and count >= 2 and (shapes == _shape(token)).mean() >= 0.9:
            kept[str(token)] = int(count)
    return kept


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _type_column(name: str, values: pd.Series, decimal: str, kind: str | None, keep: frozenset[str]) -> tuple[pd.Series, dict[str, Any]]:
    """Type one column of raw cells (stripped strings, or JSON values): numbers, booleans or text."""
    notes: dict[str, Any] = {}
    values = values.astype(object)
    is_str = values.map(lambda v: isinstance(v, str)).astype(bool)
    lowered = values.where(is_str, "").astype(str).str.lower()
    is_marker = is_str & lowered.isin(MISSING_MARKERS)
    absent = values.isna() & ~is_str
    if kind is None and is_marker.any():
        kept = plausible_markers(values.where(is_str, ""), is_marker)
        for token, count in list(kept.items())[:1]:  # the most frequent one is reported
            others = values[is_str & ~is_marker].value_counts().index[:3].tolist()
            notes["kept_markers"] = {"column": name, "value": token, "count": count, "examples": [str(o) for o in others], "rows": _rows((values == token).to_numpy())}
        keep = frozenset(kept)
    if keep:
        is_marker = is_marker & ~values.isin(list(keep))
    missing = (is_marker | absent).to_numpy()
    given = ~missing
    numbers = pd.Series(np.nan, index=values.index, dtype="float64")
    if is_str.any():
        numbers[is_str] = parse_numbers(values[is_str].astype(str), decimal)
    is_num = values.map(_is_number).astype(bool)
    numbers[is_num] = pd.to_numeric(values[is_num], errors="coerce").astype("float64")
    numeric_like = numbers.notna().to_numpy() & given
    if kind in ("categorical", "boolean"):
        return values.where(given, np.nan), notes
    if kind is None:
        if given.any() and values[given].map(lambda v: isinstance(v, (bool, np.bool_))).all():
            return values.where(given, None).astype("boolean"), notes
        digits = is_str.to_numpy() & given & values.where(is_str, "").astype(str).str.match(r"^\d+$").to_numpy()
        leading = digits & values.where(is_str, "").astype(str).str.match(_CODE).to_numpy()
        if leading.any() and not (numeric_like & ~digits).any() and leading.sum() >= CODE_SHARE * given.sum():
            notes["codes"] = {"column": name, "count": int(leading.sum()), "examples": values[leading].iloc[:3].tolist(), "rows": _rows(leading)}
            return _text(name, values, given, numbers, notes)
    share = numeric_like.sum() / given.sum() if given.any() else 0.0
    if kind == "numeric" and given.any() and share < NUMERIC_SHARE:
        # Mostly not numbers where numbers are expected: left as text, so coerce names a bad value (or the caller the column).
        bad = given & ~numeric_like
        notes["mixed_types"] = {
            "column": name, "count": int(bad.sum()), "given": int(given.sum()), "examples": values[bad].iloc[:3].tolist(), "rows": _rows(bad), "read_as": "not numeric",
        }
        return values.where(given, np.nan), notes
    if kind == "numeric" or (given.any() and share >= NUMERIC_SHARE):
        bad = given & ~numeric_like
        if bad.any():
            notes["mixed_types"] = {
                "column": name, "count": int(bad.sum()), "given": int(given.sum()), "examples": values[bad].iloc[:3].tolist(), "rows": _rows(bad), "read_as": "missing",
            }
        numbers = numbers.where(given, np.nan)
        if numbers.notna().all() and np.all(np.mod(numbers.to_numpy(), 1) == 0) and np.abs(numbers).max() < 2**53:
            numbers = numbers.astype("int64")
        return numbers, notes
    if not given.any():
        return pd.Series(np.nan, index=values.index, dtype="float64"), notes
    return _text(name, values, given, numbers, notes)


def _text(name: str, values: pd.Series, given: np.ndarray, numbers: pd.Series, notes: dict[str, Any]) -> tuple[pd.Series, dict[str, Any]]:
    """A text column: report numbers among the text and one number written two ways."""
    plain = values.map(lambda v: _is_number(v) or (isinstance(v, str) and re.match(PLAIN_NUMBER, v) is not None)).astype(bool).to_numpy() & given
    if plain.any() and (~plain & given).any() and "codes" not in notes:
        texts = ~plain & given
        notes["mixed_types"] = {
            "column": name,
            "count": int(plain.sum()),
            "examples": values[plain].iloc[:2].tolist() + values[texts].iloc[:2].tolist(),
            "rows": _rows(plain, 2) + _rows(texts, 2),
            "read_as": "text",
        }
    if plain.any():
        spelled = pd.DataFrame({"number": numbers[plain], "category": values[plain].map(category_of), "row": np.flatnonzero(plain) + 1, "value": values[plain]})
        for number, group in spelled.groupby("number", sort=True):
            firsts = group.drop_duplicates("category")
            if len(firsts) > 1:
                notes["number_spellings"] = {
                    "column": name,
                    "number": float(number),
                    "values": firsts["value"].iloc[:3].tolist(),
                    "rows": [int(r) for r in firsts["row"].iloc[:3]],
                }
                break
    return values.where(given, np.nan), notes
