"""Structured pruning: remove whole hidden units, so the network (and its exported graph) is really smaller.

A hidden unit's importance is the L2 norm of every weight that belongs to it:
its row of the layer that computes it, its bias, and its column of the layer
that reads it (the "group" magnitude of Fang et al. 2023, "DepGraph: Towards
Any Structural Pruning", as torch-pruning's ``GroupMagnitudeImportance(p=2)``).
The least important units are removed, the same fraction from every pruned
layer, and the survivors' weights are copied into a network of the same kind
built from a smaller spec, so a pruned network is an ordinary MLP or ResNet
that the checkpoint format, export and serving already handle. Pruning is
followed by a few epochs of fine-tuning (:mod:`shipyard.compression.networks`).

Each model kind says how it is pruned (``ModelKind.prune`` in
:mod:`shipyard.models.registry`); a kind without one is not pruned.
"""

from __future__ import annotations

import torch
from torch import nn

from shipyard.models.mlp import MLP
from shipyard.models.resnet import ResNet
from shipyard.models.specs import MLPSpec, ResNetSpec


def kept_width(width: int, amount: float) -> int:
    """Units kept of a layer of ``width`` units when a fraction ``amount`` is pruned (at least one)."""
    return max(1, int(round(width * (1.0 - amount))))


def unit_importance(rows: torch.Tensor, bias: torch.Tensor | None, columns: torch.Tensor) -> torch.Tensor:
    """Group L2 norm of each hidden unit.

    Parameters
    ----------
    rows : Tensor of shape (n_units, n_in)
        The weights that compute each unit.
    bias : Tensor of shape (n_units,) or None
    columns : Tensor of shape (n_out, n_units)
        The weights that read each unit.

    Returns
    -------
    Tensor of shape (n_units,)
    """
    squared = rows.pow(2).sum(dim=1) + columns.pow(2).sum(dim=0)
    if bias is not None:
        squared = squared + bias.pow(2)
    return squared.sqrt()


def _strongest(importance: torch.Tensor, keep: int) -> torch.Tensor:
    """Indices of the ``keep`` most important units, in their original order (ties: the earlier unit)."""
    order = torch.argsort(importance, descending=True, stable=True)
    return order[:keep].sort().values


def _copy_linear(target: nn.Linear, source: nn.Linear, rows: torch.Tensor | None, columns: torch.Tensor | None) -> None:
    weight = source.weight
    if rows is not None:
        weight = weight[rows]
    if columns is not None:
        weight = weight[:, columns]
    target.weight.copy_(weight)
    if source.bias is not None:
        target.bias.copy_(source.bias if rows is None else source.bias[rows])


@torch.no_grad()
def prune_mlp(network: MLP, spec: MLPSpec, amount: float) -> tuple[MLP, MLPSpec]:
    """Remove a fraction ``amount`` of the units of every hidden layer of an MLP, by group L2 norm.

    Parameters
    ----------
    network : MLP
        The trained base network (no wrappers).
    spec : MLPSpec
        Its spec.
    amount : float
        Fraction of each hidden layer's units to remove, in (0, 1).

    Returns
    -------
    (MLP, MLPSpec)
        The pruned network (eval mode) and its spec (``hidden_sizes`` reduced). An MLP
        without hidden layers is returned unchanged.
    """
    linears = [m for m in network.net if isinstance(m, nn.Linear)]
    if len(linears) < 2:
        return network, spec
    keeps = []
    for layer, reader in zip(linears[:-1], linears[1:]):
        keeps.append(_strongest(unit_importance(layer.weight, layer.bias, reader.weight), kept_width(layer.out_features, amount)))
    pruned_spec = spec.model_copy(update={"hidden_sizes": [len(k) for k in keeps]})
    pruned = MLP(linears[0].in_features, linears[-1].out_features, pruned_spec.hidden_sizes, spec.dropout, spec.activation)
    new_linears = [m for m in pruned.net if isinstance(m, nn.Linear)]
    for i, (target, source) in enumerate(zip(new_linears, linears)):
        _copy_linear(target, source, keeps[i] if i < len(keeps) else None, keeps[i - 1] if i > 0 else None)
    return pruned.eval(), pruned_spec


@torch.no_grad()
def prune_resnet(network: ResNet, spec: ResNetSpec, amount: float) -> tuple[ResNet, ResNetSpec]:
    """Remove a fraction ``amount`` of the hidden units inside every residual block of a tabular ResNet.

    Only each block's hidden width (``linear1``'s outputs, ``linear2``'s inputs) is
    pruned. The residual stream (``d_block``) is shared by every block, the skip
    connections and the batch norms, so removing a unit of it changes every layer at
    once; it is left whole.

    Returns
    -------
    (ResNet, ResNetSpec)
        The pruned network (eval mode, batch-norm statistics kept) and its spec
        (``d_hidden_multiplier`` reduced so every block has the kept width).
    """
    d_block = network.input.out_features
    d_hidden = network.blocks[0].linear1.out_features
    keep = kept_width(d_hidden, amount)
    pruned_spec = spec.model_copy(update={"d_hidden_multiplier": keep / d_block})
    pruned = ResNet(
        network.input.in_features,
        network.head[-1].out_features,
        spec.n_blocks,
        d_block,
        pruned_spec.d_hidden_multiplier,
        spec.dropout1,
        spec.dropout2,
    )
    state = network.state_dict()
    new_state = pruned.state_dict()
    for name in new_state:
        new_state[name] = state[name].clone()
    for i, (block, source) in enumerate(zip(pruned.blocks, network.blocks)):
        units = _strongest(unit_importance(source.linear1.weight, source.linear1.bias, source.linear2.weight), keep)
        new_state[f"blocks.{i}.linear1.weight"] = source.linear1.weight[units].clone()
        new_state[f"blocks.{i}.linear1.bias"] = source.linear1.bias[units].clone()
        new_state[f"blocks.{i}.linear2.weight"] = source.linear2.weight[:, units].clone()
    pruned.load_state_dict(new_state)
    return pruned.eval(), pruned_spec
