"""Baselines leaderboard: simple scikit-learn models against the network, with paired bootstrap CIs.

Every baseline (the task's :meth:`~shipyard.tasks.base.Task.baselines`) is
fitted on the same preprocessed training rows the network saw and scored on the same test rows, and every model's metrics are
bootstrapped over the *same* resamples, so the difference between a baseline
and the network has its own confidence interval. A baseline is called "as good
as" the network when that interval contains 0, "better" when it lies above 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.evaluation.bootstrap import LOWER_IS_BETTER, interval, with_intervals
from shipyard.tasks import Task

NETWORK = "network"
TITLES = {
    NETWORK: "network",
    "logistic_regression": "logistic regression",
    "linear_regression": "linear regression (ridge)",
    "hist_gradient_boosting": "HistGradientBoosting",
    "dummy": "majority-class dummy",
    "dummy_mean": "mean dummy",
    "tfidf_logistic_regression": "TF-IDF + logistic regression",
    "from_scratch": "same network from scratch",
}


def leaderboard(
    task: Task,
    y_true: np.ndarray,
    predictions: dict[str, np.ndarray],
    weights: np.ndarray,
    confidence: float = 0.95,
    positive_index: int | None = None,
    thresholds: dict[str, float | None] | None = None,
    verdict_metrics: list[str] | None = None,
) -> dict[str, Any]:
    """Score every model with bootstrap CIs and compare each baseline with the network.

    Parameters
    ----------
    task : Task
        Scores outputs (:meth:`~shipyard.tasks.base.Task.scores`, :meth:`~shipyard.tasks.base.Task.bootstrap_scores`)
        and names the primary metric.
    y_true : ndarray of shape (n_test,)
    predictions : dict of str to ndarray
        ``"network"`` and each baseline: probabilities (n_test, n_classes) or values (n_test,).
    weights : ndarray of shape (n_samples, n_test)
        Shared bootstrap resamples (:func:`shipyard.evaluation.bootstrap.resample_weights`).
    confidence : float
    positive_index : int, optional
    thresholds : dict of str to float, optional
        Each model's decision threshold (binary tasks); the network's is the
        bundle's (``imbalance.threshold``), so its scores here are those of
        ``metrics.json``'s ``test`` and of the served model. Models not
        listed decide by arg-max.
    verdict_metrics : list of str, optional
        The metrics verdicts compare on (the task's
        :meth:`~shipyard.tasks.base.Task.verdict_metrics`: balanced accuracy,
        macro F1 and PR-AUC on imbalanced data); the first ranks the models.
        Default: the task's primary metric.

    Returns
    -------
    dict
        ``primary`` (the ranking metric), ``verdict_metrics``, ``models``
        (name to ``{metric: {value, low, high}}``), ``ranking`` (names, best
        first by the primary metric), ``comparisons`` (per baseline: on the
        primary metric, the difference to the network oriented so that
        positive means the baseline is better, its CI and ``verdict`` in
        {"better", "as good", "worse"}; ``by_metric`` holds the same for
        every verdict metric), and ``findings`` (plain sentences).
    """
    thresholds = thresholds or {}
    metrics_compared = list(verdict_metrics or [task.primary_metric])
    primary = metrics_compared[0]
    stats, models = {}, {}
    for name, pred in predictions.items():
        threshold = thresholds.get(name)
        point = task.scores(y_true, pred, positive_index, threshold)
        stats[name] = task.bootstrap_scores(y_true, pred, weights, positive_index, threshold)
        models[name] = with_intervals(point, stats[name], confidence)
    ranking = sorted(models, key=lambda n: _rank_key(models[n][primary]["value"], primary))
    comparisons, findings = {}, []
    for name in predictions:
        if name == NETWORK:
            continue
        by_metric = {m: _compare(models, stats, name, m, confidence) for m in metrics_compared}
        comparisons[name] = {**by_metric[primary], "by_metric": by_metric}
        findings.append(_finding(name, models, by_metric))
    return {
        "primary": primary,
        "verdict_metrics": metrics_compared,
        "models": models,
        "ranking": ranking,
        "comparisons": comparisons,
        "findings": findings,
    }


def _rank_key(value: float, metric: str) -> float:
    """Best first; an undefined value (NaN) last."""
    if value != value:
        return float("inf")
    return value if metric in LOWER_IS_BETTER else -value


def _compare(models: dict[str, Any], stats: dict[str, Any], name: str, metric: str, confidence: float) -> dict[str, Any]:
    """One baseline against the network on one metric: the paired-bootstrap difference and the verdict."""
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    diff_stats = sign * (stats[name][metric] - stats[NETWORK][metric])
    diff = sign * (models[name][metric]["value"] - models[NETWORK][metric]["value"])
    low, high = interval(diff_stats, confidence)
    if low == low and high == high:
        verdict = "better" if low > 0 else ("as good" if high >= 0 else "worse")
    elif diff == diff:  # no bootstrap (evaluate.bootstrap.samples: 0): compare point estimates only
        verdict = "better" if diff > 0 else ("as good" if diff == 0 else "worse")
    else:
        verdict = "undefined"
    return {"metric": metric, "difference": diff, "low": low, "high": high, "verdict": verdict}


def _finding(name: str, models: dict[str, Any], by_metric: dict[str, dict[str, Any]]) -> str:
    """One sentence per baseline: its verdict on each compared metric, with the values and the interval of the difference."""
    title = TITLES.get(name, name)
    parts = []
    for metric, c in by_metric.items():
        value, net = models[name][metric]["value"], models[NETWORK][metric]["value"]
        low, high, diff = c["low"], c["high"], c["difference"]
        spread = f"difference {diff:+.3f} [{low:+.3f}, {high:+.3f}]" if low == low else f"difference {diff:+.3f}, no bootstrap interval"
        parts.append(f"{metric} {value:.3f} vs {net:.3f} ({spread})")
    verdicts = {c["verdict"] for c in by_metric.values()}
    metrics = ", ".join(by_metric)
    detail = "; ".join(parts) + " (positive differences favour the baseline)"
    if verdicts == {"better"}:
        return f"The {title} baseline is better than the network on {metrics}: {detail}."
    if verdicts <= {"as good", "better"}:
        return f"The {title} baseline is as good as the network on {metrics} (each interval includes 0 or favours it): the network does not measurably beat it; {detail}."
    if verdicts == {"worse"}:
        return f"The network beats the {title} baseline on {metrics}: {detail}."
    mixed = ", ".join(f"{c['verdict']} on {m}" for m, c in by_metric.items())
    return f"The {title} baseline is {mixed} compared with the network: {detail}."
