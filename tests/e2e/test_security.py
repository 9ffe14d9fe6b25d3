"""Artifact security: tampered or incomplete artifacts are refused naming the file; bundle and run directory hold no pickle;
no raw training row reaches the bundle, the run directory or MLflow (a planted sentinel is searched for)."""

from __future__ import annotations

import json
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from typer.testing import CliRunner

import shipyard
from shipyard.cli import app
from shipyard.errors import BundleError

# --- tampering -------------------------------------------------------------------------------


def _append_byte(path: Path) -> None:
    with open(path, "ab") as fh:
        fh.write(b"\0")


def _edit_manifest(edit):
    def change(path: Path) -> None:
        manifest = json.loads(path.read_text())
        edit(manifest)
        path.write_text(json.dumps(manifest))

    return change


BUNDLE_TAMPERING = {
    "model file modified": ("model.onnx", _append_byte),
    "model file missing": ("model.onnx", Path.unlink),
    "manifest labels swapped": ("manifest.json", _edit_manifest(lambda m: m["labels"].reverse())),
    "manifest task changed": ("manifest.json", _edit_manifest(lambda m: m.update(task="regression"))),
    "manifest input dropped": ("manifest.json", _edit_manifest(lambda m: m["inputs"].pop())),
    "manifest missing": ("manifest.json", Path.unlink),
}


@pytest.mark.parametrize("case", list(BUNDLE_TAMPERING))
def test_a_tampered_or_incomplete_bundle_is_refused_naming_the_file(breast_cancer_run, tmp_path, case):
    name, tamper = BUNDLE_TAMPERING[case]
    bundle = tmp_path / "bundle"
    shutil.copytree(breast_cancer_run.bundle, bundle)
    tamper(bundle / name)
    with pytest.raises(BundleError) as caught:
        shipyard.load(bundle)
    assert name in str(caught.value)
    # The server refuses to start on it, with the same one-line error.
    outcome = CliRunner().invoke(app, ["serve", str(bundle), "--port", "1"])
    assert outcome.exit_code == 2 and name in outcome.output and "Traceback" not in outcome.output
    assert len(outcome.output.strip().splitlines()) == 1


RUN_TAMPERING = {
    "checkpoint weights modified": ("checkpoint/model.safetensors", _append_byte),
    "checkpoint description missing": ("checkpoint/checkpoint.json", Path.unlink),
    "preprocessor modified": ("preparation/preprocessor.skops", _append_byte),
    "split missing": ("preparation/split.npz", Path.unlink),
    "bundle model modified": ("bundle/model.onnx", _append_byte),
}


@pytest.mark.parametrize("case", list(RUN_TAMPERING))
def test_a_tampered_run_is_refused_by_the_stages_that_reload_it(breast_cancer_run, tmp_path, case):
    """`shipyard attack RUN` (and explain) rebuild the network and data from the run's files: each is verified first."""
    name, tamper = RUN_TAMPERING[case]
    run = tmp_path / "run"
    shutil.copytree(breast_cancer_run.path, run)
    tamper(run / name)
    for command in ("attack", "explain"):
        outcome = CliRunner().invoke(app, [command, str(run)])
        assert outcome.exit_code == 2, outcome.output
        assert Path(name).name in outcome.output and "Traceback" not in outcome.output
    assert (run / "attack.json").read_bytes() == (breast_cancer_run.path / "attack.json").read_bytes()  # nothing rewritten


# --- no pickle -------------------------------------------------------------------------------


def _npy_without_objects(data: bytes) -> bool:
    import io

    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    header = np.lib.format.read_array_header_1_0(stream) if version == (1, 0) else np.lib.format.read_array_header_2_0(stream)
    return not np.dtype(header[2]).hasobject


def _zip_is_pickle_free(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            data = archive.read(member)
            if member.endswith(".npy"):
                assert _npy_without_objects(data), f"{path}:{member} holds Python objects"
            else:
                assert member.endswith(".json"), f"{path}:{member} is neither JSON nor a numpy array"
                json.loads(data)


def _identify(path: Path) -> str:
    """Read each file as the format its name says, or fail: a pickle cannot pass as any of them."""
    suffix = path.suffix
    if suffix == ".json":
        json.loads(path.read_text(encoding="utf-8"))
    elif suffix in (".csv", ".yaml", ".html"):
        path.read_text(encoding="utf-8")
    elif suffix == ".onnx":
        onnx.checker.check_model(onnx.load(str(path)))
    elif suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as fh:
            assert list(fh.keys())
    elif suffix in (".skops", ".npz"):
        _zip_is_pickle_free(path)
    else:
        raise AssertionError(f"{path}: a file of unknown kind in a run directory")
    return suffix


def test_bundle_and_run_directory_hold_no_pickle(breast_cancer_run):
    files = [p for p in breast_cancer_run.path.rglob("*") if p.is_file()]
    kinds = {_identify(p) for p in files}
    assert {".json", ".onnx", ".safetensors", ".skops", ".npz", ".csv", ".html", ".yaml"} <= kinds
    assert sorted(p.name for p in breast_cancer_run.bundle.iterdir()) == ["manifest.json", "model.onnx"]
    # training_state.pt (torch.save, read back with weights_only=True) exists only while training.
    assert not (breast_cancer_run.path / "checkpoint" / "training_state.pt").exists()


# --- the sentinel ----------------------------------------------------------------------------

INTERIOR = 14.20230713  # inside the range of 'mean radius' (6.98 to 28.11)
EXTREME = 9876.54321  # far above every 'worst area' (at most 4254): it becomes that column's training maximum
CATEGORY = "zq-sentinel-7f3a9c"


def _patterns(value: float) -> dict[str, list[bytes]]:
    text = repr(value)
    return {
        # float64, float32 and float32's shortest decimal (the manifest's ranges: 9876.543 for 9876.54321)
        "text": [text[:9].encode(), repr(float(np.float32(value)))[:9].encode(), str(np.float32(value)).encode()],
        "binary": [struct.pack("<d", value), struct.pack("<f", value), struct.pack(">d", value), struct.pack(">f", value)],
    }


def _where(root: Path, needles: list[bytes]) -> list[str]:
    """Files under ``root`` (and members of zip files) holding any of ``needles``."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        blobs = {str(path.relative_to(root)): data}
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                blobs.update({f"{path.relative_to(root)}:{m}": archive.read(m) for m in archive.namelist()})
        found += [name for name, blob in blobs.items() if any(n in blob for n in needles)]
    return found


def _json_keys_holding(path: Path, match) -> set[str]:
    """The keys (last path element) under which a JSON file holds a value that ``match`` accepts."""
    return _json_keys_holding_text(path.read_text(encoding="utf-8"), match)


def _json_keys_holding_text(text: str, match) -> set[str]:
    """The keys (last path element) under which JSON text holds a value that ``match`` accepts."""
    keys: set[str] = set()

    def walk(node, key):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif match(node):
            keys.add(key)

    walk(json.loads(text), None)
    return keys


@pytest.fixture(scope="module")
def sentinel_run(tmp_path_factory):
    """A tracked run on breast_cancer plus a categorical column, with three sentinels planted in training rows."""
    from sklearn.datasets import load_breast_cancer

    from shipyard.data.preparation import load_and_split
    from shipyard.recipe import recipe_from_dict

    root = tmp_path_factory.mktemp("sentinel")
    bunch = load_breast_cancer(as_frame=True)
    clean = bunch.data.copy()
    clean["site"] = np.random.default_rng(0).choice(["north", "south", "east"], size=len(clean))
    clean["diagnosis"] = np.where(bunch.target == 1, "benign", "malignant")
    raw = {
        "name": "sentinel",
        "data": {"source": "data.csv", "target": "diagnosis"},
        "model": {"hidden_sizes": [16]},
        "train": {"epochs": 15},
        "evaluate": {"bootstrap": {"samples": 50}},
        "explain": {"samples": 30, "background": 30},
        "attack": {"epsilons": [0, 0.25], "l2_epsilons": [0, 1.0]},
    }
    for candidate in range(40):  # plant in a row that the split puts in training
        frame = clean.copy()
        frame.loc[candidate, "mean radius"] = INTERIOR
        frame.loc[candidate + 1, "worst area"] = EXTREME
        frame.loc[candidate + 2, "site"] = CATEGORY
        frame.to_csv(root / "data.csv", index=False)
        recipe = recipe_from_dict(raw, base_dir=root)
        train = set(load_and_split(recipe).split.train.tolist())
        if {candidate, candidate + 1, candidate + 2} <= train:
            break
    else:  # pragma: no cover
        pytest.fail("no three consecutive training rows to plant the sentinels in")
    mp = pytest.MonkeyPatch()
    mp.chdir(root)  # MLflow writes its artifacts under the working directory
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    try:
        result = shipyard.run(recipe, runs_dir=root / "runs", track=True, progress=False)
    finally:
        mp.undo()
    return root, result, candidate


def test_no_training_row_reaches_the_bundle_the_run_directory_or_mlflow(sentinel_run):
    """A value of one training row must not appear anywhere: not in the bundle, the run files, MLflow's artifacts or database."""
    root, result, _ = sentinel_run
    patterns = _patterns(INTERIOR)
    assert (root / "mlruns").is_dir() and (root / "mlflow.db").is_file()
    for place in (result.path, root / "mlruns"):
        assert _where(place, patterns["text"] + patterns["binary"]) == [], place
    assert not any(n in (root / "mlflow.db").read_bytes() for n in patterns["text"] + patterns["binary"])


def test_a_training_extreme_appears_only_as_the_documented_range(sentinel_run):
    """min and max are aggregates of one row each: they are written on purpose (the accepted input range and the
    server's out-of-distribution marking, the data profile), as 'min'/'max' fields of JSON (files, or the graph's
    metadata copy of the manifest's prediction fields) and nowhere else."""
    root, result, _ = sentinel_run
    patterns = _patterns(EXTREME)
    found = _where(result.path, patterns["text"] + patterns["binary"]) + _where(root / "mlruns", patterns["text"] + patterns["binary"])
    assert found, "the training maximum is expected in the range fields"
    needles = patterns["text"] + patterns["binary"]
    is_extreme = lambda v: isinstance(v, float) and abs(v - EXTREME) < 1e-3  # noqa: E731
    for name in found:
        path = (result.path / name) if (result.path / name).is_file() else next((root / "mlruns").rglob(Path(name).name))
        if name.endswith(".onnx"):
            # The graph carries the manifest's prediction fields (the input ranges among them) as JSON metadata,
            # so that an edited manifest is caught; the graph itself holds no such value.
            model = onnx.load(str(path))
            for prop in model.metadata_props:
                if any(n in prop.value.encode() for n in needles):
                    keys = _json_keys_holding_text(prop.value, is_extreme)
                    assert keys <= {"min", "max"}, (name, prop.key, keys)
            del model.metadata_props[:]
            assert not any(n in model.SerializeToString() for n in needles), name
            continue
        assert name.endswith(".json"), name
        keys = _json_keys_holding(path, is_extreme)
        assert keys <= {"min", "max"}, (name, keys)
    manifest = json.loads((result.bundle / "manifest.json").read_text())
    worst_area = next(c for c in manifest["inputs"] if c["name"] == "worst area")
    assert worst_area["max"] == float(str(np.float32(EXTREME)))  # as the graph's float32 input reads it, shortest decimal


def test_a_training_category_appears_only_as_vocabulary(sentinel_run):
    """Categories seen in training are the model's vocabulary (the one-hot encoder needs them, the server warns about
    unseen ones): they are in the schema, the graph and the fitted encoder, never in row-level files."""
    root, result, _ = sentinel_run
    needle = [CATEGORY.encode()]
    found = set(_where(result.path, needle))
    vocabulary = {
        "bundle/manifest.json",
        "bundle/model.onnx",
        "preparation/preparation.json",
        "preparation/preprocessor.skops",
        "data_summary.json",
    }
    skops_members = {n for n in found if n.startswith("preparation/preprocessor.skops:")}
    assert found - skops_members <= vocabulary, found
    for name in found & {"bundle/manifest.json", "preparation/preparation.json", "data_summary.json"}:
        assert _json_keys_holding(result.path / name, lambda v: v == CATEGORY) == {"categories"}, name
    for row_file in ("predictions.csv", "explain.json", "attack.json", "data_profile.json", "metrics.json", "history.json", "report.html"):
        assert row_file not in found
    mlflow_found = _where(root / "mlruns", needle)
    assert all(n.endswith(("manifest.json", "model.onnx", "data_summary.json")) for n in mlflow_found), mlflow_found


def test_row_level_files_hold_test_rows_only(sentinel_run):
    """predictions.csv and explain.json describe test rows (held out, the rows a user evaluates on), never training rows."""
    _, result, candidate = sentinel_run
    with np.load(result.path / "preparation" / "split.npz") as split:
        test, train = set(split["test"].tolist()), set(split["train"].tolist())
    rows = set(pd.read_csv(result.path / "predictions.csv")["row"].tolist())
    assert rows == test and not rows & train
    explained = json.loads((result.path / "explain.json").read_text())
    assert max(explained["shap"]["rows"]) < len(test) and isinstance(explained["local"]["row"], int)
    assert candidate in train
