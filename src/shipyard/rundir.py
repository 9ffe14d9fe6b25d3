"""The run directory: the single source of truth of one run (module ``rundir``, so ``shipyard.run`` stays the function).

Layout: ``<root>/<recipe name>/<UTC timestamp>/`` holding ``recipe.yaml``
(resolved, with defaults), ``run.json`` (status, timings, paths),
``metrics.json``, ``history.json`` and ``bundle/``. ``<root>/<name>/latest``
is a symbolic link to the newest *complete* run; a failed run never moves it.

``run.json`` records the process that runs it (``pid``, ``host`` and, where
the system tells, the process's start time). A process killed with SIGKILL
(or a machine that lost power) cannot write its own end, so every command
that meets a run still marked ``running`` checks that process
(:func:`reap_stale_runs`): when it is gone, the run is marked ``failed`` with
``killed: true`` and the reason, its MLflow run is ended as ``KILLED``, and a
warning says so (logger ``shipyard``).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from shipyard.errors import ShipyardError
from shipyard.jsonsafe import finite

LATEST = "latest"
RUN_JSON = "run.json"
log = logging.getLogger("shipyard")


def process_identity() -> dict[str, Any]:
    """``pid``, ``host`` and ``process_started`` (clock ticks since boot, Linux; None elsewhere) of this process, for ``run.json``."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "process_started": _started(os.getpid())}


def _started(pid: int) -> int | None:
    """Start time of a process in clock ticks since boot (``/proc/<pid>/stat`` field 22), or None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def process_gone(record: dict[str, Any]) -> bool:
    """Whether the process recorded in a ``run.json`` is known to have ended.

    False when it runs on another host (it cannot be checked from here) or
    when nothing was recorded. A pid reused by another process counts as
    gone when the recorded start time differs.
    """
    pid, host = record.get("pid"), record.get("host")
    if not isinstance(pid, int) or host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # exists, owned by someone else
    started = record.get("process_started")
    return started is not None and _started(pid) not in (None, started)


class RunDir:
    """One run's folder.

    Parameters
    ----------
    path : Path
        The run folder (``<root>/<name>/<timestamp>``).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, root: str | Path, name: str, **info: Any) -> "RunDir":
        """Make a new, empty run folder named by the current UTC time; ``info`` goes into ``run.json``."""
        parent = Path(root) / name
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ShipyardError(f"{root}: runs directory is a file, not a folder", "pass another --runs-dir") from None
        except PermissionError:
            raise ShipyardError(f"{root}: no permission to create run folders there", "pass another --runs-dir") from None
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        path, i = parent / stamp, 1
        while True:
            try:
                path.mkdir()
                break
            except FileExistsError:
                i += 1
                path = parent / f"{stamp}-{i}"
        run = cls(path)
        run.write_json(RUN_JSON, {"status": "running", "started": _now(), **info})
        reap_stale_runs(parent)
        return run

    @property
    def bundle(self) -> Path:
        """Where the bundle is written."""
        return self.path / "bundle"

    def write_json(self, name: str, data: Any) -> Path:
        """Write JSON atomically (NaN is written as null)."""
        target = self.path / name
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")  # per process: another command may reap this run at the same time
        tmp.write_text(json.dumps(finite(data), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, target)
        return target

    def read_json(self, name: str) -> Any:
        """Read a JSON file of this run."""
        return json.loads((self.path / name).read_text(encoding="utf-8"))

    def write_recipe(self, resolved: dict[str, Any]) -> Path:
        """Write the resolved recipe (every default filled in)."""
        target = self.path / "recipe.yaml"
        target.write_text(yaml.safe_dump(resolved, sort_keys=False), encoding="utf-8")
        return target

    def update(self, **info: Any) -> None:
        """Add or change fields of ``run.json`` (atomically)."""
        record = self.read_json(RUN_JSON)
        record.update(info)
        self.write_json(RUN_JSON, record)

    def reap(self) -> str | None:
        """Mark the run failed (killed) when it is recorded as running but its process is gone.

        The MLflow run recorded in ``run.json`` is ended as ``KILLED`` too
        (in the tracking store recorded there). ``latest`` is not touched.

        Returns
        -------
        str or None
            The warning to show, or None when the run was left as it is.
        """
        try:
            record = self.read_json(RUN_JSON)
        except (OSError, json.JSONDecodeError):
            return None
        if record.get("status") != "running" or not process_gone(record):
            return None
        reason = (
            f"its process (pid {record.get('pid')} on {record.get('host')}) ended without finishing it "
            "(killed, or the machine stopped)"
        )
        note = self._end_mlflow_run(record)
        self.update(status="failed", killed=True, error=reason, finished=_now(), **({"mlflow_note": note} if note else {}))
        message = f"{self.path}: marked failed: {reason}; resume it with 'shipyard run --resume {self.path}'"
        return message + (f" ({note})" if note else "")

    @staticmethod
    def _end_mlflow_run(record: dict[str, Any]) -> str | None:
        run_id = record.get("mlflow_run_id")
        if not run_id:
            return None
        try:
            from mlflow import MlflowClient

            MlflowClient(tracking_uri=record.get("mlflow_tracking_uri")).set_terminated(run_id, status="KILLED")
        except Exception as exc:  # noqa: BLE001  the store may be gone; the run folder is still marked
            return f"its MLflow run {run_id} could not be ended: {' '.join(str(exc).split())[:160]}"
        return None

    def finish(self, status: str, **info: Any) -> None:
        """Record the outcome; a ``"complete"`` run becomes ``latest``."""
        record = self.read_json(RUN_JSON)
        record.update(status=status, finished=_now(), **info)
        self.write_json(RUN_JSON, record)
        if status == "complete":
            link = self.path.parent / LATEST
            tmp = self.path.parent / f".{LATEST}.tmp"
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()
            tmp.symlink_to(self.path.name, target_is_directory=True)
            os.replace(tmp, link)


def resolve_run(path: str | Path) -> RunDir:
    """Return the run for a run folder or ``<root>/<name>`` (its latest run).

    Runs of the same recipe left ``running`` by a process that is gone are
    marked failed first (:func:`reap_stale_runs`).

    Raises
    ------
    ShipyardError
        If no run is found at ``path``.
    """
    path = Path(path)
    for candidate in (path, path / LATEST):
        if (candidate / RUN_JSON).is_file():
            run = RunDir(candidate.resolve())
            reap_stale_runs(run.path.parent)
            return run
    raise ShipyardError(f"{path}: not a run directory (no run.json)", "pass runs/NAME/latest or runs/NAME/<timestamp>")


def reap_stale_runs(path: str | Path) -> list[str]:
    """Mark every run near ``path`` that is ``running`` but whose process is gone as failed (killed), and warn.

    Parameters
    ----------
    path : str or Path
        A recipe's runs folder (``runs/<name>``), a run directory, or a
        bundle folder inside one: the runs of that recipe are checked.

    Returns
    -------
    list of str
        One warning per run marked (also logged to the ``shipyard`` logger).
    """
    path = Path(path)
    if path.name == "bundle" and (path.parent / RUN_JSON).is_file():
        path = path.parent
    if (path / RUN_JSON).is_file():
        path = path.resolve().parent
    if not path.is_dir():
        return []
    messages = []
    for child in sorted(path.iterdir()):
        if child.is_dir() and not child.is_symlink() and (child / RUN_JSON).is_file():
            message = RunDir(child).reap()
            if message:
                log.warning(message)
                messages.append(message)
    return messages


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
