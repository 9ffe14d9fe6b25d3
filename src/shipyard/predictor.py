"""Predict with a bundle through onnxruntime; torch is never imported here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd

from shipyard.decision import decide
from shipyard.errors import BundleError, InputError, ShipyardError
from shipyard.export.bundle import GRAPH_LABELS, GRAPH_TASK, read_manifest
from shipyard.schema import Column, coerce, missing_notes, onnx_feed
from shipyard.tasks import get_task


class Predictor:
    """A loaded bundle: the ONNX pipeline plus its manifest.

    Parameters
    ----------
    path : str or Path
        Bundle folder or run directory. Every file's sha256 is checked.
    providers : list of str, optional
        onnxruntime execution providers; default CUDA when available, then CPU.

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

    def __init__(self, path: str | Path, providers: list[str] | None = None) -> None:
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
        self.session = ort.InferenceSession(str(self.path / self.manifest["model_file"]), options, providers=providers)
        self._check_manifest_matches_graph()
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
        return self._run(self._model_input(data, source))

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
        return self._run(self._model_input(data, source))

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
        model_input = self._model_input(data, source)
        return self._run(model_input), self._unseen(model_input)

    def _model_input(self, data: pd.DataFrame | list[dict[str, Any]] | dict[str, Any], source: str) -> pd.DataFrame:
        return coerce(_as_frame(data, source), self.schema, source)

    def _run(self, model_input: pd.DataFrame) -> np.ndarray:
        (result,) = self.session.run([self.task.output], onnx_feed(model_input, self.schema))
        return self.task.shape_output(result)

    def predict(self, data: pd.DataFrame | list[dict[str, Any]] | dict[str, Any], source: str = "input") -> np.ndarray:
        """Most probable label for each record.

        Returns
        -------
        ndarray of shape (n_rows,)
            Labels from ``labels`` (classification) or predicted values (regression).
        """
        return self.decisions(self._run(self._model_input(data, source)))

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
        return self._unseen(self._model_input(data, "input"))

    def _unseen(self, model_input: pd.DataFrame) -> list[str]:
        return missing_notes(model_input, self.schema)


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
