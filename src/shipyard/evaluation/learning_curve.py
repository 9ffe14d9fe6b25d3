"""Learning curve: the network retrained on growing fractions of the training split.

For each fraction, a stratified subset of the training rows is drawn (seeded),
the preparation and the network are refitted on it, and the loss and metric
are measured on that subset and on the full validation split. A validation
score still improving at fraction 1.0 suggests more data would help; a wide,
stable gap suggests variance (overfitting) rather than bias.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from shipyard.data.split import Split
from shipyard.evaluation.metrics import classification_metrics, regression_metrics
from shipyard.recipe import Recipe


def learning_curve(recipe: Recipe, prepared: Any, fractions: list[float]) -> dict[str, Any]:
    """Train on each fraction of the training rows and score training and validation rows.

    Parameters
    ----------
    recipe : Recipe
    prepared : Prepared
        The run's prepared data; its own preprocessing is not touched.
    fractions : list of float
        In (0, 1]; each gives ``round(fraction * n_train)`` training rows (at least 2 per class).

    Returns
    -------
    dict
        ``metric`` (accuracy, or RMSE in target units for regression) and
        ``points``: per fraction ``fraction``, ``train_rows``, ``train`` and
        ``validation`` scores.
    """
    from shipyard.stages.prepare import fit_preprocessing
    from shipyard.stages.train import predict_proba_torch, predict_values_torch, train
    from shipyard.tracking import Tracker

    regression = recipe.task == "regression"
    metric = "rmse" if regression else "accuracy"
    train_rows = prepared.split.train
    points = []
    for fraction in sorted(fractions):
        if fraction >= 1.0:
            subset = train_rows
        else:
            stratify = None if regression else prepared.y[train_rows]
            n_classes = 1 if regression else len(prepared.labels)
            size = max(int(round(fraction * len(train_rows))), 2 * n_classes)
            try:
                subset, _ = train_test_split(train_rows, train_size=size, stratify=stratify, random_state=recipe.seed)
            except ValueError:
                subset, _ = train_test_split(train_rows, train_size=size, random_state=recipe.seed)
        part = prepared.with_split(Split(np.sort(subset), prepared.split.validation, prepared.split.test))
        fit_preprocessing(recipe, part)
        model, _ = train(recipe, part, Tracker(enabled=False), progress=False)
        scores = {}
        for name in ("train", "validation"):
            rows = getattr(part.split, name)
            if regression:
                scores[name] = regression_metrics(prepared.y[rows], predict_values_torch(model, part.X[name]))[metric]
            else:
                scores[name] = classification_metrics(prepared.y[rows], predict_proba_torch(model, part.X[name]), prepared.positive_index)[metric]
        points.append({"fraction": float(fraction), "train_rows": int(len(subset)), **scores})
    return {"metric": metric, "points": points}
