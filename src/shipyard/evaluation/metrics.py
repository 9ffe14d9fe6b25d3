"""Classification metrics from predicted probabilities (scikit-learn's implementations)."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning

from shipyard.decision import decide

SCALAR_KEYS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
IMBALANCED_VERDICT_METRICS = ("balanced_accuracy", "f1_macro", "pr_auc")
"""What verdicts compare on imbalanced data (imbalance ratio above 3), where accuracy rewards predicting the majority class."""


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
        ``accuracy``, ``balanced_accuracy``, ``precision``, ``recall``,
        ``f1`` (of the positive class for binary tasks, macro averages for
        multiclass, which also get ``precision_weighted``,
        ``recall_weighted``, ``f1_weighted``), ``f1_macro`` (mean F1 over the
        classes), ``roc_auc`` and ``pr_auc`` (average precision; one-vs-rest
        macro for multiclass) and ``log_loss``.

        A metric that is undefined on these rows is NaN (null in JSON), never
        a number standing in for it: with a class absent from ``y_true``,
        the recall, F1 and PR-AUC of that class, balanced accuracy, macro F1
        and ROC-AUC are undefined; precision is undefined when no row is
        predicted positive (scikit-learn's ``zero_division=np.nan``).
    """
    proba = np.asarray(proba, dtype=np.float64)
    proba = proba / proba.sum(axis=1, keepdims=True)  # float32 softmax rows sum to 1 only within ~1e-7
    y_true = np.asarray(y_true)
    n_classes = proba.shape[1]
    labels = np.arange(n_classes)
    pos = 1 if positive_index is None else positive_index
    y_pred = decide(proba, pos, threshold)
    all_present = bool(np.all(np.bincount(y_true, minlength=n_classes) > 0))
    undefined = float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # undefined metrics are NaN here, said once where they are reported
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        out: dict[str, float] = {
            "accuracy": skm.accuracy_score(y_true, y_pred),
            "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred) if all_present else undefined,
        }
        f1_each = skm.f1_score(y_true, y_pred, labels=labels, average=None, zero_division=np.nan)
        out["f1_macro"] = float(np.mean(f1_each)) if all_present else undefined
        if n_classes == 2:
            has_pos = bool(np.any(y_true == pos))
            out["precision"] = skm.precision_score(y_true, y_pred, pos_label=pos, zero_division=np.nan)
            out["recall"] = skm.recall_score(y_true, y_pred, pos_label=pos, zero_division=np.nan)
            out["f1"] = skm.f1_score(y_true, y_pred, pos_label=pos, zero_division=np.nan) if has_pos else undefined
            out["roc_auc"] = skm.roc_auc_score(y_true == pos, proba[:, pos]) if all_present else undefined
            out["pr_auc"] = skm.average_precision_score(y_true == pos, proba[:, pos]) if has_pos else undefined
        else:
            for avg in ("macro", "weighted"):
                suffix = "" if avg == "macro" else "_weighted"
                p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg, zero_division=0)
                out.update({f"precision{suffix}": p, f"recall{suffix}": r if all_present else undefined, f"f1{suffix}": f if all_present else undefined})
            out["roc_auc"] = skm.roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=labels) if all_present else undefined
            onehot = np.eye(n_classes)[y_true]
            out["pr_auc"] = skm.average_precision_score(onehot, proba, average="macro") if all_present else undefined
        out["log_loss"] = skm.log_loss(y_true, np.clip(proba, 1e-15, 1.0), labels=labels)
    return {k: float(v) for k, v in out.items()}


def confusion(y_true: np.ndarray, proba: np.ndarray, positive_index: int | None = None, threshold: float | None = None) -> list[list[int]]:
    """Confusion matrix (rows: true class, columns: predicted class) as nested lists."""
    labels = np.arange(proba.shape[1])
    return skm.confusion_matrix(y_true, decide(proba, positive_index, threshold), labels=labels).tolist()


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
