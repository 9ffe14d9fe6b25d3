"""Prepare stage: load, check, split, and fit preprocessing on the training split."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shipyard.data.checks import select_columns
from shipyard.data.loading import load_table
from shipyard.data.preprocess import build_preprocessor, record_categories
from shipyard.data.profile import check_findings, columns_to_drop, duplicate_key_columns, profile_table, row_hash
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
    profile: dict[str, Any] | None = None
    X_fit: np.ndarray | None = None
    y_fit: np.ndarray | None = None
    steps: dict[str, Any] = field(default_factory=dict)


def load_and_split(recipe: Recipe) -> Prepared:
    """Load the data, check it can serve the task, encode labels, split rows and profile them.

    Rows with identical feature values (identifier-like columns aside) are
    kept on the same side of the split; ``prepare.drop_duplicates`` drops
    exact duplicates first. Constant and identifier-like columns are dropped
    as configured, and findings whose severity is in ``prepare.fail_on``
    stop the run.

    Raises
    ------
    DataError
        For missing files, absent columns, a single class, empty features,
        classes too small to stratify, or a finding listed in ``prepare.fail_on``.
    """
    spec = recipe.data
    frame = load_table(spec.source, recipe.base_dir)
    features = select_columns(frame, spec.target, spec.features, spec.source)
    keys = duplicate_key_columns(frame, features)
    dropped_duplicates = 0
    if recipe.prepare.drop_duplicates:
        keep = ~frame.duplicated(subset=keys + [spec.target])
        dropped_duplicates = int((~keep).sum())
        frame = frame.loc[keep].reset_index(drop=True)
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
    groups = row_hash(frame, keys)
    split = stratified_split(pd.Series(y), spec.split.validation, spec.split.test, recipe.seed, spec.target, groups=groups)
    profile = profile_table(
        frame,
        features,
        spec.target,
        y,
        split.train,
        {"train": split.train, "validation": split.validation, "test": split.test},
        recipe.prepare.leakage_auc,
        reading=frame.attrs.get("reading"),
        dropped_duplicates=dropped_duplicates,
        key_columns=keys,
    )
    dropped = columns_to_drop(profile, recipe.prepare.drop_constant, recipe.prepare.drop_identifiers)
    profile["dropped_columns"] = dropped
    check_findings(profile, recipe.prepare.fail_on, spec.source)
    features = [f for f in features if f not in dropped]
    if not features:
        raise DataError(
            f"{spec.source}: every feature column was dropped ({', '.join(f'{c}: {r}' for c, r in dropped.items())})",
            "set prepare.drop_constant or prepare.drop_identifiers to false, or add columns",
        )
    schema = infer_schema(frame, features)
    return Prepared(frame, features, schema, labels, positive_index, split, y, profile=profile)


def fit_preprocessing(recipe: Recipe, prepared: Prepared) -> None:
    """Fit imputers, scalers and encoders on the training split and transform every split."""
    model_input = coerce(prepared.frame, prepared.schema, recipe.data.source)
    train_input = model_input.iloc[prepared.split.train]
    record_categories(prepared.schema, train_input)
    preprocessor = build_preprocessor(prepared.schema, recipe.prepare)
    preprocessor.fit(train_input)
    prepared.preprocessor = preprocessor
    prepared.model_input = model_input
    for part in ("train", "validation", "test"):
        rows = getattr(prepared.split, part)
        prepared.X[part] = preprocessor.transform(model_input.iloc[rows]).astype(np.float32)


def data_summary(recipe: Recipe, prepared: Prepared) -> dict[str, Any]:
    """Rows, columns and their kinds, split sizes and class counts."""
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
