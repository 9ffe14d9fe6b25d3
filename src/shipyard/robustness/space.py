"""The space attacks work in: which features may move, in what units, and within which bounds.

Attacks perturb the network's input, the preprocessed feature matrix. Only the
numeric features are perturbed: one-hot blocks, ordinal codes and
missing-value indicators are left alone, since a fraction of a category means
nothing. Epsilon is measured in standard deviations of each feature over the
training rows (the preprocessed numeric features are standardised by default,
but not under every ``prepare.scaler``, so the scale is computed, not assumed),
and with ``clip`` a perturbed value stays inside the range seen in training.

Under a linear scaler (``standard``, ``minmax``, ``robust``, ``none``), a
perturbation of ``k`` standard deviations of a preprocessed feature is exactly
a perturbation of ``k`` standard deviations of the raw column, so the budgets
also read in raw units. With ``prepare.reduce`` the network sees components
that mix columns; every component is then perturbed.

An input of another modality (text, images) gets its own :class:`AttackSpace`
(e.g. every pixel, bounds [0, 1]); the attacks only use its fields.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.pipeline import Pipeline
from torch import nn

from shipyard.data.prepared import Prepared


@dataclass
class AttackSpace:
    """Where and how far an attack may move the network's input.

    Attributes
    ----------
    scale : ndarray of shape (n_features,), float32
        The unit of each feature's perturbation: its standard deviation over the
        training rows (1 where the feature is not perturbed).
    mask : ndarray of shape (n_features,), bool
        Features an attack may change.
    lower, upper : ndarray of shape (n_features,), float32
        Each feature's range over the training rows (preprocessed units).
    sources : list of str
        The raw column behind each feature (or the component's name).
    description : str
        The space in words, for the report.
    """

    scale: np.ndarray
    mask: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    sources: list[str]
    description: str

    @property
    def perturbed_columns(self) -> list[str]:
        """Raw columns (or components) with at least one perturbed feature, in order."""
        return list(dict.fromkeys(s for s, m in zip(self.sources, self.mask) if m))

    @property
    def fixed_columns(self) -> list[str]:
        """Raw columns none of whose features are perturbed (categorical columns, indicators)."""
        moved = set(self.perturbed_columns)
        return list(dict.fromkeys(s for s in self.sources if s not in moved))

    def standardise(self, X: np.ndarray) -> np.ndarray:
        """Features divided by their scale: the units epsilon is measured in."""
        return (np.asarray(X, dtype=np.float32) / self.scale).astype(np.float32)

    def art_bounds(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature bounds in standardised units for ART: the training range widened to hold every row of ``X``.

        ART clips every step to one box for all rows; :meth:`project` then keeps
        each row inside its own box. ART requires ``lower < upper`` for every
        feature; a feature constant over the training rows and ``X`` (e.g. a
        missing-value indicator that is always 0) is never perturbed, so its box
        is widened by one unit, which :meth:`project` makes irrelevant.
        """
        lower = np.minimum(self.lower, X.min(axis=0)) / self.scale
        upper = np.maximum(self.upper, X.max(axis=0)) / self.scale
        upper = np.where(upper > lower, upper, lower + 1.0)
        return lower.astype(np.float32), upper.astype(np.float32)

    def project(self, X: np.ndarray, X_attacked: np.ndarray, clip: bool) -> np.ndarray:
        """Undo any change to a fixed feature and, with ``clip``, keep each row in the training range.

        A row whose clean value already lies outside the training range may
        not move further out: its bound is its own value. At epsilon 0 the
        result is ``X`` exactly.

        Parameters
        ----------
        X, X_attacked : ndarray of shape (n_rows, n_features)
            Clean and perturbed rows, preprocessed units.
        clip : bool

        Returns
        -------
        ndarray of shape (n_rows, n_features), float32
        """
        out = np.where(self.mask, X_attacked, X).astype(np.float32)
        if clip:
            out = np.clip(out, np.minimum(self.lower, X), np.maximum(self.upper, X))
        return out

    def from_standardised(self, X: np.ndarray, Z: np.ndarray, Z_attacked: np.ndarray) -> np.ndarray:
        """Perturbed rows in preprocessed units: ``X`` plus the standardised perturbation times the scale (exact at 0)."""
        return (X + (Z_attacked - Z) * self.scale).astype(np.float32)

    def perturbation_norms(self, X: np.ndarray, X_attacked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """L-inf and L2 norms of each row's perturbation, in standard deviations; shape (n_rows,) each."""
        delta = (X_attacked - X) / self.scale
        return np.abs(delta).max(axis=1, initial=0.0), np.linalg.norm(delta, axis=1)


def attack_space(prepared: Prepared) -> AttackSpace:
    """The attack space of a run's preprocessed features: numeric features perturbed, in training standard deviations.

    Parameters
    ----------
    prepared : Prepared
        With preprocessing fitted (``prepared.preprocessor``, ``prepared.X["train"]``).

    Returns
    -------
    AttackSpace
    """
    from shipyard.data.preprocess import output_sources

    X = np.asarray(prepared.X["train"], dtype=np.float64)
    preprocessor = prepared.preprocessor
    n = X.shape[1]
    if isinstance(preprocessor, Pipeline):  # a reducer mixes columns: every component moves
        mask = np.ones(n, dtype=bool)
        sources = [f"component {i}" for i in range(n)]
        description = f"the {n} components after prepare.reduce, every one perturbed"
    else:
        mask = np.zeros(n, dtype=bool)
        if "numeric" in preprocessor.output_indices_:
            mask[preprocessor.output_indices_["numeric"]] = True
        sources = output_sources(preprocessor, prepared.schema)
        fixed = n - int(mask.sum())
        description = f"the preprocessed features: {int(mask.sum())} numeric features perturbed" + (
            f", {fixed} categorical or indicator features left alone" if fixed else ""
        )
    std = X.std(axis=0)
    mask &= std > 0  # a feature constant in training has no unit to move in
    scale = np.where(mask, std, 1.0).astype(np.float32)
    return AttackSpace(
        scale=scale,
        mask=mask,
        lower=X.min(axis=0).astype(np.float32),
        upper=X.max(axis=0).astype(np.float32),
        sources=list(sources),
        description=description + "; epsilon in standard deviations of each feature over the training rows",
    )


class Standardised(nn.Module):
    """The network seen from standardised features: ``network(z * scale)``.

    An L-inf or L2 ball of radius epsilon in ``z`` is a ball of epsilon standard
    deviations per feature in the network's own input.

    Parameters
    ----------
    network : nn.Module
        Maps (batch, n_features) to logits or values.
    scale : ndarray of shape (n_features,)
    """

    def __init__(self, network: nn.Module, scale: np.ndarray) -> None:
        super().__init__()
        self.network = network
        self.register_buffer("scale", torch.as_tensor(np.asarray(scale, dtype=np.float32)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Outputs of the network at ``z * scale``, shape (batch, n_outputs)."""
        return self.network(z * self.scale)
