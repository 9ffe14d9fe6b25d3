"""Map the preprocessed feature matrix back to the raw input columns, and raw columns to numbers.

Attributions computed on preprocessed features (after scaling and one-hot
encoding) are summed back to the input column each feature came from, so a
categorical column's one-hot group gets one SHAP value. Sums of SHAP values
stay SHAP values (additivity is preserved).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from shipyard.schema import Column


def feature_to_column(preprocessor: ColumnTransformer, schema: list[Column], n_features: int) -> np.ndarray | None:
    """A 0/1 matrix that sums preprocessed-feature attributions into raw-column attributions.

    Parameters
    ----------
    preprocessor : ColumnTransformer
        Fitted; its transformers either keep one output per input column
        (imputers, scalers) or end in a ``OneHotEncoder``.
    schema : list of Column
        Raw columns; the transformer's input names are their ``onnx_name``.
    n_features : int
        Width of the preprocessed matrix.

    Returns
    -------
    ndarray of shape (n_features, n_columns), or None
        ``M[f, c] = 1`` when feature ``f`` comes from column ``c``; None when
        the preprocessing mixes columns (e.g. PCA), so attributions cannot be
        summed back and a model-agnostic explainer on raw columns is needed.
    """
    if not isinstance(preprocessor, ColumnTransformer):
        return None  # e.g. a Pipeline ending in PCA or feature selection (prepare.reduce)
    index = {c.onnx_name: i for i, c in enumerate(schema)}
    mapping = np.zeros((n_features, len(schema)))
    for name, transformer, cols in preprocessor.transformers_:
        if transformer == "drop" or name == "remainder":
            continue
        cols = list(cols)
        out = preprocessor.output_indices_[name]
        width = out.stop - out.start
        last = transformer.steps[-1][1] if isinstance(transformer, Pipeline) else transformer
        if isinstance(last, OneHotEncoder):
            names = last.get_feature_names_out(cols)
            if len(names) != width:
                return None
            for f, feature in enumerate(names):
                owner = next((c for c in sorted(cols, key=len, reverse=True) if str(feature).startswith(f"{c}_")), None)
                if owner is None:
                    return None
                mapping[out.start + f, index[owner]] = 1.0
        elif width == len(cols):
            for f, col in enumerate(cols):
                mapping[out.start + f, index[col]] = 1.0
        else:
            return None
    if not np.all(mapping.sum(axis=1) == 1):
        return None
    return mapping


class RawEncoder:
    """Encode a coerced input frame as numbers and back (categories as integer codes).

    Used for beeswarm colours, for the surrogate tree, and by the
    model-agnostic explainer, which perturbs a numeric matrix.

    Parameters
    ----------
    schema : list of Column
        Categorical columns carry their training categories; an unseen or
        missing category gets code -1... encoded here as NaN.
    """

    def __init__(self, schema: list[Column]) -> None:
        self.schema = schema

    def encode(self, model_input: pd.DataFrame) -> np.ndarray:
        """Frame of shape (n_rows, n_columns) (from ``coerce``) to float matrix (n_rows, n_columns)."""
        out = np.empty((len(model_input), len(self.schema)))
        for j, col in enumerate(self.schema):
            values = model_input[col.onnx_name]
            if col.kind == "numeric":
                out[:, j] = values.to_numpy(dtype=np.float64)
            else:
                codes = {c: i for i, c in enumerate(col.categories)}
                out[:, j] = [codes.get(v, np.nan) for v in values]
        return out

    def decode(self, matrix: np.ndarray) -> pd.DataFrame:
        """Float matrix back to a coerced frame (codes to categories; NaN codes to the missing category)."""
        data: dict[str, Any] = {}
        for j, col in enumerate(self.schema):
            if col.kind == "numeric":
                data[col.onnx_name] = matrix[:, j].astype(np.float32)
            else:
                cats = np.asarray(col.categories + [""], dtype=object)
                codes = np.where(np.isfinite(matrix[:, j]), matrix[:, j], len(col.categories)).astype(int)
                data[col.onnx_name] = cats[np.clip(codes, 0, len(col.categories))]
        return pd.DataFrame(data)

    def display(self, model_input: pd.DataFrame, row: int) -> list[Any]:
        """Human-readable values of one row (numbers as floats, categories as strings)."""
        out = []
        for col in self.schema:
            value = model_input[col.onnx_name].iloc[row]
            # float32 inputs: 6 significant digits show 94.44, not 94.440002
            out.append(float(f"{float(value):.6g}") if col.kind == "numeric" and value == value else (None if col.kind == "numeric" else str(value)))
        return out
