"""A logistic-regression baseline on the same preprocessed features and split."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression


def logistic_baseline(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, seed: int = 0) -> np.ndarray:
    """Fit scikit-learn's ``LogisticRegression`` and return test probabilities.

    Parameters
    ----------
    X_train : ndarray of shape (n_train, n_features)
        Preprocessed training features (the network's inputs).
    y_train : ndarray of shape (n_train,)
        Class indices.
    X_test : ndarray of shape (n_test, n_features)
    seed : int

    Returns
    -------
    ndarray of shape (n_test, n_classes)
    """
    model = LogisticRegression(max_iter=2000, random_state=seed)
    model.fit(X_train, y_train)
    proba = np.zeros((len(X_test), int(y_train.max()) + 1))
    proba[:, model.classes_] = model.predict_proba(X_test)
    return proba
