"""The checkpoint format: an exact round trip without the data, atomic writes, tampering refused."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from shipyard.errors import ShipyardError
from shipyard.models.registry import build_model
from shipyard.models.wrappers import Rescale, TemperatureScaled, rewrap, unwrap
from shipyard.recipe import recipe_from_dict
from shipyard.training.checkpoint import (
    CHECKPOINT,
    checkpoint_folder,
    load_checkpoint,
    load_training_state,
    save_checkpoint,
    set_wrappers,
)


def info(recipe, n_features=6, n_outputs=3, complete=True):
    return {
        "model": {"type": recipe.model.type, "spec": recipe.model.model_dump(mode="json")},
        "task": recipe.task,
        "n_features": n_features,
        "n_outputs": n_outputs,
        "epoch": 4,
        "best_epoch": 3,
        "best_val_loss": 0.5,
        "complete": complete,
        "data": {"source": "a.csv", "sha256": "0" * 64},
    }


@pytest.mark.parametrize("model", [{"type": "mlp", "hidden_sizes": [8, 4]}, {"type": "resnet", "n_blocks": 1, "d_block": 8}])
def test_round_trip_rebuilds_the_exact_network_with_its_wrappers(tmp_path, model):
    recipe = recipe_from_dict({"name": "c", "data": {"source": "a.csv", "target": "y"}, "model": model})
    torch.manual_seed(0)
    base = build_model(recipe.model, 6, 3)
    base.train()(torch.randn(32, 6))  # moves batch-norm running statistics off their initial values
    network = TemperatureScaled(Rescale(base, 2.0, 3.0), 1.7).eval()
    save_checkpoint(tmp_path, network, info(recipe), {"progress": {"epoch": 4}, "optimizer": None, "rng": {"torch": torch.get_rng_state()}})
    loaded = load_checkpoint(tmp_path)
    x = torch.randn(10, 6)
    with torch.no_grad():
        assert torch.equal(loaded.network(x), network(x))
    assert loaded.info["wrappers"] == [{"type": "rescale", "mean": 2.0, "std": 3.0}, {"type": "temperature", "temperature": 1.7}]
    assert loaded.complete and loaded.info["data"]["sha256"] == "0" * 64 and "torch" in loaded.info["versions"]
    assert load_training_state(checkpoint_folder(tmp_path))["progress"]["epoch"] == 4
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob("*.prev"))


def test_unwrap_and_rewrap_are_inverse():
    torch.manual_seed(0)
    base = torch.nn.Linear(3, 2)
    net = TemperatureScaled(base, 0.5)
    inner, wrappers = unwrap(net)
    assert inner is base and wrappers == [{"type": "temperature", "temperature": 0.5}]
    x = torch.randn(4, 3)
    assert torch.equal(rewrap(base, wrappers)(x), net(x))


def test_set_wrappers_records_calibration_without_touching_the_weights(tmp_path):
    recipe = recipe_from_dict({"name": "c", "data": {"source": "a.csv", "target": "y"}})
    base = build_model(recipe.model, 6, 3)
    folder = save_checkpoint(tmp_path, base, info(recipe))
    weights = (folder / "model.safetensors").read_bytes()
    set_wrappers(folder, TemperatureScaled(base, 2.5))
    assert load_checkpoint(tmp_path).info["wrappers"] == [{"type": "temperature", "temperature": 2.5}]
    assert (folder / "model.safetensors").read_bytes() == weights


def test_a_modified_or_missing_file_is_refused_naming_it(tmp_path):
    recipe = recipe_from_dict({"name": "c", "data": {"source": "a.csv", "target": "y"}})
    folder = save_checkpoint(tmp_path, build_model(recipe.model, 6, 3), info(recipe))
    with open(folder / "model.safetensors", "r+b") as fh:
        fh.seek(-4, os.SEEK_END)
        fh.write(b"\x00\x00\x80\x7f")
    with pytest.raises(ShipyardError, match="model.safetensors: sha256 does not match checkpoint.json"):
        load_checkpoint(tmp_path)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ShipyardError, match="model.safetensors: listed in checkpoint.json but missing"):
        load_checkpoint(tmp_path)
    with pytest.raises(ShipyardError, match="no checkpoint/checkpoint.json"):
        load_checkpoint(tmp_path / "elsewhere")


def test_a_write_interrupted_between_renames_leaves_the_previous_checkpoint(tmp_path):
    recipe = recipe_from_dict({"name": "c", "data": {"source": "a.csv", "target": "y"}})
    save_checkpoint(tmp_path, build_model(recipe.model, 6, 3), info(recipe, complete=False))
    # the instant after `checkpoint` moved to `checkpoint.prev` and before `checkpoint.partial` took its place:
    os.replace(tmp_path / CHECKPOINT, tmp_path / (CHECKPOINT + ".prev"))
    (tmp_path / (CHECKPOINT + ".partial")).mkdir()
    loaded = load_checkpoint(tmp_path)
    assert loaded.info["epoch"] == 4 and not loaded.complete
    save_checkpoint(tmp_path, build_model(recipe.model, 6, 3), info(recipe))  # the next save cleans up
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT]
    assert json.loads((tmp_path / CHECKPOINT / "checkpoint.json").read_text())["complete"] is True


def test_training_state_loads_with_weights_only(tmp_path):
    """Everything in training_state.pt is tensors and plain values: no pickle of arbitrary objects."""
    from shipyard.training.data import ArrayDataset
    from shipyard.training.trainer import Trainer

    recipe = recipe_from_dict({"name": "c", "data": {"source": "a.csv", "target": "y"}, "train": {"epochs": 2, "schedule": {"type": "onecycle"}}})
    net = build_model(recipe.model, 6, 3)
    trainer = Trainer(recipe.train)
    X, y = np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32), np.arange(40) % 3
    trainer.fit(net, ArrayDataset(X, y), ArrayDataset(X, y))
    save_checkpoint(tmp_path, net, info(recipe), trainer.training_state())
    state = load_training_state(checkpoint_folder(tmp_path))  # torch.load(..., weights_only=True)
    assert state["progress"]["epoch"] == 2 and state["scheduler"] is not None and len(state["progress"]["history"]) == 2
