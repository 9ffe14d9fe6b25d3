"""Stratified train/validation/test split."""

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


def stratified_split(y: pd.Series, validation: float, test: float, seed: int, target: str = "target") -> Split:
    """Split rows into train, validation and test, keeping class proportions.

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

    Raises
    ------
    DataError
        If a class has too few rows to appear in every part.
    """
    counts = y.value_counts()
    need = 3
    if counts.min() < need:
        rare = counts.idxmin()
        rare = rare.item() if hasattr(rare, "item") else rare
        raise DataError(
            f"target column '{target}': class {rare!r} has {counts.min()} row(s); a stratified "
            f"train/validation/test split needs at least {need}",
            "add rows of that class or drop it",
        )
    positions = np.arange(len(y))
    try:
        rest, test_idx = train_test_split(positions, test_size=test, stratify=y, random_state=seed)
        train_idx, val_idx = train_test_split(
            rest, test_size=validation / (1.0 - test), stratify=y.iloc[rest], random_state=seed
        )
    except ValueError as exc:
        raise DataError(f"target column '{target}': cannot split stratified: {exc}", "use larger data.split fractions or more rows") from None
    return Split(np.sort(train_idx), np.sort(val_idx), np.sort(test_idx))
