"""Checks that stop a run early when the columns a recipe names cannot be used."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from shipyard.errors import DataError


def select_columns(
    frame: pd.DataFrame, target: str, features: list[str] | None, source: str, check_target: Callable[[pd.Series], Any] | None = None
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
    check_target : callable, optional
        Called with the target column once it is known to be present and
        complete, before the feature columns are checked (the task's
        :meth:`~shipyard.tasks.base.Task.read_target`, so a target problem is named first).

    Raises
    ------
    DataError
        If the target or a feature is absent, the target has missing values,
        or a feature column is entirely empty. (What the target must hold is
        the task's check: :meth:`shipyard.tasks.base.Task.read_target`.)
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
    if check_target is not None:
        check_target(frame[target].reset_index(drop=True))
    empty = [c for c in features if frame[c].isna().all()]
    if empty:
        raise DataError(
            f"{source}: feature column(s) {', '.join(repr(c) for c in empty)} are entirely empty",
            "drop them via data.features or fill them",
        )
    return features
