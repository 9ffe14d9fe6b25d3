"""Stratified train/validation/test split, keeping groups of identical rows together."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from shipyard.errors import DataError


@dataclass
class Split:
    """Row positions of each part of the data.

    Attributes
    ----------
    train, validation, test : ndarray of shape (n_part,)
        Integer positions into the loaded frame, sorted.
    """

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict[str, int]:
        """Return the row count of each part."""
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}


def stratified_split(
    y: pd.Series, validation: float, test: float, seed: int, target: str = "target", groups: np.ndarray | None = None
) -> Split:
    """Split rows into train, validation and test, keeping class proportions.

    With ``groups``, rows of one group always land in the same part (a
    group-aware split): the groups, in order of first appearance, are split
    stratified by the label of their first row, then expanded back to rows.
    Without duplicates this is exactly the row-level split.

    Parameters
    ----------
    y : Series of shape (n_rows,)
        Labels.
    validation, test : float
        Fractions of all rows, each in (0, 1).
    seed : int
        Random seed; the same seed gives the same split.
    target : str
        Label column name, for messages.
    groups : ndarray of shape (n_rows,), optional
        Group key of each row, e.g. a hash of its feature values
        (:func:`shipyard.data.profile.row_hash`), so that identical rows never
        straddle the split.

    Raises
    ------
    DataError
        If a class has too few rows to appear in every part.
    """
    y = pd.Series(np.asarray(y))
    if groups is None:
        groups = np.arange(len(y))
    _, first, inverse = np.unique(np.asarray(groups), return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # group ids in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    row_group = rank[inverse.reshape(-1)]  # each row's group, numbered by first appearance
    group_y = y.iloc[first[order]].reset_index(drop=True)
    counts = group_y.value_counts()
    need = 3
    if counts.min() < need:
        rare = counts.idxmin()
        rare = rare.item() if hasattr(rare, "item") else rare
        raise DataError(
            f"target column '{target}': class {rare!r} has {counts.min()} row(s)"
            f"{' (identical rows counted once)' if len(group_y) < len(y) else ''}; a stratified "
            f"train/validation/test split needs at least {need}",
            "add rows of that class or drop it",
        )
    positions = np.arange(len(group_y))
    try:
        rest, test_idx = train_test_split(positions, test_size=test, stratify=group_y, random_state=seed)
        train_idx, val_idx = train_test_split(
            rest, test_size=validation / (1.0 - test), stratify=group_y.iloc[rest], random_state=seed
        )
    except ValueError as exc:
        raise DataError(f"target column '{target}': cannot split stratified: {exc}", "use larger data.split fractions or more rows") from None
    parts = [np.flatnonzero(np.isin(row_group, idx)) for idx in (train_idx, val_idx, test_idx)]
    return Split(*parts)
