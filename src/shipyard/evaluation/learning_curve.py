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
from shipyard.evaluation.fit_score import fit_and_score
from shipyard.recipe import Recipe
from shipyard.tasks import get_task


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
        ``metric`` (the task's primary metric: accuracy, or RMSE in target units for regression) and
        ``points``: per fraction ``fraction``, ``train_rows``, ``train`` and ``validation`` scores.
    """
    task = get_task(recipe.task)
    metric = task.primary_metric
    train_rows = prepared.split.train
    points = []
    for fraction in sorted(fractions):
        if fraction >= 1.0:
            subset = train_rows
        else:
            size = max(int(round(fraction * len(train_rows))), 2 * max(1, len(prepared.labels)))
            try:
                subset, _ = train_test_split(train_rows, train_size=size, stratify=task.strata(prepared.y[train_rows]), random_state=recipe.seed)
            except ValueError:
                subset, _ = train_test_split(train_rows, train_size=size, random_state=recipe.seed)
        split = Split(np.sort(subset), prepared.split.validation, prepared.split.test)
        fitted = fit_and_score(recipe, prepared, split, parts=("train", "validation"))
        points.append({"fraction": float(fraction), "train_rows": int(len(subset)), **{p: s[metric] for p, s in fitted.scores.items()}})
    return {"metric": metric, "points": points}
