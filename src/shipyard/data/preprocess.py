"""Preprocessing of raw columns into the network's feature matrix.

Built from scikit-learn transformers and fitted on the training split only;
skl2onnx converts the fitted transformer into the bundle's ONNX graph.
"""

from __future__ import annotations

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    RobustScaler,
    StandardScaler,
)

from shipyard.recipe import PrepareSpec
from shipyard.schema import Column

SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}


def build_preprocessor(schema: list[Column], spec: PrepareSpec) -> ColumnTransformer:
    """Return an unfitted transformer for frames produced by :func:`shipyard.schema.coerce`.

    Numeric columns are imputed (``spec.numeric_imputer``) and scaled
    (``spec.scaler``); categorical columns are one-hot encoded, with unseen
    categories encoded as all zeros (``handle_unknown="ignore"``).

    Parameters
    ----------
    schema : list of Column
    spec : PrepareSpec

    Returns
    -------
    ColumnTransformer
        Output: dense ndarray of shape (n_rows, n_features).
    """
    numeric = [c.onnx_name for c in schema if c.kind == "numeric"]
    categorical = [c.onnx_name for c in schema if c.kind == "categorical"]
    parts = []
    if numeric:
        steps = [("impute", SimpleImputer(strategy=spec.numeric_imputer, keep_empty_features=True))]
        if spec.scaler != "none":
            steps.append(("scale", SCALERS[spec.scaler]()))
        parts.append(("numeric", Pipeline(steps), numeric))
    if categorical:
        parts.append(("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical))
    return ColumnTransformer(parts, sparse_threshold=0.0, verbose_feature_names_out=False)


def record_categories(schema: list[Column], train_input: pd.DataFrame) -> None:
    """Store the categories seen in the training split in each categorical column."""
    for col in schema:
        if col.kind == "categorical":
            col.categories = sorted(set(train_input[col.onnx_name]))
