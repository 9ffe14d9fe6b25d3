"""Adversarial training and DP-SGD go through the trainer's seams (callbacks that replace the batch, the model, the optimizer, the loader)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shipyard.errors import RecipeError, ShipyardError
from shipyard.recipe import AttackSpec, recipe_from_dict
from shipyard.robustness.evasion import evasion_curves
from shipyard.robustness.privacy import DPSGD, check_private_training
from shipyard.robustness.space import attack_space
from shipyard.tasks import get_task
from shipyard.training.callbacks import Callback
from shipyard.training.fit import train_network
from shipyard.training.trainer import TrainState

from .conftest import breast_cancer_recipe, prepared_and_trained


class Batches(Callback):
    """Records every batch the optimizer step sees (after the callbacks before it replaced it)."""

    def __init__(self) -> None:
        self.seen: list[tuple[np.ndarray, np.ndarray]] = []

    def on_batch_start(self, trainer, state, batch):
        self.seen.append((batch[0].numpy().copy(), batch[1].numpy().copy()))


def test_adversarial_training_replaces_a_share_of_each_batch_within_budget(breast_cancer_trained):
    recipe, prepared, _, _ = breast_cancer_trained
    raw = breast_cancer_recipe(epochs=2, adversarial={"epsilon": 0.3, "ratio": 0.25, "steps": 3})
    adv = recipe_from_dict(raw)
    spy = Batches()
    _, result = train_network(adv, prepared, callbacks=[spy])
    space = attack_space(prepared)
    train = prepared.X_fit
    changed_rows = 0
    for x, _y in spy.seen:
        # Which rows changed: match each row of the batch against the training rows.
        k = int(round(0.25 * len(x)))
        nearest = np.abs(x[:, None, :] - train[None, :, :]).max(axis=2).min(axis=1)
        assert (nearest[k:] == 0).all()  # the rest of the batch is clean
        moved = nearest[:k] > 0
        changed_rows += int(moved.sum())
        assert (nearest[:k] / 1 <= 0.3 * space.scale.max() * (1 + 1e-5)).all()
        assert (x >= space.lower - 1e-6).all() and (x <= space.upper + 1e-6).all()  # attack.clip keeps the training range
    assert changed_rows >= 0.9 * sum(int(round(0.25 * len(x))) for x, _ in spy.seen)
    report = result.reports["adversarial_training"]
    assert report["adversarial_rows"] == sum(int(round(0.25 * len(x))) for x, _ in spy.seen)
    assert report["attack"] == "pgd" and report["epsilon"] == 0.3


@pytest.mark.slow  # a whole adversarial training (PGD on every batch)
def test_adversarial_training_makes_the_network_more_robust(breast_cancer_trained):
    recipe, prepared, standard, _ = breast_cancer_trained
    _, _, robust, _ = prepared_and_trained(breast_cancer_recipe(adversarial={"epsilon": 0.25, "ratio": 1.0}))
    spec = AttackSpec(methods=["pgd"], norms=["inf"], epsilons=[0, 0.25])
    X, y, task = prepared.X["test"], prepared.y[prepared.split.test], get_task("classification")
    space = attack_space(prepared)
    before = evasion_curves(standard, task, space, X, y, spec, 2)["curves"]["inf"]["pgd"][1]["scores"]["accuracy"]
    after = evasion_curves(robust, task, space, X, y, spec, 2)["curves"]["inf"]["pgd"][1]["scores"]["accuracy"]
    assert after >= before + 0.05, (before, after)


def test_dp_sgd_spends_at_most_its_budget_with_poisson_batches(breast_cancer_trained):
    _, prepared, _, _ = breast_cancer_trained
    recipe = recipe_from_dict(breast_cancer_recipe(epochs=12, learning_rate=0.01, early_stopping={"enabled": False}, privacy={"epsilon": 2.0, "max_grad_norm": 1.0}))
    spy = Batches()
    network, result = train_network(recipe, prepared, callbacks=[spy])
    dp = result.reports["dp_sgd"]
    assert dp["epsilon"] <= 2.0 + 1e-6 and dp["epsilon"] >= 1.9  # every calibrated epoch ran: the whole budget is spent
    assert dp["delta"] == min(1e-5, 1 / (10 * len(prepared.y_fit))) and dp["noise_multiplier"] > 0.5
    assert dp["steps"] == len(spy.seen) and dp["epochs_run"] == 12
    sizes = {len(x) for x, _ in spy.seen}
    assert len(sizes) > 3  # Poisson sampling: batch sizes vary around the expected size
    assert abs(np.mean([len(x) for x, _ in spy.seen]) - dp["expected_batch_size"]) < 5
    # The network comes back plain: no Opacus hooks or per-sample gradients left on it.
    assert not any(hasattr(p, "grad_sample") for p in network.parameters())
    assert all(not m._forward_hooks and not m._backward_hooks for m in network.modules())
    accuracy = get_task("classification").scores(prepared.y[prepared.split.test], get_task("classification").predict(network, prepared.X["test"]))["accuracy"]
    assert accuracy > 0.8


def test_a_resumed_dp_sgd_training_is_refused():
    callback = DPSGD(1.0, 1e-5, 1.0, 10)
    with pytest.raises(ShipyardError, match="cannot be resumed"):
        callback.on_fit_start(trainer=None, state=TrainState(epoch=3))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"model": {"type": "resnet"}}, "model.type 'resnet' has layers DP-SGD cannot train"),
        ({"imbalance": {"sampler": "smote"}}, "imbalance.sampler 'smote' copies or blends training rows"),
        ({"prepare": {"augment": {"method": "mixup"}}}, "prepare.augment 'mixup' adds rows"),
    ],
)
def test_options_dp_sgd_cannot_honour_are_refused(change, message):
    raw = {"name": "p", "data": {"source": "a.csv", "target": "y"}, "train": {"privacy": {"epsilon": 1.0}}, **change}
    with pytest.raises(RecipeError, match=message):
        check_private_training(recipe_from_dict(raw))


@pytest.mark.parametrize(
    "train, message",
    [
        ({"privacy": {"epsilon": 1.0}, "adversarial": {"epsilon": 0.1}}, "cannot be combined"),
        ({"privacy": {"epsilon": 1.0}, "gradient_clip": 1.0}, "train.gradient_clip does not apply with train.privacy"),
        ({"privacy": {"epsilon": 0}}, "train.privacy.epsilon: must be > 0"),
        ({"adversarial": {"epsilon": 0.1, "ratio": 1.5}}, "train.adversarial.ratio: must be <= 1"),
    ],
)
def test_recipe_errors_name_the_key(train, message):
    with pytest.raises(RecipeError, match=message):
        recipe_from_dict({"name": "p", "data": {"source": "a.csv", "target": "y"}, "train": train})


def test_trainer_restores_plain_model_after_dp_even_on_error(breast_cancer_trained):
    _, prepared, _, _ = breast_cancer_trained

    class Boom(Callback):
        def on_batch_end(self, trainer, state, loss):
            raise RuntimeError("boom")

    recipe = recipe_from_dict(breast_cancer_recipe(epochs=2, privacy={"epsilon": 1.0}))
    network = torch.nn.Sequential(torch.nn.Linear(prepared.n_features, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    with pytest.raises(RuntimeError, match="boom"):
        train_network(recipe, prepared, callbacks=[Boom()], network=network)
    assert all(not m._forward_hooks and not m._backward_hooks for m in network.modules())
