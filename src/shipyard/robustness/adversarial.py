"""Adversarial training (``train.adversarial``): part of every batch replaced by attacks on the network being trained.

A trainer callback (:class:`~shipyard.training.callbacks.Callback`) whose
``on_batch_start`` returns the batch with its first ``ratio`` share of rows
replaced by their PGD (Madry et al. 2018) or FGSM (Goodfellow et al. 2015)
examples, crafted by ART against the current weights in the attack stage's
space (:mod:`shipyard.robustness.space`: numeric features only, epsilon in
training standard deviations, clipped to the training range when
``attack.clip``). ``ratio: 1`` is Madry et al.'s min-max training; ``0.5``
mixes clean and adversarial loss as Goodfellow et al. The batches are
shuffled, so a different share of the rows is attacked each epoch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from shipyard.recipe import AdversarialSpec
from shipyard.robustness.evasion import make_attack, perturb
from shipyard.robustness.space import AttackSpace, Standardised
from shipyard.tasks import Task
from shipyard.training.callbacks import Callback

if TYPE_CHECKING:  # pragma: no cover
    from shipyard.training.trainer import Trainer, TrainResult, TrainState


class AdversarialTraining(Callback):
    """Replace a share of each training batch by adversarial examples of the current network.

    Parameters
    ----------
    spec : AdversarialSpec
        ``attack`` (pgd or fgsm), ``epsilon`` (standard deviations), ``ratio``, ``norm``, ``steps``, ``step_size``.
    space : AttackSpace
        Which features move, their scale and range (:func:`~shipyard.robustness.space.attack_space`).
    task : Task
        Gives ART's estimator and targets.
    n_outputs : int
    clip : bool
        Keep attacked rows in the training range (``attack.clip``).
    seed : int
        The attack's random start at step ``s`` is seeded by ``(seed, s)``, so a resumed run draws the same.
    X_fit : ndarray of shape (n_rows, n_features), optional
        The rows trained on (augmented rows may lie outside the training split's range): ART's
        per-step bounds are widened to hold them, and each row is then kept in its own range.
    """

    def __init__(
        self, spec: AdversarialSpec, space: AttackSpace, task: Task, n_outputs: int, clip: bool = True, seed: int = 0, X_fit: Any = None
    ) -> None:
        self.spec, self.space, self.task, self.n_outputs, self.clip, self.seed = spec, space, task, n_outputs, clip, seed
        self.bounds = space.art_bounds(X_fit if X_fit is not None else space.lower[None, :]) if clip else None
        self.attack: Any = None
        self.rows = 0

    def on_fit_start(self, trainer: "Trainer", state: "TrainState") -> None:
        device = next(trainer.network.parameters()).device
        module = Standardised(trainer.model, self.space.scale).to(device)
        bounds = self.bounds
        estimator = self.task.art_estimator(module, len(self.space.scale), self.n_outputs, clip_values=bounds)
        spec = self.spec
        self.attack = make_attack(estimator, spec.attack, spec.norm, spec.epsilon, spec.steps, spec.step_size, restarts=1)

    def on_batch_start(self, trainer: "Trainer", state: "TrainState", batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...] | None:
        x, y = batch[0], batch[1]
        if not len(x):
            return None
        k = min(len(x), max(1, int(round(self.spec.ratio * len(x)))))
        clean = x[:k].detach().cpu().numpy()
        attacked = perturb(self.attack, self.space, clean, self.task.attack_targets(y[:k].detach().cpu().numpy()), self.clip, self.seed * 1_000_003 + state.step)
        trainer.model.train()  # ART computes gradients in eval mode; dropout is back on for the step
        x = x.clone()
        x[:k] = torch.from_numpy(attacked).to(x.device, x.dtype)
        self.rows += k
        return (x, y, *batch[2:])

    def on_fit_end(self, trainer: "Trainer", state: "TrainState", result: "TrainResult") -> None:
        spec = self.spec
        result.reports["adversarial_training"] = {
            "attack": spec.attack,
            "epsilon": spec.epsilon,
            "norm": spec.norm,
            "ratio": spec.ratio,
            "steps": spec.steps if spec.attack == "pgd" else 1,
            "step_size": spec.step_size,
            "clip": self.clip,
            "adversarial_rows": int(self.rows),
            "space": self.space.description,
        }


def adversarial_callback(recipe: Any, prepared: Any) -> AdversarialTraining:
    """The recipe's adversarial-training callback, in the space of its prepared features."""
    from shipyard.robustness.space import attack_space
    from shipyard.tasks import get_task

    task = get_task(recipe.task)
    return AdversarialTraining(
        recipe.train.adversarial, attack_space(prepared), task, task.n_outputs(prepared), recipe.attack.clip, recipe.seed, prepared.X_fit
    )

