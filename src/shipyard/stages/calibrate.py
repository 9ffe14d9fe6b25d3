"""Calibrate stage: optional temperature scaling fitted on the validation split (Guo et al. 2017)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from shipyard.evaluation.calibration import (
    TemperatureScaled,
    expected_calibration_error,
    fit_temperature,
)
from shipyard.recipe import Recipe
from shipyard.stages.prepare import Prepared


def calibrate(recipe: Recipe, prepared: Prepared, model: torch.nn.Module) -> tuple[torch.nn.Module, dict[str, Any] | None]:
    """Wrap the network in a fitted temperature when ``evaluate.calibration.temperature_scaling`` is on.

    The temperature is fitted on the validation split only; the returned
    network is what is evaluated and exported, so the bundle serves the
    calibrated probabilities (the predicted class never changes).

    Returns
    -------
    (nn.Module, dict or None)
        The network to evaluate and export, and ``{"temperature", "validation_nll_before",
        "validation_nll_after", "validation_ece_before", "validation_ece_after"}``
        (None when temperature scaling is off or the task is not classification).
    """
    spec = recipe.evaluate.calibration
    if not spec.temperature_scaling or getattr(recipe, "task", "classification") != "classification":
        return model, None
    y_val = prepared.y[prepared.split.validation]
    with torch.no_grad():
        logits = model(torch.from_numpy(prepared.X["validation"])).numpy().astype(np.float64)
    temperature = fit_temperature(logits, y_val)
    scaled = TemperatureScaled(model, temperature).eval()

    def nll(z: np.ndarray) -> float:
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-log_p[np.arange(len(y_val)), y_val].mean())

    def softmax(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    bins = spec.bins
    info = {
        "temperature": temperature,
        "validation_nll_before": nll(logits),
        "validation_nll_after": nll(logits / temperature),
        "validation_ece_before": expected_calibration_error(y_val, softmax(logits), bins),
        "validation_ece_after": expected_calibration_error(y_val, softmax(logits / temperature), bins),
    }
    return scaled, info
