"""Checks that stop a run early when the data cannot serve the task."""

from __future__ import annotations

import pandas as pd

from shipyard.errors import DataError


def select_columns(
    frame: pd.DataFrame, target: str, features: list[str] | None, source: str, task: str = "classification"
) -> list[str]:
    """Return the feature columns after checking target and features exist.

    Parameters
    ----------
    frame : DataFrame of shape (n_rows, n_columns)
    target : str
        Label column.
    features : list of str or None
        Requested input columns; ``None`` means all but the target.
    source : str
        Where the data came from, for messages.
    task : {"classification", "regression"}
        Class checks (continuous values, a single class) apply to classification only.

    Raises
    ------
    DataError
        If the target or a feature is absent, the target has fewer than two
        classes, or a feature column is entirely empty.
    """
    columns = list(frame.columns)
    if target not in columns:
        raise DataError(
            f"{source}: target column '{target}' not found; columns are: {', '.join(columns)}",
            "set data.target to one of these",
        )
    if features is None:
        features = [c for c in columns if c != target]
    missing = [f for f in features if f not in columns]
    if missing:
        raise DataError(f"{source}: feature column(s) {', '.join(repr(m) for m in missing)} not found", f"columns are: {', '.join(columns)}")
    if target in features:
        raise DataError(f"{source}: target column '{target}' is also listed in data.features", "remove it from data.features")
    if not features:
        raise DataError(f"{source}: no feature columns besides the target '{target}'", "the data needs at least one input column")
    labels = frame[target].dropna()
    if len(labels) < len(frame):
        raise DataError(
            f"{source}: target column '{target}' has {len(frame) - len(labels)} missing value(s)",
            "drop or label those rows",
        )
    classes = labels.unique()
    if task == "classification" and pd.api.types.is_float_dtype(labels.dtype) and not (labels == labels.round()).all():
        raise DataError(
            f"{source}: target column '{target}' holds continuous values ({len(classes)} distinct, e.g. {labels.iloc[0]!r}); "
            "classification needs class labels",
            "check data.target, or bin the values into classes",
        )
    if task == "classification" and len(classes) < 2:
        raise DataError(
            f"{source}: target column '{target}' has a single class ({classes[0]!r}); classification needs at least two",
            "check data.target and the file",
        )
    empty = [c for c in features if frame[c].isna().all()]
    if empty:
        raise DataError(
            f"{source}: feature column(s) {', '.join(repr(c) for c in empty)} are entirely empty",
            "drop them via data.features or fill them",
        )
    return features
