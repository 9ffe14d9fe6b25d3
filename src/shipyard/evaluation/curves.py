"""ROC and precision-recall curves, normalized confusion matrix, metrics against the decision threshold.

Thin wrappers over scikit-learn's ``roc_curve``, ``precision_recall_curve``,
``average_precision_score`` and ``confusion_matrix`` that return plain lists,
one curve per class (one-vs-rest) for multiclass tasks and one for the
positive class of a binary task.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm

from shipyard.decision import decide


def roc_pr_curves(y_true: np.ndarray, proba: np.ndarray, labels: list[str], positive_index: int | None = None) -> list[dict[str, Any]]:
    """ROC and precision-recall curves per class.

    Parameters
    ----------
    y_true : ndarray of shape (n_rows,)
        Class indices.
    proba : ndarray of shape (n_rows, n_classes)
    labels : list of str
        Class names, in column order.
    positive_index : int, optional
        For a binary task, only this class's curve is returned (default 1).

    Returns
    -------
    list of dict
        Per class: ``label``, ``fpr``, ``tpr``, ``roc_auc``, ``precision``,
        ``recall``, ``average_precision`` and ``prevalence`` (the precision of
        a random classifier). Classes absent from ``y_true`` are skipped.
    """
    proba = np.asarray(proba, dtype=np.float64)
    classes = [1 if positive_index is None else positive_index] if proba.shape[1] == 2 else range(proba.shape[1])
    curves = []
    for c in classes:
        truth = np.asarray(y_true) == c
        if truth.all() or not truth.any():
            continue
        fpr, tpr, _ = skm.roc_curve(truth, proba[:, c])
        precision, recall, _ = skm.precision_recall_curve(truth, proba[:, c])
        curves.append(
            {
                "label": labels[c],
                "fpr": fpr.tolist(),
                "tpr": tpr.tolist(),
                "roc_auc": float(skm.auc(fpr, tpr)),
                "precision": precision.tolist(),
                "recall": recall.tolist(),
                "average_precision": float(skm.average_precision_score(truth, proba[:, c])),
                "prevalence": float(truth.mean()),
            }
        )
    return curves


def normalized_confusion(y_true: np.ndarray, proba: np.ndarray, positive_index: int | None = None, threshold: float | None = None) -> list[list[float]]:
    """Confusion matrix normalized over true classes (each row sums to 1; rows of absent classes are 0).

    Classes are decided by the bundle's rule (:func:`shipyard.decision.decide`:
    ``threshold`` on the positive class's probability, or arg-max).

    Returns
    -------
    list of list of float, shape (n_classes, n_classes)
        Rows: true class; columns: predicted class.
    """
    k = np.asarray(proba).shape[1]
    cm = skm.confusion_matrix(y_true, decide(np.asarray(proba), positive_index, threshold), labels=np.arange(k), normalize="true")
    return np.nan_to_num(cm).tolist()


def threshold_curve(y_true: np.ndarray, proba: np.ndarray, positive_index: int = 1, n_points: int = 99) -> dict[str, list[float]]:
    """Precision, recall, F1 and accuracy of a binary task against the decision threshold.

    Parameters
    ----------
    y_true : ndarray of shape (n_rows,)
    proba : ndarray of shape (n_rows, 2)
    positive_index : int
    n_points : int
        Thresholds evenly spaced in (0, 1).

    Returns
    -------
    dict
        ``threshold`` and, at each, ``precision``, ``recall``, ``f1``,
        ``accuracy`` for "predict positive when p(positive) >= threshold".
    """
    truth = np.asarray(y_true) == positive_index
    score = np.asarray(proba, dtype=np.float64)[:, positive_index]
    thresholds = np.linspace(0.01, 0.99, n_points)
    out: dict[str, list[float]] = {"threshold": thresholds.tolist(), "precision": [], "recall": [], "f1": [], "accuracy": []}
    for t in thresholds:
        pred = score >= t
        out["precision"].append(float(skm.precision_score(truth, pred, zero_division=0)))
        out["recall"].append(float(skm.recall_score(truth, pred, zero_division=0)))
        out["f1"].append(float(skm.f1_score(truth, pred, zero_division=0)))
        out["accuracy"].append(float(skm.accuracy_score(truth, pred)))
    return out
