"""Predict with a bundle through onnxruntime; torch is never imported here.

Every prediction is checked record by record: a record with a numeric value
outside the range the bundle accepts (:func:`shipyard.schema.accepted_range`)
or whose output is not finite is not predicted; it gets an error of its own
(NaN probabilities or value, no label) while the other records of the batch
are predicted (:meth:`Predictor.predict_records`).
"""

from __future__ import annotations

import json
import warnings as python_warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd

from shipyard.decision import decide
from shipyard.errors import BundleError, InputError, ShipyardError
from shipyard.export.bundle import GRAPH_LABELS, GRAPH_PREDICTION, GRAPH_TASK, PREDICTION_FIELDS, prediction_mismatch, read_manifest
from shipyard.schema import Column, check_text, coerce, invalid_text_error, is_valid_text, missing_notes, onnx_feed, out_of_range
from shipyard.tasks import get_task

UNSEEN_ENCODING = {"onehot": "encoded as all zeros", "ordinal": "encoded as -1"}
"""How each categorical encoder (``prepare.encoder``) encodes a category not seen (or too rare) in training."""


@dataclass
class Prediction:
    """What :meth:`Predictor.predict_records` returns.

    Attributes
    ----------
    output : ndarray
        Probabilities (n_rows, n_classes) or values (n_rows,); NaN in the
        rows of records that could not be predicted.
    decided : ndarray of shape (n_rows,)
        Labels (None where not predicted) or values (NaN where not predicted).
    errors : dict of int to str
        Row position to why that record was not predicted.
    warnings : list of str
        E.g. categories not seen in training.
    """

    output: np.ndarray
    decided: np.ndarray
    errors: dict[int, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


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
        self.input_margin: float | None = (self.manifest.get("input_range") or {}).get("margin")
        encoder = (self.manifest.get("preprocessing") or {}).get("encoder", "onehot")
        self.unseen_encoding = UNSEEN_ENCODING.get(encoder, "encoded as unseen")
        self.model_sha256: str = self.manifest["files"][self.manifest["model_file"]]["sha256"]
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
        if GRAPH_PREDICTION not in meta:
            raise BundleError(
                f"{self.path / self.manifest['model_file']}: records none of the prediction fields ({', '.join(PREDICTION_FIELDS)}), "
                "so an edit of the manifest could not be detected",
                "re-export the bundle with this version of shipyard ('shipyard run')",
            )
        for key, listed_value in ((GRAPH_LABELS, json.dumps([str(label) for label in self.labels])), (GRAPH_TASK, self.task.name)):
            if key in meta and meta[key] != listed_value:
                raise BundleError(
                    f"{where}: {key.split('.')[1]} {listed_value} differ from those recorded in model.onnx ({meta[key]})",
                    "restore the original manifest or re-run the recipe",
                )
        differing = prediction_mismatch(self.manifest, meta[GRAPH_PREDICTION])
        if differing:
            raise BundleError(
                f"{where}: {', '.join(differing)} differ{'s' if len(differing) == 1 else ''} from the values recorded in the hashed "
                f"{self.manifest['model_file']}; the manifest was edited after export",
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
            values may be NaN/None; unseen categories are encoded as unknown
            (all zeros for one-hot encoding).
        source : str
            What the records are, for error messages.

        Returns
        -------
        ndarray of shape (n_rows, n_classes)
            Columns follow ``labels``. A record that could not be predicted
            (a value outside the accepted range, a non-finite output) has a
            row of NaN and a ``RuntimeWarning`` says why; :meth:`predict_records`
            returns the reasons.

        Raises
        ------
        InputError
            If there are no records, a column is missing or a numeric column
            holds a non-number.
        """
        if not self.task.has_classes:
            raise InputError(f"{self.path}: a {self.task.name} model has no class probabilities", "call predict() for the predicted values")
        return self._warned(self.predict_records(data, source)).output

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
        return self._warned(self.predict_records(data, source)).output

    def predict_with_warnings(
        self, data: pd.DataFrame | list[dict[str, Any]] | dict[str, Any], source: str = "input"
    ) -> tuple[np.ndarray, list[str]]:
        """The model's output and the unseen-category warnings, coercing the records once.

        Returns
        -------
        output : ndarray
            Probabilities of shape (n_rows, n_classes) for classification,
            values of shape (n_rows,) for regression; NaN rows for records
            that could not be predicted.
        warnings : list of str
            As :meth:`unseen_categories`, then one line per record not predicted.

        Raises
        ------
        InputError
            As :meth:`predict_proba`.
        """
        found = self.predict_records(data, source)
        return found.output, found.warnings + [f"record {row}: {why}" for row, why in sorted(found.errors.items())]

    def predict_records(self, data: pd.DataFrame | list[dict[str, Any]] | dict[str, Any], source: str = "input") -> Prediction:
        """Predict records one by one in a batch: outputs, decided predictions, per-record errors and warnings.

        A record is not predicted, and gets an error naming the reason, when
        one of its numeric values lies outside the range the bundle accepts
        (the training range widened by ``input_range.margin`` widths,
        :func:`shipyard.schema.accepted_range`) or when the model's output
        for it is not finite; the other records are predicted as usual.

        Returns
        -------
        Prediction

        Raises
        ------
        InputError
            For a problem of the whole batch: no records, a missing column,
            a non-number in a numeric column, text that is not valid Unicode.
        """
        model_input = self._model_input(data, source)
        output, errors = self._checked(model_input)
        return Prediction(output, self.decisions(output), errors, self._unseen(model_input))

    def _checked(self, model_input: pd.DataFrame) -> tuple[np.ndarray, dict[int, str]]:
        """The model's output with NaN rows for records not predicted, and why each was not."""
        errors = out_of_range(model_input, self.schema, self.input_margin)
        output = np.array(self._run(model_input), dtype=np.float32)
        rows_ok = np.isfinite(output).reshape(len(output), -1).all(axis=1)
        for row in np.flatnonzero(~rows_ok):
            errors.setdefault(int(row), "the model's output is not finite (an overflow inside the graph); check the record's values")
        if errors:
            output[sorted(errors)] = np.nan
        return output, errors

    def _warned(self, found: Prediction) -> Prediction:
        if found.errors:
            shown = "; ".join(f"record {row}: {why}" for row, why in sorted(found.errors.items())[:3])
            python_warnings.warn(
                f"{len(found.errors)} of {len(found.output)} records could not be predicted (NaN rows): {shown}", RuntimeWarning, stacklevel=3
            )
        return found

    def _model_input(self, data: pd.DataFrame | list[dict[str, Any]] | dict[str, Any], source: str) -> pd.DataFrame:
        model_input = coerce(_as_frame(data, source), self.schema, source)
        check_text(model_input, self.schema, source)
        return model_input

    def _run(self, model_input: pd.DataFrame) -> np.ndarray:
        (result,) = self.session.run([self.task.output], onnx_feed(model_input, self.schema))
        return self.task.shape_output(result)

    def predict(self, data: pd.DataFrame | list[dict[str, Any]] | dict[str, Any], source: str = "input") -> np.ndarray:
        """Most probable label for each record.

        Returns
        -------
        ndarray of shape (n_rows,)
            Labels from ``labels`` (classification) or predicted values
            (regression); None (NaN) for a record that could not be predicted,
            with a ``RuntimeWarning`` saying why.
        """
        return self._warned(self.predict_records(data, source)).decided

    def decisions(self, output: np.ndarray) -> np.ndarray:
        """The decided prediction of each row of the model's output: a label (the bundle's decision rule) or the value.

        Parameters
        ----------
        output : ndarray
            Probabilities (n_rows, n_classes) or values (n_rows,), as :meth:`predict_with_warnings` returns.

        Returns
        -------
        ndarray of shape (n_rows,)
            None (classification) or NaN (regression) in rows whose output is not finite.
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
        """Describe values the encoder cannot place: unseen categories, and missing values where training had none
        (all zeros for one-hot encoding, -1 for ordinal encoding).

        Returns
        -------
        list of str
            One message per (column, value), e.g. ``"column 'color': unseen category 'teal' (rows 0, 3) encoded as all zeros"``
            (:func:`shipyard.schema.missing_notes`).
        """
        return self._unseen(self._model_input(data, "input"))

    def _unseen(self, model_input: pd.DataFrame) -> list[str]:
        return missing_notes(model_input, self.schema, self.unseen_encoding)


def _as_frame(data: pd.DataFrame | list[dict[str, Any]] | dict[str, Any], source: str) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, dict):
        if data and all(isinstance(v, (list, tuple, np.ndarray, pd.Series)) for v in data.values()):
            return pd.DataFrame(data)  # a mapping of columns
        data = [data]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise InputError(f"{source}: records must be a DataFrame, a dict or a list of dicts", "pass {column: value} mappings")
    try:
        return pd.DataFrame.from_records(data) if data else pd.DataFrame()
    except UnicodeEncodeError:  # pandas' string columns (pyarrow) cannot hold a lone surrogate
        for row, record in enumerate(data):
            for column, value in record.items():
                if isinstance(value, str) and not is_valid_text(value):
                    raise invalid_text_error(source, str(column), value, row) from None
        raise


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
