"""Membership inference is real: it finds a model that memorised its rows, and finds nothing where there is nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from shipyard.robustness.membership import attack_quality, membership_inference, reading
from shipyard.tasks import get_task


def memoriser(X: np.ndarray, y: np.ndarray, epochs: int = 300) -> nn.Module:
    """A wide network trained to zero loss on its rows (random labels: it can only memorise)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(X.shape[1], 256), nn.ReLU(), nn.Linear(256, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(epochs):
        opt.zero_grad()
        nn.functional.cross_entropy(net(Xt), yt).backward()
        opt.step()
    return net.eval()


@pytest.fixture(scope="module")
def random_rows():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 10)).astype(np.float32)
    y = rng.integers(0, 2, size=600).astype(np.int64)
    return X, y


def test_a_memorising_model_leaks_membership(random_rows):
    X, y = random_rows
    net = memoriser(X[:200], y[:200])
    found = membership_inference(net, get_task("classification"), X[:200], y[:200], X[200:400], y[200:400], 2, rows=200, seed=0)
    # Half the unseen rows carry the label the model guesses for them (random labels), so 0.75-0.85 is the ceiling here.
    assert found["loss_threshold"]["auc"] > 0.75 and found["loss_threshold"]["auc_ci"][0] > 0.7
    assert found["black_box"]["auc"] > 0.7
    assert found["loss_threshold"]["advantage"] > 0.5
    assert found["level"] == "strong" and "strong leakage" in found["reading"]
    assert found["mean_loss"]["members"] < 0.1 < found["mean_loss"]["non_members"]


def test_no_leakage_is_found_where_there_is_none(random_rows):
    """'Members' the model never saw: both groups are unseen rows, so the attack can only guess."""
    X, y = random_rows
    net = memoriser(X[400:], y[400:])
    found = membership_inference(net, get_task("classification"), X[:200], y[:200], X[200:400], y[200:400], 2, rows=200, seed=0)
    for name in ("loss_threshold", "black_box"):
        low, high = found[name]["auc_ci"]
        assert low <= 0.5 <= high, (name, found[name])
    assert found["level"] == "none" and "no measurable leakage" in found["reading"]


def test_only_aggregates_are_written(random_rows):
    X, y = random_rows
    net = memoriser(X[:100], y[:100], epochs=50)
    found = membership_inference(net, get_task("classification"), X[:100], y[:100], X[100:], y[100:], 2, rows=80, seed=0)
    assert found["members"] == found["non_members"] == 80
    hist = found["loss_histogram"]
    assert sum(hist["members"]) == sum(hist["non_members"]) == 80 and len(hist["edges"]) == 21
    flat = repr(found)
    for value in X[:3, 0]:  # no row's features
        assert repr(float(value)) not in flat


def test_regression_membership_uses_the_squared_error(random_rows):
    X, _ = random_rows
    y = X[:, 0] * 2 + np.random.default_rng(1).normal(size=len(X)).astype(np.float32)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 256), nn.ReLU(), nn.Linear(256, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(400):
        opt.zero_grad()
        nn.functional.mse_loss(net(torch.from_numpy(X[:100])).squeeze(1), torch.from_numpy(y[:100])).backward()
        opt.step()
    found = membership_inference(net.eval(), get_task("regression"), X[:100], y[:100], X[100:], y[100:], 1, rows=100, seed=0)
    assert found["loss_threshold"]["auc"] > 0.8


def test_quality_and_reading():
    members = np.r_[np.ones(50, bool), np.zeros(50, bool)]
    perfect = attack_quality(members, members.astype(float), seed=0)
    assert perfect["auc"] == 1.0 and perfect["advantage"] == 1.0 and perfect["auc_ci"] == [1.0, 1.0]
    assert reading(0.52, [0.45, 0.6])[0] == "none"
    assert reading(0.57, [0.51, 0.63])[0] == "weak"
    assert reading(0.65, [0.6, 0.7])[0] == "moderate"
    assert reading(0.8, [0.75, 0.85])[0] == "strong"
