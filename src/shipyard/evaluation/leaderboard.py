"""Baselines leaderboard: simple scikit-learn models against the network, with paired bootstrap CIs.

Every baseline is fitted on the same preprocessed training rows the network
saw and scored on the same test rows, and every model's metrics are
bootstrapped over the *same* resamples, so the difference between a baseline
and the network has its own confidence interval. A baseline is called "as good
as" the network when that interval contains 0, "better" when it lies above 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge

from shipyard.evaluation.bootstrap import (
    LOWER_IS_BETTER,
    classification_stats,
    interval,
    regression_stats,
    with_intervals,
)
from shipyard.evaluation.metrics import classification_metrics, regression_metrics

NETWORK = "network"
TITLES = {
    NETWORK: "network",
    "logistic_regression": "logistic regression",
    "linear_regression": "linear regression (ridge)",
    "hist_gradient_boosting": "HistGradientBoosting",
    "dummy": "majority-class dummy",
    "dummy_mean": "mean dummy",
}


def primary_metric(task: str) -> str:
    """The metric the leaderboard ranks by: ``accuracy`` for classification, ``rmse`` for regression."""
    return "rmse" if task == "regression" else "accuracy"


def fit_baselines(task: str, X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, seed: int = 0, n_classes: int | None = None) -> dict[str, np.ndarray]:
    """Fit the baseline models and predict the test rows.

    Parameters
    ----------
    task : {"classification", "regression"}
    X_train : ndarray of shape (n_train, n_features)
        Preprocessed training features (the network's inputs).
    y_train : ndarray of shape (n_train,)
        Class indices, or target values for regression.
    X_test : ndarray of shape (n_test, n_features)
    seed : int
    n_classes : int, optional
        Width of the probability matrix (classes absent from ``y_train`` get 0).

    Returns
    -------
    dict of str to ndarray
        Classification: probabilities of shape (n_test, n_classes) from
        ``LogisticRegression``, ``HistGradientBoostingClassifier`` and
        ``DummyClassifier(strategy="prior")`` (predicts the majority class with
        the training class frequencies as probabilities). Regression: values
        of shape (n_test,) from ``Ridge``, ``HistGradientBoostingRegressor``
        and ``DummyRegressor`` (the training mean).
    """
    if task == "regression":
        models = {
            "linear_regression": Ridge(alpha=1.0),
            "hist_gradient_boosting": HistGradientBoostingRegressor(random_state=seed),
            "dummy_mean": DummyRegressor(strategy="mean"),
        }
        return {name: m.fit(X_train, y_train).predict(X_test) for name, m in models.items()}
    n_classes = n_classes or int(y_train.max()) + 1
    models = {
        "logistic_regression": LogisticRegression(max_iter=2000, random_state=seed),
        "hist_gradient_boosting": HistGradientBoostingClassifier(random_state=seed),
        "dummy": DummyClassifier(strategy="prior"),
    }
    out = {}
    for name, model in models.items():
        model.fit(X_train, y_train)
        proba = np.zeros((len(X_test), n_classes))
        proba[:, model.classes_] = model.predict_proba(X_test)
        out[name] = proba
    return out


def leaderboard(
    task: str,
    y_true: np.ndarray,
    predictions: dict[str, np.ndarray],
    weights: np.ndarray,
    confidence: float = 0.95,
    positive_index: int | None = None,
) -> dict[str, Any]:
    """Score every model with bootstrap CIs and compare each baseline with the network.

    Parameters
    ----------
    task : {"classification", "regression"}
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
    primary = primary_metric(task)
    stats, models = {}, {}
    for name, pred in predictions.items():
        if task == "regression":
            point, stats[name] = regression_metrics(y_true, pred), regression_stats(y_true, pred, weights)
        else:
            point, stats[name] = classification_metrics(y_true, pred, positive_index), classification_stats(y_true, pred, weights, positive_index)
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
