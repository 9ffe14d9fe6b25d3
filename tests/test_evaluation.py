"""Calibration, curves, leaderboard verdicts and the overfitting diagnosis, on known inputs."""

from __future__ import annotations

import numpy as np
import pytest

from shipyard.evaluation.bootstrap import resample_weights
from shipyard.evaluation.calibration import (
    brier_score,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
)
from shipyard.evaluation.curves import (
    normalized_confusion,
    roc_pr_curves,
    threshold_curve,
)
from shipyard.evaluation.diagnosis import diagnose
from shipyard.evaluation.leaderboard import leaderboard
from shipyard.tasks import get_task


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_ece_zero_when_calibrated_and_large_when_overconfident():
    rng = np.random.default_rng(0)
    n = 20000
    p_pos = rng.uniform(0, 1, n)
    y = (rng.uniform(0, 1, n) < p_pos).astype(int)  # labels drawn from the predicted probabilities
    proba = np.column_stack([1 - p_pos, p_pos])
    assert expected_calibration_error(y, proba, 10) < 0.02
    sharp = np.column_stack([1 - (p_pos > 0.5), p_pos > 0.5]).astype(float) * 0.98 + 0.01
    assert expected_calibration_error(y, sharp, 10) > 0.2
    bins = reliability_bins(y, proba, 10)
    assert sum(bins["count"]) == n and len(bins["edges"]) == 11
    # Brier of the one-hot-perfect model is 0; sklearn's multiclass Brier sums over classes.
    assert brier_score(np.array([0, 1, 2]), np.eye(3)) == 0.0
    assert brier_score(np.array([0, 1]), np.array([[0.5, 0.5], [0.5, 0.5]])) == pytest.approx(0.25)


def test_temperature_recovers_the_scale_of_overconfident_logits():
    rng = np.random.default_rng(1)
    n, k = 5000, 3
    true_logits = rng.normal(0, 1.5, size=(n, k))
    y = np.array([rng.choice(k, p=p) for p in _softmax(true_logits)])
    temperature = fit_temperature(3.0 * true_logits, y)  # a network 3x over-confident
    assert temperature == pytest.approx(3.0, rel=0.1)


def test_curves_and_confusion():
    y = np.array([0, 0, 1, 1, 2, 2])
    proba = np.array([[0.8, 0.1, 0.1], [0.4, 0.5, 0.1], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.1, 0.2, 0.7]])
    cm = np.array(normalized_confusion(y, proba))
    assert np.allclose(cm.sum(axis=1), 1) and cm[0, 1] == 0.5
    curves = roc_pr_curves(y, proba, ["a", "b", "c"])
    assert [c["label"] for c in curves] == ["a", "b", "c"] and curves[2]["roc_auc"] == 1.0
    binary = np.column_stack([1 - np.linspace(0, 1, 6), np.linspace(0, 1, 6)])
    th = threshold_curve(np.array([0, 0, 0, 1, 1, 1]), binary)
    assert max(th["accuracy"]) == 1.0 and th["recall"][0] == 1.0


def test_leaderboard_says_when_a_baseline_is_as_good_or_better():
    rng = np.random.default_rng(2)
    n = 300
    y = rng.integers(0, 2, n)
    good = np.where(rng.random(n) < 0.9, y, 1 - y)  # 90% right
    poor = np.where(rng.random(n) < 0.6, y, 1 - y)  # 60% right
    onehot = lambda pred: np.column_stack([1 - pred, pred]).astype(float) * 0.8 + 0.1  # noqa: E731
    W = resample_weights(n, 500, 0)
    board = leaderboard(get_task("classification"), y, {"network": onehot(poor), "hist_gradient_boosting": onehot(good), "dummy": onehot(poor)}, W)
    assert board["ranking"][0] == "hist_gradient_boosting"
    assert board["comparisons"]["hist_gradient_boosting"]["verdict"] == "better"
    assert board["comparisons"]["dummy"]["verdict"] == "as good"
    assert any("better than the network" in f for f in board["findings"])
    board = leaderboard(get_task("classification"), y, {"network": onehot(good), "dummy": onehot(poor)}, W)
    assert board["comparisons"]["dummy"]["verdict"] == "worse"
    assert board["models"]["network"]["accuracy"]["low"] < board["models"]["network"]["accuracy"]["value"]


def _history(train, val):
    return [
        {"epoch": i + 1, "train_loss": t, "val_loss": v, "train_accuracy": 1 - t / 2, "val_accuracy": 1 - v / 2}
        for i, (t, v) in enumerate(zip(train, val))
    ]


def test_diagnosis_finds_rising_validation_loss_and_large_gap():
    epochs = 40
    train = list(np.linspace(0.6, 0.01, epochs))
    val = [0.6 - 0.02 * i for i in range(10)] + [0.42 + 0.02 * i for i in range(epochs - 10)]
    d = diagnose(_history(train, val), best_epoch=10)
    assert d["overfitting"] and d["epochs_after_best_with_higher_val_loss"] == 29
    assert any("rose for 29 epochs" in f for f in d["findings"])
    gap = diagnose(_history([0.6, 0.1, 0.02], [0.6, 0.5, 0.55]), best_epoch=2)
    assert gap["overfitting"] and gap["metric_gap"] == pytest.approx(0.2)
    assert gap["findings"][0].startswith("Large generalization gap at epoch 2")
    healthy = diagnose(_history([0.3] * 5, [0.31] * 5), best_epoch=5)
    assert not healthy["overfitting"] and healthy["findings"][0].startswith("No sign of overfitting")


def test_leaderboard_without_bootstrap_compares_point_estimates():
    y = np.array([0, 1] * 10)
    good = np.column_stack([1 - y * 0.8 - 0.1, y * 0.8 + 0.1])
    board = leaderboard(get_task("classification"), y, {"network": np.full((20, 2), 0.5), "logistic_regression": good}, resample_weights(20, 0, 0))
    assert board["comparisons"]["logistic_regression"]["verdict"] == "better"
    assert np.isnan(board["models"]["network"]["accuracy"]["low"])
    assert "no bootstrap interval" in board["findings"][0]
