"""Calibrate stage: optional temperature scaling fitted on the validation split (Guo et al. 2017).

The fitted temperature wraps the network (:class:`~shipyard.models.wrappers.TemperatureScaled`),
so evaluation, the bundle and the server all see calibrated probabilities;
the predicted class never changes. The checkpoint records the wrapper.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from shipyard.evaluation.calibration import TEMPERATURE_BOUNDS, expected_calibration_error, fit_temperature
from shipyard.models.wrappers import TemperatureScaled
from shipyard.recipe import Recipe
from shipyard.stages.base import RunContext, Stage, register_stage
from shipyard.training.checkpoint import checkpoint_folder, set_wrappers


def _nll(z: np.ndarray, y: np.ndarray) -> float:
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean())


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def temperature_scale(network: torch.nn.Module, X_val: np.ndarray, y_val: np.ndarray, bins: int) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Fit a temperature on validation logits and wrap the network in it.

    Parameters
    ----------
    network : nn.Module
        Maps (n_rows, n_features) to logits (n_rows, n_classes).
    X_val : ndarray of shape (n_val, n_features)
    y_val : ndarray of shape (n_val,)
        Class indices.
    bins : int
        ECE bins.

    Returns
    -------
    (nn.Module, dict)
        The wrapped network and ``{"temperature", "validation_nll_before", "validation_nll_after",
        "validation_ece_before", "validation_ece_after"}``, plus ``warning`` when the fit stopped at a bound.

    Notes
    -----
    On a validation split the network separates perfectly (every row right,
    with a margin), the NLL keeps falling as T goes to 0: the fit stops at the
    lower bound (T = 0.05) and would make every probability more extreme than
    the network's own, which the validation rows cannot justify and the test
    rows usually punish. The temperature is then left at T = 1 (the
    network's own probabilities) and the result carries a warning; a fit
    stopping at the upper bound (T = 20: nearly uniform probabilities) is kept
    and warned about.
    """
    with torch.no_grad():
        logits = network(torch.from_numpy(X_val)).numpy().astype(np.float64)
    temperature = fit_temperature(logits, y_val)
    low, high = TEMPERATURE_BOUNDS
    warning = None
    if temperature <= low * 1.01:
        right = int((logits.argmax(axis=1) == y_val).sum())
        warning = (
            f"temperature scaling stopped at its lower bound (T = {low:g}): the network separates the {len(y_val)} validation rows "
            f"({right} classified right), so a lower temperature always looks better there; T = 1 is kept instead of making every "
            "probability more extreme"
        )
        temperature = 1.0
    elif temperature >= high / 1.01:
        warning = (
            f"temperature scaling stopped at its upper bound (T = {high:g}): on the validation split the network's probabilities "
            "carry almost no information, and calibration flattens them to nearly uniform"
        )
    info: dict[str, Any] = {
        "temperature": temperature,
        "validation_nll_before": _nll(logits, y_val),
        "validation_nll_after": _nll(logits / temperature, y_val),
        "validation_ece_before": expected_calibration_error(y_val, _softmax(logits), bins),
        "validation_ece_after": expected_calibration_error(y_val, _softmax(logits / temperature), bins),
    }
    if warning:
        info["warning"] = warning
    return TemperatureScaled(network, temperature).eval(), info


@register_stage
class CalibrateStage(Stage):
    """Temperature scaling when ``evaluate.calibration.temperature_scaling`` is on."""

    name = "calibrate"
    section = "evaluate.calibration"
    order = 30
    message = "fitting a temperature on the validation split"

    def enabled(self, recipe: Recipe) -> bool:
        return recipe.evaluate.calibration.temperature_scaling

    def run(self, ctx: RunContext) -> None:
        data = ctx.data
        ctx.network, info = temperature_scale(ctx.network, data.X["validation"], data.y[data.split.validation], ctx.recipe.evaluate.calibration.bins)
        ctx.extras["temperature_scaling"] = info
        set_wrappers(checkpoint_folder(ctx.run_dir.path), ctx.network)
