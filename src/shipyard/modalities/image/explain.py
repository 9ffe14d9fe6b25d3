"""Saliency maps of an image network (Integrated Gradients, Captum) and the misclassified test images.

Integrated Gradients (Sundararajan, Taly & Yan 2017) from a black image (all
pixels 0) to the test image attributes the explained output to each pixel;
the map shown sums the attribution over channels. The explained output is the
log-probability of the predicted class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from shipyard.modalities.base import completeness_error
from shipyard.training.device import torch_threads

if TYPE_CHECKING:  # pragma: no cover
    from shipyard.stages.base import RunContext

N_STEPS = 200
"""Steps of the path integral (Gauss-Legendre). A ReLU network with max pooling has a gradient that jumps along the path, so it takes
more steps than a smooth one: on the digits CNN, 50 steps missed output - baseline output by up to 10%, 200 steps by 3%."""
MISCLASSIFIED = 24
"""Most misclassified test images kept for the report."""
SALIENCY = 12
"""Most test images whose saliency maps are kept for the report (``explain.samples`` caps it too)."""


def saliency(network: torch.nn.Module, pixels: np.ndarray, targets: np.ndarray, n_steps: int = N_STEPS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integrated-Gradients attribution of the log-probability of ``targets`` to each pixel, from a black baseline.

    Parameters
    ----------
    network : nn.Module
        Maps pixels (n, channels, height, width) in [0, 1] to logits.
    pixels : ndarray of shape (n, channels, height, width)
    targets : ndarray of shape (n,)
        Class explained per image.
    n_steps : int

    Returns
    -------
    maps : ndarray of shape (n, height, width)
        Attribution summed over channels.
    delta : ndarray of shape (n,)
        |Convergence delta|: |sum of attributions - (output - baseline output)|.
    spread : ndarray of shape (n,)
        output - baseline output (what the attributions explain).
    """
    from captum.attr import IntegratedGradients

    def log_proba(x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(network(x), dim=1)

    ig = IntegratedGradients(log_proba)
    x = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32))
    target = torch.as_tensor(targets, dtype=torch.long)
    attributions, delta = ig.attribute(x, baselines=torch.zeros_like(x), target=target, n_steps=n_steps, internal_batch_size=max(n_steps, 256), return_convergence_delta=True)
    with torch.no_grad():
        spread = (log_proba(x) - log_proba(torch.zeros_like(x))).gather(1, target.view(-1, 1)).squeeze(1)
    return attributions.sum(1).detach().numpy(), delta.detach().abs().numpy(), spread.numpy()


def explain_images(ctx: "RunContext") -> dict[str, Any]:
    """Saliency maps of sampled test images (``explain.row`` first) and the misclassified test images, with the mean |saliency| map.

    Returns
    -------
    dict
        The content of ``explain.json`` (``kind: image``); images and maps as nested lists (rounded).
    """
    recipe, prepared, task = ctx.recipe, ctx.data, ctx.task
    network = ctx.network.eval()
    spec = recipe.explain
    X, y = prepared.X["test"], prepared.y[prepared.split.test]
    labels = [str(label) for label in prepared.labels]
    with torch_threads(recipe.train.num_threads):
        proba = task.predict(network, X)
        predicted = proba.argmax(1)
        rng = np.random.default_rng(recipe.seed)
        row = min(spec.row, len(X) - 1)
        others = [i for i in rng.permutation(len(X)).tolist() if i != row]
        positions = [row] + others[: max(0, min(spec.samples, SALIENCY, len(X)) - 1)]
        maps, delta, spread = saliency(network, X[positions], predicted[positions])
        # The mean |saliency| over more test images: where the network looks in general.
        pool = np.asarray([row] + others[: max(0, min(spec.samples, len(X)) - 1)])
        pool_maps, pool_delta, pool_spread = saliency(network, X[pool], predicted[pool])
    wrong = np.flatnonzero(predicted != y)
    item = lambda i: {"test_position": int(i), "image": np.round(X[i], 4).tolist(), "true": labels[int(y[i])], "predicted": labels[int(predicted[i])], "probability": float(proba[i].max())}  # noqa: E731
    return {
        "kind": "image",
        "method": "Integrated Gradients from a black image (Captum IntegratedGradients; Sundararajan et al. 2017)",
        "output": "log-probability of the predicted class",
        "n_steps": N_STEPS,
        "saliency": [item(i) | {"map": np.round(m, 5).tolist(), "delta": float(d)} for i, m, d in zip(positions, maps, delta)],
        "mean_abs_saliency": np.round(np.abs(pool_maps).mean(0), 6).tolist(),
        "n_explained": int(len(pool)),
        "max_abs_delta": float(max(delta.max(initial=0.0), pool_delta.max(initial=0.0))),
        "completeness_error": max(completeness_error(delta, spread, 0.0), completeness_error(pool_delta, pool_spread, 0.0)),
        "misclassified": [item(i) for i in wrong[:MISCLASSIFIED]],
        "n_misclassified": int(len(wrong)),
        "n_test": int(len(X)),
        "source": "run",
    }
