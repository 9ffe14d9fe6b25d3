"""Loading checks, split and summary for ``task: regression``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shipyard.data.split import Split, stratified_split
from shipyard.errors import DataError
from shipyard.recipe import Recipe

QUANTILE_BINS = 5
"""The split is stratified on this many quantile bins of the target, so every part covers its range."""


def split_regression(recipe: Recipe, frame: pd.DataFrame) -> tuple[list[str], np.ndarray, Split]:
    """Check a numeric target and split rows stratified on its quantile bins.

    Returns
    -------
    (list of str, ndarray of shape (n_rows,), Split)
        Feature columns, the float64 target, and the split.

    Raises
    ------
    DataError
        If the target is absent, not numeric, has missing values or is constant.
    """
    from shipyard.data.checks import select_columns

    spec = recipe.data
    if spec.target in frame.columns:
        target = frame[spec.target]
        numbers = pd.to_numeric(target, errors="coerce")
        bad = numbers.isna() & target.notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{spec.source}: target column '{spec.target}' must be numeric for task: regression, got {target.iloc[row]!r} in row {row}",
                "use task: classification for labels",
            )
        if numbers.notna().all() and numbers.nunique() < 2:
            raise DataError(f"{spec.source}: target column '{spec.target}' is constant; nothing to regress", "check data.target")
    features = select_columns(frame, spec.target, spec.features, spec.source, task="regression")
    y = pd.to_numeric(frame[spec.target]).to_numpy(dtype=np.float64)
    bins = pd.qcut(y, q=min(QUANTILE_BINS, len(np.unique(y))), labels=False, duplicates="drop")
    split = stratified_split(pd.Series(bins), spec.split.validation, spec.split.test, recipe.seed, spec.target)
    return features, y, split
