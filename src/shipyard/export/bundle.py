"""Write and read bundles: a folder with ``manifest.json`` and ONNX model files.

The manifest holds the input schema, class labels, metrics, the sha256 of every
file and the library versions that made it. Reading a bundle verifies every
hash, so a modified file is refused. No pickle is used anywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from shipyard.errors import BundleError

MANIFEST = "manifest.json"
GRAPH_LABELS = "shipyard.labels"
"""ONNX metadata key holding the class labels (JSON list of str), checked against the manifest on load."""
GRAPH_TASK = "shipyard.task"
FORMAT = "shipyard-bundle/1"


def sha256_file(path: Path) -> str:
    """Return the hex sha256 digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of the libraries that make and run a bundle."""
    out = {}
    for name in ("shipyard", "torch", "onnx", "onnxruntime", "skl2onnx", "scikit-learn", "numpy", "pandas"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def write_bundle(directory: Path, files: dict[str, bytes], manifest: dict[str, Any]) -> Path:
    """Write a bundle atomically: into a temporary folder, then renamed.

    Parameters
    ----------
    directory : Path
        The bundle folder to create; an existing one is replaced whole (never half-written).
    files : dict of str to bytes
        File name to content (e.g. ``{"model.onnx": ...}``).
    manifest : dict
        Manifest fields; ``format``, ``created``, ``files`` and ``versions``
        are added here.

    Returns
    -------
    Path
        The bundle folder.
    """
    directory = Path(directory)
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    entries = {}
    for name, content in files.items():
        (partial / name).write_bytes(content)
        entries[name] = {"sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}
    full = {
        "format": FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **manifest,
        "files": entries,
        "versions": library_versions(),
    }
    (partial / MANIFEST).write_text(json.dumps(full, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    if directory.exists():
        previous = directory.with_name(directory.name + ".prev")
        shutil.rmtree(previous, ignore_errors=True)
        os.replace(directory, previous)
        os.replace(partial, directory)
        shutil.rmtree(previous, ignore_errors=True)
    else:
        os.replace(partial, directory)
    return directory


def resolve_bundle(path: str | Path) -> Path:
    """Return the bundle folder for a bundle path or a run directory.

    Parameters
    ----------
    path : str or Path
        A bundle folder (holding ``manifest.json``), a run directory (holding
        ``bundle/``), or ``runs/<name>`` (its ``latest`` run is used).

    Raises
    ------
    BundleError
        If no bundle is found there.
    """
    path = Path(path)
    for candidate in (path, path / "bundle", path / "latest" / "bundle"):
        if (candidate / MANIFEST).is_file():
            return candidate.resolve()
    if not path.exists():
        raise BundleError(f"{path}: no such file or directory", "pass a run directory (runs/NAME/latest) or a bundle folder")
    raise BundleError(f"{path}: no {MANIFEST} found here or in {path / 'bundle'}", "pass a run directory or a bundle folder made by 'shipyard run'")


def read_manifest(path: str | Path, verify: bool = True) -> tuple[Path, dict[str, Any]]:
    """Read a bundle's manifest and check every file's sha256.

    Parameters
    ----------
    path : str or Path
        Bundle folder or run directory (see :func:`resolve_bundle`).
    verify : bool
        Check sizes and hashes of the files listed in the manifest.

    Returns
    -------
    (Path, dict)
        The bundle folder and the parsed manifest.

    Raises
    ------
    BundleError
        If the manifest is unreadable, of another format, or a file is
        missing or does not match its recorded sha256.
    """
    folder = resolve_bundle(path)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{folder / MANIFEST}: not valid JSON ({exc})", "re-export the bundle with 'shipyard run'") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{folder / MANIFEST}: not a {FORMAT} manifest", "re-export the bundle with this version of shipyard")
    if verify:
        for name, entry in manifest.get("files", {}).items():
            file = folder / name
            if not file.is_file():
                raise BundleError(f"{file}: listed in the manifest but missing", "copy the whole bundle folder")
            if sha256_file(file) != entry["sha256"]:
                raise BundleError(
                    f"{file}: sha256 does not match the manifest; the file was modified after export",
                    "restore the original bundle or re-run the recipe",
                )
    return folder, manifest
