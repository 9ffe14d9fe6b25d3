"""Train/validation/test splits that imitate how the model meets new data.

- **Stratified** by the task's strata (the class, or quantile bins of a
  numeric target), so every part covers every class or range.
- **Grouped**: rows of one group always land in the same part. A group is an
  entity (``data.split.group``: a person, patient, device) and, when identical
  inputs are accidental copies (``data.split.duplicates: group``), a set of
  rows with identical inputs; both at once are joined into connected
  components, so neither straddles.
- **Given parts**: rows read from ``data.validation`` / ``data.test`` files
  are those parts; the rest is carved from ``data.source``.

:func:`choose_duplicates` decides, for ``data.split.duplicates: auto``, whether
repeated inputs are copies (group them) or repeated observations (split them
like any row): repeats that a small discrete feature space produces by chance
are observations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from shipyard.errors import DataError

PARTS = ("train", "validation", "test")
CHANCE_SHUFFLES = 3
"""Column-wise shuffles averaged to estimate how many repeats chance gives."""
MOSTLY_REPEATS = 0.5
"""With more than this share of rows repeating another, the data is a handful of distinct rows observed many times."""
DISCRETE_MIN, DISCRETE_SHARE = 20, 0.05
"""A column with more than max(DISCRETE_MIN, DISCRETE_SHARE * rows) distinct values is continuous: rows cannot share it by chance."""


@dataclass
class Split:
    """Row positions of each part of the data.

    Attributes
    ----------
    train, validation, test : ndarray of shape (n_part,)
        Integer positions into the loaded frame, sorted.
    """

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict[str, int]:
        """Return the row count of each part."""
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}


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


def choose_duplicates(frame: pd.DataFrame, keys: list[str], requested: str = "auto", seed: int = 0) -> dict[str, Any]:
    """Decide whether rows with identical inputs are kept together (``group``) or split like any row (``allow``).

    Identical inputs are accidental copies when chance cannot explain them,
    and repeated observations when it can: in a small, discrete feature space
    (three categorical columns, say) many rows share their inputs by
    necessity. Chance is measured by shuffling each column on its own (which
    keeps every column's values and breaks the rows apart) and counting the
    repeats that remain, averaged over :data:`CHANCE_SHUFFLES` seeded shuffles;
    when a column is continuous (more than max(20, 5% of rows) distinct
    values) chance gives none.
    ``auto`` chooses ``allow`` when that chance count is at least half the
    observed one, or when most rows (> :data:`MOSTLY_REPEATS`) repeat another
    row; otherwise ``group``.

    Parameters
    ----------
    frame : DataFrame of shape (n_rows, n_columns)
    keys : list of str
        The columns that define identical inputs (features, identifiers aside).
    requested : {"auto", "group", "allow"}
        ``data.split.duplicates``.
    seed : int

    Returns
    -------
    dict
        ``policy`` (``group`` or ``allow``), ``chosen_by`` (``data`` or
        ``recipe``), ``rows``, ``distinct_rows``, ``repeated_rows``,
        ``chance_repeats`` and ``reason`` (one sentence).
    """
    n = len(frame)
    hashes = row_hash(frame, keys)
    distinct = int(len(np.unique(hashes)))
    repeated = n - distinct
    rng = np.random.default_rng(seed)
    chance = 0.0
    continuous = [k for k in keys if frame[k].nunique() > max(DISCRETE_MIN, DISCRETE_SHARE * n)]
    if repeated and not continuous:
        for _ in range(CHANCE_SHUFFLES):
            shuffled = pd.DataFrame({k: frame[k].to_numpy()[rng.permutation(n)] for k in keys})
            chance += (n - len(np.unique(row_hash(shuffled, keys)))) / CHANCE_SHUFFLES
    info: dict[str, Any] = {"rows": n, "distinct_rows": distinct, "repeated_rows": repeated, "chance_repeats": round(chance, 1), "continuous_columns": continuous[:5]}
    if requested != "auto":
        info.update(policy=requested, chosen_by="recipe")
        info["reason"] = f"{repeated} of {n} rows repeat the inputs of another row" + (
            " and are kept on the same side of every split" if requested == "group" else " and are split like any row"
        )
        return info
    share = repeated / n if n else 0.0
    if not repeated:
        info.update(policy="group", chosen_by="data", reason="no two rows have identical inputs; nothing to keep together")
    elif share > MOSTLY_REPEATS or chance >= 0.5 * repeated:
        info.update(
            policy="allow",
            chosen_by="data",
            reason=f"{repeated} of {n} rows ({share:.0%}) repeat one of {distinct} distinct input rows, and shuffling each column on its own "
            f"still repeats {chance:.0f}: repeated observations of a small, discrete feature space, not copies; they are split like any row "
            "(set data.split.duplicates: group if they are copies)",
        )
    else:
        info.update(
            policy="group",
            chosen_by="data",
            reason=f"{repeated} of {n} rows ({share:.1%}) repeat another row's inputs where "
            + (f"continuous columns ({', '.join(continuous[:3])}) make chance repeats impossible" if continuous else f"shuffling each column on its own repeats only {chance:.0f}")
            + ": accidental copies, kept on the same side of every split (set data.split.duplicates: allow if they are repeated observations)",
        )
    return info


def split_groups(entities: np.ndarray | None, copies: np.ndarray | None) -> np.ndarray | None:
    """Group id of each row: rows sharing an entity or (when grouped) identical inputs, joined transitively.

    Parameters
    ----------
    entities : ndarray of shape (n_rows,), optional
        The ``data.split.group`` column's values.
    copies : ndarray of shape (n_rows,), optional
        Row hashes of the inputs, when identical rows are kept together.

    Returns
    -------
    ndarray of shape (n_rows,) of int, or None
        Connected components of the graph linking rows through either key
        (None when neither is given).
    """
    keys = [k for k in (entities, copies) if k is not None]
    if not keys:
        return None
    codes = [pd.factorize(pd.Series(k, dtype=object) if k.dtype == object else pd.Series(k))[0] for k in keys]
    if len(codes) == 1:
        return codes[0].astype(np.int64)
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(codes[0])
    offset = n
    rows, cols = [], []
    for code in codes:
        rows.append(np.arange(n))
        cols.append(code + offset)
        offset += int(code.max()) + 1
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(r)), (r, c)), shape=(offset, offset))
    _, labels = connected_components(graph, directed=False)
    return pd.factorize(labels[:n])[0].astype(np.int64)


def stratified_split(
    y: pd.Series,
    validation: float,
    test: float,
    seed: int,
    target: str = "target",
    groups: np.ndarray | None = None,
    given: dict[str, np.ndarray] | None = None,
    names: list | None = None,
) -> Split:
    """Split rows into train, validation and test, keeping class proportions and groups whole.

    With ``groups``, rows of one group always land in the same part (a
    group-aware split): the groups, in order of first appearance, are split
    stratified by the stratum of their first row, then expanded back to rows.
    Without groups this is exactly the row-level split.

    Parameters
    ----------
    y : Series of shape (n_rows,)
        Strata (class indices, or quantile bins of a numeric target).
    validation, test : float
        Fractions of the rows that are not in ``given`` parts, each in (0, 1).
    seed : int
        Random seed; the same seed gives the same split.
    target : str
        Label column name, for messages.
    groups : ndarray of shape (n_rows,), optional
        Group key of each row (:func:`split_groups`; or a hash of the inputs),
        so that a group never straddles the split.
    given : dict of str to ndarray, optional
        Parts that are given (``validation`` and/or ``test`` rows read from
        their own files); the rest is carved from the other rows.
    names : list, optional
        The class label of each stratum index, for messages (classification).

    Raises
    ------
    DataError
        If a class has too few rows to appear in every carved part. (When too
        few groups lead a class, groups are split without stratification.)
    """
    y = pd.Series(np.asarray(y))
    given = {k: np.sort(np.asarray(v, dtype=np.int64)) for k, v in (given or {}).items() if v is not None}
    taken = np.zeros(len(y), dtype=bool)
    for rows in given.values():
        taken[rows] = True
    pool = np.flatnonzero(~taken)
    if groups is None:
        groups = np.arange(len(y))
    groups = np.asarray(groups)[pool]
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # group ids in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    row_group = rank[inverse.reshape(-1)]  # each pooled row's group, numbered by first appearance
    group_y = y.iloc[pool[first[order]]].reset_index(drop=True)
    carve = [part for part in ("test", "validation") if part not in given]
    need = len(carve) + 1
    row_counts = y.iloc[pool].value_counts()
    if carve and row_counts.min() < need:
        rare = row_counts.idxmin()
        rare = rare.item() if hasattr(rare, "item") else rare
        shown = names[rare] if names is not None else rare
        shown = shown.item() if hasattr(shown, "item") else shown
        hint = "add rows of that class or drop it"
        if names is not None and len(row_counts) > 20:
            hint += f"; with {len(row_counts)} distinct target values, is '{target}' a number to predict? then set task: regression"
        raise DataError(
            f"target column '{target}': class {shown!r} has {row_counts.min()} row(s); a stratified "
            f"{'/'.join(['train'] + carve[::-1])} split needs at least {need}",
            hint,
        )
    # Groups are stratified by their first row's stratum; where too few groups lead a stratum, groups are split unstratified.
    stratify = group_y if group_y.value_counts().min() >= need else None
    rest = np.arange(len(group_y))
    held: dict[str, np.ndarray] = {}
    try:
        if "test" in carve:
            rest, held["test"] = train_test_split(rest, test_size=test, stratify=stratify, random_state=seed)
        if "validation" in carve:
            fraction = validation / (1.0 - test) if "test" in carve else validation
            rest, held["validation"] = train_test_split(
                rest, test_size=fraction, stratify=None if stratify is None else group_y.iloc[rest], random_state=seed
            )
    except ValueError as exc:
        raise DataError(f"target column '{target}': cannot split stratified: {exc}", "use larger data.split fractions or more rows") from None
    held["train"] = rest
    parts = {part: pool[np.flatnonzero(np.isin(row_group, idx))] for part, idx in held.items()}
    parts.update(given)
    return Split(*(np.sort(parts[p]) for p in PARTS))


def grouped_holdout(rows: np.ndarray, strata: np.ndarray, groups: np.ndarray | None, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hold out a fraction of ``rows`` (stratified where possible), keeping groups whole.

    The validation rows of a cross-validation fold or a learning-curve point
    are carved this way, so an entity (or a set of copies) never sits in both
    the rows a network fits and the rows that stop its training.

    Parameters
    ----------
    rows : ndarray of shape (n,)
        Positions to split.
    strata : ndarray of shape (n,)
        Stratum of each of ``rows``.
    groups : ndarray of shape (n_all_rows,), optional
        Group id of every row of the data (indexed by position).
    fraction : float
        Share of ``rows`` held out, in (0, 1).
    seed : int

    Returns
    -------
    (ndarray, ndarray)
        Kept and held-out positions, sorted.
    """
    strata = np.asarray(strata)
    if groups is None:
        try:
            kept, held = train_test_split(rows, test_size=fraction, stratify=strata, random_state=seed)
        except ValueError:
            kept, held = train_test_split(rows, test_size=fraction, random_state=seed)
        return np.sort(kept), np.sort(held)
    keys = np.asarray(groups)[rows]
    unique, first = np.unique(keys, return_index=True)
    try:
        kept_g, held_g = train_test_split(unique, test_size=fraction, stratify=strata[first], random_state=seed)
    except ValueError:
        kept_g, held_g = train_test_split(unique, test_size=fraction, random_state=seed)
    held_mask = np.isin(keys, held_g)
    return np.sort(rows[~held_mask]), np.sort(rows[held_mask])
