"""Dimensionality reduction and feature selection, fitted on training rows, exported in the ONNX graph.

- ``pca``: scikit-learn ``PCA`` with a component count or an explained-variance fraction;
- ``variance``: ``VarianceThreshold``;
- ``kbest``: ``SelectKBest`` scored by mutual information with the target;
- ``l1``: ``SelectFromModel`` over an L1-penalised logistic regression.

All four have skl2onnx converters. Which raw input columns the model still
uses is recorded in the bundle manifest.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from shipyard.errors import DataError
from shipyard.recipe import ReduceSpec


def build_reducer(spec: ReduceSpec, n_features: int, seed: int = 0) -> Any:
    """Return the unfitted reducer a recipe asks for, or ``None``.

    Parameters
    ----------
    spec : ReduceSpec
    n_features : int
        Width of the preprocessed matrix it will see.
    seed : int
    """
    from sklearn.decomposition import PCA
    from sklearn.feature_selection import (
        SelectFromModel,
        SelectKBest,
        VarianceThreshold,
        mutual_info_classif,
    )
    from sklearn.linear_model import LogisticRegression

    if spec.method == "none":
        return None
    if spec.method == "pca":
        n = spec.n_components if spec.n_components is not None else 0.95
        if n >= 1:
            if n != int(n):
                raise DataError(f"prepare.reduce.n_components: {n} is neither a whole count nor a fraction below 1", "use e.g. 10 or 0.95")
            n = min(int(n), n_features)
        return PCA(n_components=n, svd_solver="full", random_state=seed)
    if spec.method == "variance":
        return VarianceThreshold(spec.threshold)
    if spec.method == "kbest":
        return SelectKBest(partial(mutual_info_classif, random_state=seed), k=min(spec.k, n_features))
    if spec.method == "l1":
        return SelectFromModel(LogisticRegression(l1_ratio=1.0, solver="liblinear", C=spec.C, random_state=seed))
    raise ValueError(f"unknown reduction {spec.method!r}")  # the recipe schema prevents this


def fit_reducer(reducer: Any, X: np.ndarray, y: np.ndarray, sources: list[str], spec: ReduceSpec) -> dict[str, Any]:
    """Fit ``reducer`` on training rows and describe what it kept.

    Parameters
    ----------
    reducer : estimator
    X : ndarray of shape (n_train, n_features)
        Preprocessed training rows (never resampled or augmented ones).
    y : ndarray of shape (n_train,)
    sources : list of str
        Raw input column behind each of the ``n_features`` columns.
    spec : ReduceSpec

    Returns
    -------
    dict
        ``method``, ``n_features_in``, ``n_features_out``, ``used_inputs``,
        ``unused_inputs``; PCA adds ``explained_variance``.

    Raises
    ------
    DataError
        If the reducer keeps no feature.
    """
    try:
        reducer.fit(X, y)
    except ValueError as exc:
        raise DataError(f"prepare.reduce '{spec.method}': {str(exc).splitlines()[0]}", "loosen prepare.reduce") from None
    info: dict[str, Any] = {"method": spec.method, "n_features_in": int(X.shape[1])}
    if hasattr(reducer, "get_support"):
        support = reducer.get_support()
        if not support.any():
            knob = {"variance": "lower prepare.reduce.threshold", "l1": "raise prepare.reduce.C"}.get(spec.method, "loosen prepare.reduce")
            raise DataError(f"prepare.reduce '{spec.method}': no feature was kept", knob)
        info["n_features_out"] = int(support.sum())
        used = [s for s, keep in zip(sources, support) if keep]
    else:
        info["n_features_out"] = int(reducer.n_components_)
        info["explained_variance"] = float(np.sum(reducer.explained_variance_ratio_))
        used = list(sources)
    info["used_inputs"] = list(dict.fromkeys(used))
    info["unused_inputs"] = [s for s in dict.fromkeys(sources) if s not in set(used)]
    return info
