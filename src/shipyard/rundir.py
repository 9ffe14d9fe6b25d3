"""The run directory: the single source of truth of one run (module ``rundir``, so ``shipyard.run`` stays the function).

Layout: ``<root>/<recipe name>/<UTC timestamp>/`` holding ``recipe.yaml``
(resolved, with defaults), ``run.json`` (status, timings, paths),
``metrics.json``, ``history.json`` and ``bundle/``. ``<root>/<name>/latest``
is a symbolic link to the newest *complete* run; a failed run never moves it.
"""

from __future__ import annotations

import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from shipyard.errors import ShipyardError

LATEST = "latest"


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
        run.write_json("run.json", {"status": "running", "started": _now(), **info})
        return run

    @property
    def bundle(self) -> Path:
        """Where the bundle is written."""
        return self.path / "bundle"

    def write_json(self, name: str, data: Any) -> Path:
        """Write JSON atomically (NaN is written as null)."""
        target = self.path / name
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(_finite(data), indent=2) + "\n", encoding="utf-8")
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
        record = self.read_json("run.json")
        record.update(info)
        self.write_json("run.json", record)

    def finish(self, status: str, **info: Any) -> None:
        """Record the outcome; a ``"complete"`` run becomes ``latest``."""
        record = self.read_json("run.json")
        record.update(status=status, finished=_now(), **info)
        self.write_json("run.json", record)
        if status == "complete":
            link = self.path.parent / LATEST
            tmp = self.path.parent / f".{LATEST}.tmp"
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()
            tmp.symlink_to(self.path.name, target_is_directory=True)
            os.replace(tmp, link)


def resolve_run(path: str | Path) -> RunDir:
    """Return the run for a run folder or ``<root>/<name>`` (its latest run).

    Raises
    ------
    ShipyardError
        If no run is found at ``path``.
    """
    path = Path(path)
    for candidate in (path, path / LATEST):
        if (candidate / "run.json").is_file():
            return RunDir(candidate.resolve())
    raise ShipyardError(f"{path}: not a run directory (no run.json)", "pass runs/NAME/latest or runs/NAME/<timestamp>")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _finite(data: Any) -> Any:
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(v) for v in data]
    return data
