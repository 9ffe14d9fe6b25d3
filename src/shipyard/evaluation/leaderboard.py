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

    Returns
    -------
    dict
        ``primary`` (metric name), ``models`` (name to ``{metric: {value, low,
        high}}``), ``ranking`` (names, best first by the primary metric),
        ``comparisons`` (per baseline: difference to the network on the
        primary metric, oriented so that positive means the baseline is
        better, its CI, and ``verdict`` in {"better", "as good", "worse"}),
        and ``findings`` (plain sentences).
    """
    primary = task.primary_metric
    stats, models = {}, {}
    for name, pred in predictions.items():
        point, stats[name] = task.scores(y_true, pred, positive_index), task.bootstrap_scores(y_true, pred, weights, positive_index)
        models[name] = with_intervals(point, stats[name], confidence)
    sign = -1.0 if primary in LOWER_IS_BETTER else 1.0
    ranking = sorted(models, key=lambda n: -sign * models[n][primary]["value"])
    comparisons, findings = {}, []
    net = models[NETWORK][primary]["value"]
    for name in predictions:
        if name == NETWORK:
            continue
        diff_stats = sign * (stats[name][primary] - stats[NETWORK][primary])
        diff = sign * (models[name][primary]["value"] - net)
        low, high = interval(diff_stats, confidence)
        if low == low and high == high:
            verdict = "better" if low > 0 else ("as good" if high >= 0 else "worse")
        else:  # no bootstrap (evaluate.bootstrap.samples: 0): compare point estimates only
            verdict = "better" if diff > 0 else ("as good" if diff == 0 else "worse")
        comparisons[name] = {"metric": primary, "difference": diff, "low": low, "high": high, "verdict": verdict}
        title = TITLES.get(name, name)
        value = models[name][primary]["value"]
        spread = f"{diff:+.3f} [{low:+.3f}, {high:+.3f}]" if low == low else f"{diff:+.3f}, no bootstrap interval"
        if verdict == "better":
            findings.append(f"The {title} baseline is better than the network on {primary} ({value:.3f} vs {net:.3f}; difference {spread}, positive favours the baseline).")
        elif verdict == "as good":
            findings.append(
                f"The {title} baseline is as good as the network on {primary} ({value:.3f} vs {net:.3f}; "
                f"difference {spread}" + (" includes 0" if low == low else "") + "): the network does not measurably beat it."
            )
        else:
            findings.append(
                f"The network beats the {title} baseline on {primary} ({net:.3f} vs {value:.3f}; difference {spread}, negative favours the network)."
            )
    return {"primary": primary, "models": models, "ranking": ranking, "comparisons": comparisons, "findings": findings}
