"""Prepare stage: load, check, split, and fit preprocessing on the training split."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from shipyard.data.augment import augment
from shipyard.data.checks import select_columns
from shipyard.data.imbalance import categorical_blocks, resample
from shipyard.data.loading import load_table
from shipyard.data.preprocess import (
    build_preprocessor,
    output_sources,
    record_categories,
)
from shipyard.data.profile import (
    check_findings,
    columns_to_drop,
    duplicate_key_columns,
    profile_table,
    row_hash,
)
from shipyard.data.reduce import build_reducer, fit_reducer
from shipyard.data.split import Split, stratified_split
from shipyard.data.transformers import check_convertible
from shipyard.errors import DataError
from shipyard.recipe import Recipe
from shipyard.schema import Column, coerce, infer_schema

PARTS = ("train", "validation", "test")


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

    def with_split(self, split: Split) -> "Prepared":
        """The same loaded data over another split, with nothing fitted yet (for CV folds and learning curves)."""
        return Prepared(
            self.frame, self.features, copy.deepcopy(self.schema), self.labels, self.positive_index, split, self.y,
            model_input=self.model_input,
        )


def load_and_split_regression(recipe: Recipe, frame: pd.DataFrame) -> Prepared:
    """Regression counterpart of :func:`load_and_split` (see :mod:`shipyard.data.regression`)."""
    from shipyard.data.regression import split_regression

    features, y, split = split_regression(recipe, frame)
    schema = infer_schema(frame, features)
    return Prepared(frame, features, schema, [], None, split, y, model_input=coerce(frame, schema, recipe.data.source))


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
    if recipe.task == "regression":
        return load_and_split_regression(recipe, frame)
    features = select_columns(frame, spec.target, spec.features, spec.source)
    keys = duplicate_key_columns(frame, features)
    reading = frame.attrs.get("reading")  # the CSV reading report (mixed-type columns, format)
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
    if recipe.imbalance.threshold.objective != "none" and len(labels) != 2:
        raise DataError(
            f"imbalance.threshold: tuning a decision threshold needs a binary target; '{spec.target}' has {len(labels)} classes",
            "remove imbalance.threshold (multiclass predictions use arg-max), or use imbalance.class_weight",
        )
    groups = row_hash(frame, keys)
    split = stratified_split(target.reset_index(drop=True), spec.split.validation, spec.split.test, recipe.seed, spec.target, groups=groups)
    profile = profile_table(
        frame,
        features,
        spec.target,
        y,
        split.train,
        {"train": split.train, "validation": split.validation, "test": split.test},
        recipe.prepare.leakage_auc,
        reading=reading,
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
    # Refuse, before any run directory exists, a step the bundle could not apply.
    check_convertible(build_preprocessor(schema, recipe.prepare, seed=recipe.seed))
    reducer = build_reducer(recipe.prepare.reduce, 2, recipe.seed)
    if reducer is not None:
        check_convertible(reducer)
    # Coerce now, so a value the model cannot take (e.g. beyond float32) stops the run before it starts.
    model_input = coerce(frame, schema, spec.source)
    return Prepared(frame, features, schema, labels, positive_index, split, y, profile=profile, model_input=model_input)


def fit_preprocessing(recipe: Recipe, prepared: Prepared) -> None:
    """Fit preprocessing on the training split, transform every split, and build the rows the network fits.

    Imputers, clipping limits, scalers, encoders and the reducer are fitted on
    the training rows only. The sampler (``imbalance.sampler``) and
    augmentation (``prepare.augment``) then add or remove rows of the
    training split only, in the encoded feature space, giving
    ``prepared.X_fit`` / ``prepared.y_fit``; validation and test rows are
    only transformed.

    Raises
    ------
    DataError
        If a sampler cannot run on the training rows (e.g. a class smaller
        than ``imbalance.k_neighbors``) or the reducer keeps no feature.
    """
    spec, seed = recipe.prepare, recipe.seed
    model_input = prepared.model_input if prepared.model_input is not None else coerce(prepared.frame, prepared.schema, recipe.data.source)
    train_input = model_input.iloc[prepared.split.train]
    y_train = prepared.y[prepared.split.train]
    record_categories(prepared.schema, train_input)
    columns = build_preprocessor(prepared.schema, spec, train_input, seed)
    columns.fit(train_input, y_train)
    encoded = {part: columns.transform(model_input.iloc[getattr(prepared.split, part)]).astype(np.float32) for part in PARTS}
    sources = output_sources(columns, prepared.schema)
    steps: dict[str, Any] = {
        "numeric_imputer": spec.numeric_imputer,
        "missing_indicator": spec.missing_indicator,
        "clip_quantile": spec.clip_quantile,
        "scaler": spec.scaler,
        "encoder": spec.encoder,
        "min_frequency": spec.min_frequency,
        "dropped_columns": (prepared.profile or {}).get("dropped_columns", {}),
        "n_encoded_features": len(sources),
    }
    reducer = build_reducer(spec.reduce, len(sources), seed)
    preprocessor: Any = columns
    if reducer is not None:
        steps["reduce"] = fit_reducer(reducer, encoded["train"], y_train, sources, spec.reduce)
        preprocessor = Pipeline([("columns", columns), ("reduce", reducer)])
    check_convertible(preprocessor)
    reduce = (lambda X: reducer.transform(X).astype(np.float32)) if reducer is not None else (lambda X: X)

    X_fit, y_fit = encoded["train"], y_train
    imbalance = recipe.imbalance
    if imbalance.sampler != "none":
        before = np.bincount(y_fit, minlength=len(prepared.labels))
        X_fit, y_fit, _ = resample(
            X_fit, y_fit, imbalance.sampler, prepared.labels, imbalance.k_neighbors, imbalance.sampling_strategy, seed,
            categorical_blocks(columns),
        )
        after = np.bincount(y_fit, minlength=len(prepared.labels))
        steps["sampler"] = {
            "method": imbalance.sampler,
            "class_counts_before": {str(l): int(n) for l, n in zip(prepared.labels, before)},
            "class_counts_after": {str(l): int(n) for l, n in zip(prepared.labels, after)},
        }
    aug = spec.augment
    if aug.method != "none":
        numeric = np.zeros(len(sources), dtype=bool)
        if "numeric" in columns.output_indices_:
            numeric[columns.output_indices_["numeric"]] = True
        n_before = len(X_fit)
        X_fit, y_fit = augment(X_fit, y_fit, aug.method, aug.multiplier, seed, aug.noise_std, aug.mixup_alpha, numeric)
        steps["augment"] = {"method": aug.method, "rows_before": n_before, "rows_added": len(X_fit) - n_before}

    prepared.preprocessor = preprocessor
    prepared.model_input = model_input
    for part in PARTS:
        prepared.X[part] = reduce(encoded[part])
    prepared.X_fit = reduce(np.asarray(X_fit, dtype=np.float32))
    prepared.y_fit = np.asarray(y_fit, dtype=np.int64)
    prepared.steps = steps


def data_summary(recipe: Recipe, prepared: Prepared) -> dict[str, Any]:
    """Rows, columns and their kinds, split sizes and class counts (target statistics for regression)."""
    summary: dict[str, Any] = {
        "source": recipe.data.source,
        "rows": len(prepared.frame),
        "target": recipe.data.target,
        "columns": [c.to_dict() | {"missing": int(prepared.frame[c.name].isna().sum())} for c in prepared.schema],
        "split": prepared.split.sizes(),
        "n_features_after_preprocessing": int(prepared.X["train"].shape[1]),
    }
    y = prepared.y
    if recipe.task == "regression":
        summary["target_stats"] = {"min": float(y.min()), "mean": float(y.mean()), "std": float(y.std()), "max": float(y.max())}
        return summary
    counts = np.bincount(y, minlength=len(prepared.labels))
    summary["class_counts"] = {str(label): int(n) for label, n in zip(prepared.labels, counts)}
    summary["rows_fitted_by_network"] = int(len(prepared.y_fit)) if prepared.y_fit is not None else len(prepared.split.train)
    summary["preprocessing"] = prepared.steps
    return summary
