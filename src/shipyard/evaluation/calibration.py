"""Calibration of predicted probabilities: ECE, Brier score, reliability diagram, temperature scaling.

Follows Guo et al. 2017, "On Calibration of Modern Neural Networks": the
expected calibration error over equal-width bins of top-label confidence, and
temperature scaling (one scalar ``T`` dividing the logits, fitted by minimising
the negative log-likelihood on the validation split), which leaves the
predicted class unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.metrics import brier_score_loss


def reliability_bins(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 10) -> dict[str, list[float]]:
    """Top-label reliability diagram data over equal-width confidence bins.

    Parameters
    ----------
    y_true : ndarray of shape (n_rows,)
        Class indices.
    proba : ndarray of shape (n_rows, n_classes)
    n_bins : int
        Bins of width ``1 / n_bins`` over [0, 1].

    Returns
    -------
    dict
        ``edges`` (n_bins + 1), and per bin ``confidence`` (mean top
        probability), ``accuracy`` (fraction correct) and ``count``; empty bins
        have NaN confidence and accuracy.
    """
    proba = np.asarray(proba, dtype=np.float64)
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == np.asarray(y_true)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Bins are (lo, hi]; a confidence of exactly 0 cannot occur for a top label.
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins).astype(np.float64)
    conf_sum = np.bincount(which, weights=confidence, minlength=n_bins)
    acc_sum = np.bincount(which, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, conf_sum / count, np.nan)
        mean_acc = np.where(count > 0, acc_sum / count, np.nan)
    return {"edges": edges.tolist(), "confidence": mean_conf.tolist(), "accuracy": mean_acc.tolist(), "count": count.astype(int).tolist()}


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 10) -> float:
    """ECE: the count-weighted mean |accuracy - confidence| over equal-width bins (Guo et al. 2017, eq. 3).

    Parameters
    ----------
    y_true : ndarray of shape (n_rows,)
    proba : ndarray of shape (n_rows, n_classes)
    n_bins : int

    Returns
    -------
    float
        In [0, 1]; 0 for a perfectly calibrated model.
    """
    bins = reliability_bins(y_true, proba, n_bins)
    count = np.asarray(bins["count"], dtype=np.float64)
    gap = np.abs(np.nan_to_num(np.asarray(bins["accuracy"])) - np.nan_to_num(np.asarray(bins["confidence"])))
    return float((count * gap).sum() / count.sum())


def brier_score(y_true: np.ndarray, proba: np.ndarray, positive_index: int | None = None) -> float:
    """Brier score with scikit-learn's ``brier_score_loss``.

    For a binary task it is the mean squared error of the positive-class
    probability; for multiclass, the mean over rows of the squared distance to
    the one-hot label (summed over classes).

    Parameters
    ----------
    y_true : ndarray of shape (n_rows,)
    proba : ndarray of shape (n_rows, n_classes)
    positive_index : int, optional
        Positive class of a binary task (default 1).
    """
    proba = np.asarray(proba, dtype=np.float64)
    proba = proba / proba.sum(axis=1, keepdims=True)  # float32 softmax rows sum to 1 only within ~1e-7
    if proba.shape[1] == 2:
        pos = 1 if positive_index is None else positive_index
        return float(brier_score_loss(np.asarray(y_true) == pos, proba[:, pos]))
    return float(brier_score_loss(y_true, proba, labels=np.arange(proba.shape[1])))


def calibration_report(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 10, positive_index: int | None = None) -> dict[str, Any]:
    """ECE (with its bin count), Brier score and the reliability-diagram bins.

    Returns
    -------
    dict
        ``ece``, ``bins``, ``brier``, ``reliability`` (see :func:`reliability_bins`).
    """
    return {
        "ece": expected_calibration_error(y_true, proba, n_bins),
        "bins": n_bins,
        "brier": brier_score(y_true, proba, positive_index),
        "reliability": reliability_bins(y_true, proba, n_bins),
    }


TEMPERATURE_BOUNDS = (0.05, 20.0)
"""The range :func:`fit_temperature` searches."""


def fit_temperature(logits: np.ndarray, y_true: np.ndarray) -> float:
    """Fit the temperature ``T`` minimising the NLL of ``softmax(logits / T)``.

    Parameters
    ----------
    logits : ndarray of shape (n_rows, n_classes)
        The network's logits on the validation split.
    y_true : ndarray of shape (n_rows,)

    Returns
    -------
    float
        ``T`` in [0.05, 20] (searched over log T with scipy's bounded Brent
        method); T > 1 softens over-confident probabilities.
    """
    logits = np.asarray(logits, dtype=np.float64)
    y_true = np.asarray(y_true, dtype=np.int64)

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-log_p[np.arange(len(y_true)), y_true].mean())

    low, high = TEMPERATURE_BOUNDS
    result = minimize_scalar(nll, bounds=(np.log(low), np.log(high)), method="bounded")
    return float(np.exp(result.x))
