"""Decision-threshold tuning on the validation split (binary tasks).

The network is trained on the training split; the threshold on the positive
class's probability is then chosen on validation rows only, stored in the
bundle manifest, and applied by the predictor and the server.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm


def tune_threshold(
    y_val: np.ndarray, proba_val: np.ndarray, positive_index: int, objective: str, target_recall: float = 0.9
) -> dict[str, Any]:
    """Choose the probability threshold of the positive class on validation rows.

    Parameters
    ----------
    y_val : ndarray of shape (n_val,)
        Class indices of the validation rows.
    proba_val : ndarray of shape (n_val, 2)
        Validation probabilities.
    positive_index : int
        Column of the positive class.
    objective : {"f1", "recall"}
        ``f1``: the threshold that maximises the positive class's F1 (ties:
        the one closest to 0.5). ``recall``: the highest threshold whose
        recall reaches ``target_recall`` (so precision is as high as that
        recall allows). Candidates lie halfway between consecutive distinct
        validation scores, plus 0.5.
    target_recall : float
        Used by ``objective="recall"``.

    Returns
    -------
    dict
        ``threshold``, ``objective``, ``target_recall`` (if used) and the
        validation ``precision``, ``recall`` and ``f1`` at that threshold.
    """
    positive = np.asarray(y_val) == positive_index
    scores = np.asarray(proba_val, dtype=np.float64)[:, positive_index]
    # Candidates halfway between consecutive distinct validation scores (and 0.5): a threshold
    # sitting exactly on a validation row's score would flip on the smallest change of that score.
    distinct = np.unique(scores)
    candidates = np.unique(np.concatenate([(distinct[:-1] + distinct[1:]) / 2, [0.5]]))
    precision = np.array([_precision(positive, scores >= t) for t in candidates])
    recall = np.array([(positive & (scores >= t)).sum() / max(positive.sum(), 1) for t in candidates])
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    if objective == "f1":
        best = f1.max()
        ties = np.flatnonzero(np.isclose(f1, best))
        i = ties[np.argmin(np.abs(candidates[ties] - 0.5))]
    elif objective == "recall":
        reach = np.flatnonzero(recall >= target_recall)
        i = reach.max() if len(reach) else 0
    else:
        raise ValueError(f"unknown objective {objective!r}")
    out: dict[str, Any] = {
        "threshold": float(candidates[i]),
        "objective": objective,
        "validation": {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i])},
        "validation_rows": int(len(positive)),
    }
    if objective == "recall":
        out["target_recall"] = target_recall
    return out


def _precision(positive: np.ndarray, predicted: np.ndarray) -> float:
    hits = predicted.sum()
    return float((positive & predicted).sum() / hits) if hits else 1.0


def per_class_recall(y_true: np.ndarray, y_pred: np.ndarray, labels: list[Any]) -> dict[str, float]:
    """Recall of every class, keyed by its label (scikit-learn's ``recall_score(average=None)``)."""
    values = skm.recall_score(y_true, y_pred, labels=np.arange(len(labels)), average=None, zero_division=0)
    return {str(label): float(v) for label, v in zip(labels, values)}
