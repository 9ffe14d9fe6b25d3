"""Where a text or image data source is, and its fingerprint.

Besides a path (relative to the recipe's folder) a source may be
``shared:FILE``: a file of the shared data folder, found in
``$SHIPYARD_SHARED_DATA`` or else in the nearest ``shared/data/`` folder above
the recipe's folder (or the working directory), so a recipe in a checkout
reads the same file wherever the checkout sits.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from shipyard.errors import DataError

SHARED = "shared:"
SHARED_ENV = "SHIPYARD_SHARED_DATA"


def shared_folder(base_dir: str | Path | None) -> Path | None:
    """The shared data folder: ``$SHIPYARD_SHARED_DATA``, else the nearest ``shared/data`` above ``base_dir`` or the working directory."""
    if os.environ.get(SHARED_ENV):
        return Path(os.environ[SHARED_ENV])
    for start in [Path(base_dir).resolve()] if base_dir is not None else []:
        for folder in [start, *start.parents]:
            if (folder / "shared" / "data").is_dir():
                return folder / "shared" / "data"
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if (folder / "shared" / "data").is_dir():
            return folder / "shared" / "data"
    return None


def resolve_source(source: str, base_dir: str | Path | None, must_exist: bool = True) -> Path:
    """The file or folder a recipe's ``data.source`` names.

    Parameters
    ----------
    source : str
        A path (relative to ``base_dir``) or ``shared:FILE``.
    base_dir : str or Path, optional
        The recipe's folder.
    must_exist : bool
        Raise when nothing is there.

    Raises
    ------
    DataError
        If the file or folder does not exist, or no shared data folder is found.
    """
    if source.startswith(SHARED):
        folder = shared_folder(base_dir)
        if folder is None:
            raise DataError(f"{source}: no shared data folder found", f"set {SHARED_ENV} to the folder holding the shared data files")
        path = folder / source.removeprefix(SHARED)
    else:
        path = Path(source)
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
    if must_exist and not path.exists():
        raise DataError(f"{path}: data file not found", "check data.source; relative paths are read from the recipe's folder")
    return path


def fingerprint(path: Path) -> str:
    """sha256 of a file's bytes, or of a folder's files (relative names and bytes, in sorted order)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode("utf-8") + b"\0")
        with open(file, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
