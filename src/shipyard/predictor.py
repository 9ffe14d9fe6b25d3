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
from shipyard.schema import Column, check_text, coerce_columns, coerce_records, invalid_text_error, is_valid_text, missing_notes, RangeCheck
from shipyard.serving.ood import OutOfDistribution
from shipyard.tasks import get_task

UNSEEN_ENCODING = {"onehot": "encoded as all zeros", "ordinal": "encoded as -1"}
"""How each categorical encoder (``prepare.encoder``) encodes a category not seen (or too rare) in training."""


@dataclass
class ModelInput:
    """Records coerced to the graph's inputs: one 1-D array per column, in schema order.

    Attributes
    ----------
    columns : dict of str to ndarray of shape (n_rows,)
        Keyed by ``Column.onnx_name``: float32 for numeric columns, object (str) for categorical.
        A text or image bundle has one entry, its graph input: token ids (n_rows, seq) or
        pixels (n_rows, channels, height, width).
    n_rows : int
    pad : optional
        The value that right-pads rows of different widths when inputs are stacked (a text bundle's pad id).
    notes : list of str
        Warnings found while preparing the records (e.g. a text truncated to the model's length).
    refused : dict of int to str
        Records found unpredictable while preparing them (row to why; e.g. pixel values outside the image range).
    """

    columns: dict[str, np.ndarray]
    n_rows: int
    pad: Any = None
    notes: list[str] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)

    def feed(self) -> dict[str, np.ndarray]:
        """The onnxruntime feed of a table graph: each column as shape (n_rows, 1)."""
        return {name: values.reshape(-1, 1) for name, values in self.columns.items()}

    @classmethod
    def concat(cls, inputs: list["ModelInput"]) -> "ModelInput":
        """Stack several inputs (of one schema) into one batch, rows in list order.

        Arrays of rows of different widths (token ids of texts of different
        lengths) are right-padded with ``pad`` to the widest. ``notes`` and
        ``refused`` stay with each request's own input.
        """
        if len(inputs) == 1:
            return inputs[0]
        first = inputs[0]
        columns = {}
        for name in first.columns:
            parts = [i.columns[name] for i in inputs]
            if parts[0].ndim == 2 and len({p.shape[1] for p in parts}) > 1:
                width = max(p.shape[1] for p in parts)
                parts = [np.pad(p, ((0, 0), (0, width - p.shape[1])), constant_values=first.pad) for p in parts]
            columns[name] = np.concatenate(parts)
        return cls(columns, sum(i.n_rows for i in inputs), first.pad)


DEFAULT_SESSION = {"intra_op_num_threads": 1, "inter_op_num_threads": 1, "graph_optimization_level": "ORT_ENABLE_ALL", "execution_mode": "ORT_SEQUENTIAL", "allow_spinning": False}
"""The onnxruntime session options of a Predictor unless told otherwise (recorded in ``Predictor.session_options``)."""


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
    decided: np.ndarray | None
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
    out_of_distribution : OutOfDistribution
        Marks the values of a :class:`ModelInput` far outside the training
        range (predicted, unlike values outside the accepted range).

    Raises
    ------
    BundleError
        If the bundle is missing or was modified after export.
    """

    modality = "tabular"
    """The bundle's input (the manifest's ``input``): ``tabular`` here; text and image bundles subclass this."""

    def __init__(self, path: str | Path, providers: list[str] | None = None, intra_op_threads: int = 1, allow_spinning: bool = False) -> None:
        self.path, self.manifest = read_manifest(path)
        self.labels = list(self.manifest["labels"])
        try:
            self.task = get_task(self.manifest.get("task", "classification"))
        except ShipyardError:
            raise BundleError(f"{self.path / 'manifest.json'}: unknown task {self.manifest.get('task')!r}", "restore the original manifest") from None
        decision = self.manifest.get("decision") or {}
        self.threshold: float | None = decision.get("threshold")
        self._read_inputs()
        self.model_sha256: str = self.manifest["files"][self.manifest["model_file"]]["sha256"]
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
        positive = self.manifest.get("positive_label")
        self.positive_index: int | None = [str(label) for label in self.labels].index(positive) if positive is not None else None

    def _read_inputs(self) -> None:
        """Read what the manifest says about the inputs: the columns, their accepted ranges and the encoder's rule for unseen categories."""
        self.schema = [Column.from_dict(c) for c in self.manifest["inputs"]]
        self.input_margin = (self.manifest.get("input_range") or {}).get("margin")  # builds the range check
        self.out_of_distribution = OutOfDistribution(self.schema)
        encoder = (self.manifest.get("preprocessing") or {}).get("encoder", "onehot")
        self.unseen_encoding = UNSEEN_ENCODING.get(encoder, "encoded as unseen")
        self._known = {c.onnx_name: frozenset(c.categories) for c in self.schema if c.is_text}

    def _check_graph_inputs(self) -> None:
        """The graph takes one (n, 1) input per listed column, float for numbers and string otherwise."""
        where = self.path / "manifest.json"
        graph_inputs = {i.name: i.type for i in self.session.get_inputs()}
        listed = {c.onnx_name: ("tensor(float)" if c.kind == "numeric" else "tensor(string)") for c in self.schema}
        if graph_inputs != listed:
            raise BundleError(
                f"{where}: its inputs do not match model.onnx's ({sorted(listed)} vs {sorted(graph_inputs)})",
                "restore the original manifest or re-run the recipe",
            )

    def _check_manifest_matches_graph(self) -> None:
        """The manifest is not hashed by itself; make sure it describes the graph it ships with."""
        where = self.path / "manifest.json"
        self._check_graph_inputs()
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

    @property
    def name(self) -> str:
        """The model's name (the recipe's)."""
        return self.manifest["name"]

    @property
    def sha256(self) -> str:
        """sha256 of the deployed (verified) graph file."""
        return self.model_sha256

    @property
    def version(self) -> str:
        """What identifies this model version in responses, logs and metrics: the manifest's ``version``, else the graph's sha256 prefix."""
        return str(self.manifest.get("version") or self.sha256[:12])

    @property
    def input_margin(self) -> float | None:
        """Training-range widths accepted beyond each numeric column's range (``export.input_range_margin``); None accepts every float32 value."""
        return self._range_check.margin

    @input_margin.setter
    def input_margin(self, margin: float | None) -> None:
        self._range_check = RangeCheck(self.schema, margin)

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
        return self._warned(self._checked(data, source)).output

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
        return self._warned(self._checked(data, source)).output

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
        found = self._checked(data, source)
        found.decided = self.decisions(found.output)
        return found

    def _checked(self, data: pd.DataFrame | list[dict[str, Any]] | dict[str, Any], source: str) -> Prediction:
        """:meth:`predict_records` without the decisions (``decided`` is None): what ``predict_proba`` needs."""
        model_input = self.prepare(data, source)
        output, errors = self.check(model_input, self.run(model_input))
        return Prediction(output, None, errors, self.warnings(model_input))

    def prepare(self, data: pd.DataFrame | list[dict[str, Any]] | dict[str, Any], source: str = "input") -> ModelInput:
        """Coerce raw records to the graph's inputs (the one coercion path of :mod:`shipyard.schema`).

        Records (dicts) are coerced column by column without building a
        DataFrame; a DataFrame's plain numeric columns are taken as one block.

        Raises
        ------
        InputError
            As :meth:`predict_records`.
        """
        if isinstance(data, dict) and not (data and all(isinstance(v, (list, tuple, np.ndarray, pd.Series)) for v in data.values())):
            data = [data]  # one record
        if isinstance(data, list) and all(isinstance(r, dict) for r in data):
            model_input = ModelInput(coerce_records(data, self.schema, source), len(data))
        else:
            frame = _as_frame(data, source)
            model_input = ModelInput(coerce_columns(frame, len(frame), self.schema, source), len(frame))
        check_text(model_input.columns, self.schema, source)
        return model_input

    def feed(self, model_input: ModelInput) -> dict[str, np.ndarray]:
        """The onnxruntime feed of prepared records (a table graph: each column as shape (n_rows, 1))."""
        return model_input.feed()

    def run(self, model_input: ModelInput) -> np.ndarray:
        """The graph's output for coerced inputs: probabilities (n_rows, n_classes) or values (n_rows,), unchecked."""
        (result,) = self.session.run([self.task.output], self.feed(model_input))
        return self.task.shape_output(result)

    def check(self, model_input: ModelInput, output: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
        """The output with NaN rows for records not predicted, and why each was not (outside the accepted range, a non-finite output)."""
        errors = self.refused(model_input)
        output = np.array(output, dtype=np.float32)
        if not np.isfinite(output).all():
            rows_ok = np.isfinite(output).reshape(len(output), -1).all(axis=1)
            for row in np.flatnonzero(~rows_ok):
                errors.setdefault(int(row), "the model's output is not finite (an overflow inside the graph); check the record's values")
        if errors:
            output[sorted(errors)] = np.nan
        return output, errors

    def refused(self, model_input: ModelInput) -> dict[int, str]:
        """Records not to predict, found before running the graph: a numeric value outside the accepted range (row to why)."""
        return self._range_check(model_input.columns)

    def _warned(self, found: Prediction) -> Prediction:
        if found.errors:
            shown = "; ".join(f"record {row}: {why}" for row, why in sorted(found.errors.items())[:3])
            python_warnings.warn(
                f"{len(found.errors)} of {len(found.output)} records could not be predicted (NaN rows): {shown}", RuntimeWarning, stacklevel=3
            )
        return found

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
        return self.warnings(self.prepare(data, "input"))

    def unseen(self, model_input: ModelInput) -> dict[str, int]:
        """How many values of each column the encoder cannot place (unseen categories, missing values training never had)."""
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
        """One message per (column, value) the encoder cannot place (:func:`shipyard.schema.missing_notes`)."""
        return missing_notes(model_input.columns, self.schema, self.unseen_encoding)

    def read_data(self, path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The records of a file for batch prediction (``shipyard predict``), and the columns the output file starts with.

        Each input column is read as training read it (:func:`shipyard.data.loading.load_records`);
        for a table both are the same frame.
        """
        from shipyard.data.loading import load_records

        frame = load_records(path, self.schema)
        return frame, frame

    def warmup_records(self) -> list[dict[str, Any]]:
        """Records that exercise every input path of the bundle: a typical one, one with every value missing, one with unseen categories.

        Numbers are the middle of the training range when the manifest records it
        (``min``/``max``), else 0.
        """
        typical, missing, unseen = {}, {}, {}
        for col in self.schema:
            if col.kind == "numeric":
                low, high = getattr(col, "min", None), getattr(col, "max", None)
                typical[col.name] = unseen[col.name] = (low + high) / 2 if low is not None and high is not None else 0.0
            elif col.kind == "boolean":
                typical[col.name], unseen[col.name] = True, False
            else:
                typical[col.name] = col.categories[0] if col.categories else None
                unseen[col.name] = "\u2063unseen\u2063"
            missing[col.name] = None
        return [typical, missing, unseen]

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


def load(path: str | Path, **options: Any) -> Predictor:
    """Load a bundle (or the bundle of a run directory) for prediction.

    Parameters
    ----------
    path : str or Path
        Bundle folder, run directory, or ``runs/<name>``.
    **options
        ``providers``, ``intra_op_threads``, ``allow_spinning`` of :class:`Predictor`.

    Returns
    -------
    Predictor
        With ``.predict(df)`` and ``.predict_proba(df)``.

    Examples
    --------
    >>> model = shipyard.load("runs/breast-cancer/latest")    # doctest: +SKIP
    >>> model.predict_proba(df)[:2]                           # doctest: +SKIP

    A text or image bundle (the manifest's ``input``) loads as a
    :class:`~shipyard.modalities.predictors.TextPredictor` or
    :class:`~shipyard.modalities.predictors.ImagePredictor`, with the same verbs.
    """
    _, manifest = read_manifest(path, verify=False)
    modality = manifest.get("input", "tabular")
    if modality != "tabular":
        from shipyard.modalities.predictors import PREDICTORS

        if modality not in PREDICTORS:
            raise BundleError(f"{path}: unknown input {modality!r} in manifest.json", "restore the original manifest or upgrade shipyard")
        return PREDICTORS[modality](path, **options)
    return Predictor(path, **options)
