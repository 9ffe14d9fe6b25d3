"""Profile a table before training: what each column is, and what a reviewer would flag.

The profile is plain JSON (``data_profile.json`` in the run directory) with three
parts:

- ``columns``: per input column its inferred kind (numeric, categorical,
  boolean, datetime, text, identifier), missing fraction, cardinality, whether
  it is constant or near-constant, robust-z outliers, and the ROC-AUC the
  column reaches alone (training rows only).
- ``dataset``: rows, duplicate rows, duplicates that straddle the split,
  class counts and the imbalance ratio.
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

from shipyard.errors import DataError

SEVERITIES = ("error", "warning", "info")
EMAIL = re.compile(r"^[\w.+-]+@[\w-]+(\.[\w-]+)+$")
PHONE = re.compile(r"^\+?[\d\s().-]{7,20}$")
ID_NAME = re.compile(r"(^|[_\s-])(id|uuid|guid|key)$|^(id|uuid|guid)[_\s-]", re.IGNORECASE)
BOOLEAN_WORDS = {"true", "false", "yes", "no", "y", "n", "t", "f", "0", "1"}


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


def row_hash(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Hash each row's values in ``columns`` (identical content, identical hash).

    Parameters
    ----------
    frame : DataFrame of shape (n_rows, n_columns)
    columns : list of str

    Returns
    -------
    ndarray of shape (n_rows,), dtype uint64
    """
    return pd.util.hash_pandas_object(frame[columns], index=False).to_numpy()


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
) -> dict[str, Any]:
    """Profile the feature columns and the dataset, and list findings.

    Parameters
    ----------
    frame : DataFrame of shape (n_rows, n_columns)
        The loaded table (after any duplicate dropping).
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
        to count duplicates that straddle the split.
    leakage_auc : float
        A column whose single-column score's 95% lower bound exceeds this is
        flagged as suspected leakage (severity ``error``): the ROC-AUC for
        classification, |Spearman rho| for regression (the task's
        :meth:`~shipyard.tasks.base.Task.association`).
    reading : dict, optional
        The CSV reading report (:func:`shipyard.data.reading.read_csv`), whose
        mixed-type columns become findings.
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

    Returns
    -------
    dict
        ``columns`` (name to stats), ``dataset`` and ``findings`` (list of dict).
    """
    from shipyard.tasks import Target, get_task

    task = task or get_task("classification")
    target_info = Target(np.asarray(y), labels if labels is not None else list(range(int(np.max(y)) + 1)) if task.has_classes else [])
    findings: list[Finding] = []
    columns: dict[str, dict[str, Any]] = {}
    train = frame.iloc[train_rows]
    y_train = np.asarray(y)[train_rows]
    n = len(frame)
    score_key = f"single_column_{task.association_key}"
    for name in features:
        stats = _column_stats(frame[name], train[name], name)
        if stats["kind"] in ("numeric", "boolean", "categorical") and not stats["constant"]:
            found = task.association(train[name], y_train, stats["kind"])
            stats[score_key], stats[f"{score_key}_low"] = (None, None) if found is None else found
        columns[name] = stats
        findings += _column_findings(name, stats, leakage_auc, task)
    findings += _summary_findings(columns)
    for item in (reading or {}).get("mixed_types", []):
        examples = ", ".join(f"{v!r} (row {r})" for v, r in zip(item["examples"], item["rows"]))
        findings.append(
            Finding(
                "warning",
                "mixed_types",
                f"column '{item['column']}': {item['count']} value(s) are not numbers in a numeric column, e.g. {examples}; read as missing",
                "fix those cells or mark them with a missing marker (NA, null, ?)",
                item["column"],
            )
        )

    key_columns = key_columns or features
    hashes = row_hash(frame, key_columns)
    full = row_hash(frame, key_columns + [target])
    exact_dups = int(pd.Series(full).duplicated().sum())
    dup_inputs = pd.Series(hashes).duplicated(keep=False)
    y = np.asarray(y)
    conflicting = int(pd.DataFrame({"h": hashes[dup_inputs.to_numpy()], "y": y[dup_inputs.to_numpy()]}).groupby("h")["y"].nunique().gt(1).sum())
    straddling = 0
    if parts:
        side = np.empty(n, dtype=object)
        for part, rows in parts.items():
            side[rows] = part
        straddling = int(pd.DataFrame({"h": hashes, "s": side}).groupby("h")["s"].nunique().gt(1).sum())
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
        **described,
    }
    if reading:
        dataset["reading"] = {k: v for k, v in reading.items() if k != "mixed_types"}
    if exact_dups:
        findings.append(
            Finding(
                "warning",
                "duplicate_rows",
                f"{exact_dups} exact duplicate row(s); identical rows are kept on the same side of the split",
                "set prepare.drop_duplicates: true unless they are legitimate repeated observations",
            )
        )
    if dropped_duplicates:
        findings.append(Finding("info", "dropped_duplicates", f"dropped {dropped_duplicates} exact duplicate row(s) (prepare.drop_duplicates)"))
    if conflicting:
        findings.append(
            Finding(
                "warning",
                "conflicting_labels",
                f"{conflicting} set(s) of identical inputs carry different labels in '{target}'",
                "check the labels of those rows",
            )
        )
    if straddling:
        findings.append(Finding("error", "duplicates_straddle_split", f"{straddling} group(s) of identical inputs straddle the split"))
    findings += [Finding(**f) for f in target_findings]
    return {"columns": columns, "dataset": dataset, "findings": [f.to_dict() for f in findings]}


def duplicate_key_columns(frame: pd.DataFrame, features: list[str]) -> list[str]:
    """The feature columns that define a duplicate: all but identifier-like ones.

    Two rows that differ only in a row id are the same observation; keying
    duplicates on the id would hide them.
    """
    keys = []
    for name in features:
        present = frame[name].dropna()
        if _kind(frame[name], present, int(present.nunique()), name) != "identifier":
            keys.append(name)
    return keys or list(features)


def _column_stats(values: pd.Series, train_values: pd.Series, name: str) -> dict[str, Any]:
    present = values.dropna()
    n = len(values)
    n_unique = int(present.nunique())
    top_share = float(present.value_counts(normalize=True).iloc[0]) if len(present) else 1.0
    stats: dict[str, Any] = {
        "dtype": str(values.dtype),
        "kind": _kind(values, present, n_unique, name),
        "missing_fraction": float(1 - len(present) / n) if n else 0.0,
        "cardinality": n_unique,
        "constant": int(train_values.dropna().nunique()) <= 1,
        "near_constant": bool(top_share >= 0.99 and n_unique > 1),
    }
    if stats["kind"] == "numeric":
        x = present.to_numpy(dtype=np.float64)
        stats["outliers"] = _outliers(x)
        stats.update(min=float(x.min()), median=float(np.median(x)), max=float(x.max()))
    stats["pii"] = _pii(present) if stats["kind"] not in ("numeric", "boolean") else None
    return stats


def _kind(values: pd.Series, present: pd.Series, n_unique: int, name: str) -> str:
    """numeric, boolean, categorical, datetime, text or identifier."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return "boolean"
    unique_ratio = n_unique / max(len(present), 1)
    if pd.api.types.is_numeric_dtype(values.dtype):
        if n_unique <= 2 and set(present.unique().tolist()) <= {0, 1}:
            return "boolean"
        integral = bool(np.all(np.mod(present.to_numpy(dtype=np.float64), 1) == 0))
        if integral and unique_ratio == 1.0 and len(present) > 20 and (present.is_monotonic_increasing or ID_NAME.search(name)):
            return "identifier"
        return "numeric"
    text = present.astype(str)
    if n_unique <= 2 and set(text.str.lower().unique()) <= BOOLEAN_WORDS:
        return "boolean"
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
    if len(present) > 20 and (unique_ratio >= 0.95 or (ID_NAME.search(name) and unique_ratio >= 0.5)):
        return "identifier"
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
        out.append(
            Finding("warning", "identifier", f"column '{name}' looks like an identifier (unique per row)", "prepare.drop_identifiers drops it; or remove it from data.features", name)
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


def _summary_findings(columns: dict[str, dict[str, Any]]) -> list[Finding]:
    """One info finding each for columns with missing values and with outliers (worst first)."""
    out = []
    missing = sorted(((s["missing_fraction"], n) for n, s in columns.items() if 0 < s["missing_fraction"] <= 0.5), reverse=True)
    if missing:
        shown = ", ".join(f"'{n}' {f:.1%}" for f, n in missing[:5]) + (" ..." if len(missing) > 5 else "")
        out.append(Finding("info", "missing", f"{len(missing)} column(s) have missing values, imputed: {shown}", "prepare.numeric_imputer, prepare.missing_indicator"))
    outliers = sorted(
        ((s["outliers"]["fraction"], s["outliers"]["count"], n) for n, s in columns.items() if s.get("outliers", {}).get("count")), reverse=True
    )
    if outliers:
        shown = ", ".join(f"'{n}' {c} ({f:.1%})" for f, c, n in outliers[:3]) + (" ..." if len(outliers) > 3 else "")
        out.append(
            Finding("info", "outliers", f"{len(outliers)} column(s) have outliers (robust z > 3.5): {shown}", "prepare.clip_quantile winsorizes with limits learned on the training split")
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
