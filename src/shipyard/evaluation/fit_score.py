"""One fit-and-score function: refit preparation and network on one split's training rows, score other parts.

Cross-validation (each fold), the learning curve (each fraction) and
hyperparameter search (each trial) are this function over different splits;
everything fitted is fitted on that split's training rows only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from shipyard.data.prepared import Prepared
from shipyard.data.split import Split
from shipyard.recipe import Recipe
from shipyard.tasks import get_task
from shipyard.training.callbacks import Callback
from shipyard.training.trainer import TrainResult


@dataclass
class FitScore:
    """What :func:`fit_and_score` returns.

    Attributes
    ----------
    network : nn.Module
        The finished network.
    training : TrainResult
    scores : dict of str to dict
        Per scored part (``train``, ``validation``, ``test``): the task's metrics.
    prepared : Prepared
        The data refitted on this split.
    decision : dict or None
        The decision rule chosen on this split's validation rows (:meth:`shipyard.tasks.base.Task.decision`).
    """

    network: nn.Module
    training: TrainResult
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    prepared: Any = None
    decision: dict[str, Any] | None = None


def fit_and_score(
    recipe: Recipe, data: Prepared, split: Split, parts: tuple[str, ...] = ("test",), callbacks: list[Callback] | None = None
) -> FitScore:
    """Fit the preparation and the network on ``split.train`` (early stopping on ``split.validation``) and score ``parts``.

    Scores follow the run's decision rule (e.g. ``imbalance.threshold``),
    chosen on ``split.validation`` as the run chooses it.

    Parameters
    ----------
    recipe : Recipe
    data : Prepared
        The loaded data (its own split and preprocessing are not touched).
    split : Split
        Row positions to fit, validate and test on.
    parts : tuple of str
        Which of ``train``, ``validation``, ``test`` to score.
    callbacks : list of Callback, optional
        Extra trainer callbacks (e.g. a pruning callback in a search).

    Returns
    -------
    FitScore
    """
    from shipyard.data.preparation import fit_preprocessing
    from shipyard.training.fit import train_network

    task = get_task(recipe.task)
    fold = data.with_split(split)
    fit_preprocessing(recipe, fold)
    network, training = train_network(recipe, fold, callbacks)
    # The run's decision rule, chosen on this split's validation rows, as the run chooses it on its own.
    decision = task.decision(recipe, fold, network)
    threshold = None if decision is None else decision["threshold"]
    scores = {
        part: task.scores(data.y[getattr(split, part)], task.predict(network, fold.X[part]), data.positive_index, threshold) for part in parts
    }
    return FitScore(network, training, scores, fold, decision)
