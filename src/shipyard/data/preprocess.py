"""Preprocessing of raw columns into the network's feature matrix.

Built from scikit-learn transformers and fitted on the training split only;
skl2onnx converts the fitted transformer into the bundle's ONNX graph.

Numeric columns: impute (mean, median, most frequent, constant, KNN or
iterative), optionally winsorize (limits from the training split), scale
(standard, min-max, robust, quantile, Yeo-Johnson power). Optional 0/1
missing-indicator columns. Categorical columns: one-hot (unseen and
infrequent categories encoded as all zeros) or ordinal codes (unseen and
infrequent categories encoded as -1); ``prepare.min_frequency`` applies to both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import KNNImputer, MissingIndicator, SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PowerTransformer,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)

from shipyard.data.transformers import Winsorizer
from shipyard.recipe import PrepareSpec
from shipyard.schema import Column


def _scaler(name: str, n_rows: int | None) -> Any:
    if name == "standard":
        return StandardScaler()
    if name == "minmax":
        return MinMaxScaler()
    if name == "robust":
        return RobustScaler()
    if name == "quantile":
        # Uniform output: exported by shipyard.data.transformers' exact converter.
        return QuantileTransformer(n_quantiles=min(1000, n_rows or 1000), output_distribution="uniform")
    if name == "power":
        return PowerTransformer(method="yeo-johnson", standardize=True)
    raise ValueError(f"unknown scaler {name!r}")  # the recipe schema prevents this


def _imputer(spec: PrepareSpec, seed: int) -> Any:
    if spec.numeric_imputer == "knn":
        return KNNImputer(n_neighbors=5, keep_empty_features=True)
    if spec.numeric_imputer == "iterative":
        from sklearn.experimental import enable_iterative_imputer  # noqa: F401
        from sklearn.impute import IterativeImputer

        return IterativeImputer(random_state=seed, keep_empty_features=True)
    if spec.numeric_imputer == "constant":
        return SimpleImputer(strategy="constant", fill_value=spec.fill_value, keep_empty_features=True)
    return SimpleImputer(strategy=spec.numeric_imputer, keep_empty_features=True)


def frequent_categories(schema: list[Column], train_input: pd.DataFrame, min_frequency: int) -> list[list[str]]:
    """Per categorical (or boolean) column, the sorted categories with at least ``min_frequency`` training rows (at least the most frequent one)."""
    out = []
    for col in schema:
        if col.is_text:
            counts = train_input[col.onnx_name].value_counts()
            kept = counts.index[counts >= min_frequency].tolist() or counts.index[:1].tolist()
            out.append(sorted(kept))
    return out


def build_preprocessor(
    schema: list[Column], spec: PrepareSpec, train_input: pd.DataFrame | None = None, seed: int = 0
) -> ColumnTransformer:
    """Return an unfitted transformer for frames produced by :func:`shipyard.schema.coerce`.

    Parameters
    ----------
    schema : list of Column
    spec : PrepareSpec
    train_input : DataFrame of shape (n_train, n_columns), optional
        Coerced training rows: sets the quantile count and, with
        ``spec.min_frequency > 1``, the categories kept by the encoder (one-hot or ordinal).
    seed : int
        Seed of the iterative imputer.

    Returns
    -------
    ColumnTransformer
        Parts ``numeric``, ``missing`` (indicators) and ``categorical``.
        Output: dense ndarray of shape (n_rows, n_features).
    """
    numeric = [c.onnx_name for c in schema if c.kind == "numeric"]
    categorical = [c.onnx_name for c in schema if c.is_text]  # categorical and boolean columns
    n_rows = None if train_input is None else len(train_input)
    parts = []
    if numeric:
        steps = [("impute", _imputer(spec, seed))]
        if spec.clip_quantile is not None:
            steps.append(("clip", Winsorizer(spec.clip_quantile)))
        if spec.scaler != "none":
            steps.append(("scale", _scaler(spec.scaler, n_rows)))
        parts.append(("numeric", Pipeline(steps), numeric))
        if spec.missing_indicator:
            parts.append(("missing", MissingIndicator(features="all"), numeric))
    if categorical:
        # Categories rarer than min_frequency are left out of the encoder's list, so they are encoded as an
        # unseen one: all zeros (one-hot) or -1 (ordinal).
        categories: Any = "auto"
        if spec.min_frequency > 1 and train_input is not None:
            categories = frequent_categories(schema, train_input, spec.min_frequency)
        if spec.encoder == "ordinal":
            encoder = OrdinalEncoder(categories=categories, handle_unknown="use_encoded_value", unknown_value=-1)
        else:
            encoder = OneHotEncoder(categories=categories, handle_unknown="ignore", sparse_output=False)
        parts.append(("categorical", encoder, categorical))
    return ColumnTransformer(parts, sparse_threshold=0.0, verbose_feature_names_out=False)


def output_sources(preprocessor: ColumnTransformer, schema: list[Column]) -> list[str]:
    """Name of the raw input column behind each output column of a fitted preprocessor.

    Returns
    -------
    list of str of length n_features
    """
    names = {c.onnx_name: c.name for c in schema}
    width = sum(s.stop - s.start for s in preprocessor.output_indices_.values())
    out = [""] * width
    for part, transformer, columns in preprocessor.transformers_:
        if part == "remainder":
            continue
        span = preprocessor.output_indices_[part]
        if part == "categorical":
            at = span.start
            for col, cats in zip(columns, transformer.categories_):
                w = len(cats) if isinstance(transformer, OneHotEncoder) else 1
                out[at : at + w] = [names[col]] * w
                at += w
        else:
            for i, col in enumerate(columns):
                out[span.start + i] = names[col]
    return out


def record_categories(schema: list[Column], train_input: pd.DataFrame) -> None:
    """Store the categories seen in the training split in each categorical and boolean column, and the range of each numeric one.

    A numeric column gets ``min`` and ``max``, the smallest and largest finite
    training value (None when the column is entirely missing there): the
    bundle accepts values within a margin of this range
    (:func:`shipyard.schema.accepted_range`), and monitoring compares new
    records with it.
    """
    for col in schema:
        if col.is_text:
            col.categories = sorted(set(train_input[col.onnx_name]))
        else:
            values = train_input[col.onnx_name].to_numpy(dtype=np.float32)
            values = values[np.isfinite(values)]
            # The shortest decimal that reads back as the float32 value: 0.1634, not 0.16339999437332153.
            col.min, col.max = (float(str(values.min())), float(str(values.max()))) if len(values) else (None, None)
