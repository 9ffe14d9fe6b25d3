"""The model-kind registry: builders keyed by the recipe's ``model.type``.

A model kind is one :class:`ModelKind`: its spec class (in
:mod:`shipyard.models.specs`, torch-free), a builder from spec to
``nn.Module``, and the input it takes. Adding a kind is one spec class plus
one :func:`register_model_kind` call; it is done when it passes the
conformance suite (``tests/conformance``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from torch import nn

from shipyard.models.mlp import MLP
from shipyard.models.pruning import prune_mlp, prune_resnet
from shipyard.models.resnet import ResNet
from shipyard.models.specs import MODEL_SPECS, CNNSpec, MLPSpec, ModelSpec, ResNetSpec, TransformerSpec

Builder = Callable[[ModelSpec, int, int], nn.Module]
Pruner = Callable[[nn.Module, ModelSpec, float], tuple[nn.Module, ModelSpec]]


@dataclass(frozen=True)
class ModelKind:
    """One model architecture.

    Attributes
    ----------
    type : str
        The recipe's ``model.type``.
    spec : type of ModelSpec
        Its pydantic spec class.
    build : callable
        ``build(spec, n_features, n_outputs) -> nn.Module`` mapping (batch, n_features)
        to (batch, n_outputs) logits or values.
    input : {"tabular", "text", "image"}
        The input the network takes: a float matrix of the preprocessed
        features (``tabular``), token ids (batch, seq) (``text``), or pixels
        in [0, 1] (batch, channels, height, width) (``image``); the spec
        class declares the same (``ModelSpec.input``). The input modality
        (:mod:`shipyard.modalities`) reads, prepares, exports and serves it.
        ``build``'s ``n_features`` is the width of that input's second axis.
    prune : callable or None
        ``prune(network, spec, amount) -> (network, spec)``: structured pruning that removes a
        fraction ``amount`` of hidden units and returns a smaller network of the same kind
        with its spec (:mod:`shipyard.models.pruning`); None when the kind cannot be pruned.
    """

    type: str
    spec: type[ModelSpec]
    build: Builder
    input: Literal["tabular", "text", "image"] = "tabular"
    prune: Pruner | None = None


_KINDS: dict[str, ModelKind] = {}


def register_model_kind(kind: ModelKind) -> ModelKind:
    """Add a model kind to the registry (registering a type again replaces it).

    Raises
    ------
    ValueError
        If the kind's spec class is not one of :data:`shipyard.models.specs.MODEL_SPECS`
        (the recipe could not name it).
    """
    if kind.spec not in MODEL_SPECS:
        raise ValueError(f"model kind {kind.type!r}: add {kind.spec.__name__} to shipyard.models.specs.MODEL_SPECS")
    if kind.input != kind.spec.input:
        raise ValueError(f"model kind {kind.type!r}: input {kind.input!r} differs from its spec's {kind.spec.input!r}")
    _KINDS[kind.type] = kind
    return kind


def model_kinds() -> dict[str, ModelKind]:
    """Every registered model kind by ``type``."""
    return dict(_KINDS)


def model_kind(type_: str) -> ModelKind:
    """The registered kind for ``model.type``.

    Raises
    ------
    KeyError
        If no kind of that type is registered (the recipe schema prevents this).
    """
    return _KINDS[type_]


def build_model(spec: ModelSpec, n_features: int, n_outputs: int) -> nn.Module:
    """Build the network a recipe's ``model`` section asks for.

    Parameters
    ----------
    spec : ModelSpec
        The recipe's ``model`` section; ``spec.type`` picks the kind.
    n_features : int
        Width of the preprocessed input.
    n_outputs : int
        Number of classes (one logit each), or 1 for regression.

    Returns
    -------
    nn.Module
        Maps a float tensor of shape (batch, n_features) to shape (batch, n_outputs).
    """
    return model_kind(spec.type).build(spec, n_features, n_outputs)


register_model_kind(
    ModelKind("mlp", MLPSpec, lambda s, n_in, n_out: MLP(n_in, n_out, s.hidden_sizes, s.dropout, s.activation), prune=prune_mlp)
)
register_model_kind(
    ModelKind(
        "resnet",
        ResNetSpec,
        lambda s, n_in, n_out: ResNet(n_in, n_out, s.n_blocks, s.d_block, s.d_hidden_multiplier, s.dropout1, s.dropout2),
        prune=prune_resnet,
    )
)


def _transformer(spec: ModelSpec, n_features: int, n_outputs: int) -> nn.Module:
    from shipyard.models.transformer import TextClassifier  # imports transformers: only when asked for

    return TextClassifier(spec, n_outputs)


def _cnn(spec: ModelSpec, n_features: int, n_outputs: int) -> nn.Module:
    from shipyard.models.cnn import CNN

    return CNN(n_features, n_outputs, spec.channels, spec.convs_per_block, spec.kernel_size, spec.pool, spec.dropout, spec.freeze_blocks)


register_model_kind(ModelKind("transformer", TransformerSpec, _transformer, input="text"))
register_model_kind(ModelKind("cnn", CNNSpec, _cnn, input="image"))

__all__ = ["ModelKind", "build_model", "model_kind", "model_kinds", "register_model_kind"]
