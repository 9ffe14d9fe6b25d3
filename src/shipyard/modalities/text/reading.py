"""Read tables holding raw text, leaving every text exactly as written (torch-free: batch prediction uses it)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from shipyard.errors import DataError

MISSING_LABELS = {"", "na", "n/a", "nan", "null", "none"}
SUFFIXES = (".csv", ".parquet", ".pq", ".jsonl", ".ndjson")


def read_raw(path: Path, keep_blank_lines: bool = False) -> pd.DataFrame:
    """Read a CSV, Parquet or JSON Lines table; CSV cells stay strings exactly as written (no stripping, nothing read as missing).

    ``keep_blank_lines``: a blank CSV line is a row of empty cells (batch
    prediction: one output row per input line) instead of being skipped.

    Raises
    ------
    DataError
        If the file is missing, of another kind, unreadable or empty.
    """
    if not path.is_file():
        raise DataError(f"{path}: data file not found", "check the path")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"{path}: unknown file kind '{path.suffix}' for text data", "use a .csv, .parquet or .jsonl file with a text column")
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig", skip_blank_lines=not keep_blank_lines)
        elif suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_json(path, lines=True, dtype=False)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})", "save the file as UTF-8") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot read: {first}", "check the file") from None
    if frame.empty:
        raise DataError(f"{path}: no data rows", "the file needs a header row and at least one data row")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _texts(frame: pd.DataFrame, column: str, path: Path, key: str) -> pd.Series:
    if column not in frame.columns:
        raise DataError(f"{path}: column '{column}' ({key}) not found; columns are: {', '.join(frame.columns)}", f"set {key} to one of these")
    values = frame[column]
    return values.astype(object).where(values.notna(), "").map(lambda v: v if isinstance(v, str) else str(v))


def read_texts(path: Path, column: str) -> pd.DataFrame:
    """A file of texts for batch prediction, every column kept: CSV cells as written (a blank line is an empty text), other files' values as read (missing as None).

    Raises
    ------
    DataError
        If the file cannot be read or lacks the column.
    """
    frame = read_raw(path, keep_blank_lines=True)
    if column not in frame.columns:
        _texts(frame, column, path, "the model's text column")  # raises, naming the columns
    values = frame[column].astype(object)
    # As a request's records: a JSON Lines number or list stays what it is, a missing value is None (the predictor refuses those records).
    frame[column] = values.where(values.notna(), None)
    return frame


def read_text_table(path: Path, text: str, target: str) -> pd.DataFrame:
    """The text and target columns of a file, for training.

    The target becomes numbers when every label is a number, as in a table.

    Returns
    -------
    DataFrame of shape (n_rows, 2)
        Columns ``text`` and ``target`` (the recipe's names).

    Raises
    ------
    DataError
        If the file cannot be read, lacks a column, or a label is missing.
    """
    frame = read_raw(path)
    texts = _texts(frame, text, path, "data.text")
    if target not in frame.columns:
        raise DataError(f"{path}: column '{target}' (data.target) not found; columns are: {', '.join(frame.columns)}", "set data.target to one of these")
    labels = frame[target]
    textual = pd.api.types.is_string_dtype(labels) or labels.dtype == object
    if textual:
        labels = labels.astype(object).mask(labels.astype(str).str.strip().str.lower().isin(MISSING_LABELS))
    if labels.isna().any():
        raise DataError(f"{path}: target column '{target}' has {int(labels.isna().sum())} missing value(s)", "drop or label those rows")
    if textual:
        numbers = pd.to_numeric(labels, errors="coerce")
        if numbers.notna().all():
            labels = numbers.astype("int64") if (numbers == numbers.round()).all() else numbers
    return pd.DataFrame({text: texts, target: labels})
