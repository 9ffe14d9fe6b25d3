"""The data pipeline: load, check, split and profile; fit preprocessing on the training split; save and rebuild it.

Every task goes through the same path (:func:`load_and_split`): the task
reads and checks the target and chooses the strata; rows with identical
feature values stay on one side of the split; the profile and its findings
run; dropped columns, the schema, the convertibility of every preprocessing
step and the coercion of every value are checked, all before a run directory
exists.

:func:`fit_preprocessing` fits imputers, scalers, encoders and the reducer on
the training rows only and builds the rows the network is fitted on.
:func:`save_preparation` writes the fitted preprocessing (``skops``, no
pickle) and the split to the run directory; :func:`load_prepared` rebuilds
the same :class:`~shipyard.data.prepared.Prepared` from them without refitting
anything, and refuses when the data file changed since the run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from shipyard.data.augment import augment
from shipyard.data.checks import select_columns
from shipyard.data.imbalance import categorical_blocks, check_sampler, resample
from shipyard.data.loading import load_table
from shipyard.data.prepared import PARTS, Prepared
from shipyard.data.preprocess import build_preprocessor, output_sources, record_categories
from shipyard.data.profile import check_findings, columns_to_drop, duplicate_key_columns, profile_table
from shipyard.data.reduce import build_reducer, fit_reducer
from shipyard.data.split import Split, choose_duplicates, row_hash, split_groups, stratified_split
from shipyard.data.transformers import check_convertible
from shipyard.errors import DataError
from shipyard.export.bundle import sha256_file
from shipyard.recipe import Recipe
from shipyard.schema import Column, coerce, infer_schema
from shipyard.tasks import get_task

PREPARATION = "preparation"
"""Folder of a run directory holding the fitted preprocessing and the split."""
PREPROCESSOR = "preprocessor.skops"
SPLIT = "split.npz"
INFO = "preparation.json"

TRUSTED_TYPES = [
    "numpy.dtype",
    "functools.partial",
    "shipyard.data.transformers.Winsorizer",
    "sklearn.feature_selection._mutual_info.mutual_info_classif",
]
"""Types beyond scikit-learn's own that a saved preprocessor may hold (skops refuses any other)."""


def data_fingerprint(frame: pd.DataFrame, source: str, base_dir: str | Path | None, others: list[str] | None = None, first: str | None = None) -> str:
    """sha256 of the data file's bytes, or of a built-in table's content (``sklearn:NAME``).

    Parameters
    ----------
    frame : DataFrame
        The loaded table (used for built-ins).
    source : str
        The recipe's ``data.source``.
    base_dir : str or Path, optional
        The recipe's folder (relative paths).
    others : list of str, optional
        The given ``data.validation`` / ``data.test`` files: the fingerprint
        then covers every file (sha256 of the files' digests, in order).
    first : str, optional
        The source's own fingerprint, when already computed.
    """
    if first is None and source.startswith("sklearn:"):
        first = hashlib.sha256(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes()).hexdigest()
    elif first is None:
        first = _file_sha256(source, base_dir)
    if not others:
        return first
    return hashlib.sha256("|".join([first] + [_file_sha256(o, base_dir) for o in others]).encode()).hexdigest()


def _file_sha256(source: str, base_dir: str | Path | None) -> str:
    path = Path(source)
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Loaded:
    """The rows of every data file of a recipe, one frame (source rows first), and where each came from.

    Attributes
    ----------
    frame : DataFrame
        ``data.source`` rows, then ``data.validation`` rows, then ``data.test`` rows.
    files : list of (str, int)
        Each file's role and row count, in frame order.
    given : dict of str to ndarray
        Positions of the parts read from their own files.
    readings : dict of str to dict
        Reading report of each file other than the source (the source's is ``frame.attrs["reading"]``).
    sha256 : str
        :func:`data_fingerprint` of all the files.
    """

    frame: pd.DataFrame
    files: list[tuple[str, int]]
    given: dict[str, np.ndarray]
    readings: dict[str, dict[str, Any]]
    sha256: str


def read_data(recipe: Recipe) -> Loaded:
    """Read ``data.source`` and any ``data.validation`` / ``data.test`` file the same way, and check that they agree.

    A given file is read with the kinds ``data.source`` was read as (so a
    code column stays text and a numeric column numeric), must hold the
    target and every feature column, and must not turn a numeric column into
    text. ``prepare.drop_duplicates`` drops exact copies within ``data.source``.

    Raises
    ------
    DataError
        Naming the file and the column for a missing column or a numeric
        column that holds text there.
    """
    spec = recipe.data
    frame = load_table(spec.source, recipe.base_dir, kinds=spec.types or None)
    source_sha256 = data_fingerprint(frame, spec.source, recipe.base_dir)
    reading = frame.attrs.get("reading")
    if recipe.prepare.drop_duplicates:
        features = select_columns(frame, spec.target, spec.features, spec.source)
        keys = duplicate_key_columns(frame, [f for f in features if f != spec.split.group], spec.types)
        keep = ~frame.duplicated(subset=keys + [spec.target])
        frame = frame.loc[keep].reset_index(drop=True)
        frame.attrs["dropped_duplicates"] = int((~keep).sum())
        if reading is not None:
            frame.attrs["reading"] = reading
    frames, files, readings, given = [frame], [("data.source", len(frame))], {}, {}
    kinds = {c: _kind_read(frame[c]) for c in frame.columns} | dict(spec.types)
    others = []
    for role in ("validation", "test"):
        path = getattr(spec, role)
        if path is None:
            continue
        key = f"data.{role}"
        other = load_table(path, recipe.base_dir, role=key, kinds=kinds)
        _check_same_columns(frame, other, spec, key, path)
        readings[key] = dict(other.attrs.get("reading") or {})
        readings[key]["extra_columns"] = [c for c in other.columns if c not in frame.columns]
        start = sum(k for _, k in files)
        given[role] = np.arange(start, start + len(other))
        frames.append(other.reindex(columns=frame.columns))  # columns the recipe does not use may be absent
        files.append((key, len(other)))
        others.append(path)
    sha256 = data_fingerprint(frame, spec.source, recipe.base_dir, others, first=source_sha256)
    if len(frames) > 1:
        combined = pd.concat(frames, ignore_index=True)
        combined.attrs = dict(frame.attrs)
        frame = combined
    return Loaded(frame, files, given, readings, sha256)


def _kind_read(values: pd.Series) -> str:
    """The kind a column of the source was read as (what a given file must be read as too)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return "boolean"
    return "numeric" if pd.api.types.is_numeric_dtype(values.dtype) else "categorical"


def _check_same_columns(source: pd.DataFrame, other: pd.DataFrame, spec: Any, key: str, path: str) -> None:
    """Name every way a given file's columns differ from data.source's that would make its rows unusable."""
    needed = [spec.target] + [c for c in (spec.features or source.columns) if c != spec.target]
    absent = [c for c in needed if c in source.columns and c not in other.columns]
    if absent:
        raise DataError(
            f"{key} {path}: column(s) {', '.join(repr(c) for c in absent)} of data.source are missing",
            f"its columns are: {', '.join(map(str, other.columns))}; the file must hold the same columns as data.source",
        )
    for item in (other.attrs.get("reading") or {}).get("mixed_types", []):
        column = item["column"]
        if column in needed and item.get("read_as") == "not numeric":
            raise DataError(
                f"{key} {path}: column '{column}' is numeric in data.source but holds text here, e.g. "
                + ", ".join(f"{v!r} (row {r})" for v, r in zip(item["examples"], item["rows"])),
                "the file must use the same kind of values as data.source",
            )


def load_and_split(recipe: Recipe) -> Prepared:
    """Load the data, check it can serve the task, encode the target, split rows and profile them.

    The split imitates how the model meets new data: rows of one entity
    (``data.split.group``) and, unless ``data.split.duplicates`` allows them
    apart, rows with identical feature values (identifier-like columns aside)
    are kept on the same side; given ``data.validation`` / ``data.test`` files
    are those parts. ``prepare.drop_duplicates`` drops exact duplicates first.
    Constant and identifier-like columns are dropped as configured, and
    findings whose severity is in ``prepare.fail_on`` stop the run.

    Raises
    ------
    RecipeError
        For options the task cannot honour, or a preprocessing step the bundle could not apply.
    DataError
        For missing files, absent columns, a target the task cannot use,
        empty features, classes too small to stratify, a value the model
        cannot take, a sampler that cannot run on the training rows, or a
        finding listed in ``prepare.fail_on``.
    """
    from shipyard.modalities import modality_of
    from shipyard.recipe import check_task_options

    check_task_options(recipe)
    modality = modality_of(recipe)
    if modality is not None:  # text or image input
        return modality.load_and_split(recipe)
    task = get_task(recipe.task)
    spec = recipe.data
    loaded = read_data(recipe)
    frame = loaded.frame
    for role, rows in loaded.given.items():  # a given file's target and features are checked like the source's
        select_columns(frame.iloc[rows].reset_index(drop=True), spec.target, spec.features, f"data.{role} {getattr(spec, role)}")
    features = select_columns(frame, spec.target, spec.features, spec.source, lambda values: task.read_target(values, recipe))
    if task.has_classes and loaded.given:
        n_source = loaded.files[0][1]
        known = set(frame[spec.target].iloc[:n_source].astype(str))
        for role, rows in loaded.given.items():
            new = sorted(set(frame[spec.target].iloc[rows].astype(str)) - known)
            if new:
                raise DataError(
                    f"data.{role} {getattr(spec, role)}: target column '{spec.target}' holds label(s) {', '.join(map(repr, new[:5]))} that data.source does not have",
                    f"data.source's labels are {', '.join(map(repr, sorted(known)[:10]))}; spell them the same way in every file",
                )
    group = spec.split.group
    if group is not None:
        if group not in frame.columns:
            raise DataError(f"data.split.group: column '{group}' not found", f"columns are: {', '.join(map(str, frame.columns))}")
        if frame[group].isna().any():
            raise DataError(
                f"data.split.group: column '{group}' has {int(frame[group].isna().sum())} missing value(s)",
                "every row needs its entity; fill them or drop those rows",
            )
        features = [f for f in features if f != group]
    keys = duplicate_key_columns(frame, features, spec.types)
    reading = frame.attrs.get("reading")  # the source's reading report (mixed-type columns, codes, format)
    dropped_duplicates = int(frame.attrs.get("dropped_duplicates", 0))
    target = task.read_target(frame[spec.target].reset_index(drop=True), recipe)
    n_source = loaded.files[0][1]
    duplicates = choose_duplicates(frame.iloc[:n_source], keys, spec.split.duplicates, recipe.seed)
    hashes = row_hash(frame, keys)
    copies = hashes if duplicates["policy"] == "group" and duplicates["repeated_rows"] else None  # unique rows need no grouping
    groups = split_groups(frame[group].astype(str).to_numpy(dtype=object) if group else None, copies)
    split = stratified_split(
        pd.Series(task.strata(target.y)), spec.split.validation, spec.split.test, recipe.seed, spec.target, groups=groups, given=loaded.given,
        names=list(target.labels) if task.has_classes else None,
    )
    split_info = {
        "duplicates": duplicates,
        "group": group,
        "given": {role: getattr(spec, role) for role in loaded.given},
        "stratified_by": "class" if task.has_classes else "quantile bins of the target",
    }
    profile = profile_table(
        frame,
        features,
        spec.target,
        target.y,
        split.train,
        {"train": split.train, "validation": split.validation, "test": split.test},
        task.leakage_limit(recipe),
        reading=reading,
        dropped_duplicates=dropped_duplicates,
        key_columns=keys,
        task=task,
        labels=target.labels,
        split_info=split_info,
        files=loaded.files,
        readings=loaded.readings,
        numeric_imputer=recipe.prepare.numeric_imputer,
        types=spec.types,
    )
    dropped = columns_to_drop(profile, recipe.prepare.drop_constant, recipe.prepare.drop_identifiers)
    if group is not None and spec.features is None:
        dropped[group] = "split group (data.split.group)"
    profile["dropped_columns"] = dropped
    check_findings(profile, recipe.prepare.fail_on, spec.source)
    features = [f for f in features if f not in dropped]
    if not features:
        raise DataError(
            f"{spec.source}: every feature column was dropped ({', '.join(f'{c}: {r}' for c, r in dropped.items())})",
            "set prepare.drop_constant or prepare.drop_identifiers to false, or add columns",
        )
    schema = infer_schema(frame, features, spec.types)
    # Refuse, before any run directory exists, a step the bundle could not apply.
    check_convertible(build_preprocessor(schema, recipe.prepare, seed=recipe.seed))
    reducer = build_reducer(recipe.prepare.reduce, 2, recipe.seed)
    if reducer is not None:
        check_convertible(reducer)
    if task.has_classes:
        check_sampler(recipe.imbalance.sampler, target.y[split.train], target.labels, recipe.imbalance.k_neighbors, schema, recipe.prepare.missing_indicator)
    # Coerce now, so a value the model cannot take (e.g. beyond float32) stops the run before it starts.
    model_input = coerce(frame, schema, spec.source)
    return Prepared(
        frame, features, schema, target.labels, target.positive_index, split, target.y,
        task=task.name, profile=profile, model_input=model_input, data_sha256=loaded.sha256, groups=groups, n_source=n_source,
    )


def fit_preprocessing(recipe: Recipe, prepared: Prepared) -> None:
    """Fit preprocessing on the training split, transform every split, and build the rows the network fits.

    Imputers, clipping limits, scalers, encoders and the reducer are fitted on
    the training rows only, and the schema records the categories and numeric
    ranges (``min``, ``max``) seen there; then :func:`apply_preprocessing`.

    Raises
    ------
    DataError
        If a sampler cannot run on the training rows or the reducer keeps no feature.
    """
    from shipyard.modalities import modality_of

    modality = modality_of(recipe)
    if modality is not None:  # text or image input
        return modality.fit(recipe, prepared)
    spec, seed = recipe.prepare, recipe.seed
    model_input = prepared.model_input if prepared.model_input is not None else coerce(prepared.frame, prepared.schema, recipe.data.source)
    prepared.model_input = model_input
    train_input = model_input.iloc[prepared.split.train]
    y_train = prepared.y[prepared.split.train]
    record_categories(prepared.schema, train_input)
    columns = build_preprocessor(prepared.schema, spec, train_input, seed)
    columns.fit(train_input, y_train)
    sources = output_sources(columns, prepared.schema)
    steps: dict[str, Any] = {
        "numeric_imputer": spec.numeric_imputer,
        "missing_indicator": spec.missing_indicator,
        "clip_quantile": spec.clip_quantile,
        "scaler": spec.scaler,
        "encoder": spec.encoder,
        "min_frequency": spec.min_frequency,
        "dropped_columns": (prepared.profile or {}).get("dropped_columns", {}),
        "n_encoded_features": len(sources),
    }
    reducer = build_reducer(spec.reduce, len(sources), seed)
    preprocessor: Any = columns
    if reducer is not None:
        encoded_train = columns.transform(train_input).astype(np.float32)
        steps["reduce"] = fit_reducer(reducer, encoded_train, y_train, sources, spec.reduce)
        preprocessor = Pipeline([("columns", columns), ("reduce", reducer)])
    check_convertible(preprocessor)
    prepared.preprocessor = preprocessor
    prepared.steps = steps
    apply_preprocessing(recipe, prepared)


def apply_preprocessing(recipe: Recipe, prepared: Prepared) -> None:
    """Transform every split with the fitted ``prepared.preprocessor`` and build ``X_fit`` / ``y_fit``.

    The sampler (``imbalance.sampler``) and augmentation (``prepare.augment``)
    add or remove rows of the training split only, in the encoded feature
    space before any reduction (seeded, so the same run gives the same rows);
    validation and test rows are only transformed.
    """
    seed, task = recipe.seed, get_task(recipe.task)
    preprocessor = prepared.preprocessor
    columns, reducer = (preprocessor.named_steps["columns"], preprocessor.named_steps["reduce"]) if isinstance(preprocessor, Pipeline) else (preprocessor, None)
    if prepared.model_input is None:
        prepared.model_input = coerce(prepared.frame, prepared.schema, recipe.data.source)
    encoded = {part: columns.transform(prepared.model_input.iloc[getattr(prepared.split, part)]).astype(np.float32) for part in PARTS}
    reduce = (lambda X: reducer.transform(X).astype(np.float32)) if reducer is not None else (lambda X: X)
    X_fit, y_fit = encoded["train"], prepared.y[prepared.split.train]
    imbalance = recipe.imbalance
    if imbalance.sampler != "none":
        before = np.bincount(y_fit, minlength=len(prepared.labels))
        X_fit, y_fit, _ = resample(
            X_fit, y_fit, imbalance.sampler, prepared.labels, imbalance.k_neighbors, imbalance.sampling_strategy, seed, categorical_blocks(columns)
        )
        after = np.bincount(y_fit, minlength=len(prepared.labels))
        prepared.steps["sampler"] = {
            "method": imbalance.sampler,
            "class_counts_before": {str(l): int(n) for l, n in zip(prepared.labels, before)},
            "class_counts_after": {str(l): int(n) for l, n in zip(prepared.labels, after)},
        }
    aug = recipe.prepare.augment
    if aug.method != "none":
        numeric = np.zeros(encoded["train"].shape[1], dtype=bool)
        if "numeric" in columns.output_indices_:
            numeric[columns.output_indices_["numeric"]] = True
        n_before = len(X_fit)
        X_fit, y_fit = augment(X_fit, y_fit, aug.method, aug.multiplier, seed, aug.noise_std, aug.mixup_alpha, numeric, classes=task.has_classes)
        prepared.steps["augment"] = {"method": aug.method, "rows_before": n_before, "rows_added": len(X_fit) - n_before}
    for part in PARTS:
        prepared.X[part] = reduce(encoded[part])
    prepared.X_fit = reduce(np.asarray(X_fit, dtype=np.float32))
    prepared.y_fit = np.asarray(y_fit)


def data_summary(recipe: Recipe, prepared: Prepared) -> dict[str, Any]:
    """Rows, columns and their kinds, split sizes, the target's distribution, and what preprocessing did."""
    from shipyard.modalities import modality_of

    modality = modality_of(recipe)
    if modality is not None:  # text or image input
        return modality.summary(recipe, prepared)
    task = get_task(recipe.task)
    summary: dict[str, Any] = {
        "source": recipe.data.source,
        "rows": len(prepared.frame),
        "target": recipe.data.target,
        "task": task.name,
        "columns": [c.to_dict() | {"missing": int(prepared.frame[c.name].isna().sum())} for c in prepared.schema],
        "split": prepared.split.sizes(),
        "n_features_after_preprocessing": int(prepared.X["train"].shape[1]),
        "rows_fitted_by_network": int(len(prepared.y_fit)) if prepared.y_fit is not None else len(prepared.split.train),
        "preprocessing": prepared.steps,
    }
    from shipyard.tasks import Target

    described, _ = task.describe_target(Target(prepared.y, prepared.labels, prepared.positive_index), recipe.data.target)
    if "class_counts" in described:
        summary["class_counts"] = {str(label): int(n) for label, n in zip(prepared.labels, described["class_counts"])}
    else:
        summary.update(described)
    return summary


def save_preparation(run_path: str | Path, recipe: Recipe, prepared: Prepared) -> Path:
    """Write the fitted preprocessing (skops), the split (npz, no pickle) and what rebuilds the data (JSON).

    Returns
    -------
    Path
        The ``preparation/`` folder of the run.
    """
    import skops.io as sio

    from shipyard.modalities import modality_of

    modality = modality_of(recipe)
    if modality is not None:  # text or image input
        return modality.save(run_path, recipe, prepared)
    folder = Path(run_path) / PREPARATION
    folder.mkdir(parents=True, exist_ok=True)
    sio.dump(prepared.preprocessor, folder / PREPROCESSOR)
    write_preparation_info(folder, recipe, prepared, (PREPROCESSOR,), {"schema": [c.to_dict() for c in prepared.schema]})
    return folder


def write_preparation_info(folder: Path, recipe: Recipe, prepared: Prepared, files: tuple[str, ...], extra: dict[str, Any]) -> None:
    """Write the split (``split.npz``, no pickle) and ``preparation.json``, the JSON last and atomically.

    ``preparation.json`` holds what rebuilds the data (source, its sha256,
    task, features, labels, steps), ``extra`` (e.g. the schema, or a
    modality's name and statistics) and the sha256 of each of ``files``
    (already written in ``folder``) and of the split, which
    :func:`verify_files` checks when the run is read again.
    """
    split = prepared.split
    np.savez(folder / SPLIT, train=split.train, validation=split.validation, test=split.test)
    info = {
        "source": recipe.data.source,
        "data_sha256": prepared.data_sha256,
        "task": prepared.task,
        "features": prepared.features,
        "labels": [label.item() if isinstance(label, np.generic) else label for label in prepared.labels],
        "positive_index": prepared.positive_index,
        "rows": int(len(prepared.frame)),
        "steps": prepared.steps,
        **extra,
        "files": {name: {"sha256": sha256_file(folder / name)} for name in (*files, SPLIT)},
    }
    tmp = folder / (INFO + ".tmp")
    tmp.write_text(json.dumps(info, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(folder / INFO)


def read_split(folder: Path) -> Split:
    """The train / validation / test row indices saved in ``folder/split.npz``."""
    with np.load(folder / SPLIT, allow_pickle=False) as parts:
        return Split(parts["train"], parts["validation"], parts["test"])


def check_unchanged(run_path: str | Path, source: str, sha256: str) -> None:
    """Refuse data whose fingerprint differs from the one a run was prepared on (nothing to compare: no-op).

    Raises
    ------
    DataError
        Naming the data source and both fingerprints.
    """
    info_file = Path(run_path) / PREPARATION / INFO
    if not info_file.is_file():
        return
    then = json.loads(info_file.read_text(encoding="utf-8"))["data_sha256"]
    if sha256 != then:
        raise DataError(
            f"{source}: the data changed since the run (sha256 {sha256[:12]}... now, {then[:12]}... then)",
            "restore the file the run was trained on, or re-run the recipe on the new data",
        )


def verify_files(folder: Path, info: dict[str, Any], names: tuple[str, ...] = (PREPROCESSOR, SPLIT)) -> None:
    """Check the saved files (the preprocessor and split by default) against the sha256 recorded in ``preparation.json``.

    Raises
    ------
    DataError
        Naming the file that is missing or was modified since the run.
    """
    for name in names:
        path = folder / name
        if not path.is_file():
            raise DataError(f"{path}: the run's saved preparation is missing this file", "re-run the recipe")
        expected = info.get("files", {}).get(name, {}).get("sha256")
        if expected is not None and sha256_file(path) != expected:
            raise DataError(f"{path}: sha256 does not match {INFO}; the file was modified after the run", "restore the run directory or re-run the recipe")


def load_prepared(run_path: str | Path, recipe: Recipe) -> Prepared:
    """Rebuild a run's prepared data from its ``preparation/`` folder, fitting nothing.

    The data is read again from ``data.source``; rows are split as recorded;
    the saved preprocessor transforms them; resampling and augmentation are
    re-applied with the run's seed.

    Raises
    ------
    DataError
        If the data changed since the run (its sha256 differs), the run has no
        saved preparation, or its preprocessor or split file is missing or was modified.
    """
    import skops.io as sio

    from shipyard.modalities import modality_of

    modality = modality_of(recipe)
    if modality is not None:  # text or image input
        return modality.load(run_path, recipe)
    folder = Path(run_path) / PREPARATION
    if not (folder / INFO).is_file():
        raise DataError(f"{folder}: the run has no saved preparation", "re-run the recipe with this version of shipyard")
    info = json.loads((folder / INFO).read_text(encoding="utf-8"))
    verify_files(folder, info)
    spec = recipe.data
    loaded = read_data(recipe)
    frame = loaded.frame
    check_unchanged(run_path, spec.source, loaded.sha256)
    task = get_task(info["task"])
    target = task.read_target(frame[spec.target].reset_index(drop=True), recipe)
    split = read_split(folder)
    schema = [Column.from_dict(c) for c in info["schema"]]
    preprocessor = sio.load(folder / PREPROCESSOR, trusted=TRUSTED_TYPES)
    prepared = Prepared(
        frame, list(info["features"]), schema, target.labels, target.positive_index, split, target.y,
        task=task.name, preprocessor=preprocessor, steps=dict(info.get("steps", {})), data_sha256=loaded.sha256,
    )
    prepared.model_input = coerce(frame, schema, spec.source)
    apply_preprocessing(recipe, prepared)
    return prepared
