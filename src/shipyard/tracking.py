"""Log runs to MLflow and register bundles in its model registry.

MLflow's own default applies (``sqlite:///mlflow.db`` in the working
directory) unless ``MLFLOW_TRACKING_URI`` is set, so ``mlflow ui`` shows the
runs. The bundle is logged as artifacts and as an MLflow model (a
``python_function`` flavor whose loader is Shipyard's predictor,
:mod:`shipyard.mlflow_pyfunc`; no pickle) with an input signature that is
checked to round-trip on a sample of training rows, and registered as a new
version of a registered model named after the recipe. Registration tolerates
another run creating the registered model at the same moment.
"""

from __future__ import annotations

import logging
import os
import random
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import ShipyardError

REGISTRATION_ATTEMPTS = 5
"""Tries of a registry write that a concurrent writer made fail (SQLite's lock, a version number taken)."""


class Tracker:
    """MLflow logging for one run; every method is a no-op when disabled.

    Parameters
    ----------
    enabled : bool
        False turns tracking off (``--no-track``).
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.run_id: str | None = None
        self.model_version: str | None = None
        self._mlflow = None

    def connect(self, experiment: str) -> None:
        """Reach the tracking store and select the experiment named after the recipe.

        Called before a run directory exists, so an unreachable store costs nothing.

        Raises
        ------
        ShipyardError
            If the store at ``MLFLOW_TRACKING_URI`` (or the default) cannot be used.
        """
        if not self.enabled:
            return
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        # Fail in seconds, not minutes, when a tracking server is down.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        import mlflow

        # MLflow sets its logger to INFO on import; its set-up chatter is not for the user.
        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)
        try:
            # Retried: two runs starting at once may both create a new store's tables or the experiment.
            _retry(lambda: mlflow.set_experiment(experiment), transient=_STARTUP_RACES)
        except Exception as exc:  # MLflow raises many kinds here: connection, permission, schema
            uri = mlflow.get_tracking_uri()
            reason = " ".join(str(exc).split())[:200]
            raise ShipyardError(
                f"MLflow tracking store {uri}: cannot be used ({reason})",
                "start the tracking server, fix or unset MLFLOW_TRACKING_URI, or pass --no-track",
            ) from None
        self._mlflow = mlflow

    def start(self, run_name: str, params: dict[str, Any], run_id: str | None = None) -> None:
        """Open an MLflow run (after :meth:`connect`) and log the flattened recipe as params.

        With ``run_id`` (a resumed run), that MLflow run is reopened and continues.
        """
        if self._mlflow is None:
            return
        mlflow = self._mlflow
        if run_id is not None:
            try:
                self.run_id = mlflow.start_run(run_id=run_id).info.run_id
                return
            except Exception:  # noqa: BLE001  the old run is gone (another store): start a new one
                pass
        run = mlflow.start_run(run_name=run_name)
        self.run_id = run.info.run_id
        flat = _flatten(params)
        items = list(flat.items())
        for i in range(0, len(items), 100):
            mlflow.log_params(dict(items[i : i + 100]))

    def log_epoch(self, entry: dict[str, float]) -> None:
        """Log one epoch's history entry with the epoch as step."""
        if self._mlflow is None:
            return
        step = int(entry["epoch"])
        self._mlflow.log_metrics({k: float(v) for k, v in entry.items() if k != "epoch"}, step=step)

    def log_metrics(self, metrics: dict[str, float], prefix: str) -> None:
        """Log final scalar metrics as ``<prefix>_<name>``."""
        if self._mlflow is None:
            return
        finite = {f"{prefix}_{k}": float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and v == v}
        self._mlflow.log_metrics(finite)

    @property
    def tracking_uri(self) -> str | None:
        """The tracking store in use (after :meth:`connect`), recorded in ``run.json``."""
        return None if self._mlflow is None else self._mlflow.get_tracking_uri()

    def log_run_files(self, run_path: Path, written: list[str]) -> None:
        """Log the files the stages wrote (and the resolved recipe) as artifacts of the MLflow run.

        Parameters
        ----------
        run_path : Path
        written : list of str
            Run-directory names the stages wrote (:attr:`shipyard.stages.base.Stage.writes`);
            files are logged, folders are not (the bundle is logged by :meth:`register_bundle`).
        """
        if self._mlflow is None:
            return
        for name in ["recipe.yaml", *written]:
            if (run_path / name).is_file():
                self._mlflow.log_artifact(str(run_path / name))

    def register_bundle(self, bundle_path: Path, model_name: str, sample: pd.DataFrame) -> None:
        """Log the bundle as an MLflow model, check it on training rows, and register it as a new model version.

        The model is a ``python_function`` flavor loaded by
        :func:`shipyard.mlflow_pyfunc._load_pyfunc` from its copy of the bundle
        (``loader_module=``/``data_path=``; no pickle), with the input signature
        of :func:`shipyard.mlflow_pyfunc.signature`. Before the version is
        created, the logged model is loaded back with
        ``mlflow.pyfunc.load_model`` and must predict ``sample`` (cast to the
        signature's types) exactly as the bundle does. The registered model is
        created if absent, tolerating another process creating it at the same
        moment; registry writes that a concurrent writer made fail are retried.

        Parameters
        ----------
        bundle_path : Path
        model_name : str
            The registered model's name.
        sample : DataFrame of shape (n_rows, n_columns)
            Raw training rows (input columns; missing values included).

        Raises
        ------
        ShipyardError
            If the logged model does not reproduce the bundle on ``sample``.
        """
        if self._mlflow is None:
            return
        from shipyard import mlflow_pyfunc
        from shipyard.predictor import load

        mlflow = self._mlflow
        mlflow.log_artifacts(str(bundle_path), artifact_path="bundle")
        predictor = load(bundle_path)
        if predictor.modality == "image":
            raise ShipyardError(
                f"{bundle_path}: an image bundle is logged as files; registering it as an MLflow model is not available yet "
                "(an MLflow signature has no column type for images)",
                "serve the bundle with shipyard serve",
            )
        typed = mlflow_pyfunc.as_signature_types(sample, predictor.schema)
        with warnings.catch_warnings():
            # The signature is checked below on training rows, more than an input example would check.
            warnings.filterwarnings("ignore", message=".*input example was not provided.*")
            info = mlflow.pyfunc.log_model(
                name="model",
                loader_module="shipyard.mlflow_pyfunc",
                data_path=str(bundle_path),
                signature=mlflow_pyfunc.signature(predictor.schema),
                pip_requirements=_requirements(),
            )
        check_round_trip(mlflow.pyfunc.load_model(info.model_uri), predictor, typed, info.model_uri)
        client = mlflow.MlflowClient()
        _retry(lambda: _create_if_absent(mlflow, client, model_name))
        version = _retry(lambda: client.create_model_version(name=model_name, source=info.model_uri, run_id=self.run_id, model_id=info.model_id))
        self.model_version = str(version.version)

    def end(self, status: str = "FINISHED") -> None:
        """Close the MLflow run with ``FINISHED`` or ``FAILED``."""
        if self._mlflow is None:
            return
        self._mlflow.end_run(status=status)
        self._mlflow = None


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = str(value)[:500]
    return out


def check_round_trip(model: Any, predictor: Any, typed: pd.DataFrame, uri: str) -> None:
    """Refuse a logged MLflow model that does not predict ``typed`` rows as the bundle does.

    Raises
    ------
    ShipyardError
        Naming the model URI and the first differing column.
    """
    got = model.predict(typed)
    want = predictor.predict_records(typed, source="training sample")
    if list(got["prediction"].astype(object).where(got["prediction"].notna(), None)) != [
        None if (v is None or v != v) else v for v in want.decided.tolist()
    ]:
        raise ShipyardError(f"{uri}: the logged MLflow model decides differently from the bundle on training rows", "report this with the recipe")
    for j, label in enumerate(predictor.labels):
        if not np.allclose(got[f"proba_{label}"].to_numpy(dtype=np.float64), want.output[:, j], equal_nan=True, atol=0.0):
            raise ShipyardError(f"{uri}: the logged MLflow model's proba_{label} differs from the bundle's on training rows", "report this with the recipe")


def _requirements() -> list[str]:
    """What loading the model needs (besides shipyard itself), pinned to the versions in use."""
    from importlib import metadata

    out = []
    for name in ("onnxruntime", "numpy", "pandas", "pyyaml"):
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return out


def _create_if_absent(mlflow: Any, client: Any, name: str) -> None:
    """Create the registered model unless it exists (another run may create it between any check and this call)."""
    from mlflow.protos.databricks_pb2 import ALREADY_EXISTS, RESOURCE_ALREADY_EXISTS, ErrorCode

    try:
        client.create_registered_model(name, description="Shipyard bundles (ONNX + manifest.json), loaded by shipyard.mlflow_pyfunc")
    except mlflow.exceptions.MlflowException as exc:
        if exc.error_code not in (ErrorCode.Name(RESOURCE_ALREADY_EXISTS), ErrorCode.Name(ALREADY_EXISTS)):
            raise


_WRITE_RACES = ("locked", "unique constraint", "integrityerror", "busy", "deadlock")
"""What a concurrent writer makes a store write fail with (a locked SQLite store, a version number just taken)."""
_STARTUP_RACES = _WRITE_RACES + ("alembic", "already exists", "schema")
"""... and what two processes creating a new store's tables (or one experiment) at once fail with."""


def _retry(write: Any, transient: tuple[str, ...] = _WRITE_RACES) -> Any:
    """Run a store write, retrying (with a random back-off) the failures a concurrent writer can cause."""
    for attempt in range(REGISTRATION_ATTEMPTS):
        try:
            return write()
        except Exception as exc:  # noqa: BLE001  MLflow wraps SQLAlchemy's errors in several ways
            text = str(exc).lower()
            if not any(word in text for word in transient) or attempt == REGISTRATION_ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1) + random.random() * 0.3)
    raise AssertionError("unreachable")
