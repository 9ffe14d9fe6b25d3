"""Model definitions built from the recipe's ``model`` section."""

from __future__ import annotations

from torch import nn

from shipyard.models.mlp import MLP
from shipyard.recipe import MLPSpec


def build_model(spec: MLPSpec, n_features: int, n_outputs: int) -> nn.Module:
    """Build the network a recipe asks for.

    Parameters
    ----------
    spec : MLPSpec
        The recipe's ``model`` section; ``spec.type`` picks the architecture.
    n_features : int
        Width of the preprocessed input.
    n_outputs : int
        Number of classes (the network outputs one logit per class).

    Returns
    -------
    nn.Module
        Maps a float tensor of shape (batch, n_features) to logits of shape
        (batch, n_outputs).
    """
    if spec.type == "mlp":
        return MLP(n_features, n_outputs, spec.hidden_sizes, spec.dropout, spec.activation)
    raise ValueError(f"unknown model type {spec.type!r}")  # the recipe schema prevents this
