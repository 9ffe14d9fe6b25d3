"""Log runs to MLflow and register bundles in its model registry.

MLflow's own default applies (``sqlite:///mlflow.db`` in the working
directory) unless ``MLFLOW_TRACKING_URI`` is set, so ``mlflow ui`` shows the
runs. The bundle is logged as artifacts and registered as a new version of a
registered model named after the recipe.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from shipyard.errors import ShipyardError


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
            mlflow.set_experiment(experiment)
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

    def log_run_files(self, run_path: Path, written: list[str], bundle_path: Path, model_name: str) -> None:
        """Log the files the stages wrote (and the resolved recipe), log the bundle, and register it as a model version.

        Parameters
        ----------
        run_path : Path
        written : list of str
            Run-directory names the stages wrote (:attr:`shipyard.stages.base.Stage.writes`);
            files are logged, folders are not (the bundle is logged on its own).
        bundle_path : Path
        model_name : str
            The registered model's name.
        """
        if self._mlflow is None:
            return
        mlflow = self._mlflow
        for name in ["recipe.yaml", *written]:
            if (run_path / name).is_file():
                mlflow.log_artifact(str(run_path / name))
        mlflow.log_artifacts(str(bundle_path), artifact_path="bundle")
        client = mlflow.MlflowClient()
        try:
            client.get_registered_model(model_name)
        except mlflow.exceptions.MlflowException:
            client.create_registered_model(model_name, description="Shipyard bundles (ONNX + manifest.json)")
        version = client.create_model_version(
            name=model_name, source=f"{mlflow.get_artifact_uri()}/bundle", run_id=self.run_id
        )
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
