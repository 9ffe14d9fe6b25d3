"""Decision thresholds for binary tasks: tuned on the validation split, or undoing a prior shift.

The network is trained on the training split; the threshold on the positive
class's probability is then chosen on validation rows only (``tune_threshold``)
or computed from the prior shift that class weights or resampling cause
(``prior_shift_factor``, ``matched_prior_factor``, ``prior_shift_threshold``),
stored in the bundle manifest, and applied by the predictor and the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn import metrics as skm

if TYPE_CHECKING:  # pragma: no cover
    from shipyard.data.prepared import Prepared
    from shipyard.recipe import Recipe


def choose_threshold(recipe: "Recipe", prepared: "Prepared", proba_val: np.ndarray) -> dict[str, Any]:
    """The positive-class decision threshold of ``imbalance.threshold`` (binary tasks).

    ``f1`` / ``recall`` tune it on the validation split. ``prior_shift`` computes
    it from the class weights and resampling alone (Elkan 2001): the threshold
    on the weighted network's probability that is 0.5 on the unweighted
    posterior. ``prior_shift_f1`` aims instead at F*/2 on the unweighted
    posterior, the F1-optimal threshold of a calibrated classifier (Lipton,
    Elkan & Naryanaswamy 2014), with F* the best validation F1.
    ``prior_shift_f1_plugin`` estimates F* from the de-weighted validation
    probabilities without their labels; the ``prior_shift_matched`` objectives
    measure the shift instead (Saerens et al. 2002).

    Parameters
    ----------
    recipe : Recipe
    prepared : Prepared
        Binary task (``positive_index`` set), with ``y_fit`` from the preparation.
    proba_val : ndarray of shape (n_val, 2)
        The network's validation probabilities.

    Returns
    -------
    dict
        ``threshold``, ``objective``, ``positive_label``, the validation
        precision/recall/F1 at the threshold, and for prior-shift objectives
        the factor and target.
    """
    spec = recipe.imbalance.threshold
    pos = prepared.positive_index
    y_val = prepared.y[prepared.split.validation]
    if spec.objective.startswith("prior_shift"):
        out = _prior_shift_decision(recipe, prepared, y_val, proba_val)
    else:
        out = tune_threshold(y_val, proba_val, pos, spec.objective, spec.target_recall)
    out["positive_label"] = str(prepared.labels[pos])
    return out


def _prior_shift_decision(recipe: "Recipe", prepared: "Prepared", y_val: np.ndarray, proba_val: np.ndarray) -> dict[str, Any]:
    """Threshold of the ``prior_shift*`` objectives, with the factor and target it came from."""
    from shipyard.training.losses import balanced_class_weights

    spec = recipe.imbalance.threshold
    pos = prepared.positive_index
    n = len(prepared.labels)
    y_fit = prepared.y[prepared.split.train] if prepared.y_fit is None else prepared.y_fit
    fit_counts = np.bincount(y_fit, minlength=n).astype(np.float64)
    weights = balanced_class_weights(y_fit, n) if recipe.imbalance.class_weight == "balanced" else np.ones(n)
    train_counts = np.bincount(prepared.y[prepared.split.train], minlength=n).astype(np.float64)
    factor = prior_shift_factor(weights * fit_counts, train_counts, pos)
    if spec.objective.startswith("prior_shift_matched"):
        factor = matched_prior_factor(proba_val, pos, float(train_counts[pos] / train_counts.sum()))
    target = 0.5
    if spec.objective == "prior_shift_f1":
        target = tune_threshold(y_val, proba_val, pos, "f1")["validation"]["f1"] / 2
    elif spec.objective in ("prior_shift_f1_plugin", "prior_shift_matched_f1_plugin"):
        target = plugin_f1_optimum(deweight(proba_val, factor, pos)) / 2
    threshold = prior_shift_threshold(factor, target)
    scores = proba_val[:, pos] >= threshold
    positive = y_val == pos
    tp = int((scores & positive).sum())
    precision = tp / max(int(scores.sum()), 1) if scores.sum() else 1.0
    recall = tp / max(int(positive.sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {
        "threshold": threshold,
        "objective": spec.objective,
        "prior_shift_factor": factor,
        "target_on_unweighted_posterior": float(target),
        "validation": {"precision": float(precision), "recall": float(recall), "f1": float(f1)},
        "validation_rows": int(len(y_val)),
    }


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


def prior_shift_factor(fit_mass: np.ndarray, train_counts: np.ndarray, positive_index: int) -> float:
    """How much class weighting and resampling multiplied the positive class's odds.

    A network fitted with per-class loss weights ``w_c`` on rows with class
    counts ``m_c`` (after any resampling) estimates the posterior of a
    population whose class priors are proportional to ``w_c * m_c``. Relative
    to the training split's priors ``n_c`` its posterior odds are those of the
    unweighted posterior times

        k = (w_1 m_1 / (w_0 m_0)) / (n_1 / n_0),

    which is Elkan (2001), "The foundations of cost-sensitive learning",
    IJCAI, Theorem 1: ``p_w / (1 - p_w) = k * p / (1 - p)``. Balanced weights
    without resampling give ``k = w_1 / w_0 = n_0 / n_1``.

    Parameters
    ----------
    fit_mass : ndarray of shape (2,)
        ``w_c * m_c``: total loss weight of each class over the rows the network is fitted on.
    train_counts : ndarray of shape (2,)
        ``n_c``: rows of each class in the training split (before resampling).
    positive_index : int

    Returns
    -------
    float
    """
    pos, neg = positive_index, 1 - positive_index
    return float((fit_mass[pos] / fit_mass[neg]) / (train_counts[pos] / train_counts[neg]))


def prior_shift_threshold(factor: float, target: float = 0.5) -> float:
    """The threshold on the weighted network's positive probability that equals ``target`` on the unweighted posterior.

    With ``p_w / (1 - p_w) = factor * p / (1 - p)`` (see :func:`prior_shift_factor`),
    ``p >= target`` if and only if ``p_w >= factor * target / (factor * target + 1 - target)``.
    ``target=0.5`` gives the Bayes (arg-max) decision of the unweighted
    posterior (Elkan 2001); ``factor=1`` (no weighting) returns ``target``.
    """
    odds = factor * target / (1.0 - target)
    return float(odds / (1.0 + odds))


def deweight(proba: np.ndarray, factor: float, positive_index: int) -> np.ndarray:
    """Positive-class probability with the prior shift of :func:`prior_shift_factor` undone (shape (n_rows,))."""
    p = np.clip(np.asarray(proba, dtype=np.float64)[:, positive_index], 1e-12, 1 - 1e-12)
    odds = p / (1 - p) / factor
    return odds / (1 + odds)


def matched_prior_factor(proba: np.ndarray, positive_index: int, prior: float) -> float:
    """The odds factor ``k`` whose de-weighted probabilities average to ``prior`` on these rows (no labels).

    A posterior's mean over a sample estimates the class prior (Saerens,
    Latinne & Decaestecker 2002, "Adjusting the outputs of a classifier to new
    a priori probabilities", Neural Computation 14). The network's effective
    prior shift need not equal the nominal one of :func:`prior_shift_factor`
    (early stopping, regularisation), so it is measured instead: ``k`` solves
    ``mean(deweight(proba, k)) == prior`` (bisection on ``log k``; the mean
    falls monotonically as ``k`` grows).
    """
    lo, hi = -20.0, 20.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if deweight(proba, float(np.exp(mid)), positive_index).mean() > prior:
            lo = mid
        else:
            hi = mid
    return float(np.exp((lo + hi) / 2))


def plugin_f1_optimum(p: np.ndarray) -> float:
    """Expected-F1 estimate of the best achievable F1 from calibrated probabilities alone (no labels).

    With calibrated ``p_i``, predicting positive above ``t`` has expected true
    positives ``sum_{p_i >= t} p_i`` and expected positives ``sum_i p_i``, so
    F1(t) is about ``2 sum_{p_i >= t} p_i / (sum_i p_i + #{p_i >= t})``; the
    maximum over ``t`` estimates F* (Lipton, Elkan & Naryanaswamy 2014).
    """
    p = np.sort(np.asarray(p, dtype=np.float64))[::-1]
    tp = np.cumsum(p)
    k = np.arange(1, len(p) + 1)
    return float((2 * tp / (p.sum() + k)).max()) if len(p) else 0.0


def _precision(positive: np.ndarray, predicted: np.ndarray) -> float:
    hits = predicted.sum()
    return float((positive & predicted).sum() / hits) if hits else 1.0


def per_class_recall(y_true: np.ndarray, y_pred: np.ndarray, labels: list[Any]) -> dict[str, float]:
    """Recall of every class, keyed by its label (scikit-learn's ``recall_score(average=None)``)."""
    values = skm.recall_score(y_true, y_pred, labels=np.arange(len(labels)), average=None, zero_division=0)
    return {str(label): float(v) for label, v in zip(labels, values)}
