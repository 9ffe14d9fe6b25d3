"""Profile a table before training: what each column is, and what a reviewer would flag.

The profile is plain JSON (``data_profile.json`` in the run directory) with three
parts:

- ``columns``: per input column its inferred kind (numeric, categorical,
  boolean, datetime, text, identifier), missing fraction, cardinality, whether
  it is constant or near-constant, robust-z outliers, the score the column
  reaches alone (training rows only), and ``entity`` for columns that look
  like entity ids.
- ``dataset``: rows, duplicate rows, duplicates that straddle the split,
  class counts and the imbalance ratio; ``split`` (how the rows were split
  and why: the duplicates policy, the group column, given files) and
  ``overlap`` (what validation and test share with training, and what the
  test split holds that training does not); the missing-value rule.
- ``findings``: one entry per problem, each with a ``severity`` (``error``,
  ``warning`` or ``info``), a ``code``, the ``column`` it concerns and a hint.
  ``prepare.fail_on`` chooses which severities stop the run.

Descriptive statistics use every row; anything that changes what the model
sees (dropping a constant column) or judges the target (single-column AUC) uses
the training split only.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from shipyard.data.split import row_hash
from shipyard.errors import DataError
from shipyard.schema import MISSING_RULE, column_kind, missing_numeric_rule

SEVERITIES = ("error", "warning", "info")
EMAIL = re.compile(r"^[\w.+-]+@[\w-]+(\.[\w-]+)+$")
PHONE = re.compile(r"^\+?[\d\s().-]{7,20}$")
ID_NAME = re.compile(r"(^|[_\s.-])(id|uuid|guid|key|nr|no|num|number|code)$|^(id|uuid|guid|nr)([_\s.-]|$)", re.IGNORECASE)
CAMEL_ID_NAME = re.compile(r"[a-z](Id|ID|No|Nr|Num|Number|Code|Key)$")


def id_name(name: str, codes: bool = True) -> bool:
    """Whether a column is named like an identifier: ``id``, ``member_no``, ``nr``, ``patient_number``, ``memberId`` (and, with ``codes``, ``zip_code``)."""
    if not codes and re.search(r"code$", name, re.IGNORECASE):
        return False
    return bool(ID_NAME.search(name) or CAMEL_ID_NAME.search(name))


DISCRETE_VALUES = 20
"""A numeric column with at most this many distinct values counts as discrete (for unseen input combinations)."""
ENTITY_MIN_GROUPS = 10
"""An entity-id column has at least this many distinct values, each on several rows."""


@dataclass
class Finding:
    """One problem found in the data.

    Attributes
    ----------
    severity : {"error", "warning", "info"}
    code : str
        Stable identifier, e.g. ``"leakage"``, ``"duplicate_rows"``.
    message : str
        One line naming the column when there is one.
    hint : str
        What to do about it.
    column : str or None
    """

    severity: str
    code: str
    message: str
    hint: str = ""
    column: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the finding as JSON data."""
        return asdict(self)


def profile_table(
    frame: pd.DataFrame,
    features: list[str],
    target: str,
    y: np.ndarray,
    train_rows: np.ndarray,
    parts: dict[str, np.ndarray] | None = None,
    leakage_auc: float = 0.99,
    reading: dict[str, Any] | None = None,
    dropped_duplicates: int = 0,
    key_columns: list[str] | None = None,
    task: Any = None,
    labels: list[Any] | None = None,
    split_info: dict[str, Any] | None = None,
    files: list[tuple[str, int]] | None = None,
    readings: dict[str, dict[str, Any]] | None = None,
    numeric_imputer: str = "median",
    types: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Profile the feature columns and the dataset, and list findings.

    Parameters
    ----------
    frame : DataFrame of shape (n_rows, n_columns)
        The loaded table (after any duplicate dropping); rows of given
        validation/test files follow the source's.
    features : list of str
        Input columns to profile.
    target : str
        Label column.
    y : ndarray of shape (n_rows,)
        Class indices (or target values, for regression) of every row.
    train_rows : ndarray of shape (n_train,)
        Positions of the training split; single-column AUC and constancy are
        judged on these rows only.
    parts : dict of str to ndarray, optional
        Positions of every split part (``train``, ``validation``, ``test``),
        to count duplicates and entities shared between parts and values of
        the test split never seen in training.
    leakage_auc : float
        A column whose single-column score's 95% lower bound exceeds this is
        flagged as suspected leakage (severity ``error``): the ROC-AUC for
        classification, |Spearman rho| for regression (the task's
        :meth:`~shipyard.tasks.base.Task.association`).
    reading : dict, optional
        The reading report of ``data.source`` (:func:`shipyard.data.reading.read_csv`),
        whose mixed-type columns, codes and kept missing markers become findings.
    dropped_duplicates : int
        Rows already removed by ``prepare.drop_duplicates``.
    key_columns : list of str, optional
        Columns whose values define a duplicate (default ``features``; the
        prepare stage leaves identifier-like columns out).
    task : Task, optional
        Scores the columns against the target and describes the target;
        default classification.
    labels : list, optional
        Class labels (classification).
    split_info : dict, optional
        How the split was made: ``duplicates`` (:func:`shipyard.data.split.choose_duplicates`),
        ``group`` (the ``data.split.group`` column or None) and ``given`` (parts read from files).
    files : list of (str, int), optional
        The files the rows came from, in order, with their row counts
        (``[("data.source", 200), ("data.test", 332)]``), to name rows.
    readings : dict of str to dict, optional
        Reading reports of the other files (``data.validation``, ``data.test``).
    numeric_imputer : str
        ``prepare.numeric_imputer``, to state what a missing number becomes.
    types : dict of str to str, optional
        ``data.types``: column kinds set by the recipe.

    Returns
    -------
    dict
        ``columns`` (name to stats), ``dataset`` (with ``split`` and
        ``overlap``) and ``findings`` (list of dict).
    """
    from shipyard.tasks import Target, get_task

    task = task or get_task("classification")
    target_info = Target(np.asarray(y), labels if labels is not None else list(range(int(np.max(y)) + 1)) if task.has_classes else [])
    findings: list[Finding] = []
    columns: dict[str, dict[str, Any]] = {}
    train = frame.iloc[train_rows]
    y_train = np.asarray(y)[train_rows]
    n = len(frame)
    files = files or [("data.source", n)]
    name_row = _row_namer(files)
    score_key = f"single_column_{task.association_key}"
    for name in features:
        stats = _column_stats(frame[name], train[name], name, (types or {}).get(name))
        if stats["kind"] in ("numeric", "boolean", "categorical") and not stats["constant"]:
            found = task.association(train[name], y_train, stats["kind"])
            stats[score_key], stats[f"{score_key}_low"] = (None, None) if found is None else found
        columns[name] = stats
        findings += _column_findings(name, stats, leakage_auc, task)
    findings += _summary_findings(columns, numeric_imputer)
    for role, report in [("data.source", reading)] + list((readings or {}).items()):
        findings += _reading_findings(report or {}, "" if role == "data.source" else f"{role}: ")

    key_columns = key_columns or features
    hashes = row_hash(frame, key_columns)
    full = row_hash(frame, key_columns + [target])
    duplicated = pd.Series(full).duplicated().to_numpy()
    exact_dups = int(duplicated.sum())
    dup_inputs = pd.Series(hashes).duplicated(keep=False)
    y = np.asarray(y)
    conflicting = int(pd.DataFrame({"h": hashes[dup_inputs.to_numpy()], "y": y[dup_inputs.to_numpy()]}).groupby("h")["y"].nunique().gt(1).sum())
    split_info = split_info or {}
    policy = (split_info.get("duplicates") or {}).get("policy", "group")
    straddling = 0
    overlap: dict[str, Any] = {}
    side = np.full(n, "", dtype=object)
    if parts:
        for part, rows in parts.items():
            side[rows] = part
        straddling = int(pd.DataFrame({"h": hashes, "s": side}).groupby("h")["s"].nunique().gt(1).sum())
        overlap, overlap_findings = _overlap(frame, hashes, parts, columns, key_columns, y, labels if task.has_classes else None, split_info)
        findings += overlap_findings
    entities = {}
    for name, stats in columns.items():
        entity = stats.get("entity")
        if entity and parts and name != split_info.get("group"):
            entities[name] = _entity_split(frame[name], parts)
            entity.update(entities[name])
            findings.append(_entity_finding(name, stats, entities[name]))
    described, target_findings = task.describe_target(target_info, target)
    dataset = {
        "rows": n,
        "features": len(features),
        "task": task.name,
        "leakage_measure": task.leakage_measure,
        "duplicate_rows": exact_dups,
        "dropped_duplicate_rows": dropped_duplicates,
        "inputs_with_conflicting_labels": conflicting,
        "duplicate_groups_straddling_split": straddling,
        "split": {**split_info, "files": [{"role": r, "rows": k} for r, k in files]},
        "overlap": overlap,
        "missing_values": {"numeric": missing_numeric_rule(numeric_imputer), "categorical": MISSING_RULE},
        **described,
    }
    if reading:
        dataset["reading"] = {k: v for k, v in reading.items() if not isinstance(v, list)}
    duplicates = split_info.get("duplicates")
    if duplicates and duplicates.get("repeated_rows"):
        findings.append(Finding("info", "split_duplicates", f"data.split.duplicates: {duplicates['policy']} ({'chosen from the data' if duplicates['chosen_by'] == 'data' else 'set in the recipe'}): {duplicates['reason']}"))
    if exact_dups:
        first_of = pd.Series(np.arange(n)).groupby(full).transform("first").to_numpy()
        pairs = [(int(r), int(first_of[r])) for r in np.flatnonzero(duplicated)[:5]]
        shown = ", ".join(f"{name_row(r)} = {name_row(f)}" for r, f in pairs) + (" ..." if exact_dups > 5 else "")
        together = "kept on the same side of every split" if policy == "group" else "split like any row (data.split.duplicates: allow)"
        findings.append(
            Finding(
                "warning" if policy == "group" else "info",
                "duplicate_rows",
                f"{exact_dups} exact duplicate row(s), e.g. {shown}; {together}",
                "set prepare.drop_duplicates: true if they are accidental copies; data.split.duplicates: allow if they are repeated observations",
            )
        )
    if dropped_duplicates:
        findings.append(Finding("info", "dropped_duplicates", f"dropped {dropped_duplicates} exact duplicate row(s) (prepare.drop_duplicates)"))
    if conflicting:
        findings.append(
            Finding(
                "warning" if policy == "group" else "info",
                "conflicting_labels",
                f"{conflicting} set(s) of identical inputs carry different labels in '{target}'",
                "check the labels of those rows" if policy == "group" else "expected for repeated observations of a noisy outcome",
            )
        )
    if straddling and policy == "group":
        findings.append(Finding("error", "duplicates_straddle_split", f"{straddling} group(s) of identical inputs straddle the split"))
    findings += [Finding(**f) for f in target_findings]
    return {"columns": columns, "dataset": dataset, "findings": [f.to_dict() for f in findings]}


def _row_namer(files: list[tuple[str, int]]) -> Any:
    """Name a frame position as the user sees it: ``row 12`` (1-based data row) or ``data.test row 3``."""
    starts = np.cumsum([0] + [k for _, k in files])

    def name(position: int) -> str:
        i = int(np.searchsorted(starts, position, side="right") - 1)
        role = files[min(i, len(files) - 1)][0]
        row = position - starts[min(i, len(files) - 1)] + 1
        return f"row {row}" if role == "data.source" else f"{role} row {row}"

    return name


def _discrete(stats: dict[str, Any]) -> bool:
    return stats["kind"] in ("categorical", "boolean") or (stats["kind"] == "numeric" and stats["cardinality"] <= DISCRETE_VALUES)


def _overlap(
    frame: pd.DataFrame,
    hashes: np.ndarray,
    parts: dict[str, np.ndarray],
    columns: dict[str, dict[str, Any]],
    keys: list[str],
    y: np.ndarray,
    labels: list[Any] | None,
    split_info: dict[str, Any],
) -> tuple[dict[str, Any], list[Finding]]:
    """What the validation and test splits share with training, and what they hold that training does not."""
    findings: list[Finding] = []
    train, test = parts["train"], parts["test"]
    train_hashes = set(hashes[train].tolist())
    out: dict[str, Any] = {"test_rows": int(len(test))}
    for part in ("validation", "test"):
        rows = parts[part]
        out[f"{part}_rows_identical_to_training"] = int(sum(h in train_hashes for h in hashes[rows].tolist()))
    group = split_info.get("group")
    if group:
        train_groups = set(frame[group].iloc[train].astype(str))
        test_groups = set(frame[group].iloc[test].astype(str))
        out.update(group=group, test_groups=len(test_groups), test_groups_in_training=len(test_groups & train_groups))
    # Categories and input combinations of the test split that training never shows the model.
    unseen: dict[str, list[str]] = {}
    for name in keys:
        stats = columns.get(name)
        if stats is None or stats["kind"] not in ("categorical", "boolean", "text"):  # free text is one-hot encoded too
            continue
        seen = set(frame[name].iloc[train].dropna().astype(str))
        new = frame[name].iloc[test].dropna().astype(str)
        missing_here = new[~new.isin(seen)]
        if len(missing_here):
            unseen[name] = sorted(set(missing_here))[:10]
            findings.append(
                Finding(
                    "warning",
                    "unseen_in_training",
                    f"column '{name}': {len(missing_here)} test row(s) hold categories absent from training ({', '.join(repr(v) for v in unseen[name][:5])}); the model encodes them as all zeros",
                    "the test split measures these rows on categories the network never saw; check data.split",
                    name,
                )
            )
    out["test_categories_unseen_in_training"] = unseen
    if keys and all(_discrete(columns[k]) for k in keys if k in columns):
        new_rows = [h not in train_hashes for h in hashes[test].tolist()]
        n_new = int(sum(new_rows))
        out["test_rows_with_unseen_inputs"] = n_new
        if n_new:
            combos = len(set(hashes[test][np.asarray(new_rows)].tolist()))
            findings.append(
                Finding(
                    "warning",
                    "unseen_combinations",
                    f"{n_new} of {len(test)} test rows ({combos} distinct input combination(s) of {', '.join(keys[:5])}) never occur in training",
                    "with a handful of distinct inputs every test combination should occur in training: data.split.duplicates: allow",
                )
            )
    if labels is not None:
        absent = sorted(set(np.unique(y[test]).tolist()) - set(np.unique(y[train]).tolist()))
        if absent:
            names = [str(labels[int(c)]) for c in absent]
            out["test_classes_unseen_in_training"] = names
            findings.append(
                Finding("warning", "unseen_classes", f"class(es) {', '.join(repr(n) for n in names)} of the test split never occur in training", "the network cannot predict them; check data.split or data.test")
            )
    return out, findings


def _entity_split(values: pd.Series, parts: dict[str, np.ndarray]) -> dict[str, Any]:
    """How many test entities also have rows in training."""
    text = values.astype(str)
    train, test = set(text.iloc[parts["train"]]), set(text.iloc[parts["test"]])
    shared = len(train & test)
    return {"test_groups": len(test), "test_groups_in_training": shared, "share_of_test_groups_in_training": shared / len(test) if test else 0.0}


def _entity_finding(name: str, stats: dict[str, Any], split: dict[str, Any]) -> Finding:
    entity = stats["entity"]
    used = "" if stats["kind"] == "identifier" else "; it is also used as a plain feature"
    if split["test_groups_in_training"]:
        what = (
            f"{split['share_of_test_groups_in_training']:.0%} of the test split's entities ({split['test_groups_in_training']} of "
            f"{split['test_groups']}) also have rows in training, so test rows are not new entities{used}"
        )
    else:
        what = f"no test entity has rows in training{used}"
    return Finding(
        "warning",
        "entity_column",
        f"column '{name}' looks like an entity id ({entity['groups']} values, {entity['rows_per_group']:.1f} rows each): {what}",
        f"set data.split.group: {name} so that train, validation, test and CV folds hold different entities",
        name,
    )


def duplicate_key_columns(frame: pd.DataFrame, features: list[str], types: dict[str, str] | None = None) -> list[str]:
    """The feature columns that define a duplicate: all but identifier-like ones.

    Two rows that differ only in a row id are the same observation; keying
    duplicates on the id would hide them.
    """
    keys = []
    for name in features:
        present = frame[name].dropna()
        if _kind(frame[name], present, int(present.nunique()), name, (types or {}).get(name)) != "identifier":
            keys.append(name)
    return keys or list(features)


def _column_stats(values: pd.Series, train_values: pd.Series, name: str, forced: str | None = None) -> dict[str, Any]:
    present = values.dropna()
    n = len(values)
    n_unique = int(present.nunique())
    top_share = float(present.value_counts(normalize=True).iloc[0]) if len(present) else 1.0
    stats: dict[str, Any] = {
        "dtype": str(values.dtype),
        "kind": _kind(values, present, n_unique, name, forced),
        "missing_fraction": float(1 - len(present) / n) if n else 0.0,
        "cardinality": n_unique,
        "present": int(len(present)),
        "constant": int(train_values.dropna().nunique()) <= 1,
        "near_constant": bool(top_share >= 0.99 and n_unique > 1),
    }
    if stats["kind"] == "numeric" and pd.api.types.is_numeric_dtype(values.dtype):
        x = present.to_numpy(dtype=np.float64)
        stats["outliers"] = _outliers(x)
        stats.update(min=float(x.min()), median=float(np.median(x)), max=float(x.max()))
    stats["pii"] = _pii(present) if stats["kind"] not in ("numeric", "boolean") else None
    entity = _entity(values, present, n_unique, name)
    if entity:
        stats["entity"] = entity
    return stats


def _integral(present: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(present.dtype) and bool(np.all(np.mod(present.to_numpy(dtype=np.float64), 1) == 0))


def _entity(values: pd.Series, present: pd.Series, n_unique: int, name: str) -> dict[str, Any] | None:
    """Entity-id statistics when a column looks like one: many values, each on several rows, named like an id or panel-shaped.

    Panel-shaped: at least 90% of the values occur on exactly the same number
    of rows (a person observed once a year), with at least 20 values.
    """
    if n_unique < ENTITY_MIN_GROUPS or len(present) < 2 * n_unique or pd.api.types.is_bool_dtype(values.dtype):
        return None
    if pd.api.types.is_numeric_dtype(values.dtype) and not _integral(present):
        return None
    counts = present.value_counts()
    panel = n_unique >= 2 * ENTITY_MIN_GROUPS and (counts == counts.mode().iloc[0]).mean() >= 0.9 and counts.mode().iloc[0] >= 2
    if not (id_name(name) or panel):
        return None
    return {"groups": n_unique, "rows_per_group": float(counts.mean()), "named_like_an_id": id_name(name), "panel": bool(panel)}


def _kind(values: pd.Series, present: pd.Series, n_unique: int, name: str, forced: str | None = None) -> str:
    """numeric, boolean, categorical, datetime, text or identifier.

    The schema's kind (:func:`shipyard.schema.column_kind`, or ``data.types``)
    refined: 0/1 numbers are boolean; identifier-like columns are
    ``identifier`` (dropped by ``prepare.drop_identifiers``): integer columns
    unique per row that count up, form a permutation of consecutive numbers
    (``member_no`` 100000..100568) or are named like an id, integer and text
    columns named like an id whose values repeat (an entity id such as
    ``nr``), text unique per row, and e-mail addresses or phone numbers.
    """
    base = forced or column_kind(values)
    if base == "boolean":
        return "boolean"
    unique_ratio = n_unique / max(len(present), 1)
    if base == "numeric":
        if not pd.api.types.is_numeric_dtype(values.dtype):
            return "numeric"
        if n_unique <= 2 and set(present.unique().tolist()) <= {0, 1}:
            return "boolean"
        if _integral(present) and len(present) > 20:
            x = present.to_numpy(dtype=np.float64)
            consecutive = n_unique >= 0.95 * len(present) and (x.max() - x.min() + 1) <= 1.05 * n_unique
            if unique_ratio >= 0.95 and (present.is_monotonic_increasing or consecutive or id_name(name)):
                return "identifier"
            if id_name(name) and n_unique >= ENTITY_MIN_GROUPS and unique_ratio <= 0.5:
                return "identifier"  # an entity id (a person's number), repeated over its rows
        return "numeric"
    if forced:
        return base
    text = present.astype(str)
    sample = text.iloc[:200]
    if len(sample) and sample.str.contains(r"\d").mean() > 0.9:
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
        if parsed.notna().mean() >= 0.9 and sample.str.contains(r"[-/:]").mean() > 0.9:
            return "datetime"
    if _pii(present):
        return "identifier"  # e-mail addresses and phone numbers identify people
    words = text.str.split().str.len().mean() if len(text) else 0
    if words >= 3 and unique_ratio > 0.5:
        return "text"
    if len(present) > 20 and (unique_ratio >= 0.95 or (id_name(name, codes=False) and (unique_ratio >= 0.5 or n_unique >= ENTITY_MIN_GROUPS))):
        return "identifier"  # unique per row, or named like an id (a text code column stays categorical)
    return "categorical"


def _pii(present: pd.Series) -> str | None:
    """'email' or 'phone' when at least 80% of the non-missing values look like one."""
    if not len(present):
        return None
    text = present.astype(str).str.strip()
    if text.str.match(EMAIL).mean() >= 0.8:
        return "email"
    digits = text.str.count(r"\d")
    # Dates and times (2020-01-31, 2020.01.31 12:00) share a phone number's digits and separators.
    dates = text.str.match(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2})?)?$|^\d{1,2}[-./]\d{1,2}[-./]\d{4}$")
    if (text.str.match(PHONE) & digits.between(7, 15) & text.str.contains(r"[\s().+-]") & ~dates).mean() >= 0.8:
        return "phone"
    return None


def _outliers(x: np.ndarray) -> dict[str, Any]:
    """Count values with robust z-score above 3.5 (Iglewicz & Hoaglin 1993), IQR rule if MAD is 0."""
    median = np.median(x)
    mad = np.median(np.abs(x - median))
    if mad > 0:
        z = 0.6745 * (x - median) / mad
        mask, method = np.abs(z) > 3.5, "robust_z>3.5"
    else:
        q1, q3 = np.percentile(x, [25, 75])
        iqr = q3 - q1
        mask, method = (x < q1 - 1.5 * iqr) | (x > q3 + 1.5 * iqr), "iqr_1.5"
    return {"count": int(mask.sum()), "fraction": float(mask.mean()) if len(x) else 0.0, "method": method}


def _column_findings(name: str, stats: dict[str, Any], leakage_limit: float, task: Any) -> list[Finding]:
    out = []
    kind = stats["kind"]
    if stats["constant"]:
        out.append(Finding("warning", "constant", f"column '{name}' is constant on the training split", "it carries no information; prepare.drop_constant drops it", name))
    elif stats["near_constant"]:
        out.append(Finding("info", "near_constant", f"column '{name}' holds one value in at least 99% of rows", "", name))
    if kind == "identifier":
        why = "unique per row" if stats["cardinality"] >= 0.95 * max(1, stats.get("present", stats["cardinality"])) else "named like an id, its values repeat over rows"
        if stats.get("pii"):
            why = "personal data"
        out.append(
            Finding(
                "warning",
                "identifier",
                f"column '{name}' looks like an identifier ({why}): a record's number says nothing about its outcome",
                "prepare.drop_identifiers drops it (the default); data.types can declare it numeric or categorical instead",
                name,
            )
        )
    if stats["pii"]:
        out.append(
            Finding(
                "error",
                "personal_data",
                f"column '{name}' looks like personal data ({ {'email': 'e-mail addresses', 'phone': 'phone numbers'}[stats['pii']] })",
                "remove it from data.features; its values would end up in the bundle manifest",
                name,
            )
        )
    if kind in ("datetime", "text"):
        out.append(
            Finding("warning", kind, f"column '{name}' looks like {'dates' if kind == 'datetime' else 'free text'} and is treated as categorical", "derive features from it, or remove it from data.features", name)
        )
    score_key = f"single_column_{task.association_key}"
    score = stats.get(score_key)
    low = stats.get(f"{score_key}_low")
    if score is not None and low is not None and low > leakage_limit and kind != "identifier":
        out.append(
            Finding(
                "error",
                "leakage",
                f"column '{name}' alone predicts the target ({task.leakage_measure} {score:.3f} on the training split, 95% lower bound {low:.3f}); suspected leakage",
                f"remove it from data.features if it is known only after the outcome; or raise {task.leakage_key}",
                name,
            )
        )
    missing = stats["missing_fraction"]
    if missing > 0.5:
        out.append(Finding("warning", "mostly_missing", f"column '{name}' is {missing:.0%} missing", "consider dropping it or prepare.missing_indicator", name))
    return out


def _summary_findings(columns: dict[str, dict[str, Any]], numeric_imputer: str = "median") -> list[Finding]:
    """One info finding each for columns with missing values and with outliers (worst first).

    The missing-values finding states the rule for each kind of column it
    names, in the words of :func:`shipyard.schema.missing_numeric_rule` and
    :data:`shipyard.schema.MISSING_RULE`.
    """
    out = []
    missing = sorted(((s["missing_fraction"], n) for n, s in columns.items() if 0 < s["missing_fraction"] <= 0.5), reverse=True)
    if missing:
        shown = ", ".join(f"'{n}' {f:.1%}" for f, n in missing[:5]) + (" ..." if len(missing) > 5 else "")
        kinds = {columns[n]["kind"] for _, n in missing}
        rules = ([missing_numeric_rule(numeric_imputer)] if "numeric" in kinds else []) + ([MISSING_RULE] if kinds - {"numeric"} else [])
        out.append(
            Finding("info", "missing", f"{len(missing)} column(s) have missing values: {shown}; {'; '.join(rules)}", "prepare.numeric_imputer, prepare.missing_indicator")
        )
    outliers = sorted(
        ((s["outliers"]["fraction"], s["outliers"]["count"], n) for n, s in columns.items() if s.get("outliers", {}).get("count")), reverse=True
    )
    if outliers:
        shown = ", ".join(f"'{n}' {c} ({f:.1%})" for f, c, n in outliers[:3]) + (" ..." if len(outliers) > 3 else "")
        out.append(
            Finding("info", "outliers", f"{len(outliers)} column(s) have outliers (robust z > 3.5): {shown}", "prepare.clip_quantile winsorizes with limits learned on the training split")
        )
    return out


def _reading_findings(report: dict[str, Any], prefix: str = "") -> list[Finding]:
    """Findings from a reading report: non-numbers in numeric columns, numbers among text, codes, kept markers, one number written two ways."""
    out = []

    def cells(item: dict[str, Any]) -> str:
        return ", ".join(f"{v!r} (row {r})" for v, r in zip(item["examples"], item["rows"]))

    for item in report.get("mixed_types", []):
        column = item["column"]
        if item.get("read_as", "missing").startswith("missing"):
            out.append(
                Finding(
                    "warning",
                    "mixed_types",
                    f"{prefix}column '{column}': {item['count']} value(s) are not numbers in a numeric column, e.g. {cells(item)}; read as missing",
                    "fix those cells or mark them with a missing marker (NA, null, ?)",
                    column,
                )
            )
        elif item.get("read_as") == "text":
            out.append(
                Finding(
                    "warning",
                    "mixed_types",
                    f"{prefix}column '{column}' mixes numbers and text, e.g. {cells(item)}; {item['count']} number(s) read as text categories",
                    "if the column is numeric, fix the text cells; if it holds codes, this is right",
                    column,
                )
            )
    extra = report.get("extra_columns") or []
    if extra:
        out.append(
            Finding(
                "info",
                "extra_columns",
                f"{prefix}column(s) {', '.join(repr(c) for c in extra[:5])} are not in data.source and are ignored",
                "the file may hold more columns than data.source; only the source's are used",
            )
        )
    for item in report.get("codes", []):
        out.append(
            Finding(
                "info",
                "codes",
                f"{prefix}column '{item['column']}': digit strings with a leading zero, e.g. {cells(item)}, are codes: read as text categories, not numbers",
                f"set data.types: {{{item['column']}: numeric}} if they are quantities",
                item["column"],
            )
        )
    for item in report.get("kept_markers", []):
        out.append(
            Finding(
                "warning",
                "missing_marker_kept",
                f"{prefix}column '{item['column']}': {item['value']!r} ({item['count']} rows, e.g. row {item['rows'][0]}) is read as a category, not as missing: "
                f"it has the shape of the column's other values ({', '.join(repr(v) for v in item['examples'])})",
                f"if {item['value']!r} means missing there, leave those cells empty",
                item["column"],
            )
        )
    for item in report.get("number_spellings", []):
        shown = " and ".join(f"{v!r} (row {r})" for v, r in zip(item["values"], item["rows"]))
        out.append(
            Finding(
                "warning",
                "number_spellings",
                f"{prefix}column '{item['column']}': {shown} are the same number written differently, and so different categories",
                "write each code one way in the data (and in requests)",
                item["column"],
            )
        )
    return out


def columns_to_drop(profile: dict[str, Any], drop_constant: bool, drop_identifiers: bool) -> dict[str, str]:
    """Columns the prepare stage drops, with the reason.

    Returns
    -------
    dict of str to str
        Column name to ``"constant"`` or ``"identifier"``.
    """
    out = {}
    for name, stats in profile["columns"].items():
        if drop_constant and stats["constant"]:
            out[name] = "constant"
        elif drop_identifiers and stats["kind"] == "identifier":
            out[name] = "identifier"
    return out


def check_findings(profile: dict[str, Any], fail_on: list[str], source: str) -> None:
    """Stop the run when a finding has a severity listed in ``prepare.fail_on``.

    Raises
    ------
    DataError
        Naming the first such finding (and how many there are).
    """
    stopping = [f for f in profile["findings"] if f["severity"] in fail_on]
    if not stopping:
        return
    first = stopping[0]
    more = f" (and {len(stopping) - 1} more)" if len(stopping) > 1 else ""
    raise DataError(
        f"{source}: {first['severity']} ({first['code']}): {first['message']}{more}",
        (first["hint"] + "; " if first["hint"] else "") + f"prepare.fail_on is {list(fail_on)}; see 'shipyard profile'",
    )


def profile_tables(profile: dict[str, Any]) -> list[Any]:
    """Rich tables of the profile: one row per column, then the findings.

    Returns
    -------
    list of rich.table.Table
    """
    from rich.table import Table

    cols = Table(title=f"data profile ({profile['dataset']['rows']} rows)")
    measure = profile["dataset"].get("leakage_measure", "ROC-AUC")
    for head in ("column", "kind", "missing", "unique", "outliers", f"{measure} alone"):
        cols.add_column(head, justify="left" if head in ("column", "kind") else "right")
    for name, s in profile["columns"].items():
        auc = next((v for k, v in s.items() if k.startswith("single_column_") and not k.endswith("_low")), None)
        outliers = s.get("outliers")
        cols.add_row(
            name,
            s["kind"] + (" (constant)" if s["constant"] else ""),
            f"{s['missing_fraction']:.1%}",
            str(s["cardinality"]),
            str(outliers["count"]) if outliers else "",
            "" if auc is None else f"{auc:.3f}",
        )
    findings = Table(title="findings")
    findings.add_column("severity")
    findings.add_column("code")
    findings.add_column("finding")
    colour = {"error": "bold red", "warning": "yellow", "info": "dim"}
    for f in sorted(profile["findings"], key=lambda f: SEVERITIES.index(f["severity"])):
        findings.add_row(f"[{colour[f['severity']]}]{f['severity']}[/]", f["code"], f["message"])
    return [cols, findings]
