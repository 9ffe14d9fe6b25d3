"""k-fold cross-validation with the whole preparation and the network refitted inside each fold.

Folds come from scikit-learn: ``StratifiedKFold`` (on the class, or on
quantile bins of a regression target), or ``StratifiedGroupKFold`` /
``GroupKFold`` when ``evaluate.cv_group`` names a column whose values must not
straddle folds. Each fold's training rows are split again into training and
validation rows (for early stopping); imputers, scalers and encoders are
fitted on that fold's training rows only, exactly as in a normal run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)

from shipyard.data.split import Split
from shipyard.errors import DataError
from shipyard.evaluation.fit_score import fit_and_score
from shipyard.recipe import Recipe
from shipyard.tasks import get_task


def cv_folds(recipe: Recipe, y: np.ndarray, labels: list[Any], groups: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Row positions ``(train, test)`` of each fold.

    Parameters
    ----------
    recipe : Recipe
        ``evaluate.cv`` is k; ``seed`` shuffles the folds.
    y : ndarray of shape (n_rows,)
        Class indices, or values for regression.
    labels : list
        Class labels (for messages).
    groups : ndarray of shape (n_rows,), optional
        Group of each row (grouped k-fold).

    Raises
    ------
    DataError
        If k exceeds the row count of the smallest class (naming it) or the
        number of groups.
    """
    k = recipe.evaluate.cv
    task = get_task(recipe.task)
    strata = task.strata(y, k)
    if task.has_classes:
        counts = np.bincount(y, minlength=len(labels))
        smallest = int(np.argmin(counts))
        if counts[smallest] < k:
            raise DataError(
                f"evaluate.cv: {k} folds need at least {k} rows of every class, but class {labels[smallest]!r} "
                f"of column '{recipe.data.target}' has {counts[smallest]}",
                f"use evaluate.cv <= {counts[smallest]} or add rows of that class",
            )
    if groups is not None:
        n_groups = len(pd.unique(groups))
        if n_groups < k:
            raise DataError(f"evaluate.cv_group: column '{recipe.evaluate.cv_group}' has {n_groups} groups, fewer than {k} folds", f"use evaluate.cv <= {n_groups}")
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=recipe.seed)
        return [(tr, te) for tr, te in splitter.split(np.zeros(len(y)), strata, groups)]
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=recipe.seed)
    return [(tr, te) for tr, te in splitter.split(np.zeros(len(y)), strata)]


def _groups(recipe: Recipe, prepared: Any) -> np.ndarray | None:
    if recipe.evaluate.cv_group is None:
        return None
    if recipe.evaluate.cv_group not in prepared.frame.columns:
        raise DataError(f"evaluate.cv_group: column '{recipe.evaluate.cv_group}' not found", f"columns are: {', '.join(map(str, prepared.frame.columns))}")
    return prepared.frame[recipe.evaluate.cv_group].astype(str).to_numpy()


def check_cv(recipe: Recipe, prepared: Any) -> None:
    """Raise the DataError :func:`cross_validate` would, before any training (a no-op without ``evaluate.cv``)."""
    if recipe.evaluate.cv:
        cv_folds(recipe, prepared.y, prepared.labels, _groups(recipe, prepared))


def cross_validate(recipe: Recipe, prepared: Any) -> dict[str, Any]:
    """Run k-fold cross-validation over all rows of the data.

    Parameters
    ----------
    recipe : Recipe
    prepared : Prepared
        From the prepare stage (its frame, schema, labels and target); its
        own split and fitted preprocessing are not touched.

    Returns
    -------
    dict
        ``k``, ``grouped_by``, ``folds`` (per fold: row counts, metrics,
        best epoch), ``mean`` and ``std`` per metric (std with ddof=1).

    Raises
    ------
    DataError
        See :func:`cv_folds`; also when ``cv_group`` is not a column.
    """
    groups = _groups(recipe, prepared)
    task = get_task(recipe.task)
    val_fraction = recipe.data.split.validation / (1 - recipe.data.split.test)
    folds = []
    for i, (rest, test) in enumerate(cv_folds(recipe, prepared.y, prepared.labels, groups)):
        try:
            train_rows, val_rows = train_test_split(rest, test_size=val_fraction, stratify=task.strata(prepared.y[rest]), random_state=recipe.seed)
        except ValueError:
            train_rows, val_rows = train_test_split(rest, test_size=val_fraction, random_state=recipe.seed)
        fitted = fit_and_score(recipe, prepared, Split(np.sort(train_rows), np.sort(val_rows), np.sort(test)))
        folds.append(
            {"fold": i + 1, "train": len(train_rows), "validation": len(val_rows), "test": len(test), "best_epoch": fitted.training.best_epoch, "metrics": fitted.scores["test"]}
        )
        folds[-1]["absent_classes"] = [str(prepared.labels[c]) for c in range(len(prepared.labels)) if not np.any(prepared.y[test] == c)]
    return summarize_folds(recipe, folds)


def summarize_folds(recipe: Recipe, folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and std of each metric over the folds where it is defined, and a finding on the folds where it is not.

    A metric that is undefined in a fold (e.g. recall when the fold's test
    rows hold no positive row) is NaN (null in JSON) there and left out of
    the mean and std; ``defined`` counts the folds that have it.

    Parameters
    ----------
    folds : list of dict
        Per fold: ``metrics`` and, for classification, ``absent_classes``
        (classes with no test row in that fold).

    Returns
    -------
    dict
        ``k``, ``grouped_by``, ``folds``, ``mean``, ``std`` (ddof=1; NaN with
        fewer than two defined folds), ``defined`` and ``findings``.
    """
    names = list(folds[0]["metrics"])
    values = {n: np.array([np.nan if f["metrics"][n] is None else f["metrics"][n] for f in folds], dtype=float) for n in names}
    defined = {n: int(np.isfinite(v).sum()) for n, v in values.items()}
    mean = {n: float(np.mean(v[np.isfinite(v)])) if defined[n] else float("nan") for n, v in values.items()}
    std = {n: float(np.std(v[np.isfinite(v)], ddof=1)) if defined[n] > 1 else float("nan") for n, v in values.items()}
    findings = []
    lacking = [f for f in folds if f.get("absent_classes")]
    undefined = [n for n in names if defined[n] < len(folds)]
    if lacking and undefined:
        classes = sorted({c for f in lacking for c in f["absent_classes"]})
        findings.append(
            f"In {len(lacking)} of {len(folds)} folds the test rows hold no row of class {', '.join(repr(c) for c in classes)} "
            f"(folds {', '.join(str(f['fold']) for f in lacking)}): {', '.join(undefined)} are undefined there (null) and left out of "
            "the mean and std"
            + (f", grouped by '{recipe.evaluate.cv_group}' (whole groups move between folds)" if recipe.evaluate.cv_group else "")
            + "."
        )
    elif undefined:
        findings.append(f"{', '.join(undefined)} are undefined in some folds (null there) and left out of the mean and std.")
    return {
        "k": recipe.evaluate.cv,
        "grouped_by": recipe.evaluate.cv_group,
        "folds": folds,
        "mean": mean,
        "std": std,
        "defined": defined,
        "findings": findings,
    }
