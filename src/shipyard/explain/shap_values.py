"""SHAP values of the network with the SHAP library (Lundberg & Lee 2017).

Two explainers, same output:

* **gradient-based** — ``shap.DeepExplainer`` (DeepLIFT rescale rule with a
  background set, Shrikumar et al. 2017; exact additivity for ReLU/tanh/GELU
  networks) on the *preprocessed* features of the PyTorch network, summed back
  to raw columns with :func:`shipyard.explain.columns.feature_to_column`;
* **model-agnostic** — ``shap.PermutationExplainer`` (antithetic permutations,
  exact additivity) on the *raw* columns through any prediction function, e.g.
  the ONNX bundle, used when there is no PyTorch network (explaining a bundle),
  when the preprocessing mixes columns, or when DeepLIFT does not add up.

The explained output is in log-odds units: for a binary task the log-odds of
the positive class, ``log p(pos) - log p(neg)``; for multiclass the centred
logit of each class, ``log p(k) - mean_j log p(j)``. Both are linear in the
network's logits (softmax is shift-invariant), so they can be computed from
logits (gradient path) or from probabilities (model-agnostic path) alike.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn


def output_matrix(n_classes: int, positive_index: int | None = None) -> tuple[np.ndarray, list[int]]:
    """Linear map from logits (or log-probabilities) to the explained outputs.

    Returns
    -------
    (ndarray of shape (n_outputs, n_classes), list of int)
        The matrix ``A`` (outputs = logits @ A.T) and the class index each output belongs to.
    """
    if n_classes == 2:
        pos = 1 if positive_index is None else positive_index
        a = np.zeros((1, 2))
        a[0, pos], a[0, 1 - pos] = 1.0, -1.0
        return a, [pos]
    return np.eye(n_classes) - 1.0 / n_classes, list(range(n_classes))


def outputs_from_proba(proba: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Explained outputs (n_rows, n_outputs) from probabilities (n_rows, n_classes)."""
    return np.log(np.clip(np.asarray(proba, dtype=np.float64), 1e-12, 1.0)) @ matrix.T


class _Outputs(nn.Module):
    """The network followed by the fixed linear map ``A`` (a Linear layer, which DeepLIFT handles exactly)."""

    def __init__(self, model: nn.Module, matrix: np.ndarray) -> None:
        super().__init__()
        self.model = model
        self.head = nn.Linear(matrix.shape[1], matrix.shape[0], bias=False)
        with torch.no_grad():
            self.head.weight.copy_(torch.from_numpy(matrix.astype(np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.model(x))


def deep_shap(model: nn.Module, matrix: np.ndarray, background: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SHAP values of preprocessed features with ``shap.DeepExplainer``.

    Parameters
    ----------
    model : nn.Module
        Maps (batch, n_features) to logits (batch, n_classes); in eval mode.
    matrix : ndarray of shape (n_outputs, n_classes)
        From :func:`output_matrix`.
    background : ndarray of shape (n_background, n_features)
        Preprocessed training rows (the reference distribution).
    X : ndarray of shape (n_rows, n_features)
        Preprocessed rows to explain.

    Returns
    -------
    values : ndarray of shape (n_rows, n_features, n_outputs)
    expected : ndarray of shape (n_outputs,)
        Mean output over the background.
    outputs : ndarray of shape (n_rows, n_outputs)
        The explained outputs of ``X`` (for the additivity check).
    """
    import shap

    wrapped = _Outputs(model, matrix).eval()
    explainer = shap.DeepExplainer(wrapped, torch.from_numpy(background.astype(np.float32)))
    values = explainer.shap_values(torch.from_numpy(X.astype(np.float32)), check_additivity=False)
    values = np.asarray(values, dtype=np.float64).reshape(len(X), X.shape[1], matrix.shape[0])
    with torch.no_grad():
        outputs = wrapped(torch.from_numpy(X.astype(np.float32))).numpy().astype(np.float64)
    return values, np.asarray(explainer.expected_value, dtype=np.float64).reshape(-1), outputs


def permutation_shap(
    f: Callable[[np.ndarray], np.ndarray], background: np.ndarray, X: np.ndarray, seed: int = 0, permutations: int = 3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model-agnostic SHAP values with ``shap.PermutationExplainer`` and an independent masker.

    Parameters
    ----------
    f : callable
        Maps a float matrix (n, n_columns) to outputs (n, n_outputs).
    background : ndarray of shape (n_background, n_columns)
    X : ndarray of shape (n_rows, n_columns)
    seed : int
    permutations : int
        Antithetic permutations per row (``max_evals = permutations * (2 n_columns + 1)``).

    Returns
    -------
    values : ndarray of shape (n_rows, n_columns, n_outputs)
    expected : ndarray of shape (n_outputs,)
    outputs : ndarray of shape (n_rows, n_outputs)
    """
    import shap

    masker = shap.maskers.Independent(background, max_samples=len(background))
    explainer = shap.PermutationExplainer(f, masker, seed=seed)
    m = X.shape[1]
    result = explainer(X, max_evals=permutations * (2 * m + 1), silent=True)
    values = np.asarray(result.values, dtype=np.float64).reshape(len(X), m, -1)
    base = np.asarray(result.base_values, dtype=np.float64).reshape(len(X), -1)
    return values, base[0], np.asarray(f(X), dtype=np.float64).reshape(len(X), -1)
