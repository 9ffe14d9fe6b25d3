"""Bootstrap confidence intervals for test metrics.

The test rows are resampled with replacement ``n_samples`` times (the
non-parametric bootstrap, Efron & Tibshirani 1993, ch. 13, percentile
interval). A resample is represented by a row of *weights* (how often each test
row was drawn), so every metric of every model is computed for all resamples at
once with a few matrix products, and models compared on the *same* resamples
(a paired bootstrap) give a confidence interval for their difference.

The weighted metrics reproduce scikit-learn's definitions (the point estimates
themselves come from :mod:`shipyard.evaluation.metrics`, i.e. scikit-learn);
``tests/test_bootstrap.py`` checks the two agree on explicit resamples.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.decision import decide

LOWER_IS_BETTER = frozenset({"log_loss", "brier", "ece", "mae", "rmse", "mse", "mape"})


def resample_weights(n_rows: int, n_samples: int, seed: int) -> np.ndarray:
    """Draw bootstrap resamples of ``n_rows`` rows as count weights.

    Parameters
    ----------
    n_rows : int
        Number of test rows.
    n_samples : int
        Number of bootstrap resamples.
    seed : int
        Seed of numpy's ``default_rng``; the same seed gives the same resamples.

    Returns
    -------
    ndarray of shape (n_samples, n_rows)
        ``W[b, i]`` is how many times row ``i`` was drawn in resample ``b``;
        every row of ``W`` sums to ``n_rows``.
    """
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n_rows, size=(n_samples, n_rows))
    weights = np.zeros((n_samples, n_rows), dtype=np.float64)
    np.add.at(weights, (np.repeat(np.arange(n_samples), n_rows), idx.ravel()), 1.0)
    return weights


def classification_stats(
    y_true: np.ndarray, proba: np.ndarray, weights: np.ndarray, positive_index: int | None = None, threshold: float | None = None
) -> dict[str, np.ndarray]:
    """Classification metrics of every resample (the keys of ``classification_metrics``).

    Parameters
    ----------
    y_true : ndarray of shape (n_rows,)
        Class indices in ``[0, n_classes)``.
    proba : ndarray of shape (n_rows, n_classes)
        Predicted probabilities.
    weights : ndarray of shape (n_samples, n_rows)
        Resample counts from :func:`resample_weights`.
    positive_index : int, optional
        Positive class of a binary task (default 1).
    threshold : float, optional
        Binary tasks: the decision threshold on the positive class's
        probability (the bundle's rule); default arg-max.

    Returns
    -------
    dict of str to ndarray of shape (n_samples,)
        NaN where a metric is undefined on a resample (e.g. ROC-AUC when a
        class was not drawn), exactly where ``classification_metrics`` gives NaN.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    proba = proba / proba.sum(axis=1, keepdims=True)
    k = proba.shape[1]
    pos = 1 if positive_index is None else positive_index
    y_pred = decide(proba, pos, threshold)
    total = weights.sum(axis=1)
    # Confusion matrix of every resample: (B, k, k), rows true, columns predicted.
    cells = np.zeros((len(y_true), k * k))
    cells[np.arange(len(y_true)), y_true * k + y_pred] = 1.0
    cm = (weights @ cells).reshape(-1, k, k)
    tp = np.diagonal(cm, axis1=1, axis2=2)
    support = cm.sum(axis=2)  # true counts per class
    predicted = cm.sum(axis=1)
    present = support > 0
    all_present = present.all(axis=1)
    recall = _div(tp, support, np.nan)
    precision = _div(tp, predicted)
    f1 = _div(2 * tp, support + predicted, np.nan)
    out: dict[str, np.ndarray] = {
        "accuracy": tp.sum(axis=1) / total,
        "balanced_accuracy": np.where(all_present, np.where(present, recall, 0).sum(axis=1) / k, np.nan),
        "f1_macro": np.where(all_present, np.nan_to_num(f1).mean(axis=1), np.nan),
    }
    if k == 2:
        out["precision"] = _div(tp, predicted, np.nan)[:, pos]
        out["recall"], out["f1"] = recall[:, pos], np.where(present[:, pos], f1[:, pos], np.nan)
        out["roc_auc"] = _weighted_auc(y_true == pos, proba[:, pos], weights)
        out["pr_auc"] = _weighted_average_precision(y_true == pos, proba[:, pos], weights)
    else:
        share = support / support.sum(axis=1, keepdims=True)
        recall0, f10 = np.nan_to_num(recall), np.nan_to_num(f1)
        out.update(
            precision=precision.mean(axis=1),
            recall=np.where(all_present, recall0.mean(axis=1), np.nan),
            f1=np.where(all_present, f10.mean(axis=1), np.nan),
            precision_weighted=(precision * share).sum(axis=1),
            recall_weighted=np.where(all_present, (recall0 * share).sum(axis=1), np.nan),
            f1_weighted=np.where(all_present, (f10 * share).sum(axis=1), np.nan),
        )
        aucs = np.stack([_weighted_auc(y_true == c, proba[:, c], weights) for c in range(k)], axis=1)
        out["roc_auc"] = np.where(all_present, aucs.mean(axis=1), np.nan)
        aps = np.stack([_weighted_average_precision(y_true == c, proba[:, c], weights) for c in range(k)], axis=1)
        out["pr_auc"] = np.where(all_present, aps.mean(axis=1), np.nan)
    nll = -np.log(np.clip(proba[np.arange(len(y_true)), y_true], 1e-15, 1.0))
    out["log_loss"] = weights @ nll / total
    return out


def regression_stats(y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Regression metrics of every resample (the keys of ``regression_metrics``).

    Parameters
    ----------
    y_true, y_pred : ndarray of shape (n_rows,)
        True and predicted values (target units).
    weights : ndarray of shape (n_samples, n_rows)

    Returns
    -------
    dict of str to ndarray of shape (n_samples,)
        ``mae``, ``rmse``, ``r2`` and, when no true value is 0, ``mape`` (a fraction).
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    err = np.asarray(y_pred, dtype=np.float64) - y_true
    total = weights.sum(axis=1)
    mse = weights @ err**2 / total
    mean = weights @ y_true / total
    ss_tot = (weights * (y_true[None, :] - mean[:, None]) ** 2).sum(axis=1)
    out = {
        "mae": weights @ np.abs(err) / total,
        "rmse": np.sqrt(mse),
        "r2": np.where(ss_tot > 0, 1 - mse * total / np.where(ss_tot > 0, ss_tot, 1), np.nan),
    }
    if np.all(y_true != 0):
        out["mape"] = weights @ (np.abs(err) / np.abs(y_true)) / total
    return out


def interval(stats: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval of a statistic's bootstrap distribution.

    Parameters
    ----------
    stats : ndarray of shape (n_samples,)
        NaN entries (undefined on a resample) are ignored.
    confidence : float
        E.g. 0.95 for the 2.5th and 97.5th percentiles.

    Returns
    -------
    (float, float)
        Lower and upper bound; NaN when fewer than half the resamples are defined.
    """
    finite = stats[np.isfinite(stats)]
    if len(finite) < max(2, len(stats) // 2):
        return float("nan"), float("nan")
    alpha = (1 - confidence) / 2
    low, high = np.quantile(finite, [alpha, 1 - alpha])
    return float(low), float(high)


def with_intervals(point: dict[str, float], stats: dict[str, np.ndarray], confidence: float = 0.95) -> dict[str, dict[str, float]]:
    """Combine point estimates with percentile intervals.

    Returns
    -------
    dict of str to dict
        ``{metric: {"value": v, "low": lo, "high": hi}}`` for each metric in
        both ``point`` and ``stats``.
    """
    out = {}
    for name, value in point.items():
        if name in stats:
            low, high = interval(stats[name], confidence)
            out[name] = {"value": float(value), "low": low, "high": high}
    return out


def format_ci(entry: dict[str, Any] | None, digits: int = 3) -> str:
    """Render ``{"value", "low", "high"}`` as ``0.962 [0.941, 0.979]``."""
    if not entry or entry.get("value") is None or entry["value"] != entry["value"]:
        return "n/a"
    text = f"{entry['value']:.{digits}f}"
    low, high = entry.get("low"), entry.get("high")
    if low is not None and high is not None and low == low and high == high:
        text += f" [{low:.{digits}f}, {high:.{digits}f}]"
    return text


def _div(num: np.ndarray, den: np.ndarray, zero_division: float = 0.0) -> np.ndarray:
    """num / den with ``zero_division`` where den is 0 (scikit-learn's ``zero_division``: 0, or NaN for undefined)."""
    return np.divide(num, den, out=np.full(np.shape(num), zero_division, dtype=np.float64), where=den > 0)


def _weighted_auc(is_pos: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC-AUC of every resample as the weighted Mann-Whitney statistic (ties count 1/2).

    Equal to ``sklearn.metrics.roc_auc_score`` on the resampled rows; NaN where
    a resample holds only one class.
    """
    values, group = np.unique(score, return_inverse=True)
    onehot = np.zeros((len(score), len(values)))
    onehot[np.arange(len(score)), group] = 1.0
    pos = (weights * is_pos) @ onehot  # (B, G) positive weight at each distinct score
    neg = (weights * ~is_pos) @ onehot
    below = np.cumsum(neg, axis=1) - neg
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    wins = (pos * (below + 0.5 * neg)).sum(axis=1)
    ok = (n_pos > 0) & (n_neg > 0)
    return np.where(ok, wins / np.where(ok, n_pos * n_neg, 1), np.nan)


def _weighted_average_precision(is_pos: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Average precision of every resample: sum over thresholds of (recall gain) x precision.

    Equal to ``sklearn.metrics.average_precision_score`` on the resampled rows
    (the step-wise sum, no interpolation; rows tied on the score form one
    threshold); NaN where a resample holds no positive row.
    """
    values, group = np.unique(score, return_inverse=True)
    onehot = np.zeros((len(score), len(values)))
    onehot[np.arange(len(score)), group] = 1.0
    pos = ((weights * is_pos) @ onehot)[:, ::-1]  # (B, G), highest score first
    neg = ((weights * ~is_pos) @ onehot)[:, ::-1]
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    precision = _div(tp, tp + fp)
    n_pos = pos.sum(axis=1)
    return np.where(n_pos > 0, (pos * precision).sum(axis=1) / np.where(n_pos > 0, n_pos, 1), np.nan)
