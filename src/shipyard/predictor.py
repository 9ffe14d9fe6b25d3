"""Predict with a bundle through onnxruntime; torch is never imported here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd

from shipyard.decision import decide
from shipyard.errors import BundleError, InputError, ShipyardError
from shipyard.export.bundle import GRAPH_LABELS, GRAPH_TASK, read_manifest
from shipyard.schema import Column, coerce_columns, coerce_records, missing_notes
from shipyard.tasks import get_task


@dataclass
class ModelInput:
    """Records coerced to the graph's inputs: one 1-D array per column, in schema order.

    Attributes
    ----------
    columns : dict of str to ndarray of shape (n_rows,)
        Keyed by ``Column.onnx_name``: float32 for numeric columns, object (str) for categorical.
    n_rows : int
    """

    columns: dict[str, np.ndarray]
    n_rows: int

    def feed(self) -> dict[str, np.ndarray]:
        """The onnxruntime feed: each column as shape (n_rows, 1)."""
        return {name: values.reshape(-1, 1) for name, values in self.columns.items()}

    @classmethod
    def concat(cls, inputs: list["ModelInput"]) -> "ModelInput":
        """Stack several inputs (of one schema) into one batch, rows in list order."""
        if len(inputs) == 1:
            return inputs[0]
        names = inputs[0].columns
        return cls({n: np.concatenate([i.columns[n] for i in inputs]) for n in names}, sum(i.n_rows for i in inputs))


DEFAULT_SESSION = {"intra_op_num_threads": 1, "inter_op_num_threads": 1, "graph_optimization_level": "ORT_ENABLE_ALL", "execution_mode": "ORT_SEQUENTIAL", "allow_spinning": False}
"""The onnxruntime session options of a Predictor unless told otherwise (recorded in ``Predictor.session_options``)."""


class Predictor:
    """A loaded bundle: the ONNX pipeline plus its manifest.

    Parameters
    ----------
    path : str or Path
        Bundle folder or run directory. Every file's sha256 is checked.
    providers : list of str, optional
        onnxruntime execution providers; default CUDA when available, then CPU.
    intra_op_threads : int
        onnxruntime's intra-op threads (default 1: one request's graph is small,
        and a server runs one process per core; see ``shipyard serve --workers``).
    allow_spinning : bool
        Let idle onnxruntime threads spin (costs CPU the Python side needs under
        concurrency; off by default).

    Attributes
    ----------
    manifest : dict
        The bundle's manifest.
    schema : list of Column
        Raw input columns in model order.
    labels : list
        Class labels, in the order of the probability columns.
    task : Task
        The bundle's task (what the graph outputs and how a prediction is decided).
    path : Path
        The bundle folder.

    Raises
    ------
    BundleError
        If the bundle is missing or was modified after export.
    """

    def __init__(self, path: str | Path, providers: list[str] | None = None, intra_op_threads: int = 1, allow_spinning: bool = False) -> None:
        self.path, self.manifest = read_manifest(path)
        self.schema = [Column.from_dict(c) for c in self.manifest["inputs"]]
        self.labels = list(self.manifest["labels"])
        try:
            self.task = get_task(self.manifest.get("task", "classification"))
        except ShipyardError:
            raise BundleError(f"{self.path / 'manifest.json'}: unknown task {self.manifest.get('task')!r}", "restore the original manifest") from None
        decision = self.manifest.get("decision") or {}
        self.threshold: float | None = decision.get("threshold")
        if providers is None:
            available = ort.get_available_providers()
            providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if allow_spinning else "0")
        self.session = ort.InferenceSession(str(self.path / self.manifest["model_file"]), options, providers=providers)
        self.session_options = DEFAULT_SESSION | {
            "intra_op_num_threads": intra_op_threads,
            "allow_spinning": allow_spinning,
            "providers": self.session.get_providers(),
        }
        self._check_manifest_matches_graph()
        self._known = {c.onnx_name: frozenset(c.categories) for c in self.schema if c.is_text}
        positive = self.manifest.get("positive_label")
        self.positive_index: int | None = [str(label) for label in self.labels].index(positive) if positive is not None else None

    def _check_manifest_matches_graph(self) -> None:
        """The manifest is not hashed by itself; make sure it describes the graph it ships with."""
        where = self.path / "manifest.json"
        graph_inputs = {i.name: i.type for i in self.session.get_inputs()}
        listed = {c.onnx_name: ("tensor(float)" if c.kind == "numeric" else "tensor(string)") for c in self.schema}
        if graph_inputs != listed:
            raise BundleError(
                f"{where}: its inputs do not match model.onnx's ({sorted(listed)} vs {sorted(graph_inputs)})",
                "restore the original manifest or re-run the recipe",
            )
        meta = self.session.get_modelmeta().custom_metadata_map
        for key, listed_value in ((GRAPH_LABELS, json.dumps([str(label) for label in self.labels])), (GRAPH_TASK, self.task.name)):
            if key in meta and meta[key] != listed_value:
                raise BundleError(
                    f"{where}: {key.split('.')[1]} {listed_value} differ from those recorded in model.onnx ({meta[key]})",
                    "restore the original manifest or re-run the recipe",
                )
        positive = self.manifest.get("positive_label")
        if positive is not None and positive not in [str(label) for label in self.labels]:
            raise BundleError(f"{where}: positive_label {positive!r} is not one of the labels", "restore the original manifest")
        width = self.session.get_outputs()[0].shape[-1]
        if self.task.has_classes and isinstance(width, int) and width != len(self.labels):
            raise BundleError(
                f"{where}: lists {len(self.labels)} labels but model.onnx outputs {width} probabilities",
                "restore the original manifest or re-run the recipe",
            )

    def __repr__(self) -> str:
        return f"Predictor({str(self.path)!r}, labels={self.labels})"

    @property
    def name(self) -> str:
        """The model's name (the recipe's)."""
        return self.manifest["name"]

    @property
    def sha256(self) -> str:
        """sha256 of the deployed graph file."""
        return self.manifest["files"][self.manifest["model_file"]]["sha256"]

    @property
    def version(self) -> str:
        """What identifies this model version in responses, logs and metrics: the manifest's ``version``, else the graph's sha256 prefix."""
        return str(self.manifest.get("version") or self.sha256[:12])

    def predict_proba(self, data: pd.DataFrame | list[dict[str, Any]] | dict[str, Any], source: str = "input") -> np.ndarray:
        """Class probabilities for raw records.

        Parameters
        ----------
        data : DataFrame, list of dict or dict
            Raw records with (at least) the bundle's input columns, read by
            :func:`shipyard.schema.coerce` exactly as in training. Missing
            values may be NaN/None; unseen categories are encoded as all zeros.
        source : str
            What the records are, for error messages.

        Returns
        -------
        ndarray of shape (n_rows, n_classes)
            Columns follow ``labels``.

        Raises
        ------
        InputError
            If there are no records, a column is missing or a numeric column
            holds a non-number.
        """
        if not self.task.has_classes:
            raise InputError(f"{self.path}: a {self.task.name} model has no class probabilities", "call predict() for the predicted values")
        return self.run(self.prepare(data, source))

    def predict_values(self, data: pd.DataFrame | list[dict[str, Any]] | dict[str, Any], source: str = "input") -> np.ndarray:
        """Predicted values of a regression bundle.

        Returns
        -------
        ndarray of shape (n_rows,)
            float32, in the target's units.

        Raises
        ------
        InputError
            As :meth:`predict_proba`, or if the bundle is a classifier.
        """
        if self.task.has_classes:
            raise InputError(f"{self.path}: a {self.task.name} model predicts labels, not values", "call predict() or predict_proba()")
        return self.run(self.prepare(data, source))

    def predict_with_warnings(
        self, data: pd.DataFrame | list[dict[str, Any]] | dict[str, Any], source: str = "input"
    ) -> tuple[np.ndarray, list[str]]:
        """The model's output and the unseen-category warnings, coercing the records once.

        Returns
        -------
        output : ndarray
            Probabilities of shape (n_rows, n_classes) for classification,
            values of shape (n_rows,) for regression.
        warnings : list of str
            As :meth:`unseen_categories`.

        Raises
        ------
        InputError
            As :meth:`predict_proba`.
        """
        model_input = self.prepare(data, source)
        return self.run(model_input), self.warnings(model_input)

    def prepare(self, data: pd.DataFrame | list[dict[str, Any]] | dict[str, Any], source: str = "input") -> ModelInput:
        """Coerce raw records to the graph's inputs (the one coercion path of :mod:`shipyard.schema`).

        Raises
        ------
        InputError
            As :meth:`predict_proba`.
        """
        if isinstance(data, dict) and not (data and all(isinstance(v, (list, tuple, np.ndarray, pd.Series)) for v in data.values())):
            data = [data]  # one record
        if isinstance(data, list) and all(isinstance(r, dict) for r in data):
            columns = coerce_records(data, self.schema, source)
            return ModelInput(columns, len(data))
        frame = _as_frame(data, source)
        return ModelInput(coerce_columns(frame, len(frame), self.schema, source), len(frame))

    def run(self, model_input: ModelInput) -> np.ndarray:
        """The model's output for coerced inputs: probabilities (n_rows, n_classes) or values (n_rows,)."""
        (result,) = self.session.run([self.task.output], model_input.feed())
        return self.task.shape_output(result)

    def predict(self, data: pd.DataFrame | list[dict[str, Any]] | dict[str, Any], source: str = "input") -> np.ndarray:
        """Most probable label for each record.

        Returns
        -------
        ndarray of shape (n_rows,)
            Labels from ``labels`` (classification) or predicted values (regression).
        """
        return self.decisions(self.run(self.prepare(data, source)))

    def decisions(self, output: np.ndarray) -> np.ndarray:
        """The decided prediction of each row of the model's output: a label (the bundle's decision rule) or the value.

        Parameters
        ----------
        output : ndarray
            Probabilities (n_rows, n_classes) or values (n_rows,), as :meth:`predict_with_warnings` returns.

        Returns
        -------
        ndarray of shape (n_rows,)
        """
        return self.task.decisions(output, self.labels, self.positive_index, self.threshold)

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Class index of each row: the bundle's tuned threshold (``manifest["decision"]``) for binary tasks, else arg-max.

        Parameters
        ----------
        proba : ndarray of shape (n_rows, n_classes)

        Returns
        -------
        ndarray of shape (n_rows,), dtype int64
        """
        return decide(proba, self.positive_index, self.threshold)

    def unseen_categories(self, data: pd.DataFrame | list[dict[str, Any]] | dict[str, Any]) -> list[str]:
        """Describe values the encoder turns into all zeros: unseen categories, and missing values where training had none.

        Returns
        -------
        list of str
            One message per (column, value), e.g. ``"column 'color': unseen category 'teal' (rows 0, 3) encoded as all zeros"``
            (:func:`shipyard.schema.missing_notes`).
        """
        return self.warnings(self.prepare(data, "input"))

    def unseen(self, model_input: ModelInput) -> dict[str, int]:
        """How many values of each column the encoder turns into all zeros (unseen categories, missing values training never had)."""
        found: dict[str, int] = {}
        for col in self.schema:
            if not col.is_text or not col.categories:
                continue
            values = model_input.columns[col.onnx_name]
            new = set(values.tolist()) - self._known[col.onnx_name]
            if new:
                found[col.name] = int(np.isin(values, list(new)).sum())
        return found

    def warnings(self, model_input: ModelInput) -> list[str]:
        """One message per (column, value) the encoder turns into all zeros (:func:`shipyard.schema.missing_notes`)."""
        return missing_notes(model_input.columns, self.schema)


def _as_frame(data: pd.DataFrame | list[dict[str, Any]] | dict[str, Any], source: str) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, dict):
        if data and all(isinstance(v, (list, tuple, np.ndarray, pd.Series)) for v in data.values()):
            return pd.DataFrame(data)  # a mapping of columns
        data = [data]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise InputError(f"{source}: records must be a DataFrame, a dict or a list of dicts", "pass {column: value} mappings")
    return pd.DataFrame.from_records(data) if data else pd.DataFrame()


def load(path: str | Path) -> Predictor:
    """Load a bundle (or the bundle of a run directory) for prediction.

    Parameters
    ----------
    path : str or Path
        Bundle folder, run directory, or ``runs/<name>``.

    Returns
    -------
    Predictor
        With ``.predict(df)`` and ``.predict_proba(df)``.

    Examples
    --------
    >>> model = shipyard.load("runs/breast-cancer/latest")    # doctest: +SKIP
    >>> model.predict_proba(df)[:2]                           # doctest: +SKIP
    """
    return Predictor(path)
