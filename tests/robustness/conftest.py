"""Small trained networks on real data, fitted once per module, for the robustness unit tests."""

from __future__ import annotations

import pytest

from shipyard.recipe import recipe_from_dict
from shipyard.training.fit import prepare_and_train


def prepared_and_trained(raw: dict):
    """Load, split and preprocess a recipe's data, train its network: (recipe, prepared, network, result)."""
    recipe = recipe_from_dict(raw)
    return (recipe, *prepare_and_train(recipe))


def breast_cancer_recipe(**train) -> dict:
    return {
        "name": "bc",
        "data": {"source": "sklearn:breast_cancer", "target": "target", "positive_class": "malignant"},
        "model": {"hidden_sizes": [16], "dropout": 0.2},
        "train": {"epochs": 40, "early_stopping": {"patience": 10}, **train},
    }


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread, as the stages use (train.num_threads): the machine is shared."""
    from shipyard.training.device import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def breast_cancer_trained():
    """The breast-cancer network, standard training (40 epochs), trained once per session."""
    return prepared_and_trained(breast_cancer_recipe())
