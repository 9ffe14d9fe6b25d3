"""Tabular augmentation of training rows: Gaussian noise and mixup, in scaled feature space.

Only training rows are augmented; originals are kept and synthetic rows are
appended. Validation and test rows are never touched.
"""

from __future__ import annotations

import numpy as np


def augment(
    X: np.ndarray,
    y: np.ndarray,
    method: str,
    multiplier: float,
    seed: int = 0,
    noise_std: float = 0.1,
    mixup_alpha: float = 0.4,
    numeric: np.ndarray | None = None,
    classes: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Append synthetic rows to the training rows.

    Parameters
    ----------
    X : ndarray of shape (n_train, n_features)
        Preprocessed (scaled) training rows.
    y : ndarray of shape (n_train,)
        Their class indices, or target values when ``classes`` is False.
    method : {"none", "noise", "mixup"}
        ``noise``: a random training row plus Gaussian noise of
        ``noise_std`` times each numeric feature's standard deviation
        (encoded categorical columns are left as they are). ``mixup``
        (Zhang et al. 2018): ``lam * x_i + (1 - lam) * x_j`` of two random
        rows of the *same class*, ``lam ~ Beta(alpha, alpha)``, so the label
        stays exact and hard; for a numeric target, two random rows and the
        same mixture of their targets.
    multiplier : float
        Synthetic rows per training row (``round(multiplier * n_train)`` in all).
    seed : int
    noise_std : float
        In units of each feature's training standard deviation.
    mixup_alpha : float
    numeric : ndarray of bool of shape (n_features,), optional
        Which columns are numeric (default: all).
    classes : bool
        True when ``y`` holds class indices (classification), False for a numeric target (regression).

    Returns
    -------
    X_aug : ndarray of shape (n_train + n_new, n_features), float32
        The original rows first, then the synthetic ones.
    y_aug : ndarray of shape (n_train + n_new,)
    """
    if method == "none":
        return X, y
    rng = np.random.default_rng(seed)
    n_new = int(round(multiplier * len(X)))
    numeric = np.ones(X.shape[1], dtype=bool) if numeric is None else numeric
    pick = rng.integers(0, len(X), n_new)
    if method == "noise":
        scale = X.std(axis=0) * noise_std * numeric
        new = X[pick] + rng.normal(size=(n_new, X.shape[1])) * scale
        y_new = y[pick]
    elif method == "mixup":
        if classes:
            partner = np.empty(n_new, dtype=np.int64)
            for c in np.unique(y[pick]):
                rows = np.flatnonzero(y == c)
                at = np.flatnonzero(y[pick] == c)
                partner[at] = rows[rng.integers(0, len(rows), len(at))]
        else:
            partner = rng.integers(0, len(X), n_new)
        lam = rng.beta(mixup_alpha, mixup_alpha, n_new)[:, None]
        new = lam * X[pick] + (1 - lam) * X[partner]
        # Encoded categorical columns take the dominant partner's values, so one-hot stays one-hot.
        dominant = np.where(lam >= 0.5, X[pick], X[partner])
        new[:, ~numeric] = dominant[:, ~numeric]
        y_new = y[pick] if classes else lam[:, 0] * y[pick] + (1 - lam[:, 0]) * y[partner]
    else:
        raise ValueError(f"unknown augmentation {method!r}")  # the recipe schema prevents this
    return np.vstack([X, new]).astype(np.float32), np.concatenate([y, y_new])
