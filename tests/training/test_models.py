"""Model kinds: every registered kind builds from its spec; the recipe names kinds by model.type."""

from __future__ import annotations

import pytest
import torch

from shipyard.errors import RecipeError
from shipyard.models.registry import build_model, model_kinds
from shipyard.models.resnet import ResNet, ResNetBlock
from shipyard.recipe import MODEL_TYPES, recipe_from_dict


def recipe(model: dict):
    return recipe_from_dict({"name": "m", "data": {"source": "a.csv", "target": "y"}, "model": model})


def test_every_spec_the_recipe_accepts_has_a_builder():
    assert set(model_kinds()) == set(MODEL_TYPES) >= {"mlp", "resnet"}


# An input of each modality: (n_features given to the builder, a batch of 5 inputs).
INPUTS = {
    "tabular": (7, lambda n: torch.randn(n, 7)),
    "text": (9, lambda n: torch.randint(1000, 2000, (n, 9))),  # token ids
    "image": (1, lambda n: torch.rand(n, 1, 8, 8)),  # pixels in [0, 1]
}


@pytest.mark.parametrize("kind", sorted(model_kinds()))
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_build_model_maps_its_input_to_outputs(kind, n_outputs):
    spec = MODEL_TYPES[kind]()
    n_features, batch = INPUTS[model_kinds()[kind].input]
    net = build_model(spec, n_features, n_outputs).eval()
    assert net(batch(5)).shape == (5, n_outputs)
    net.train()
    out = net(batch(4))
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_every_kind_declares_the_input_of_its_spec():
    for kind in model_kinds().values():
        assert kind.input == kind.spec.input in ("tabular", "text", "image")


def test_resnet_follows_gorishniy_et_al_2021():
    spec = recipe({"type": "resnet", "n_blocks": 3, "d_block": 16, "d_hidden_multiplier": 1.5, "dropout1": 0.25, "dropout2": 0.1}).model
    net = build_model(spec, 5, 2)
    assert isinstance(net, ResNet) and len(net.blocks) == 3
    block = net.blocks[0]
    assert isinstance(block, ResNetBlock)
    assert (block.linear1.in_features, block.linear1.out_features, block.linear2.out_features) == (16, 24, 16)
    assert isinstance(block.normalization, torch.nn.BatchNorm1d) and block.dropout1.p == 0.25 and block.dropout2.p == 0.1
    head = list(net.head)
    assert [type(m).__name__ for m in head] == ["BatchNorm1d", "ReLU", "Linear"]
    # the skip connection: a block whose second linear layer is zero is the identity
    torch.nn.init.zeros_(block.linear2.weight)
    torch.nn.init.zeros_(block.linear2.bias)
    x = torch.randn(4, 16)
    assert torch.equal(block.eval()(x), x)


def test_defaults_of_the_resnet_spec():
    spec = recipe({"type": "resnet"}).model
    assert (spec.n_blocks, spec.d_block, spec.d_hidden_multiplier, spec.dropout1, spec.dropout2) == (2, 192, 2.0, 0.15, 0.0)


@pytest.mark.parametrize(
    "model, message",
    [
        ({"type": "transformerz"}, "model.type: must be one of 'mlp', 'resnet'"),
        ({"type": "resnet", "n_block": 2}, "model.n_block: unknown key (did you mean 'n_blocks'?)"),
        ({"type": "resnet", "hidden_sizes": [3]}, "model.hidden_sizes: unknown key"),
        ({"type": "resnet", "d_block": 0}, "model.d_block: must be >= 1, got 0"),
        ({"hidden_size": [3]}, "model.hidden_size: unknown key (did you mean 'hidden_sizes'?)"),
    ],
)
def test_model_section_errors_name_the_key(model, message):
    with pytest.raises(RecipeError) as err:
        recipe(model)
    assert message in str(err.value)


def test_type_defaults_to_mlp_and_is_written_in_the_resolved_recipe():
    assert recipe({"hidden_sizes": [8]}).resolved()["model"] == {"type": "mlp", "hidden_sizes": [8], "dropout": 0.1, "activation": "relu"}
