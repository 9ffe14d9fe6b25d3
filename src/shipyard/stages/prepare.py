"""Prepare stage: load, check, split, and fit preprocessing on the training split."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shipyard.data.checks import select_columns
from shipyard.data.loading import load_table
from shipyard.data.preprocess import build_preprocessor, record_categories
from shipyard.data.split import Split, stratified_split
from shipyard.errors import DataError
from shipyard.recipe import Recipe
from shipyard.schema import Column, coerce, infer_schema


@dataclass
class Prepared:
    """The prepare stage's output, held in memory for the next stages."""

    frame: pd.DataFrame
    features: list[str]
    schema: list[Column]
    labels: list[Any]
    positive_index: int | None
    split: Split
    y: np.ndarray
    preprocessor: Any = None
    X: dict[str, np.ndarray] = field(default_factory=dict)
    model_input: pd.DataFrame | None = None


def load_and_split_regression(recipe: Recipe, frame: pd.DataFrame) -> Prepared:
    """Regression counterpart of :func:`load_and_split` (see :mod:`shipyard.data.regression`)."""
    from shipyard.data.regression import split_regression

    features, y, split = split_regression(recipe, frame)
    schema = infer_schema(frame, features)
    return Prepared(frame, features, schema, [], None, split, y, model_input=coerce(frame, schema, recipe.data.source))


def load_and_split(recipe: Recipe) -> Prepared:
    """Load the data, check it can serve the task, encode labels and split rows.

    Raises
    ------
    DataError
        For missing files, absent columns, a single class, empty features, or
        classes too small to stratify.
    """
    spec = recipe.data
    frame = load_table(spec.source, recipe.base_dir)
    if recipe.task == "regression":
        return load_and_split_regression(recipe, frame)
    features = select_columns(frame, spec.target, spec.features, spec.source)
    target = frame[spec.target]
    labels = sorted(pd.unique(target).tolist(), key=lambda v: (str(type(v)), v))
    labels = [v.item() if isinstance(v, np.generic) else v for v in labels]
    index = {label: i for i, label in enumerate(labels)}
    y = target.map(index).to_numpy(dtype=np.int64)
    positive_index = None
    if len(labels) == 2:
        positive_index = 1
        if spec.positive_class is not None:
            names = [str(label) for label in labels]
            if spec.positive_class not in names:
                raise DataError(
                    f"data.positive_class: {spec.positive_class!r} is not a label of column '{spec.target}'",
                    f"choose one of {names}",
                )
            positive_index = names.index(spec.positive_class)
    split = stratified_split(target.reset_index(drop=True), spec.split.validation, spec.split.test, recipe.seed, spec.target)
    schema = infer_schema(frame, features)
    prepared = Prepared(frame, features, schema, labels, positive_index, split, y)
    prepared.model_input = coerce(frame, schema, spec.source)
    return prepared


def fit_preprocessing(recipe: Recipe, prepared: Prepared) -> None:
    """Fit imputers, scalers and encoders on the training split and transform every split."""
    model_input = prepared.model_input
    train_input = model_input.iloc[prepared.split.train]
    record_categories(prepared.schema, train_input)
    preprocessor = build_preprocessor(prepared.schema, recipe.prepare)
    preprocessor.fit(train_input)
    prepared.preprocessor = preprocessor
    for part in ("train", "validation", "test"):
        rows = getattr(prepared.split, part)
        prepared.X[part] = preprocessor.transform(model_input.iloc[rows]).astype(np.float32)


def data_summary(recipe: Recipe, prepared: Prepared) -> dict[str, Any]:
    """Rows, columns and their kinds, split sizes and class counts (target statistics for regression)."""
    if recipe.task == "regression":
        from shipyard.data.regression import regression_summary

        return regression_summary(recipe, prepared)
    counts = np.bincount(prepared.y, minlength=len(prepared.labels))
    return {
        "source": recipe.data.source,
        "rows": len(prepared.frame),
        "target": recipe.data.target,
        "columns": [c.to_dict() | {"missing": int(prepared.frame[c.name].isna().sum())} for c in prepared.schema],
        "split": prepared.split.sizes(),
        "class_counts": {str(label): int(n) for label, n in zip(prepared.labels, counts)},
        "n_features_after_preprocessing": int(prepared.X["train"].shape[1]),
    }
