"""Classification metrics from predicted probabilities (scikit-learn's implementations)."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from shipyard.decision import decide

SCALAR_KEYS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, positive_index: int | None = None, threshold: float | None = None
) -> dict[str, float]:
    """Compute the test metrics of a classifier.

    Parameters
    ----------
    y_true : ndarray of shape (n_rows,)
        True class indices in ``[0, n_classes)``.
    proba : ndarray of shape (n_rows, n_classes)
        Predicted class probabilities; rows sum to 1.
    positive_index : int, optional
        Index of the positive class for binary tasks (default 1).
    threshold : float, optional
        Binary tasks: predict the positive class when its probability is at
        least this (a tuned decision threshold); default arg-max.

    Returns
    -------
    dict of str to float
        ``accuracy``, ``precision``, ``recall``, ``f1`` (of the positive class
        for binary tasks, macro averages for multiclass, which also get
        ``precision_weighted``, ``recall_weighted``, ``f1_weighted``),
        ``roc_auc`` (one-vs-rest macro for multiclass) and ``log_loss``.
        ``balanced_accuracy`` is included too.
    """
    proba = np.asarray(proba, dtype=np.float64)
    proba = proba / proba.sum(axis=1, keepdims=True)  # float32 softmax rows sum to 1 only within ~1e-7
    n_classes = proba.shape[1]
    labels = np.arange(n_classes)
    pos = 1 if positive_index is None else positive_index
    y_pred = decide(proba, pos, threshold)
    out: dict[str, float] = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
    }
    if n_classes == 2:
        pos = 1 if positive_index is None else positive_index
        out["precision"] = skm.precision_score(y_true, y_pred, pos_label=pos, zero_division=0)
        out["recall"] = skm.recall_score(y_true, y_pred, pos_label=pos, zero_division=0)
        out["f1"] = skm.f1_score(y_true, y_pred, pos_label=pos, zero_division=0)
        out["roc_auc"] = _safe(lambda: skm.roc_auc_score(y_true == pos, proba[:, pos]))
    else:
        for avg in ("macro", "weighted"):
            suffix = "" if avg == "macro" else "_weighted"
            p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg, zero_division=0)
            out.update({f"precision{suffix}": p, f"recall{suffix}": r, f"f1{suffix}": f})
        out["roc_auc"] = _safe(lambda: skm.roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=labels))
    out["log_loss"] = skm.log_loss(y_true, np.clip(proba, 1e-15, 1.0), labels=labels)
    return {k: float(v) for k, v in out.items()}


def confusion(y_true: np.ndarray, proba: np.ndarray, positive_index: int | None = None, threshold: float | None = None) -> list[list[int]]:
    """Confusion matrix (rows: true class, columns: predicted class) as nested lists."""
    labels = np.arange(proba.shape[1])
    return skm.confusion_matrix(y_true, decide(proba, positive_index, threshold), labels=labels).tolist()


def _safe(fn) -> float:
    """ROC-AUC is undefined when the test split lacks a class; report NaN then."""
    try:
        return fn()
    except ValueError:
        return float("nan")


REGRESSION_KEYS = ("mae", "rmse", "r2", "mape")


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Compute the test metrics of a regressor (scikit-learn's implementations).

    Parameters
    ----------
    y_true, y_pred : ndarray of shape (n_rows,)
        True and predicted values, in target units.

    Returns
    -------
    dict of str to float
        ``mae`` and ``rmse`` (target units), ``r2``, and ``mape`` (a fraction,
        not percent) only when no true value is 0, where it is defined.
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    out = {
        "mae": skm.mean_absolute_error(y_true, y_pred),
        "rmse": skm.root_mean_squared_error(y_true, y_pred),
        "r2": skm.r2_score(y_true, y_pred),
    }
    if np.all(y_true != 0):
        out["mape"] = skm.mean_absolute_percentage_error(y_true, y_pred)
    return {k: float(v) for k, v in out.items()}
