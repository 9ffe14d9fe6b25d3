"""Modules applied around a trained network after training: target rescaling, temperature scaling.

Each wrapper holds the network it wraps in ``.model`` and describes itself
with :meth:`Wrapper.describe`, so a checkpoint stores the base network's
weights plus a list of wrapper descriptions, and :func:`rewrap` rebuilds the
exact exported module (see :mod:`shipyard.training.checkpoint`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class Wrapper(nn.Module):
    """Base of the wrappers: ``forward`` transforms ``self.model``'s output."""

    kind: str = ""
    model: nn.Module

    def describe(self) -> dict[str, Any]:
        """The wrapper's type and parameters, as checkpoint JSON."""
        raise NotImplementedError


class Rescale(Wrapper):
    """Map the network's standardised output back to target units: ``out * std + mean``.

    Parameters
    ----------
    model : nn.Module
        Maps (batch, n_features) to standardised values (batch, 1).
    mean, std : float
        Of the training split's target.
    """

    kind = "rescale"

    def __init__(self, model: nn.Module, mean: float, std: float) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(float(mean), dtype=torch.float32))
        self.register_buffer("std", torch.tensor(float(std), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Values (batch, 1) in target units."""
        return self.model(x) * self.std + self.mean

    def describe(self) -> dict[str, Any]:
        return {"type": self.kind, "mean": float(self.mean), "std": float(self.std)}


class TemperatureScaled(Wrapper):
    """A network whose logits are divided by a fixed temperature (Guo et al. 2017).

    Exported to ONNX like any network, so a bundle made from it serves
    calibrated probabilities.

    Parameters
    ----------
    model : nn.Module
        Maps (batch, n_features) to logits (batch, n_classes).
    temperature : float
        ``T > 0`` from :func:`shipyard.evaluation.calibration.fit_temperature`.
    """

    kind = "temperature"

    def __init__(self, model: nn.Module, temperature: float) -> None:
        super().__init__()
        self.model = model
        self.temperature = float(temperature)
        self.register_buffer("inv_temperature", torch.tensor(1.0 / temperature, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, n_classes) divided by the temperature."""
        return self.model(x) * self.inv_temperature

    def describe(self) -> dict[str, Any]:
        return {"type": self.kind, "temperature": self.temperature}


_BUILDERS = {
    Rescale.kind: lambda net, d: Rescale(net, d["mean"], d["std"]),
    TemperatureScaled.kind: lambda net, d: TemperatureScaled(net, d["temperature"]),
}


def unwrap(network: nn.Module) -> tuple[nn.Module, list[dict[str, Any]]]:
    """Split a network into its base module and the wrappers around it (innermost first).

    Returns
    -------
    (nn.Module, list of dict)
        The base network and each wrapper's :meth:`Wrapper.describe`.
    """
    wrappers = []
    while isinstance(network, Wrapper):
        wrappers.append(network.describe())
        network = network.model
    return network, wrappers[::-1]


def rewrap(base: nn.Module, wrappers: list[dict[str, Any]]) -> nn.Module:
    """Apply wrapper descriptions (innermost first) around a base network; the inverse of :func:`unwrap`.

    Raises
    ------
    ValueError
        For an unknown wrapper type.
    """
    network = base
    for description in wrappers:
        if description["type"] not in _BUILDERS:
            raise ValueError(f"unknown network wrapper {description['type']!r}")
        network = _BUILDERS[description["type"]](network, description)
    return network.eval()
