"""Text baselines: TF-IDF + logistic regression (C chosen on the validation split) and the class prior."""

from __future__ import annotations

import numpy as np

C_GRID = (1.0, 10.0, 100.0)
"""Inverse regularisation strengths tried for the TF-IDF logistic regression; the one with the lowest validation log-loss is kept."""


def tfidf_logistic(texts_train: np.ndarray, y_train: np.ndarray, texts_val: np.ndarray, y_val: np.ndarray, seed: int) -> tuple[object, float]:
    """Fit TF-IDF (word 1-2-grams, sublinear tf) + logistic regression on training texts, C chosen by validation log-loss.

    Parameters
    ----------
    texts_train, texts_val : ndarray of str, shape (n_train,), (n_val,)
    y_train, y_val : ndarray of int, shape (n_train,), (n_val,)
        Class indices.
    seed : int

    Returns
    -------
    (Pipeline, float)
        The fitted scikit-learn pipeline and the chosen C.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.pipeline import make_pipeline

    best, best_loss, best_c = None, np.inf, C_GRID[0]
    for c in C_GRID:
        model = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, strip_accents="unicode"),
            LogisticRegression(C=c, max_iter=5000, random_state=seed),
        )
        model.fit(list(texts_train), y_train)
        proba = model.predict_proba(list(texts_val))
        loss = log_loss(y_val, proba, labels=model.classes_) if len(np.unique(y_val)) > 1 else 0.0
        if loss < best_loss:
            best, best_loss, best_c = model, loss, c
    return best, best_c


def tfidf_baselines(
    texts_train: np.ndarray, y_train: np.ndarray, texts_val: np.ndarray, y_val: np.ndarray, texts_test: np.ndarray, n_classes: int, seed: int
) -> dict[str, np.ndarray]:
    """Test probabilities of the text baselines, fitted on the same training texts as the network.

    Returns
    -------
    dict of str to ndarray of shape (n_test, n_classes)
        ``tfidf_logistic_regression`` and ``dummy`` (the training class prior).
    """
    model, _ = tfidf_logistic(texts_train, y_train, texts_val, y_val, seed)
    proba = np.zeros((len(texts_test), n_classes))
    proba[:, model.classes_] = model.predict_proba(list(texts_test))
    prior = np.bincount(y_train, minlength=n_classes) / len(y_train)
    return {"tfidf_logistic_regression": proba, "dummy": np.tile(prior, (len(texts_test), 1))}
