"""Membership inference: can an attacker who sees the model's outputs tell its training rows from unseen rows?

Two black-box attacks, on equally many training rows (members) and test rows
(non-members, never trained on nor used to choose the epoch):

- the loss threshold (Yeom et al. 2018, "Privacy risk in machine learning"):
  a row is called a member when the model's loss on it is low. Its ROC-AUC
  over all thresholds needs no training, and its best advantage
  (max TPR - FPR) is Yeom et al.'s membership advantage.
- a learned attack, ART's ``MembershipInferenceBlackBox`` (after Shokri et al.
  2017): a random forest fitted on the model's loss and the true target of
  half the members and non-members and scored on the other half, then the
  other way round (2-fold cross-fitting: every row is scored by a model that
  did not see it).

A ROC-AUC of 0.5 means the attack does no better than a coin flip: no
measurable leakage. The advantages are maxima over thresholds chosen in
hindsight, so they are upper estimates. Only aggregates are written (a
histogram of the losses, not any row's loss).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve
from torch import nn

from shipyard.tasks import Task

BOOTSTRAP = 200
"""Resamples of the bootstrap interval of each attack's ROC-AUC."""
READINGS = (
    (0.55, "weak"),
    (0.6, "moderate"),
    (0.7, "strong"),
)
"""ROC-AUC from which leakage is called weak, moderate, strong (below the first, or an interval holding 0.5: none measurable)."""


def attack_quality(is_member: np.ndarray, score: np.ndarray, seed: int) -> dict[str, Any]:
    """ROC-AUC with a bootstrap 95% interval, and the best advantage, of a membership score (higher: member).

    Parameters
    ----------
    is_member : ndarray of shape (n_rows,), bool
    score : ndarray of shape (n_rows,)
    seed : int

    Returns
    -------
    dict
        ``auc``, ``auc_ci`` ([low, high]), ``advantage`` (max TPR - FPR), ``rows``.
    """
    is_member = np.asarray(is_member, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    auc = float(roc_auc_score(is_member, score))
    fpr, tpr, _ = roc_curve(is_member, score)
    rng = np.random.default_rng(seed)
    members, others = np.flatnonzero(is_member), np.flatnonzero(~is_member)
    aucs = []
    for _ in range(BOOTSTRAP):  # resample members and non-members separately: every resample has both
        rows = np.concatenate([rng.choice(members, len(members)), rng.choice(others, len(others))])
        aucs.append(roc_auc_score(is_member[rows], score[rows]))
    low, high = np.percentile(aucs, [2.5, 97.5])
    return {"auc": auc, "auc_ci": [float(low), float(high)], "advantage": float(np.max(tpr - fpr)), "rows": int(len(score))}


def reading(auc: float, ci: list[float]) -> tuple[str, str]:
    """The level of leakage an attack's ROC-AUC shows, and one plain sentence about it."""
    if ci[0] <= 0.5 or auc < READINGS[0][0]:
        return "none", (
            f"An attacker who sees the model's outputs cannot tell its training rows from unseen ones better than chance "
            f"(ROC-AUC {auc:.2f}, 95% interval {ci[0]:.2f} to {ci[1]:.2f}; 0.5 is a coin flip): no measurable leakage."
        )
    level = [name for limit, name in READINGS if auc >= limit][-1]
    return level, (
        f"An attacker who sees the model's outputs tells its training rows from unseen ones with ROC-AUC {auc:.2f} "
        f"(95% interval {ci[0]:.2f} to {ci[1]:.2f}; 0.5 is a coin flip): {level} leakage. The model is more confident on rows "
        "it was trained on; regularise it (weight decay, dropout, earlier stopping) or train it with train.privacy (DP-SGD)."
    )


def membership_inference(
    network: nn.Module,
    task: Task,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    n_outputs: int,
    rows: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Run the loss-threshold and the learned black-box membership attacks.

    Parameters
    ----------
    network : nn.Module
        The finished network, on the CPU.
    task : Task
    X_train, y_train : ndarray
        Training rows as preprocessed (members; no resampled or augmented rows).
    X_test, y_test : ndarray
        Test rows (non-members).
    n_outputs : int
    rows : int
        At most this many members and as many non-members (a seeded sample).
    seed : int

    Returns
    -------
    dict
        ``members``, ``non_members``, ``loss_threshold`` and ``black_box`` (each
        :func:`attack_quality`), ``mean_loss`` (members, non-members), a ``loss_histogram``,
        ``level`` and ``reading`` (of the stronger attack).
    """
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBox

    from shipyard.robustness.evasion import numpy_seed, quiet_art

    rng = np.random.default_rng(seed)
    n = min(rows, len(X_train), len(X_test))
    members, others = np.sort(rng.choice(len(X_train), n, replace=False)), np.sort(rng.choice(len(X_test), n, replace=False))
    X = np.concatenate([X_train[members], X_test[others]]).astype(np.float32)
    y = np.concatenate([y_train[members], y_test[others]])
    is_member = np.r_[np.ones(n, dtype=bool), np.zeros(n, dtype=bool)]
    losses = task.row_losses(y, task.predict(network, X))
    out: dict[str, Any] = {"members": int(n), "non_members": int(n)}
    out["loss_threshold"] = attack_quality(is_member, -losses, seed)
    out["mean_loss"] = {"members": float(losses[:n].mean()), "non_members": float(losses[n:].mean())}
    edges = np.histogram_bin_edges(losses, bins=20)
    out["loss_histogram"] = {
        "edges": edges.tolist(),
        "members": np.histogram(losses[:n], edges)[0].tolist(),
        "non_members": np.histogram(losses[n:], edges)[0].tolist(),
    }

    # The learned attack, cross-fitted: fitted on one half of each group and scored on the other, then the other way round,
    # so every row gets a score from an attack model that never saw it.
    estimator = task.art_estimator(network.eval(), X.shape[1], n_outputs)
    targets = task.attack_targets(y)
    halves = np.array_split(rng.permutation(n), 2)
    score = np.zeros(2 * n)
    for k, fit_half in enumerate(halves):
        fit_rows = np.r_[fit_half, n + halves[k]]  # the same positions of members and of non-members (equal counts)
        score_rows = np.setdiff1d(np.arange(2 * n), fit_rows)
        members_fit, others_fit = fit_rows[: len(fit_half)], fit_rows[len(fit_half) :]
        # ART's default random forest (it reads probabilities from predict_proba); numpy's global seed makes it reproducible.
        attack = MembershipInferenceBlackBox(estimator, input_type="loss", attack_model_type="rf")
        with numpy_seed(seed + k), quiet_art():
            attack.fit(X[members_fit], targets[members_fit], X[others_fit], targets[others_fit])
            proba = np.asarray(attack.infer(X[score_rows], targets[score_rows], probabilities=True), dtype=np.float64)
        score[score_rows] = proba[:, -1] if proba.ndim == 2 else proba.ravel()
    out["black_box"] = attack_quality(is_member, score, seed)
    out["black_box"]["attack_model"] = "random forest on the model's loss and the true target (ART MembershipInferenceBlackBox), 2-fold cross-fitted"
    strongest = max(("loss_threshold", "black_box"), key=lambda k: out[k]["auc"])
    out["level"], out["reading"] = reading(out[strongest]["auc"], out[strongest]["auc_ci"])
    out["strongest"] = strongest
    return out
