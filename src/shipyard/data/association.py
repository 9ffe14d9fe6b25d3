"""How well a single column predicts the target: the profile's leakage scores.

- classification: the ROC-AUC the column reaches alone, with a 95% lower bound
  (Hanley & McNeil 1982);
- regression: the absolute Spearman rank correlation with the target, with a
  95% lower bound from the Fisher z transform (standard error
  ``sqrt(1.06 / (n - 3))``, Fieller, Hartley & Pearson 1957).

Numeric columns score rows by their value (missing as the median);
categorical columns by an out-of-fold target encoding (scikit-learn's
``TargetEncoder`` cross fitting), so a column is not rewarded for memorising
small categories.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _numeric_scores(values: pd.Series) -> np.ndarray:
    x = values.to_numpy(dtype=np.float64)
    missing = np.isnan(x)
    if missing.all():  # nothing to score by: a constant (numpy's nanmedian would warn "All-NaN slice")
        return np.zeros_like(x)
    return np.where(missing, np.median(x[~missing]), x)


def _encoded(values: pd.Series, y: np.ndarray, target_type: str) -> np.ndarray | None:
    from sklearn.model_selection import KFold
    from sklearn.preprocessing import TargetEncoder

    text = values.astype(object).where(values.notna(), "").astype(str).to_numpy().reshape(-1, 1)
    try:
        return TargetEncoder(target_type=target_type, cv=KFold(5, shuffle=True, random_state=0)).fit_transform(text, y)
    except ValueError:
        return None


def single_column_auc(values: pd.Series, y: np.ndarray, kind: str) -> float | None:
    """ROC-AUC the column reaches alone (max of AUC and 1 - AUC; macro one-vs-rest for multiclass).

    Parameters
    ----------
    values : Series of shape (n_rows,)
        The column on the training rows.
    y : ndarray of shape (n_rows,)
        Class indices.
    kind : str
        The profile's column kind (``numeric``, ``boolean``, ``categorical``, ...).
    """
    from sklearn.metrics import roc_auc_score

    classes = np.unique(y)
    if len(classes) < 2 or len(values) < 10:
        return None
    if kind in ("numeric", "boolean") and pd.api.types.is_numeric_dtype(values.dtype):
        scores = np.repeat(_numeric_scores(values)[:, None], len(classes), axis=1)
    else:
        target_type = "binary" if len(classes) == 2 else "multiclass"
        encoded = _encoded(values, y, target_type)
        if encoded is None:
            return None
        scores = np.repeat(encoded, 2, axis=1) if target_type == "binary" else encoded
    aucs = []
    for j, c in enumerate(classes):
        positive = y == c
        if positive.all() or not positive.any():
            continue
        auc = roc_auc_score(positive, scores[:, j] if scores.shape[1] > j else scores[:, 0])
        aucs.append(max(auc, 1 - auc))
        if len(classes) == 2:
            break
    return float(np.mean(aucs)) if aucs else None


def auc_lower_bound(auc: float, y: np.ndarray) -> float:
    """95% lower confidence bound of an AUC (Hanley & McNeil 1982 standard error, smallest class vs the rest).

    With few rows of a class, a column can reach AUC 0.99 by chance; the
    leakage finding needs the lower bound, not the estimate, above the limit.
    """
    counts = np.bincount(y)
    counts = counts[counts > 0]
    n1 = counts.min()
    n2 = len(y) - n1
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n2 - 1) * (q2 - auc**2)) / (n1 * n2)
    return float(auc - 1.96 * np.sqrt(max(var, 0.0)))


def spearman_association(values: pd.Series, y: np.ndarray, kind: str) -> tuple[float, float] | None:
    """|Spearman rho| of the column with a numeric target, and its 95% lower bound.

    Parameters
    ----------
    values : Series of shape (n_rows,)
        The column on the training rows.
    y : ndarray of shape (n_rows,)
        Target values.
    kind : str
        The profile's column kind.

    Returns
    -------
    (float, float) or None
        ``|rho|`` and ``tanh(atanh(|rho|) - 1.96 sqrt(1.06 / (n - 3)))``; None
        with fewer than 10 rows or a constant column.
    """
    from scipy.stats import spearmanr

    if len(values) < 10:
        return None
    if kind in ("numeric", "boolean") and pd.api.types.is_numeric_dtype(values.dtype):
        x = _numeric_scores(values)
    else:
        encoded = _encoded(values, y, "continuous")
        if encoded is None:
            return None
        x = encoded[:, 0]
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    rho = abs(float(spearmanr(x, y).statistic))
    if rho != rho:
        return None
    z = np.arctanh(min(rho, 1 - 1e-12))
    low = float(np.tanh(z - 1.96 * np.sqrt(1.06 / max(len(x) - 3, 1))))
    return rho, max(low, 0.0)
