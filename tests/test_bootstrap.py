"""The vectorised bootstrap reproduces scikit-learn's metrics on explicit resamples."""

from __future__ import annotations

import numpy as np
import pytest

from shipyard.evaluation.bootstrap import (
    classification_stats,
    format_ci,
    interval,
    regression_stats,
    resample_weights,
    with_intervals,
)
from shipyard.evaluation.metrics import classification_metrics, regression_metrics


def _resampled_rows(weights_row: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(weights_row)), weights_row.astype(int))


@pytest.mark.parametrize("n_classes", [2, 3])
def test_weighted_metrics_equal_sklearn_on_each_resample(n_classes):
    rng = np.random.default_rng(1)
    n = 60
    y = rng.integers(0, n_classes, n)
    logits = rng.normal(size=(n, n_classes)) + 1.5 * np.eye(n_classes)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    proba[:5] = proba[0]  # ties in the scores exercise the AUC tie rule
    W = resample_weights(n, 8, seed=3)
    assert np.all(W.sum(axis=1) == n)
    stats = classification_stats(y, proba, W, positive_index=0 if n_classes == 2 else None)
    for b in range(len(W)):
        rows = _resampled_rows(W[b])
        expected = classification_metrics(y[rows], proba[rows], 0 if n_classes == 2 else None)
        for key, value in expected.items():
            assert stats[key][b] == pytest.approx(value, abs=1e-9, nan_ok=True), key


def test_regression_stats_equal_sklearn():
    rng = np.random.default_rng(2)
    y = rng.normal(100, 20, 40)
    pred = y + rng.normal(0, 5, 40)
    W = resample_weights(40, 5, seed=0)
    stats = regression_stats(y, pred, W)
    for b in range(5):
        rows = _resampled_rows(W[b])
        for key, value in regression_metrics(y[rows], pred[rows]).items():
            assert stats[key][b] == pytest.approx(value, rel=1e-9), key


def test_interval_covers_point_and_format():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    proba = np.column_stack([1 - y * 0.7 - 0.1, y * 0.7 + 0.1])
    proba[:30] = proba[:30, ::-1]  # 30 wrong rows: accuracy 0.85
    W = resample_weights(200, 1000, seed=0)
    ci = with_intervals(classification_metrics(y, proba), classification_stats(y, proba, W))
    acc = ci["accuracy"]
    assert acc["value"] == pytest.approx(0.85)
    assert acc["low"] < 0.85 < acc["high"]
    # Binomial standard error sqrt(.85*.15/200) = 0.025: the 95% interval is about +-0.05 wide.
    assert 0.07 < acc["high"] - acc["low"] < 0.13
    assert format_ci(acc).startswith("0.850 [0.8")
    assert np.isnan(interval(np.full(10, np.nan))[0])
