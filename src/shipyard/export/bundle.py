"""Write and read bundles: a folder with ``manifest.json`` and ONNX model files.

The manifest holds the input schema, class labels, metrics, the sha256 of every
file and the library versions that made it. Reading a bundle verifies every
hash, so a modified file is refused, and refuses a file that is missing or that
the manifest does not list. No pickle is used anywhere.

The manifest is not hashed by itself; the fields of it that change a
prediction (:data:`PREDICTION_FIELDS`: task, labels, positive label, decision
threshold, temperature, input schema and accepted range, outputs, model file)
are also written, as canonical JSON, into the metadata of the hashed ONNX graph
(:data:`GRAPH_PREDICTION`), and :func:`prediction_mismatch` names any field an
edit made differ.
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
GRAPH_PREDICTION = "shipyard.prediction"
"""ONNX metadata key holding :func:`canonical_json` of the manifest's :data:`PREDICTION_FIELDS`."""
FORMAT = "shipyard-bundle/1"
PREDICTION_FIELDS = ("task", "model_file", "inputs", "input_range", "outputs", "labels", "positive_label", "decision", "calibration", "input", "text", "image")
"""Manifest fields that change what a bundle predicts; each is checked against the copy inside the hashed graph.

``input`` names a text or image bundle's modality and ``text`` / ``image`` hold
how its records become the graph's input (tokenizer settings; shape, pixel scale);
a table bundle has none of them (None on both sides)."""


def canonical_json(data: Any) -> str:
    """JSON with sorted keys, no spaces and ASCII only: equal data give equal text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def prediction_fields(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest's :data:`PREDICTION_FIELDS` (absent ones as None)."""
    return {key: manifest.get(key) for key in PREDICTION_FIELDS}


def prediction_mismatch(manifest: dict[str, Any], recorded: str) -> list[str]:
    """Names of the prediction fields whose manifest value differs from the copy recorded in the graph.

    Parameters
    ----------
    manifest : dict
        The bundle's manifest as read.
    recorded : str
        The graph's :data:`GRAPH_PREDICTION` metadata.

    Returns
    -------
    list of str
        Empty when the manifest describes the graph it ships with.
    """
    try:
        then = json.loads(recorded)
    except json.JSONDecodeError:
        return list(PREDICTION_FIELDS)
    now = prediction_fields(manifest)
    return [key for key in PREDICTION_FIELDS if canonical_json(now.get(key)) != canonical_json(then.get(key))]


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
        verify_files(folder, manifest)
    return folder, manifest


def verify_files(folder: Path, manifest: dict[str, Any]) -> None:
    """Check that the bundle holds exactly the files its manifest lists, each with its recorded size and sha256.

    Raises
    ------
    BundleError
        Naming the file: the model file is not listed, a listed file is
        missing or modified, a name leaves the folder, or a file in the
        folder is not listed.
    """
    where = folder / MANIFEST
    files = manifest.get("files")
    restore = "restore the original bundle or re-run the recipe"
    if not isinstance(files, dict) or not all(isinstance(e, dict) and isinstance(e.get("sha256"), str) for e in files.values()):
        raise BundleError(f"{where}: 'files' must map each file of the bundle to its sha256", restore)
    model_file = manifest.get("model_file")
    if not isinstance(model_file, str) or model_file not in files:
        raise BundleError(f"{folder / str(model_file)}: the model file is not listed in {MANIFEST} with its sha256", restore)
    root = folder.resolve()
    for name, entry in files.items():
        file = (folder / name).resolve()
        if file == root / MANIFEST or not file.is_relative_to(root):
            raise BundleError(f"{where}: lists {name!r}, which is not a file inside the bundle", restore)
        if not file.is_file():
            raise BundleError(f"{folder / name}: listed in the manifest but missing", "copy the whole bundle folder")
        if ("bytes" in entry and file.stat().st_size != entry["bytes"]) or sha256_file(file) != entry["sha256"]:
            raise BundleError(f"{folder / name}: sha256 does not match the manifest; the file was modified after export", restore)
    listed = {os.path.normpath(name) for name in files}
    for file in sorted(folder.rglob("*")):
        name = os.path.normpath(file.relative_to(folder))
        if (file.is_file() or file.is_symlink()) and name != MANIFEST and name not in listed:
            raise BundleError(
                f"{file}: in the bundle but not listed in {MANIFEST}; a bundle holds only the files it lists with their sha256",
                "remove the file, or re-export the bundle with 'shipyard run'",
            )
