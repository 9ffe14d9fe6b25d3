"""Explain stage: SHAP values, permutation importance and a surrogate tree, written to ``explain.json``.

Runs inside the pipeline on the in-memory network, or alone on a finished run
or a bundle (``shipyard explain RUN_OR_BUNDLE``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from shipyard.errors import DataError, ShipyardError
from shipyard.explain import Model, check_row, explain
from shipyard.recipe import Recipe, recipe_from_dict
from shipyard.rundir import RunDir
from shipyard.schema import coerce
from shipyard.stages.prepare import Prepared, fit_preprocessing, load_and_split
from shipyard.stages.train import predict_proba_torch

EXPLAIN = "explain.json"
WEIGHTS = "model.pt"
"""The trained network's ``state_dict`` in the run directory (read with ``weights_only=True``); not part of the bundle."""


def network_model(recipe: Recipe, prepared: Prepared, network: torch.nn.Module) -> Model:
    """Wrap a run's preprocessing and PyTorch network as a :class:`~shipyard.explain.Model`."""
    pre = prepared.preprocessor
    task = getattr(recipe, "task", "classification")

    def predict(frame: pd.DataFrame) -> np.ndarray:
        X = pre.transform(frame).astype(np.float32)
        if task == "regression":
            with torch.no_grad():
                return network(torch.from_numpy(X)).numpy().reshape(-1).astype(np.float64)
        return predict_proba_torch(network, X)

    labels = [str(v) for v in prepared.labels] if task == "classification" else None
    return Model(prepared.schema, predict, task, labels, prepared.positive_index, network, pre)


def check_explain(recipe: Recipe, prepared: Prepared) -> None:
    """Raise before any training when ``explain.row`` is not a test-row position (a no-op when explain is off)."""
    if recipe.explain.enabled:
        check_row(recipe.explain.row, len(prepared.split.test), "explain.row")


def explain_run(
    recipe: Recipe, prepared: Prepared, network: torch.nn.Module, run_dir: RunDir, row: int | None = None, record: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Explain the network of a run on its test split and write ``explain.json``.

    ``record`` (raw column values, e.g. parsed from ``--record JSON``) is
    explained locally instead of a test row.

    Raises
    ------
    ShipyardError
        If ``row`` is not a test-row position; InputError if ``record`` does not match the input schema.
    """
    spec = recipe.explain
    test = prepared.model_input.iloc[prepared.split.test]
    train = prepared.model_input.iloc[prepared.split.train]
    what = "explain.row" if row is None else "--row"
    row = spec.row if row is None else row
    check_row(row, len(test), what)
    result = explain(
        network_model(recipe, prepared, network),
        test,
        prepared.y[prepared.split.test],
        train,
        samples=spec.samples,
        background=spec.background,
        repeats=spec.permutation_repeats,
        depth=spec.surrogate_depth,
        row=row,
        seed=recipe.seed,
        record=None if record is None else coerce(pd.DataFrame([record]), prepared.schema, "--record"),
    )
    result["source"] = "run"
    run_dir.write_json(EXPLAIN, result)
    return result


def load_run_network(run: RunDir) -> tuple[Recipe, Prepared, torch.nn.Module]:
    """Rebuild a finished run's data split, preprocessing and trained network.

    The split and the preprocessing are refitted from the run's resolved recipe
    (deterministic for the same seed); the weights come from ``model.pt``.

    Raises
    ------
    ShipyardError
        If the run has no saved weights.
    """
    from shipyard.evaluation.calibration import TemperatureScaled
    from shipyard.models import build_model

    raw = run.path / "recipe.yaml"
    import yaml

    # Relative data paths resolve against the original recipe's folder, recorded in run.json.
    base_dir = Path(run.read_json("run.json").get("recipe_dir") or Path.cwd())
    recipe = recipe_from_dict(yaml.safe_load(raw.read_text(encoding="utf-8")), source=str(raw), base_dir=base_dir)
    weights = run.path / WEIGHTS
    if not weights.is_file():
        raise ShipyardError(f"{weights}: the run has no saved network weights", "re-run the recipe with this version of shipyard, or explain its bundle with --data")
    prepared = load_and_split(recipe)
    fit_preprocessing(recipe, prepared)
    n_out = 1 if getattr(recipe, "task", "classification") == "regression" else len(prepared.labels)
    network = build_model(recipe.model, prepared.X["train"].shape[1], n_out)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    if "inv_temperature" in state:
        network = TemperatureScaled(network, 1.0)
    network.load_state_dict(state)
    return recipe, prepared, network.eval()


def explain_bundle(bundle: str | Path, data: Path, target: str | None, row: int, samples: int = 200, background: int = 100, seed: int = 0) -> dict[str, Any]:
    """Explain a bundle's ONNX model on a file of records with the model-agnostic explainer.

    The records are both the rows explained and the SHAP background (a
    bundle holds no training data); with ``target``, permutation importance
    is computed too.

    Raises
    ------
    BundleError
        If the bundle is missing or was modified (sha256 mismatch).
    DataError
        If ``target`` is not a column of ``data`` or holds labels the bundle does not know.
    """
    from shipyard.data.loading import load_table
    from shipyard.predictor import Predictor

    predictor = Predictor(bundle)
    frame = load_table(str(data))
    task = predictor.manifest.get("task", "classification")
    y = None
    if target is not None:
        if target not in frame.columns:
            raise DataError(f"{data}: target column '{target}' not found", f"columns are: {', '.join(map(str, frame.columns))}")
        if task == "regression":
            y = frame[target].to_numpy(dtype=np.float64)
        else:
            names = [str(v) for v in predictor.labels]
            unknown = sorted(set(frame[target].astype(str)) - set(names))
            if unknown:
                raise DataError(f"{data}: column '{target}' holds labels the model does not know: {unknown[:5]}", f"the model's labels are {names}")
            y = frame[target].astype(str).map({n: i for i, n in enumerate(names)}).to_numpy()
    model_input = coerce(frame, predictor.schema, str(data))
    check_row(row, len(model_input), "--row", str(data))
    schema = predictor.schema

    def predict(coerced: pd.DataFrame) -> np.ndarray:
        from shipyard.schema import onnx_feed

        (out,) = predictor.session.run([predictor.session.get_outputs()[0].name], onnx_feed(coerced, schema))
        return out.reshape(-1).astype(np.float64) if task == "regression" else out

    pos = predictor.manifest.get("positive_label")
    labels = [str(v) for v in predictor.labels] if task != "regression" else None
    model = Model(schema, predict, task, labels, None if pos is None else labels.index(str(pos)))
    result = explain(model, model_input, y, model_input, samples=samples, background=background, row=row, seed=seed)
    result["source"] = f"bundle {predictor.path} on {data}"
    return result


def write_explain(path: Path, result: dict[str, Any]) -> Path:
    """Write an explanation as JSON, atomically, NaN as null (as every run file)."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return RunDir(path.parent).write_json(path.name, result)
