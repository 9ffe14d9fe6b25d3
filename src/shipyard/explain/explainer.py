"""Explain a model: SHAP values, permutation importance and a global surrogate tree.

Everything here works on *raw* input columns (the frame from
:func:`shipyard.schema.coerce`) and a prediction function, so the same code
explains a run's PyTorch network and a bundle's ONNX graph; the PyTorch
network, when given, enables the gradient-based SHAP explainer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import is_classifier
from sklearn.inspection import permutation_importance
from sklearn.tree import export_text

from shipyard.errors import ShipyardError
from shipyard.explain.columns import RawEncoder, feature_to_column
from shipyard.explain.shap_values import deep_shap, permutation_shap
from shipyard.schema import Column
from shipyard.tasks import Task

DEEP = "DeepExplainer (DeepLIFT)"
ADDITIVITY_TOLERANCE = 1e-3
"""Largest |sum of SHAP values - (output - expected)| accepted from DeepLIFT, relative to max(1, output spread)."""


@dataclass
class Model:
    """What is explained.

    Attributes
    ----------
    schema : list of Column
        Raw input columns.
    predict : callable
        Coerced frame (n_rows, n_columns) to the task's output: probabilities
        (n_rows, n_classes), or values (n_rows,) for regression.
    task : Task
        Says which outputs are explained, how a prediction reads, what
        permutation importance and the surrogate measure.
    labels : list of str
        Class names (classification).
    positive_index : int, optional
    network : torch.nn.Module, optional
        Preprocessed features to logits (or the value); enables DeepExplainer.
    preprocessor : ColumnTransformer, optional
        Coerced frame to preprocessed features (needed with ``network``).
    """

    schema: list[Column]
    predict: Callable[[pd.DataFrame], np.ndarray]
    task: Task
    labels: list[str] | None = None
    positive_index: int | None = None
    network: Any = None
    preprocessor: Any = None


def check_row(row: int, n_rows: int, what: str = "--row", where: str = "the test split") -> None:
    """Raise a ShipyardError naming the valid range when ``row`` is not a row position of ``where``."""
    if not 0 <= row < n_rows:
        raise ShipyardError(f"{what} {row} is out of range: {where} has {n_rows} rows", f"use a row from 0 to {n_rows - 1}")


def explain(
    model: Model,
    test: pd.DataFrame,
    y_test: np.ndarray | None,
    train: pd.DataFrame,
    *,
    samples: int = 200,
    background: int = 100,
    repeats: int = 5,
    depth: int = 4,
    row: int = 0,
    seed: int = 0,
    record: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """SHAP values, permutation importance and a surrogate tree for one model.

    Parameters
    ----------
    model : Model
    test : DataFrame of shape (n_test, n_columns)
        Coerced test rows (columns named by ``onnx_name``).
    y_test : ndarray of shape (n_test,), optional
        Class indices or values; without it, permutation importance is skipped.
    train : DataFrame of shape (n_train, n_columns)
        Coerced training rows: the SHAP background and the surrogate's training set.
    samples : int
        Test rows explained with SHAP (a seeded random sample when fewer than ``n_test``).
    background : int
        Training rows in the SHAP background.
    repeats : int
        Shuffles per column in permutation importance.
    depth : int
        Maximum depth of the surrogate tree.
    row : int
        Position among the test rows explained locally.
    seed : int
    record : DataFrame of shape (1, n_columns), optional
        A coerced record (e.g. given as JSON) explained locally instead of test row ``row``.

    Returns
    -------
    dict
        ``shap``, ``local``, ``permutation``, ``surrogate``, ``findings`` and
        ``seconds`` (per part); the content of ``explain.json``.

    Raises
    ------
    ShipyardError
        If ``row`` is out of range.
    """
    check_row(row, len(test))
    rng = np.random.default_rng(seed)
    encoder = RawEncoder(model.schema)
    names = [c.name for c in model.schema]
    seconds: dict[str, float] = {}
    result: dict[str, Any] = {"columns": names}

    tic = time.perf_counter()
    others = np.delete(np.arange(len(test)), row)
    chosen = np.sort(np.append(rng.choice(others, size=min(samples, len(test)) - 1, replace=False), row))  # always holds ``row``
    back_rows = rng.choice(len(train), size=min(background, len(train)), replace=False)
    rows, position = test.iloc[chosen], int(np.searchsorted(chosen, row))
    if record is not None:  # explained with the sample (same background), reported only as the local explanation
        rows, position = pd.concat([rows, record[rows.columns]], ignore_index=True), len(chosen)
    result["shap"], local_values, local_expected, local_output, local_class = _shap(model, encoder, rows, train.iloc[back_rows], seed, chosen, position)
    seconds["shap"] = time.perf_counter() - tic
    local_frame = test.iloc[[row]] if record is None else record[rows.columns]
    pred = model.predict(local_frame)
    local: dict[str, Any] = {
        "row": int(row) if record is None else "record",
        "values": local_values.tolist(),
        "expected_value": local_expected,
        "output": local_output,
        "data": encoder.display(local_frame, 0),
        "output_of": local_class,
    }
    local["predicted"] = model.task.describe_prediction(np.asarray(pred)[0], model.labels)
    if y_test is not None and record is None:
        local["true"] = model.labels[int(y_test[row])] if model.labels else float(y_test[row])
    result["local"] = local

    if y_test is not None:
        tic = time.perf_counter()
        result["permutation"] = _permutation(model, test, y_test, names, repeats, seed)
        seconds["permutation"] = time.perf_counter() - tic
    tic = time.perf_counter()
    result["surrogate"] = _surrogate(model, encoder, train, test, names, depth, seed)
    seconds["surrogate"] = time.perf_counter() - tic
    result["seconds"] = seconds
    result["findings"] = _findings(result, model.task)
    return result


def _shap(model: Model, encoder: RawEncoder, rows: pd.DataFrame, back: pd.DataFrame, seed: int, chosen: np.ndarray, position: int):
    """Return the global SHAP summary (over the first ``len(chosen)`` rows) and the local explanation of ``rows[position]``."""
    matrix, classes, unit = model.task.explained_outputs(model.labels, model.positive_index)
    values = expected = outputs = None
    explainer = "PermutationExplainer on raw columns (model-agnostic)"
    fallback: dict[str, Any] | None = {
        "from": DEEP,
        "reason": "there is no PyTorch network to differentiate (a bundle is explained through its ONNX graph)",
    }
    if model.network is not None and model.preprocessor is not None:
        X = model.preprocessor.transform(rows).astype(np.float32)
        B = model.preprocessor.transform(back).astype(np.float32)
        mapping = feature_to_column(model.preprocessor, model.schema, X.shape[1])
        if mapping is None:
            fallback["reason"] = "the preprocessing mixes input columns (e.g. PCA), so attributions of preprocessed features cannot be summed back to raw columns"
        else:
            values, expected, outputs = deep_shap(model.network, matrix, B, X)
            values = np.einsum("nfo,fc->nco", values, mapping)
            error = float(np.abs(values.sum(axis=1) + expected - outputs).max())
            tolerance = ADDITIVITY_TOLERANCE * max(1.0, float(np.ptp(outputs)))
            if error <= tolerance:
                explainer, fallback = f"{DEEP} on preprocessed features", None
            else:  # an operator DeepLIFT does not support: use the exact model-agnostic explainer
                values = None
                fallback = {
                    "from": DEEP,
                    "reason": (
                        f"DeepLIFT's SHAP values did not add up: the largest |sum of SHAP values - (output - expected value)| was {error:.3g}, "
                        f"above the tolerance {tolerance:.3g}; DeepLIFT's rules cover activation modules it can see, so a functional "
                        "activation (torch.nn.functional.*) or one activation module used in several places breaks them"
                    ),
                    "deep_additivity_error": error,
                    "tolerance": tolerance,
                }

    if values is None:
        predict, task = model.predict, model.task

        def f(matrix_rows: np.ndarray) -> np.ndarray:
            return task.explained_values(predict(encoder.decode(matrix_rows)), matrix)

        values, expected, outputs = permutation_shap(f, encoder.encode(back), encoder.encode(rows), seed)
    error = float(np.abs(values.sum(axis=1) + expected - outputs).max())
    local_values, local_outputs = values[position], outputs[position]
    values, outputs, rows = values[: len(chosen)], outputs[: len(chosen)], rows.iloc[: len(chosen)]
    local_k = 0 if len(classes) == 1 else int(np.argmax(local_outputs))
    local_class = None if classes[local_k] is None else model.labels[classes[local_k]]
    mean_abs = np.abs(values).mean(axis=(0, 2))
    names = [c.name for c in model.schema]
    order = np.argsort(-mean_abs)
    # For the beeswarm: one output (the positive class, or the per-row predicted class for multiclass).
    k_rows = np.zeros(len(rows), dtype=int) if values.shape[2] == 1 else outputs.argmax(axis=1)
    per_row = values[np.arange(len(rows)), :, k_rows]
    summary = {
        "explainer": explainer,
        "output": unit,
        "columns": names,
        "n_rows": int(len(rows)),
        "rows": chosen.tolist(),
        "mean_abs": {names[i]: float(mean_abs[i]) for i in range(len(names))},
        "ranking": [names[i] for i in order],
        "values": per_row.tolist(),
        "expected_value": float(np.mean(expected[k_rows])),
        "expected_values": expected.tolist(),
        "data": encoder.encode(rows).tolist(),
        "additivity_max_error": error,
        "fallback": fallback,
    }
    return summary, local_values[:, local_k], float(expected[local_k]), float(local_outputs[local_k]), local_class


class _Fitted:
    """A fitted-estimator facade over a prediction function, for ``permutation_importance``."""

    def __init__(self, predict: Callable[[pd.DataFrame], np.ndarray]) -> None:
        self.predict_fn = predict

    def fit(self, X: Any, y: Any = None) -> "_Fitted":
        return self


def _permutation(model: Model, test: pd.DataFrame, y_test: np.ndarray, names: list[str], repeats: int, seed: int) -> dict[str, Any]:
    """scikit-learn's permutation importance of the whole pipeline on the test rows."""
    metric, score = model.task.permutation_scorer(model.labels)
    found = permutation_importance(_Fitted(model.predict), test, y_test, scoring=score, n_repeats=repeats, random_state=seed)
    order = np.argsort(-found.importances_mean)
    return {
        "metric": metric,
        "measure": f"increase in test {metric} when the column is shuffled (mean over repeats; larger is more important)",
        "repeats": repeats,
        "mean": {names[i]: float(found.importances_mean[i]) for i in range(len(names))},
        "std": {names[i]: float(found.importances_std[i]) for i in range(len(names))},
        "ranking": [names[i] for i in order],
    }


def _surrogate(model: Model, encoder: RawEncoder, train: pd.DataFrame, test: pd.DataFrame, names: list[str], depth: int, seed: int) -> dict[str, Any]:
    """A shallow decision tree fitted to the model's predictions on the training rows; fidelity on the test rows."""
    X_train, X_test = _tree_features(encoder, train), _tree_features(encoder, test)
    features = list(X_train.columns)
    tree, how = model.task.surrogate(depth, seed)
    target_train, target_test = model.task.surrogate_target(model.predict(train)), model.task.surrogate_target(model.predict(test))
    tree.fit(X_train, target_train)
    fidelity = float(tree.score(X_test, target_test))  # accuracy of a classifier tree, R² of a regressor tree
    names = {"class_names": [str(model.labels[c]) for c in tree.classes_]} if is_classifier(tree) else {}
    rules = export_text(tree, feature_names=features, decimals=3, **names)
    return {"depth": depth, "fidelity": fidelity, "fidelity_metric": how, "rules": rules, "leaves": int(tree.get_n_leaves())}


def _tree_features(encoder: RawEncoder, frame: pd.DataFrame) -> pd.DataFrame:
    """Raw numeric columns as they are (NaN kept: scikit-learn trees route missing values) and one 0/1 column per category."""
    data: dict[str, Any] = {}
    for col in encoder.schema:
        values = frame[col.onnx_name]
        if col.kind == "numeric":
            data[col.name] = values.to_numpy(dtype=np.float64)
        else:
            for cat in col.categories:
                data[f"{col.name} = {cat}"] = (values == cat).to_numpy(dtype=np.float64)
    return pd.DataFrame(data)


def _findings(result: dict[str, Any], task: Task) -> list[str]:
    out = []
    shap_top = result["shap"]["ranking"][:3]
    out.append(f"Largest mean |SHAP value|: {', '.join(shap_top)}.")
    fallback = result["shap"].get("fallback")
    if fallback:
        out.append(f"SHAP values come from the model-agnostic PermutationExplainer, not {fallback['from']}: {fallback['reason']}.")
    perm = result.get("permutation")
    if perm:
        out.append(f"Largest permutation importance (increase in test {perm['metric']} when the column is shuffled): {', '.join(perm['ranking'][:3])}.")
        agree = len(set(shap_top[:2]) & set(perm["ranking"][:2]))
        if agree < 2:
            out.append("SHAP and permutation importance disagree on the top two columns: correlated columns can share or swap importance.")
    sur = result["surrogate"]
    if sur["fidelity"] < 0.9:
        out.append(f"Only a rough summary: {task.describe_fidelity(sur['depth'], sur['fidelity'])}.")
    return out
