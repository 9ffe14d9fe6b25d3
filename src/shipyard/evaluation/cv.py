"""k-fold cross-validation with the whole preparation and the network refitted inside each fold.

Folds come from scikit-learn: ``StratifiedKFold`` (on the class, or on
quantile bins of a regression target), or ``StratifiedGroupKFold`` when rows
are grouped: by ``evaluate.cv_group``, else by the run's own split groups
(``data.split.group``, and identical inputs under ``data.split.duplicates:
group``), so the folds keep together exactly what the holdout split keeps
together. Each fold's training rows are split again into training and
validation rows (for early stopping; grouped the same way); imputers,
scalers and encoders are fitted on that fold's training rows only, exactly
as in a normal run.

:func:`compare_holdout` says whether the holdout (test-split) estimate falls
inside the interval the folds give for one more estimate of the same kind.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from shipyard.data.split import Split, grouped_holdout
from shipyard.errors import DataError
from shipyard.evaluation.fit_score import fit_and_score
from shipyard.recipe import Recipe
from shipyard.tasks import get_task


def cv_folds(
    recipe: Recipe, y: np.ndarray, labels: list[Any], groups: np.ndarray | None = None, grouped_by: str | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
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
    grouped_by : str, optional
        What the groups are, for messages.

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
            key = f"evaluate.cv_group: column '{recipe.evaluate.cv_group}'" if recipe.evaluate.cv_group else f"evaluate.cv: the rows kept together ({grouped_by or 'groups'})"
            raise DataError(f"{key} form {n_groups} groups, fewer than {k} folds", f"use evaluate.cv <= {n_groups}")
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=recipe.seed)
        return [(tr, te) for tr, te in splitter.split(np.zeros(len(y)), strata, groups)]
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=recipe.seed)
    return [(tr, te) for tr, te in splitter.split(np.zeros(len(y)), strata)]


def _groups(recipe: Recipe, prepared: Any) -> np.ndarray | None:
    """The group of each row for the folds: ``evaluate.cv_group``'s column, else the run's split groups."""
    if recipe.evaluate.cv_group is None:
        return getattr(prepared, "groups", None)
    if recipe.evaluate.cv_group not in prepared.frame.columns:
        raise DataError(f"evaluate.cv_group: column '{recipe.evaluate.cv_group}' not found", f"columns are: {', '.join(map(str, prepared.frame.columns))}")
    return prepared.frame[recipe.evaluate.cv_group].astype(str).to_numpy()


def _grouped_by(recipe: Recipe, prepared: Any, groups: np.ndarray | None) -> str | None:
    """What keeps rows together in the folds, in words (None when nothing does)."""
    if groups is None:
        return None
    if recipe.evaluate.cv_group:
        return recipe.evaluate.cv_group
    split = ((getattr(prepared, "profile", None) or {}).get("dataset") or {}).get("split") or {}
    names = [split["group"]] if split.get("group") else []
    if (split.get("duplicates") or {}).get("policy") == "group" and (split.get("duplicates") or {}).get("repeated_rows"):
        names.append("identical inputs")
    return " and ".join(names) or None


def _cv_rows(prepared: Any) -> int:
    """How many leading rows the folds are drawn from: ``data.source``'s (a given test file is a population of its own)."""
    n_source = getattr(prepared, "n_source", None)
    return len(prepared.y) if n_source is None else int(n_source)


def check_cv(recipe: Recipe, prepared: Any) -> None:
    """Raise the DataError :func:`cross_validate` would, before any training (a no-op without ``evaluate.cv``)."""
    if recipe.evaluate.cv:
        groups, n = _groups(recipe, prepared), _cv_rows(prepared)
        cv_folds(recipe, prepared.y[:n], prepared.labels, None if groups is None else groups[:n], _grouped_by(recipe, prepared, groups))


def cross_validate(recipe: Recipe, prepared: Any) -> dict[str, Any]:
    """Run k-fold cross-validation over the rows of ``data.source`` (every row, unless a test or validation file is given).

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
    grouped_by = _grouped_by(recipe, prepared, groups)
    n = _cv_rows(prepared)
    for i, (rest, test) in enumerate(cv_folds(recipe, prepared.y[:n], prepared.labels, None if groups is None else groups[:n], grouped_by)):
        train_rows, val_rows = grouped_holdout(rest, task.strata(prepared.y[rest]), groups, val_fraction, recipe.seed)
        fitted = fit_and_score(recipe, prepared, Split(train_rows, val_rows, np.sort(test)))
        folds.append(
            {"fold": i + 1, "train": len(train_rows), "validation": len(val_rows), "test": len(test), "best_epoch": fitted.training.best_epoch, "metrics": fitted.scores["test"]}
        )
        folds[-1]["absent_classes"] = [str(prepared.labels[c]) for c in range(len(prepared.labels)) if not np.any(prepared.y[test] == c)]
    return summarize_folds(recipe, folds, grouped_by)


def summarize_folds(recipe: Recipe, folds: list[dict[str, Any]], grouped_by: str | None = None) -> dict[str, Any]:
    """Mean and std of each metric over the folds where it is defined, and a finding on the folds where it is not.

    A metric that is undefined in a fold (e.g. recall when the fold's test
    rows hold no positive row) is NaN (null in JSON) there and left out of
    the mean and std; ``defined`` counts the folds that have it.

    Parameters
    ----------
    folds : list of dict
        Per fold: ``metrics`` and, for classification, ``absent_classes``
        (classes with no test row in that fold).
    grouped_by : str, optional
        What kept rows together across folds (a column, or the split's groups).

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
        "grouped_by": grouped_by if grouped_by is not None else recipe.evaluate.cv_group,
        "folds": folds,
        "mean": mean,
        "std": std,
        "defined": defined,
        "findings": findings,
    }


HEADLINE_METRICS = ("accuracy", "roc_auc", "rmse", "r2")
"""Metrics whose disagreement is a finding: the headline numbers (threshold-free where possible). Precision or
recall at a fixed threshold swing between folds whenever a group of rows sits near the threshold, and comparing
every metric would raise false alarms by multiple comparisons; they are compared and recorded, not flagged."""


def compare_holdout(cv: dict[str, Any], test: dict[str, float], primary: str) -> dict[str, Any]:
    """Whether the holdout estimate of each metric falls inside the interval the CV folds give.

    The interval is the t prediction interval for one more estimate of the
    same kind, ``mean ± t(0.975, k-1) · std · sqrt(1 + 1/k)`` (the folds' mean
    and standard deviation, ddof=1), which is what a holdout score on a test
    split of about a fold's size should fall in when both come from the same
    kind of split.

    Parameters
    ----------
    cv : dict
        :func:`cross_validate`'s result.
    test : dict of str to float
        The holdout (test-split) metrics.
    primary : str
        The task's primary metric (named first in the finding).

    Returns
    -------
    dict
        ``metrics``: per shared metric ``holdout``, ``cv_mean``, ``low``,
        ``high`` and ``agree``; ``findings``: one sentence when the holdout
        estimate of the primary metric or another of :data:`HEADLINE_METRICS`
        falls outside its interval.
    """
    from scipy.stats import t

    k = int(cv["k"])
    factor = float(t.ppf(0.975, k - 1)) * float(np.sqrt(1 + 1 / k))
    out: dict[str, Any] = {}
    for name, mean in cv["mean"].items():
        value, std = test.get(name), cv["std"].get(name)
        if value is None or value != value or mean != mean or std is None or std != std:
            continue
        low, high = mean - factor * std, mean + factor * std
        out[name] = {"holdout": float(value), "cv_mean": float(mean), "low": float(low), "high": float(high), "agree": bool(low <= value <= high)}
    flagged = {primary, *HEADLINE_METRICS}
    outside = sorted((n for n, v in out.items() if not v["agree"] and n in flagged), key=lambda n: (n != primary, n))
    findings = []
    if outside:
        shown = ", ".join(f"{n} {out[n]['holdout']:.3f} vs CV {out[n]['cv_mean']:.3f} [{out[n]['low']:.3f}, {out[n]['high']:.3f}]" for n in outside[:4])
        findings.append(
            f"The holdout estimate falls outside the {k}-fold CV interval ({shown}): the test split is not like the folds' test rows "
            "(check the data profile's split findings: unseen categories or input combinations, entities or copies kept together, a given test file from another population)."
        )
    return {"metrics": out, "findings": findings, "interval": f"mean ± t(0.975, {k - 1}) · std · sqrt(1 + 1/{k})"}
