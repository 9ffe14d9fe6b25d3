"""Structured pruning: the units with the largest group L2 norm survive, the pruned network is an ordinary model of its kind."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from shipyard.models.pruning import kept_width, prune_mlp, unit_importance
from shipyard.models.registry import build_model, model_kind
from shipyard.models.specs import MLPSpec, ResNetSpec


def test_unit_importance_is_the_group_l2_norm():
    rows = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    bias = torch.tensor([0.0, 2.0])
    columns = torch.tensor([[4.0, 0.0], [0.0, 2.0]])
    assert torch.allclose(unit_importance(rows, bias, columns), torch.tensor([5.0, 3.0]))


def test_mlp_keeps_the_strongest_units_and_computes_the_sub_network():
    torch.manual_seed(0)
    spec = MLPSpec(hidden_sizes=[6], dropout=0.0)
    net = build_model(spec, 4, 3).eval()
    first, last = net.net[0], net.net[-1]
    with torch.no_grad():  # unit j's weights have magnitudes in [3^j, 2 * 3^j): units 3, 4, 5 have the largest norms
        scale = 3.0 ** torch.arange(6.0)
        first.weight.copy_((torch.rand(6, 4) + 1) * scale[:, None] * torch.tensor([1.0, -1.0, 1.0, -1.0]))
        first.bias.copy_((torch.rand(6) + 1) * scale)
        last.weight.copy_((torch.rand(3, 6) + 1) * scale[None, :])
    pruned, pruned_spec = prune_mlp(net, spec, 0.5)
    assert pruned_spec.hidden_sizes == [3]
    keep = torch.tensor([3, 4, 5])
    x = torch.randn(8, 4)
    expected = nn.functional.linear(torch.relu(nn.functional.linear(x, first.weight[keep], first.bias[keep])), last.weight[:, keep], last.bias)
    assert torch.allclose(pruned(x), expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("spec", [MLPSpec(hidden_sizes=[64, 32]), ResNetSpec(n_blocks=2, d_block=16)], ids=["mlp", "resnet"])
def test_pruned_network_is_rebuilt_from_its_spec_and_is_smaller(spec):
    torch.manual_seed(0)
    net = build_model(spec, 10, 3)
    net.train()
    net(torch.randn(64, 10))  # batch-norm running statistics away from their initial values
    net.eval()
    pruned, pruned_spec = model_kind(spec.type).prune(net, spec, 0.5)
    rebuilt = build_model(pruned_spec, 10, 3)
    rebuilt.load_state_dict(pruned.state_dict(), strict=True)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(pruned) < 0.6 * count(net)
    if isinstance(spec, ResNetSpec):
        assert [b.linear1.out_features for b in pruned.blocks] == [16, 16] and pruned.input.out_features == 16
        assert torch.equal(pruned.blocks[0].normalization.running_mean, net.blocks[0].normalization.running_mean)
    else:
        assert pruned_spec.hidden_sizes == [32, 16]


@pytest.mark.parametrize("spec", [MLPSpec(hidden_sizes=[16, 8]), ResNetSpec(n_blocks=1, d_block=8)], ids=["mlp", "resnet"])
def test_pruning_a_fraction_that_rounds_to_no_unit_changes_nothing(spec):
    torch.manual_seed(1)
    net = build_model(spec, 5, 2).eval()
    pruned, pruned_spec = model_kind(spec.type).prune(net, spec, 0.01)
    x = torch.randn(7, 5)
    assert torch.allclose(pruned(x), net(x), atol=1e-6)


def test_kept_width_keeps_at_least_one_unit():
    assert kept_width(1, 0.9) == 1 and kept_width(1024, 0.5) == 512 and kept_width(10, 0.25) == 8
