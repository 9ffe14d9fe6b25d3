"""Resampling of the training split with imbalanced-learn.

Samplers see only the training rows, in the preprocessed feature space
(imputed, clipped, scaled, encoded; before any reduction). Validation and test
rows are never resampled.

For SMOTENC each categorical input column's encoded block (one-hot columns, or
one ordinal column) is turned back into a single category code, so synthetic
rows get a real category and are re-encoded exactly as the encoder would.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.errors import DataError

NEIGHBOUR_SAMPLERS = {"smote", "smotenc", "adasyn", "borderline_smote", "smote_tomek"}


def make_sampler(name: str, k_neighbors: int, sampling_strategy: float | str, seed: int, categorical: list[int] | None = None) -> Any:
    """Build the imbalanced-learn sampler a recipe names.

    Parameters
    ----------
    name : {"random_over", "random_under", "smote", "smotenc", "adasyn", "borderline_smote", "smote_tomek"}
    k_neighbors : int
        SMOTE family ``k_neighbors``; ADASYN ``n_neighbors``.
    sampling_strategy : float or "auto"
    seed : int
    categorical : list of int, optional
        SMOTENC: positions of the categorical columns.
    """
    from imblearn.combine import SMOTETomek
    from imblearn.over_sampling import (
        ADASYN,
        SMOTE,
        SMOTENC,
        BorderlineSMOTE,
        RandomOverSampler,
    )
    from imblearn.under_sampling import RandomUnderSampler

    common = {"sampling_strategy": sampling_strategy, "random_state": seed}
    if name == "random_over":
        return RandomOverSampler(**common)
    if name == "random_under":
        return RandomUnderSampler(**common)
    if name == "smote":
        return SMOTE(k_neighbors=k_neighbors, **common)
    if name == "smotenc":
        return SMOTENC(categorical_features=categorical, k_neighbors=k_neighbors, **common)
    if name == "adasyn":
        return ADASYN(n_neighbors=k_neighbors, **common)
    if name == "borderline_smote":
        return BorderlineSMOTE(k_neighbors=k_neighbors, **common)
    if name == "smote_tomek":
        return SMOTETomek(smote=SMOTE(k_neighbors=k_neighbors, random_state=seed), **common)
    raise ValueError(f"unknown sampler {name!r}")  # the recipe schema prevents this


def check_neighbours(name: str, y: np.ndarray, labels: list[Any], k_neighbors: int) -> None:
    """Refuse a neighbour-based sampler when a class to oversample is too small.

    SMOTE-family samplers and ADASYN look for ``k_neighbors`` neighbours of
    each minority row within its own class, so every class other than the
    largest needs more than ``k_neighbors`` training rows.

    Raises
    ------
    DataError
        Naming the class, its training-row count and the largest usable ``k_neighbors``.
    """
    if name not in NEIGHBOUR_SAMPLERS:
        return
    counts = np.bincount(y, minlength=len(labels))
    majority = counts.argmax()
    for c, n in enumerate(counts):
        if c != majority and 0 < n <= k_neighbors:
            hint = f"set imbalance.k_neighbors to at most {n - 1}" if n > 1 else "add rows of that class"
            raise DataError(
                f"imbalance.sampler '{name}': class {labels[c]!r} has {n} training row(s), "
                f"but k_neighbors={k_neighbors} needs at least {k_neighbors + 1}",
                f"{hint}, or use imbalance.sampler: random_over",
            )


def check_sampler(name: str, y: np.ndarray, labels: list[Any], k_neighbors: int, schema: list[Any], missing_indicator: bool = False) -> None:
    """Refuse, before any run directory exists, a sampler that cannot run on the training rows.

    Checks :func:`check_neighbours`, and that SMOTE-NC has both categorical
    and numeric inputs (imbalanced-learn's ``SMOTENC`` refuses data that is
    all categorical, and has nothing to do without categorical columns).

    Parameters
    ----------
    name : str
        ``imbalance.sampler``.
    y : ndarray of shape (n_train,)
        Class indices of the training rows.
    labels : list
    k_neighbors : int
    schema : list of Column
        The input columns (their kinds).
    missing_indicator : bool
        ``prepare.missing_indicator``: 0/1 indicator columns count as categorical for SMOTE-NC.

    Raises
    ------
    DataError
        Naming the recipe key, the class or the columns.
    """
    check_neighbours(name, y, labels, k_neighbors)
    if name != "smotenc":
        return
    numeric = [c.name for c in schema if c.kind == "numeric"]
    text = [c.name for c in schema if c.kind != "numeric"]
    if not text and not (missing_indicator and numeric):
        raise DataError("imbalance.sampler 'smotenc': the data has no categorical columns", "use imbalance.sampler: smote")
    if not numeric:
        raise DataError(
            f"imbalance.sampler 'smotenc': every input column is categorical ({', '.join(repr(c) for c in text[:5])}); SMOTE-NC needs numeric columns too",
            "use imbalance.sampler: random_over",
        )


def categorical_blocks(preprocessor: Any) -> list[tuple[int, int]]:
    """Column ranges ``(start, stop)`` of each categorical input (and missing indicator) in the encoded output.

    Parameters
    ----------
    preprocessor : ColumnTransformer
        Fitted; its parts are named ``"numeric"``, ``"missing"`` and ``"categorical"``.
    """
    blocks = []
    missing = preprocessor.output_indices_.get("missing")
    if missing is not None:
        # 0/1 missing indicators are categorical too: SMOTENC copies them instead of interpolating.
        blocks += [(i, i + 1) for i in range(missing.start, missing.stop)]
    if "categorical" not in preprocessor.output_indices_:
        return blocks
    part = preprocessor.named_transformers_["categorical"]
    encoder = part[-1] if hasattr(part, "steps") else part
    start = preprocessor.output_indices_["categorical"].start
    for cats in encoder.categories_:
        width = len(cats) if encoder.__class__.__name__ == "OneHotEncoder" else 1
        blocks.append((start, start + width))
        start += width
    return blocks


def resample(
    X: np.ndarray,
    y: np.ndarray,
    name: str,
    labels: list[Any],
    k_neighbors: int = 5,
    sampling_strategy: float | str = "auto",
    seed: int = 0,
    blocks: list[tuple[int, int]] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resample training rows.

    Parameters
    ----------
    X : ndarray of shape (n_train, n_features)
        Preprocessed training rows.
    y : ndarray of shape (n_train,)
        Their class indices.
    name : str
        Sampler name (see :func:`make_sampler`).
    labels : list
        Class labels, for messages.
    k_neighbors, sampling_strategy, seed
        Passed to the sampler.
    blocks : list of (int, int), optional
        Encoded column ranges of categorical inputs (:func:`categorical_blocks`); SMOTENC needs them.

    Returns
    -------
    X_res : ndarray of shape (n_res, n_features), float32
    y_res : ndarray of shape (n_res,)
    source : ndarray of shape (n_res,)
        For each output row, the position in ``X`` it copies, or -1 for a synthetic row.

    Raises
    ------
    DataError
        If a class is too small for ``k_neighbors``, SMOTENC is asked for
        without categorical columns, or imbalanced-learn refuses the data.
    """
    check_neighbours(name, y, labels, k_neighbors)
    blocks = blocks or []
    if name == "smotenc" and not blocks:
        raise DataError("imbalance.sampler 'smotenc': the data has no categorical columns", "use imbalance.sampler: smote")
    Z, categorical = (_compact(X, blocks) if name == "smotenc" else (X, None))
    # Tag each row with its position so copies can be traced; synthetic rows get interpolated tags.
    tagged = np.column_stack([Z, np.arange(len(Z), dtype=np.float64)])
    sampler = make_sampler(name, k_neighbors, sampling_strategy, seed, categorical)
    try:
        out, y_res = sampler.fit_resample(tagged if name in ("random_over", "random_under") else Z, y)
    except (ValueError, RuntimeError) as exc:
        raise DataError(f"imbalance.sampler '{name}': {str(exc).splitlines()[0]}", "check imbalance.sampling_strategy and k_neighbors") from None
    if name in ("random_over", "random_under"):
        source = out[:, -1].astype(np.int64)
        out = out[:, :-1]
    else:
        source = _match_rows(Z, out)
    X_res = _expand(out, X.shape[1], blocks) if name == "smotenc" else out
    return np.asarray(X_res, dtype=np.float32), np.asarray(y_res, dtype=np.int64), source


def _match_rows(original: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Position in ``original`` of each output row that equals an original row exactly, else -1."""
    index = {row.tobytes(): i for i, row in enumerate(np.ascontiguousarray(original, dtype=np.float64))}
    rows = np.ascontiguousarray(out, dtype=np.float64)
    return np.array([index.get(row.tobytes(), -1) for row in rows], dtype=np.int64)


def _compact(X: np.ndarray, blocks: list[tuple[int, int]]) -> tuple[np.ndarray, list[int]]:
    """Replace each categorical block by one code column (all-zero one-hot rows get code = width)."""
    inside = np.zeros(X.shape[1], dtype=bool)
    codes = []
    for a, b in blocks:
        inside[a:b] = True
        block = X[:, a:b]
        if b - a == 1:
            codes.append(block[:, 0])
        else:
            code = block.argmax(axis=1).astype(np.float64)
            code[block.max(axis=1) == 0] = b - a
            codes.append(code)
    numeric = X[:, ~inside]
    Z = np.column_stack([numeric] + codes) if codes else numeric
    return Z, list(range(numeric.shape[1], Z.shape[1]))


def _expand(Z: np.ndarray, width: int, blocks: list[tuple[int, int]]) -> np.ndarray:
    """Inverse of :func:`_compact`."""
    inside = np.zeros(width, dtype=bool)
    for a, b in blocks:
        inside[a:b] = True
    out = np.zeros((len(Z), width))
    n_numeric = int((~inside).sum())
    out[:, ~inside] = Z[:, :n_numeric]
    for j, (a, b) in enumerate(blocks):
        code = Z[:, n_numeric + j]
        if b - a == 1:
            out[:, a] = code
        else:
            valid = code < b - a
            out[np.flatnonzero(valid), a + code[valid].astype(int)] = 1.0
    return out
