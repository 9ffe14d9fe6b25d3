"""Distillation through the run's trainer: the soft-target loss, extra tensors in the trainer's rows, a real student."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from shipyard.errors import ShipyardError
from shipyard.recipe import DistillSpec
from shipyard.training.callbacks import Callback
from shipyard.training.data import ArrayDataset
from shipyard.training.losses import DistillationLoss, SoftTargetKL
from shipyard.training.trainer import Trainer


def test_soft_target_term_is_hintons():
    torch.manual_seed(0)
    student, teacher = torch.randn(5, 4), torch.randn(5, 4)
    t = 3.0
    p, log_q = F.softmax(teacher / t, dim=1), F.log_softmax(student / t, dim=1)
    expected = (p * (p.log() - log_q)).sum(dim=1).mean() * t * t
    assert torch.allclose(SoftTargetKL(t)(student, teacher), expected, atol=1e-6)
    assert SoftTargetKL(t)(teacher, teacher).abs() < 1e-6


def test_alpha_weighs_the_soft_and_hard_terms():
    torch.manual_seed(0)
    out, teacher, y = torch.randn(6, 3), torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2])
    hard, soft = nn.CrossEntropyLoss(), SoftTargetKL(2.0)
    assert torch.allclose(DistillationLoss(hard, soft, 0.0)(out, y, teacher), hard(out, y))
    assert torch.allclose(DistillationLoss(hard, soft, 1.0)(out, y, teacher), soft(out, teacher))
    assert torch.allclose(DistillationLoss(hard, soft, 0.25)(out, y, teacher), 0.25 * soft(out, teacher) + 0.75 * hard(out, y))


class Recording(nn.Module):
    """A loss that records the shapes it is called with."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple] = []

    def forward(self, out, y, *extras):
        self.calls.append(tuple(t.shape for t in (out, y, *extras)))
        return F.cross_entropy(out, y)


def test_trainer_hands_extra_row_tensors_to_the_loss_for_training_and_validation(tmp_path):
    from shipyard.recipe import recipe_from_dict

    recipe = recipe_from_dict({"name": "t", "data": {"source": "a.csv", "target": "y"}, "train": {"epochs": 2, "batch_size": 16}})
    rng = np.random.default_rng(0)
    X, y, soft = rng.normal(size=(40, 3)).astype(np.float32), rng.integers(0, 2, 40), rng.normal(size=(40, 2)).astype(np.float32)
    seen = []

    class Batches(Callback):
        def on_batch_start(self, trainer, state, batch):
            seen.append(len(batch))

    loss = Recording()
    Trainer(recipe.train, loss_fn=loss, callbacks=[Batches()]).fit(nn.Linear(3, 2), ArrayDataset(X[:32], y[:32], soft[:32]), ArrayDataset(X[32:], y[32:], soft[32:]))
    assert set(seen) == {3}
    assert loss.calls[0] == ((16, 2), (16,), (16, 2))
    assert ((8, 2), (8,), (8, 2)) in loss.calls  # the validation rows, with their own teacher outputs


def test_a_student_learns_from_a_teacher_through_the_trainer(breast_cancer):
    from shipyard.compression.networks import distill, parameter_count
    from shipyard.training.fit import train_network

    recipe, prepared = breast_cancer
    teacher, _ = train_network(recipe, prepared)
    student = distill(recipe, prepared, teacher, [4], DistillSpec(students=[[4]], epochs=30))
    assert student.name == "student_4" and student.parameters < parameter_count(teacher)
    pred = student.network(torch.from_numpy(prepared.X["test"])).argmax(1).numpy()
    assert (pred == prepared.y[prepared.split.test]).mean() > 0.9
    assert student.info["epochs_run"] >= 1 and student.info["alpha"] == 0.5
    with pytest.raises(ShipyardError, match="student_64: .* not fewer than the teacher's"):
        distill(recipe, prepared, teacher, [64], DistillSpec())
