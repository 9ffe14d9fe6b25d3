"""The bundle as an MLflow model: a ``python_function`` flavor whose loader is Shipyard's predictor.

MLflow loads a model logged with ``mlflow.pyfunc.log_model(loader_module=
"shipyard.mlflow_pyfunc", data_path=<bundle folder>)`` by calling
:func:`_load_pyfunc` on its copy of the bundle: no pickle is written or read
(MLflow would serialise a ``python_model=`` instance, code and all), the bundle's hashes are
verified on load, and only onnxruntime runs the model, so
``mlflow.pyfunc.load_model("models:/NAME/1")``, ``mlflow models serve
--env-manager local`` and every MLflow tool that expects a model can use what
Shipyard registers. (MLflow's ``onnx`` flavor cannot: its pyfunc passes 1-D
columns and the bundle's graph takes one (n, 1) input per column.)

:func:`signature` declares the bundle's input schema: numeric columns as
``double`` (MLflow's advice for integer columns that may be missing: an
integer column declared ``long`` refuses a null), categorical columns as
``string`` (a text bundle's text column too). :func:`as_signature_types` casts raw records to those types.

Torch-free, like the predictor.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from shipyard.predictor import Predictor, load
from shipyard.schema import MISSING_CATEGORY, Column, category_of  # the text a category becomes on the request path

PREDICTION = "prediction"
ERROR = "error"


class ShipyardPyfunc:
    """What MLflow's ``PyFuncModel`` calls: ``predict(frame)`` returns the decided prediction and class probabilities.

    Parameters
    ----------
    predictor : Predictor
    """

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor

    def predict(self, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Predict a frame of raw records.

        Returns
        -------
        DataFrame of shape (n_rows, 1 + n_classes + 1)
            ``prediction`` (label or value; null where not predicted), one
            ``proba_<label>`` column per class (classification), and ``error``
            (null, or why the record was not predicted), as ``shipyard predict`` writes.
        """
        found = self.predictor.predict_records(pd.DataFrame(model_input), source="MLflow input")
        out = pd.DataFrame({PREDICTION: found.decided}, index=pd.RangeIndex(len(found.decided)))
        for j, label in enumerate(self.predictor.labels):
            out[f"proba_{label}"] = found.output[:, j]
        out[ERROR] = [found.errors.get(i) for i in range(len(out))]
        return out


def _load_pyfunc(data_path: str) -> ShipyardPyfunc:
    """MLflow's entry point: load the bundle MLflow copied from ``data_path`` (its hashes are verified; a table or text bundle)."""
    return ShipyardPyfunc(load(data_path))


def signature(schema: list[Column]) -> Any:
    """The MLflow model signature of a bundle's inputs (every column required; values may be null).

    Returns
    -------
    mlflow.models.ModelSignature
        Inputs: one ``ColSpec`` per column, ``double`` for numeric and
        ``string`` for categorical columns.
    """
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(inputs=Schema([ColSpec("double" if c.kind == "numeric" else "string", c.name) for c in schema]))  # text: the raw text


def as_signature_types(frame: pd.DataFrame, schema: list[Column]) -> pd.DataFrame:
    """Cast raw records to the declared types: numeric columns to float64 (NaN where missing), categorical ones to text (None where missing).

    MLflow refuses int64 for a ``double`` column (it can lose precision
    beyond 2**53) and bools or categories for a ``string`` one; this is the
    form to pass to ``mlflow.pyfunc`` models (the MLflow scoring server casts
    JSON input the same way).
    """
    out = {}
    for col in schema:
        values = frame[col.name]
        if col.kind == "numeric":
            out[col.name] = pd.to_numeric(values.astype(object).where(values.notna(), np.nan), errors="coerce").astype(np.float64)
        elif col.kind == "text":  # raw text, as written (a text bundle's tokenizer reads it)
            out[col.name] = pd.Series([v if isinstance(v, str) else None for v in values.astype(object)], index=frame.index, dtype=object)
        else:
            markers = set(col.marker_values)
            texts = [category_of(v, markers) for v in values.astype(object)]
            out[col.name] = pd.Series([None if t == MISSING_CATEGORY else t for t in texts], index=frame.index, dtype=object)
    return pd.DataFrame(out, index=frame.index)
