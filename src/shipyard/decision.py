"""Turn class probabilities into labels: arg-max, or a tuned threshold for binary tasks.

Depends only on numpy, so training-time evaluation, batch prediction and the
HTTP server all decide with this one function.
"""

from __future__ import annotations

import numpy as np


def decide(proba: np.ndarray, positive_index: int | None = None, threshold: float | None = None) -> np.ndarray:
    """Class index of each row.

    Parameters
    ----------
    proba : ndarray of shape (n_rows, n_classes)
        Class probabilities.
    positive_index : int, optional
        Column of the positive class (binary tasks).
    threshold : float, optional
        Predict the positive class when its probability is at least this;
        ``None`` means arg-max.

    Returns
    -------
    ndarray of shape (n_rows,), dtype int64
    """
    proba = np.asarray(proba)
    if threshold is None or positive_index is None or proba.shape[1] != 2:
        return proba.argmax(axis=1).astype(np.int64)
    other = 1 - positive_index
    return np.where(proba[:, positive_index] >= threshold, positive_index, other).astype(np.int64)
