"""Smaller networks made from a trained one: structured pruning with fine-tuning, and knowledge distillation.

Both train through the run's own trainer (:func:`shipyard.training.fit.train_network`:
the recipe's optimizer, batch size, early stopping on the validation rows) and
are finished exactly as the trained network was: the task's finishing (target
rescaling for regression) and, when the recipe asks for it, temperature
scaling refitted on the validation split. So a pruned network or a student is
evaluated, exported and served like the network it replaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from shipyard.data.prepared import Prepared
from shipyard.errors import ShipyardError
from shipyard.models.registry import build_model, model_kind
from shipyard.models.specs import MLPSpec, ModelSpec
from shipyard.models.wrappers import unwrap
from shipyard.recipe import DistillSpec, PruneSpec, Recipe
from shipyard.tasks import get_task
from shipyard.training.fit import train_network


@dataclass
class SmallNetwork:
    """A network made by :func:`prune` or :func:`distill`, finished and ready to export.

    Attributes
    ----------
    name : str
        ``pruned`` or ``student_<h1>x<h2>...``.
    network : nn.Module
        Finished (task's finishing, any temperature scaling), eval mode, on the CPU.
    spec : ModelSpec
        The model kind and sizes it was built from.
    parameters : int
        Trainable parameters of the base network.
    info : dict
        How it was made (amount, epochs, temperature, ...) and its training history's length.
    """

    name: str
    network: nn.Module
    spec: ModelSpec
    parameters: int
    info: dict[str, Any] = field(default_factory=dict)


def parameter_count(network: nn.Module) -> int:
    """Number of parameters of a network (wrappers add none)."""
    return int(sum(p.numel() for p in unwrap(network)[0].parameters()))


def _finish(recipe: Recipe, prepared: Prepared, network: nn.Module) -> tuple[nn.Module, dict[str, Any]]:
    """Temperature scaling refitted on the validation split when the recipe asks for it (as the calibrate stage does)."""
    if not recipe.evaluate.calibration.temperature_scaling:
        return network, {}
    from shipyard.stages.calibrate import temperature_scale

    scaled, info = temperature_scale(network, prepared.X["validation"], prepared.y[prepared.split.validation], recipe.evaluate.calibration.bins)
    return scaled, {"temperature_scaling": info}


def _with_epochs(recipe: Recipe, epochs: int, learning_rate: float | None = None) -> Recipe:
    """The recipe with ``train.epochs`` (and the learning rate) replaced (a copy; the run's recipe is untouched)."""
    copy = recipe.model_copy(deep=True)
    copy.train.epochs = epochs
    if learning_rate is not None:
        copy.train.learning_rate = learning_rate
    return copy


def prune(recipe: Recipe, prepared: Prepared, network: nn.Module, spec: PruneSpec) -> SmallNetwork:
    """Remove a fraction of the trained network's hidden units by group L2 norm, then fine-tune it.

    Fine-tuning uses ``spec.learning_rate``, by default a tenth of the training rate: the pruned
    network starts close to a good solution, and a lower rate for retraining after pruning is the
    usual practice (Han et al. 2015, "Learning both Weights and Connections for Efficient Neural Networks").

    Parameters
    ----------
    recipe : Recipe
    prepared : Prepared
        With preprocessing fitted (``X_fit``, ``X["validation"]``).
    network : nn.Module
        The finished trained network (wrappers are removed first and re-made after fine-tuning).
    spec : PruneSpec
        ``amount`` and ``fine_tune_epochs``.

    Returns
    -------
    SmallNetwork

    Raises
    ------
    ShipyardError
        If the recipe's model kind has no structured pruning.
    """
    kind = model_kind(recipe.model.type)
    if kind.prune is None:
        raise ShipyardError(f"pruned: model kind '{recipe.model.type}' has no structured pruning", "remove compress.prune")
    base, _ = unwrap(network)
    pruned, pruned_spec = kind.prune(base, recipe.model, spec.amount)
    if parameter_count(pruned) >= parameter_count(base):
        raise ShipyardError(
            f"pruned: pruning {spec.amount:.0%} of the hidden units of {recipe.model.type} leaves it no smaller",
            "raise compress.prune.amount",
        )
    info: dict[str, Any] = {"amount": spec.amount, "fine_tune_epochs": spec.fine_tune_epochs, "spec": pruned_spec.model_dump(mode="json")}
    task = get_task(recipe.task)
    torch.manual_seed(recipe.seed)  # dropout during fine-tuning
    if spec.fine_tune_epochs > 0:
        rate = spec.learning_rate if spec.learning_rate is not None else recipe.train.learning_rate / 10
        info["learning_rate"] = rate
        finished, result = train_network(_with_epochs(recipe, spec.fine_tune_epochs, rate), prepared, network=pruned)
        info["epochs_run"], info["best_epoch"] = len(result.history), result.best_epoch
    else:
        finished = task.finish(pruned.eval(), prepared)
    finished, more = _finish(recipe, prepared, finished)
    return SmallNetwork("pruned", finished, pruned_spec, parameter_count(finished), {**info, **more})


def student_name(hidden_sizes: list[int]) -> str:
    """``student_256x128`` for hidden sizes [256, 128] (``student_linear`` for none)."""
    return "student_" + ("x".join(map(str, hidden_sizes)) or "linear")


def distill(recipe: Recipe, prepared: Prepared, teacher: nn.Module, hidden_sizes: list[int], spec: DistillSpec) -> SmallNetwork:
    """Train a small MLP on the teacher's softened outputs and the true targets (Hinton, Vinyals & Dean 2015).

    The loss is the task's :meth:`~shipyard.tasks.base.Task.distillation_loss`:
    ``alpha · T² · KL(softmax(teacher/T) ‖ softmax(student/T)) + (1 - alpha) · task loss``
    for classification. The teacher's outputs are those of its base network (logits,
    or standardised values for regression), the space the student is trained in.
    The student takes the teacher's activation and dropout when the teacher is an
    MLP, else the MLP defaults.

    Parameters
    ----------
    teacher : nn.Module
        The finished trained network.
    hidden_sizes : list of int
        The student's hidden layers.
    spec : DistillSpec
        ``temperature``, ``alpha``, ``epochs``.

    Returns
    -------
    SmallNetwork

    Raises
    ------
    ShipyardError
        If the student would have at least as many parameters as the teacher.
    """
    task = get_task(recipe.task)
    base, _ = unwrap(teacher)
    teacher_spec = recipe.model
    style = {"dropout": teacher_spec.dropout, "activation": teacher_spec.activation} if isinstance(teacher_spec, MLPSpec) else {}
    student_spec = MLPSpec(hidden_sizes=list(hidden_sizes), **style)
    name = student_name(hidden_sizes)
    torch.manual_seed(recipe.seed)
    student = build_model(student_spec, prepared.n_features, task.n_outputs(prepared))
    if parameter_count(student) >= parameter_count(base):
        raise ShipyardError(
            f"{name}: {parameter_count(student):,} parameters, not fewer than the teacher's {parameter_count(base):,}",
            "choose smaller compress.distill.students",
        )
    with torch.no_grad():
        base.eval()
        soft_fit = base(torch.from_numpy(np.ascontiguousarray(prepared.X_fit, dtype=np.float32))).numpy()
        soft_val = base(torch.from_numpy(np.ascontiguousarray(prepared.X["validation"], dtype=np.float32))).numpy()
    loss = task.distillation_loss(recipe, prepared, spec.temperature, spec.alpha)
    finished, result = train_network(_with_epochs(recipe, spec.epochs), prepared, network=student, loss=loss, extras=((soft_fit,), (soft_val,)))
    finished, more = _finish(recipe, prepared, finished)
    info = {
        "hidden_sizes": list(hidden_sizes),
        "temperature": spec.temperature,
        "alpha": spec.alpha,
        "epochs": spec.epochs,
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        **more,
    }
    return SmallNetwork(name, finished, student_spec, parameter_count(finished), info)
