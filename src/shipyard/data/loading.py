"""Load a table from a file or a built-in dataset.

Files are read with pandas (pyarrow for Parquet); CSV files go through
:func:`shipyard.data.reading.read_csv`, which detects encoding, delimiter,
number format and missing markers. Built-in datasets are scikit-learn's
bundled files, so nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from shipyard.data.reading import read_csv, type_columns
from shipyard.errors import DataError

BUILTIN = ("breast_cancer", "wine", "iris", "digits", "diabetes")
SUFFIXES = {".csv": "CSV", ".tsv": "CSV", ".tab": "CSV", ".parquet": "Parquet", ".pq": "Parquet", ".jsonl": "JSON Lines", ".ndjson": "JSON Lines"}


def load_table(
    source: str,
    base_dir: str | Path | None = None,
    role: str = "data.source",
    kinds: dict[str, str] | None = None,
    keep: dict[str, set[str]] | None = None,
) -> pd.DataFrame:
    """Load a table named in a recipe.

    Parameters
    ----------
    source : str
        ``sklearn:NAME`` for a bundled scikit-learn dataset (``breast_cancer``,
        ``wine``, ``iris``, ``digits``; ``diabetes`` for regression), or a path to a ``.csv`` (or
        tab-separated ``.tsv``), ``.parquet`` or ``.jsonl`` file.
    base_dir : str or Path, optional
        Directory that a relative path is resolved against (the recipe's).
    role : str
        What names the file, for the hint when it is missing (a recipe key or a command argument).
    kinds : dict of str to str, optional
        Columns read as a given kind (``numeric``, ``categorical``, ``boolean``)
        instead of inferred: the recipe's ``data.types``, or a bundle's schema
        when predicting, so a file reads as the training file did.
    keep : dict of str to set of str, optional
        Missing-marker spellings that are values of a column (a bundle's ``marker_values``).

    Returns
    -------
    DataFrame of shape (n_rows, n_columns)
        For built-in datasets the label column is ``target``, holding the
        class names where scikit-learn provides them. ``attrs["reading"]``
        holds the reading report (:func:`shipyard.data.reading.read_csv`).

    Raises
    ------
    DataError
        If the file is missing, of an unknown kind, unreadable or empty.
    """
    if source.startswith("sklearn:"):
        return _load_builtin(source.removeprefix("sklearn:"))
    path = Path(source)
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if not path.is_file():
        where = "; relative paths are read from the recipe's folder" if role == "data.source" else ""
        raise DataError(f"{path}: data file not found", f"check {role}{where}")
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"{path}: unknown file kind '{path.suffix}'",
            f"use one of {', '.join(sorted(SUFFIXES))} or a built-in dataset such as sklearn:breast_cancer",
        )
    try:
        if kind == "CSV":
            frame = read_csv(path, kinds, keep)
        elif kind == "Parquet":
            frame = type_columns(pd.read_parquet(path), kinds, keep)
        else:
            # dtype=False: pandas would otherwise turn "02134" into 2134 and true/false into 1.0/0.0.
            frame = type_columns(pd.read_json(path, lines=True, dtype=False), kinds, keep)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty", "a CSV needs a header row and at least one data row") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})", "save the file as UTF-8") from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot read {kind}: {first}", f"check that the file is valid {kind}") from None
    if frame.empty:
        raise DataError(f"{path}: no data rows", "the file needs a header row and at least one data row")
    reading = frame.attrs.get("reading")
    frame.columns = [str(c) for c in frame.columns]
    if reading is not None:
        frame.attrs["reading"] = reading
    return frame


def _load_builtin(name: str) -> pd.DataFrame:
    from sklearn import datasets

    if name not in BUILTIN:
        raise DataError(f"sklearn:{name}: unknown built-in dataset", f"choose one of {', '.join('sklearn:' + b for b in BUILTIN)}")
    # diabetes: the raw measurements (age in years, ...), not scikit-learn's pre-scaled copy.
    extra = {"scaled": False} if name == "diabetes" else {}
    bunch = getattr(datasets, f"load_{name}")(as_frame=True, **extra)
    frame = bunch.frame.copy()
    names = getattr(bunch, "target_names", None)
    if names is not None and name != "digits":
        frame["target"] = pd.Categorical.from_codes(frame["target"], [str(n) for n in names]).astype(str)
    return frame


def load_records(source: str | Path, schema: list[Any], role: str = "the DATA argument") -> pd.DataFrame:
    """Load a file of records to predict or explain with a bundle, reading each input column as training did.

    Every input column is read as the kind it had in training (a code
    column stays text even where no value has a leading zero; a numeric
    column parses numbers), and a missing marker that training kept as a
    category of a column (``NA`` = Namibia) stays that category; other
    columns are read as :func:`load_table` reads them.

    Parameters
    ----------
    source : str or Path
        A ``.csv`` / ``.tsv``, ``.parquet`` or ``.jsonl`` file.
    schema : list of Column
        The bundle's input schema.
    role : str
        What names the file, for messages.

    Returns
    -------
    DataFrame
        As :func:`load_table`, for :func:`shipyard.schema.coerce`.
    """
    return load_table(
        str(source),
        role=role,
        kinds={c.name: c.kind for c in schema},
        keep={c.name: set(c.marker_values) for c in schema if c.marker_values},
    )
