"""Read CSV files the way they come: any common encoding, delimiter and number format.

:func:`read_csv` detects

- the encoding: UTF-8 with or without a byte-order mark, else Windows-1252 /
  Latin-1 (every byte decodes, so this never fails);
- the delimiter among ``,`` ``;`` tab and ``|`` (the one that splits the first
  rows into the most, equally wide, fields);
- the number format: decimal point or decimal comma, with ``,`` / ``.`` /
  space thousands separators;
- common missing markers: empty, ``NA``, ``N/A``, ``NaN``, ``null``, ``None``,
  ``?``, ``-``, ``#N/A`` (case-insensitive).

Quoted fields may hold delimiters and newlines (pandas' C parser). A column
whose values are mostly numbers is numeric; the few values that are not are
read as missing and reported (``mixed_types``: the values and 1-based data
row numbers), so the profile can name them.
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

MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "-", "#n/a"})
DELIMITERS = (",", ";", "\t", "|")
NUMERIC_SHARE = 0.8
"""A column is numeric when at least this share of its non-missing values are numbers."""

_DOT = re.compile(r"^[+-]?(\d+|\d{1,3}(,\d{3})+)?(\.\d+)?([eE][+-]?\d+)?$")
_COMMA = re.compile(r"^[+-]?(\d+|\d{1,3}(\.\d{3})+)?(,\d+)?([eE][+-]?\d+)?$")
_SPACES = re.compile(r"[\s\u00a0\u202f']")


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


def read_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV file, detecting encoding, delimiter, number format and missing markers.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    DataFrame of shape (n_rows, n_columns)
        Numeric columns as float64 (int64 when every value is a whole number
        and none is missing), other columns as str with NaN where missing.
        ``frame.attrs["reading"]`` holds the report: ``encoding``,
        ``delimiter``, ``decimal``, ``rows``, ``numeric_columns`` and
        ``mixed_types`` (per column: ``column``, ``count``, ``examples``,
        ``rows``).

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
    cells.columns = [str(c).strip() for c in cells.columns]
    stripped = {c: cells[c].str.strip() for c in cells.columns}
    missing = {c: s.str.lower().isin(MISSING_MARKERS) for c, s in stripped.items()}
    present = [s[~missing[c]] for c, s in stripped.items()]
    decimal = detect_decimal(pd.concat(present)) if present else "."
    out: dict[str, pd.Series] = {}
    mixed: list[dict[str, Any]] = []
    numeric_columns = []
    for name, values in stripped.items():
        miss = missing[name]
        numbers = parse_numbers(values, decimal)
        given = ~miss
        parsed = numbers.notna() & given
        share = parsed.sum() / given.sum() if given.any() else 0.0
        if given.any() and share >= NUMERIC_SHARE:
            bad = given & numbers.isna()
            if bad.any():
                rows = np.flatnonzero(bad.to_numpy())
                mixed.append(
                    {
                        "column": name,
                        "count": int(bad.sum()),
                        "examples": values.iloc[rows[:3]].tolist(),
                        "rows": [int(r) + 1 for r in rows[:3]],
                    }
                )
            if numbers.notna().all() and np.all(np.mod(numbers.to_numpy(), 1) == 0) and np.abs(numbers).max() < 2**53:
                numbers = numbers.astype("int64")
            out[name] = numbers
            numeric_columns.append(name)
        elif not given.any():
            out[name] = pd.Series(np.nan, index=values.index, dtype="float64")
        else:
            out[name] = values.astype(object).where(given, np.nan)
    frame = pd.DataFrame(out, index=cells.index)
    frame.attrs["reading"] = {
        "encoding": encoding,
        "delimiter": delimiter,
        "decimal": decimal,
        "rows": int(len(frame)),
        "numeric_columns": numeric_columns,
        "mixed_types": mixed,
    }
    return frame
