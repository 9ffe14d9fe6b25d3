"""Data checks of a text column: empty texts, exact and near duplicates, lengths and truncation, encoding problems, label conflicts.

:func:`text_profile` returns the run's ``data_profile.json`` for text input,
in the shape of the tabular profile (``dataset``, ``columns``, ``findings``)
plus a ``text`` entry with the text-specific measurements, so the profile
tables, ``prepare.fail_on`` and the report read it as they read a table's.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import numpy as np
import pandas as pd

from shipyard.data.profile import Finding

NUMBER = re.compile(r"[-+]?(\d+[.,]?\d*|[.,]\d+)([eE][-+]?\d+)?")
"""A text that is only a number (the data.text column may be the wrong one)."""
C1 = re.compile("[\u0080-\u009f]")
"""C1 control characters: in real text, leftovers of Windows-1252 punctuation decoded as Latin-1."""
C0 = re.compile("[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]")
"""C0 control characters other than tab, line feed and carriage return."""
REPLACEMENT = "\ufffd"
TRUNCATION_WARNING = 0.05
"""Above this fraction of truncated training texts, the maximum length is called too short."""
SIMILAR = 0.9
"""Cosine similarity of character 3-5-gram TF-IDF vectors at which two texts count as near-copies (e.g. one spam template with other numbers)."""
SIMILAR_WARNING = 0.02
"""Above this fraction of test texts with a near-copy in training, the test score is called optimistic."""


def near_copies(texts: np.ndarray, train: np.ndarray, others: np.ndarray, threshold: float = SIMILAR) -> dict[str, Any]:
    """Texts outside training whose most similar training text is a near-copy (cosine of character 3-5-gram TF-IDF >= ``threshold``).

    Catches what the split's grouping (exact and case/punctuation-insensitive
    duplicates) cannot: templates that differ in a phone number or a name.

    Parameters
    ----------
    texts : ndarray of str, shape (n_rows,)
    train, others : ndarray of int
        Row positions of the training rows and of the rows compared with them (validation and test).
    threshold : float

    Returns
    -------
    dict
        ``threshold``, ``count``, ``fraction`` (of ``others``), ``examples`` (up to 3 pairs: text, its training copy, similarity).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    if len(train) == 0 or len(others) == 0:
        return {"threshold": threshold, "count": 0, "fraction": 0.0, "examples": []}
    vectors = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), lowercase=True, dtype=np.float32).fit(texts[train])
    a, b = vectors.transform(texts[others]), vectors.transform(texts[train])
    best, where = np.zeros(len(others), dtype=np.float32), np.zeros(len(others), dtype=np.int64)
    for start in range(0, len(others), 512):  # (512, n_train) similarities at a time
        block = (a[start : start + 512] @ b.T).toarray()
        best[start : start + 512], where[start : start + 512] = block.max(1), block.argmax(1)
    hit = np.flatnonzero(best >= threshold)
    examples = [{"text": str(texts[others[i]]), "training_text": str(texts[train[where[i]]]), "similarity": float(best[i])} for i in hit[:3]]
    return {"threshold": threshold, "count": int(len(hit)), "fraction": float(len(hit) / len(others)), "examples": examples}


def near_duplicate_key(text: str) -> str:
    """The form under which two texts count as near duplicates: NFKC, case-folded, letters and digits only, single spaces.

    "Ok lar... Joking wif u oni..." and "ok lar joking wif u oni" share a key.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[\W_]+", " ", folded).split())


def _stats(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {}
    return {
        "min": int(values.min()),
        "median": float(np.median(values)),
        "p95": float(np.percentile(values, 95)),
        "max": int(values.max()),
        "mean": float(values.mean()),
    }


def _rows(mask: np.ndarray, limit: int = 5) -> list[int]:
    return np.flatnonzero(mask)[:limit].tolist()


def row_split_leak(keys: np.ndarray, strata: np.ndarray, validation: float, test: float, seed: int) -> int:
    """Test rows whose near-duplicate would sit in training under a plain row-level split (what grouping the split prevents).

    Parameters
    ----------
    keys : ndarray of shape (n_rows,)
        :func:`near_duplicate_key` of each text.
    strata : ndarray of shape (n_rows,)
    validation, test : float
        The recipe's split fractions.
    seed : int
    """
    from shipyard.data.split import stratified_split

    try:
        split = stratified_split(pd.Series(strata), validation, test, seed)
    except Exception:  # noqa: BLE001  a split the grouped path refuses is reported there
        return 0
    seen = set(keys[split.train])
    return int(sum(1 for k in keys[split.test] if k in seen))


def text_profile(
    texts: pd.Series,
    column: str,
    target: str,
    y: np.ndarray,
    parts: dict[str, np.ndarray],
    token_counts: np.ndarray,
    max_length: int,
    task: Any,
    labels: list[Any],
    positive_index: int | None = None,
    dropped_duplicates: int = 0,
    row_leak: int = 0,
) -> dict[str, Any]:
    """Profile a text column and list findings.

    Parameters
    ----------
    texts : Series of str, shape (n_rows,)
        The raw texts (missing values already read as empty strings).
    column, target : str
        Column names, for messages.
    y : ndarray of shape (n_rows,)
        Class indices.
    parts : dict of str to ndarray
        Row positions of ``train``, ``validation`` and ``test``.
    token_counts : ndarray of shape (n_rows,)
        Tokens per text without truncation (special tokens included).
    max_length : int
        The model's ``max_length``.
    task : Task
        Describes the target (class counts and imbalance).
    labels : list
    positive_index : int, optional
    dropped_duplicates : int
        Rows dropped by ``prepare.drop_duplicates``.
    row_leak : int
        :func:`row_split_leak`.

    Returns
    -------
    dict
        ``dataset``, ``columns``, ``text``, ``findings`` (JSON-ready).
    """
    from shipyard.tasks import Target

    values = texts.astype(str).to_numpy(dtype=object)
    n = len(values)
    findings: list[Finding] = []
    empty = np.array([v == "" for v in values])
    blank = np.array([v != "" and v.strip() == "" for v in values])
    chars = np.fromiter((len(v) for v in values), dtype=np.int64, count=n)
    c1 = np.array([bool(C1.search(v)) for v in values])
    c0 = np.array([bool(C0.search(v)) for v in values])
    replacement = np.array([REPLACEMENT in v for v in values])
    train = parts["train"]
    copies = near_copies(values, train, np.concatenate([parts["validation"], parts["test"]]))
    truncated = token_counts > max_length
    by_part = {part: {"texts": int(len(rows)), "truncated": int(truncated[rows].sum()), "fraction": float(truncated[rows].mean()) if len(rows) else 0.0} for part, rows in parts.items()}

    exact = pd.Series(values)
    surplus = int(exact.duplicated().sum())
    keys = np.array([near_duplicate_key(v) for v in values], dtype=object)
    frame = pd.DataFrame({"text": values, "key": keys, "y": np.asarray(y)})
    exact_conflicts = int(frame.groupby("text")["y"].nunique().gt(1).sum())
    near = frame.groupby("key").agg(texts=("text", "nunique"), labels=("y", "nunique"), rows=("y", "size"))
    near_groups = int((near["texts"] > 1).sum())
    near_rows = int(near.loc[near["texts"] > 1, "rows"].sum())
    near_conflicts = int(((near["texts"] > 1) & (near["labels"] > 1)).sum())
    side = np.empty(n, dtype=object)
    for part, rows in parts.items():
        side[rows] = part
    straddling = int(pd.DataFrame({"k": keys, "s": side}).groupby("k")["s"].nunique().gt(1).sum())

    if empty.all() or (empty | blank).all():
        findings.append(Finding("error", "no_text", f"column '{column}' holds no text in any row", "check data.text", column))
    elif empty.any() or blank.any():
        findings.append(
            Finding(
                "warning",
                "empty_texts",
                f"column '{column}': {int(empty.sum())} empty and {int(blank.sum())} whitespace-only text(s) (rows {_rows(empty | blank)})",
                "such rows carry no evidence; drop them or check how the file was exported",
                column,
            )
        )
    written = ~(empty | blank)
    numeric = np.array([bool(NUMBER.fullmatch(v.strip())) for v in values]) & written
    if written.any() and numeric[written].all():
        findings.append(
            Finding(
                "warning",
                "numeric_texts",
                f"column '{column}': every text is a number (e.g. {values[int(np.flatnonzero(written)[0])].strip()!r}); a language model reads numbers as words",
                "check data.text names the column of texts, or use a tabular model kind for numbers",
                column,
            )
        )
    if surplus:
        findings.append(
            Finding(
                "warning",
                "duplicate_texts",
                f"column '{column}': {surplus} surplus exact duplicate text(s) ({n - surplus} distinct of {n}); identical and near-identical texts are kept on one side of the split",
                "set prepare.drop_duplicates: true to keep one copy of each (text, label)",
                column,
            )
        )
    if dropped_duplicates:
        findings.append(Finding("info", "dropped_duplicates", f"dropped {dropped_duplicates} exact duplicate row(s) (prepare.drop_duplicates)", "", column))
    if near_groups:
        findings.append(
            Finding(
                "info",
                "near_duplicate_texts",
                f"column '{column}': {near_groups} group(s) of near-duplicate texts ({near_rows} rows) differ only in case, punctuation or spacing; "
                f"each group stays on one side of the split (a row-level split would have put {row_leak} test text(s) beside a near-copy in training)",
                "",
                column,
            )
        )
    if exact_conflicts or near_conflicts:
        findings.append(
            Finding(
                "warning",
                "conflicting_labels",
                f"column '{column}': {exact_conflicts} identical and {near_conflicts} near-identical text group(s) carry different labels in '{target}'",
                "check the labels of those rows",
                column,
            )
        )
    if straddling:
        findings.append(Finding("error", "duplicates_straddle_split", f"{straddling} group(s) of near-identical texts straddle the split", "", column))
    if copies["count"]:
        findings.append(
            Finding(
                "warning" if copies["fraction"] > SIMILAR_WARNING else "info",
                "near_copies_across_split",
                f"column '{column}': {copies['count']} validation and test text(s) ({copies['fraction']:.1%}) have a near-copy in training "
                f"(cosine >= {copies['threshold']} of character 3-5-grams, e.g. templates differing in a number); scores on them may be optimistic",
                "read the test metrics with this in mind, or deduplicate templates before splitting",
                column,
            )
        )
    train_fraction = by_part["train"]["fraction"]
    if train_fraction > TRUNCATION_WARNING:
        findings.append(
            Finding(
                "warning",
                "truncation",
                f"column '{column}': {train_fraction:.1%} of training texts exceed model.max_length ({max_length} tokens) and are truncated "
                f"(95th percentile {np.percentile(token_counts[train], 95):.0f} tokens)",
                "raise model.max_length (up to the encoder's 512) if the end of a text matters",
                column,
            )
        )
    elif truncated.any():
        findings.append(
            Finding("info", "truncation", f"column '{column}': {int(truncated.sum())} text(s) ({truncated.mean():.1%}) exceed {max_length} tokens and are truncated", "", column)
        )
    if c1.any():
        findings.append(
            Finding(
                "warning",
                "c1_control_characters",
                f"column '{column}': {int(c1.sum())} text(s) hold C1 control characters (U+0080-U+009F; rows {_rows(c1)}), "
                "usually Windows-1252 punctuation decoded as Latin-1; the tokenizer drops them",
                "re-decode the source as cp1252 if the punctuation matters",
                column,
            )
        )
    if c0.any():
        findings.append(Finding("info", "control_characters", f"column '{column}': {int(c0.sum())} text(s) hold C0 control characters (rows {_rows(c0)})", "", column))
    if replacement.any():
        findings.append(
            Finding(
                "warning",
                "replacement_characters",
                f"column '{column}': {int(replacement.sum())} text(s) hold U+FFFD (rows {_rows(replacement)}): bytes were lost when the file was decoded",
                "re-export the source as UTF-8",
                column,
            )
        )
    described, target_findings = task.describe_target(Target(np.asarray(y), labels, positive_index), target)
    findings += [Finding(**f) for f in target_findings]
    lengths = {
        "characters": _stats(chars),
        "tokens": _stats(token_counts),
        "token_histogram": _histogram(token_counts, max_length),
        "max_length": max_length,
        "truncated": by_part,
    }
    text = {
        "column": column,
        **lengths,
        "empty": {"count": int(empty.sum()), "whitespace_only": int(blank.sum()), "rows": _rows(empty | blank)},
        "exact_duplicates": {"surplus_rows": surplus, "distinct_texts": n - surplus, "conflicting_label_groups": exact_conflicts},
        "near_duplicates": {"groups": near_groups, "rows": near_rows, "conflicting_label_groups": near_conflicts, "row_split_leak": row_leak},
        "near_copies_across_split": copies,
        "groups_straddling_split": straddling,
        "encoding": {"c1_control": int(c1.sum()), "c1_rows": _rows(c1), "c0_control": int(c0.sum()), "replacement_character": int(replacement.sum())},
    }
    dataset = {
        "rows": n,
        "features": 1,
        "input": "text",
        "task": task.name,
        "leakage_measure": task.leakage_measure,
        "duplicate_rows": surplus,
        "dropped_duplicate_rows": dropped_duplicates,
        "inputs_with_conflicting_labels": exact_conflicts,
        "duplicate_groups_straddling_split": straddling,
        **described,
    }
    columns = {
        column: {
            "dtype": "string",
            "kind": "text",
            "missing_fraction": float(empty.mean()) if n else 0.0,
            "cardinality": n - surplus,
            "constant": n - surplus <= 1,
        }
    }
    return {"dataset": dataset, "columns": columns, "text": text, "findings": [f.to_dict() for f in findings]}


def _histogram(counts: np.ndarray, max_length: int) -> dict[str, list[float]]:
    """Token-count histogram with 30 bins up to the largest count (JSON lists: ``edges``, ``counts``)."""
    top = max(int(counts.max(initial=1)), max_length)
    hist, edges = np.histogram(counts, bins=min(30, max(1, top)), range=(0, top))
    return {"edges": edges.tolist(), "counts": hist.tolist()}
