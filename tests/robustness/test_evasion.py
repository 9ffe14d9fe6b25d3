"""FGSM and PGD are real attacks: ordered PGD <= FGSM <= random noise, within budget, masked, clipped, exact at epsilon 0."""

from __future__ import annotations

import numpy as np
import pytest

from shipyard.recipe import AttackSpec
from shipyard.robustness.evasion import evasion_curves, make_attack, perturb
from shipyard.training.device import torch_threads
from shipyard.robustness.space import Standardised, attack_space
from shipyard.tasks import get_task


@pytest.fixture(scope="module")
def curves(breast_cancer_trained):
    recipe, prepared, network, _ = breast_cancer_trained
    task = get_task(recipe.task)
    X, y = prepared.X["test"], prepared.y[prepared.split.test]
    spec = AttackSpec(epsilons=[0, 0.1, 0.25, 0.5, 1.0, 2.0], l2_epsilons=[0, 0.5, 1, 2, 4, 8])
    with torch_threads(1):
        return evasion_curves(network, task, attack_space(prepared), X, y, spec, 2, seed=0, positive_index=prepared.positive_index)


def accuracy(points):
    return [p["scores"]["accuracy"] for p in points]


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_attack_ordering_pgd_fgsm_noise(curves, norm):
    """At each epsilon: accuracy under PGD <= under FGSM <= under random noise of the same norm; PGD at a large epsilon far below clean."""
    methods = curves["curves"][norm]
    pgd, fgsm, noise = accuracy(methods["pgd"]), accuracy(methods["fgsm"]), accuracy(methods["noise"])
    for k, point in enumerate(methods["pgd"]):
        assert pgd[k] <= fgsm[k] <= noise[k], (norm, point["epsilon"], pgd[k], fgsm[k], noise[k])
    clean = curves["clean"]["accuracy"]
    assert clean >= 0.9
    assert pgd[-1] <= clean - 0.5  # at the largest budget PGD breaks most predictions
    assert noise[-2] >= clean - 0.15  # noise of the same size barely matters
    assert methods["pgd"][-1]["scores"]["success_rate"] >= 0.5


def test_epsilon_zero_reproduces_the_clean_metrics_exactly(curves, breast_cancer_trained):
    recipe, prepared, network, _ = breast_cancer_trained
    task = get_task(recipe.task)
    clean = task.scores(prepared.y[prepared.split.test], task.predict(network, prepared.X["test"]), prepared.positive_index)
    assert curves["clean"] == clean
    for methods in curves["curves"].values():
        for points in methods.values():
            assert points[0]["epsilon"] == 0
            assert {k: v for k, v in points[0]["scores"].items() if k in clean} == clean
            assert points[0]["scores"]["success_rate"] == 0 and points[0]["mean_linf"] == 0


def test_perturbations_stay_within_budget(curves):
    for norm, methods in curves["curves"].items():
        for method, points in methods.items():
            for point in points:
                size = point["max_linf"] if norm == "inf" else point["max_l2"]
                assert size <= point["epsilon"] * (1 + 1e-4) + 1e-6, (norm, method, point["epsilon"], size)
                if method == "pgd" and point["epsilon"] > 0:
                    mean = point["mean_linf"] if norm == "inf" else point["mean_l2"]
                    assert mean >= 0.5 * point["epsilon"]  # the attack uses its budget


def test_masked_features_never_move_and_clip_keeps_the_training_range(breast_cancer_trained):
    recipe, prepared, network, _ = breast_cancer_trained
    task = get_task(recipe.task)
    space = attack_space(prepared)
    space.mask[::2] = False  # pretend every other feature were a one-hot column
    space.scale[::2] = 1.0
    X, y = prepared.X["test"], prepared.y[prepared.split.test]
    estimator = task.art_estimator(Standardised(network, space.scale), X.shape[1], 2, clip_values=space.art_bounds(X))
    for norm in ("inf", "2"):
        for method in ("fgsm", "pgd"):
            attacked = perturb(make_attack(estimator, method, norm, 3.0), space, X, task.attack_targets(y), clip=True, seed=1)
            assert (attacked[:, ~space.mask] == X[:, ~space.mask]).all()
            assert (attacked >= np.minimum(space.lower, X)).all() and (attacked <= np.maximum(space.upper, X)).all()
            assert np.abs(attacked - X)[:, space.mask].max() > 0


def test_the_same_seed_gives_the_same_curves(curves, breast_cancer_trained):
    recipe, prepared, network, _ = breast_cancer_trained
    spec = AttackSpec(epsilons=[0, 0.1, 0.25, 0.5, 1.0, 2.0], l2_epsilons=[0, 0.5, 1, 2, 4, 8])
    with torch_threads(1):
        again = evasion_curves(network, get_task(recipe.task), attack_space(prepared), prepared.X["test"], prepared.y[prepared.split.test], spec, 2, 0, prepared.positive_index)
    assert again["curves"] == curves["curves"]


def test_regression_attacks_raise_the_error_in_order():
    """Regression: the attacks maximise the squared error; RMSE under PGD >= FGSM >= noise, and it grows with epsilon."""
    from .conftest import prepared_and_trained

    recipe, prepared, network, _ = prepared_and_trained(
        {"name": "d", "task": "regression", "data": {"source": "sklearn:diabetes", "target": "target"}, "model": {"hidden_sizes": [32]}, "train": {"epochs": 60, "learning_rate": 0.003}}
    )
    task = get_task(recipe.task)
    spec = AttackSpec(norms=["inf"], epsilons=[0, 0.25, 0.5, 1.0])
    found = evasion_curves(network, task, attack_space(prepared), prepared.X["test"], prepared.y[prepared.split.test], spec, 1, seed=0)
    methods = found["curves"]["inf"]
    rmse = {m: [p["scores"]["rmse"] for p in points] for m, points in methods.items()}
    assert rmse["pgd"][0] == found["clean"]["rmse"]
    for k in range(4):
        assert rmse["pgd"][k] >= rmse["fgsm"][k] - 1e-9 and rmse["fgsm"][k] >= rmse["noise"][k] - 1e-9
    assert rmse["pgd"] == sorted(rmse["pgd"]) and rmse["pgd"][-1] > 1.5 * rmse["pgd"][0]
    assert methods["pgd"][-1]["scores"]["error_increase"] > 0.5 and "success_rate" not in methods["pgd"][-1]["scores"]
