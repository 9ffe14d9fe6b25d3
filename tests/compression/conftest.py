"""Shared pieces of the compression tests: a real prepared data set and real exported network graphs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from shipyard.recipe import recipe_from_dict


@pytest.fixture(scope="module")
def breast_cancer():
    """scikit-learn's breast_cancer, split and preprocessed as a run would (no training)."""
    from shipyard.data.preparation import fit_preprocessing, load_and_split

    recipe = recipe_from_dict(
        {"name": "bc", "data": {"source": "sklearn:breast_cancer", "target": "target"}, "model": {"hidden_sizes": [16]}, "train": {"epochs": 5}}
    )
    prepared = load_and_split(recipe)
    fit_preprocessing(recipe, prepared)
    return recipe, prepared


class EinsumNet(nn.Module):
    """A two-layer network whose layers are einsums: onnxruntime's quantizers support no operator of its graph."""

    def __init__(self, n_features: int, hidden: int, n_outputs: int) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(n_features, hidden) / n_features**0.5)
        self.w2 = nn.Parameter(torch.randn(hidden, n_outputs) / hidden**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bh,ho->bo", torch.relu(torch.einsum("bi,ih->bh", x, self.w1)), self.w2)


@pytest.fixture(scope="module")
def einsum_net():
    torch.manual_seed(0)
    return EinsumNet(30, 64, 2).eval()


def softmax_graph(network: nn.Module, n_features: int):
    """The classification head's export of a network (input ``features``, output ``probabilities``)."""
    from shipyard.export.onnx_graph import export_network

    return export_network(nn.Sequential(network, nn.Softmax(dim=1)), n_features, 18, "probabilities")


def rows(n: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, width)).astype(np.float32)
