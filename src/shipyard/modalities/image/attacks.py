"""Adversarial examples in pixel space: FGSM and PGD under an L-infinity budget, kept within the pixel range.

The functions take any network on pixels in [0, 1] (the image bundle's
input, normalisation inside), so the attack stage (issue 11) can call them
for image models as it calls its own for tables: ``fgsm(network, x, y,
epsilon)``, ``pgd(network, x, y, epsilon, steps)``, and :func:`accuracy_under_attack`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from shipyard.training.device import torch_threads

if TYPE_CHECKING:  # pragma: no cover
    from shipyard.stages.base import RunContext

LOW, HIGH = 0.0, 1.0
"""The pixel range the network's input lives in."""
BATCH = 256


def _loss_grad(network: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    loss = nn.functional.cross_entropy(network(x), y)
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def fgsm(network: nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float, low: float = LOW, high: float = HIGH) -> torch.Tensor:
    """Fast Gradient Sign Method (Goodfellow, Shlens & Szegedy 2015): one step of size ``epsilon`` along the sign of the loss gradient.

    Parameters
    ----------
    network : nn.Module
        In eval mode; maps pixels (batch, channels, height, width) to logits.
    x : Tensor of shape (batch, channels, height, width)
        Pixels in [low, high].
    y : Tensor of shape (batch,)
        True classes.
    epsilon : float
        L-infinity budget in pixel units.
    low, high : float
        The pixel range the result is clipped to.

    Returns
    -------
    Tensor
        Adversarial pixels, ``|x_adv - x| <= epsilon`` and within [low, high].
    """
    if epsilon == 0:
        return x.clone()
    return (x + epsilon * _loss_grad(network, x, y).sign()).clamp(low, high).detach()


def pgd(
    network: nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float, steps: int = 10, step_size: float | None = None, random_start: bool = True,
    low: float = LOW, high: float = HIGH, generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Projected Gradient Descent (Madry et al. 2018): ``steps`` signed-gradient steps, each projected back into the epsilon ball and the pixel range.

    Parameters
    ----------
    network, x, y, epsilon, low, high
        As :func:`fgsm`.
    steps : int
    step_size : float, optional
        Default ``2.5 * epsilon / steps`` (Madry et al.).
    random_start : bool
        Start from a uniform point of the epsilon ball.
    generator : torch.Generator, optional
        For the random start.

    Returns
    -------
    Tensor
        Adversarial pixels within the budget and the range.
    """
    if epsilon == 0:
        return x.clone()
    step_size = 2.5 * epsilon / steps if step_size is None else step_size
    adv = x.clone()
    if random_start:
        adv = (adv + (torch.rand(x.shape, generator=generator) * 2 - 1) * epsilon).clamp(low, high)
    for _ in range(steps):
        adv = adv + step_size * _loss_grad(network, adv, y).sign()
        adv = torch.min(torch.max(adv, x - epsilon), x + epsilon).clamp(low, high).detach()
    return adv


def accuracy_under_attack(network: nn.Module, pixels: np.ndarray, y: np.ndarray, attack: str, epsilon: float, steps: int = 10, seed: int = 0) -> tuple[float, np.ndarray]:
    """Accuracy on adversarial versions of the images, and the adversarial images.

    Parameters
    ----------
    network : nn.Module
    pixels : ndarray of shape (n, channels, height, width)
    y : ndarray of shape (n,)
    attack : {"fgsm", "pgd"}
    epsilon : float
    steps : int
        PGD steps.
    seed : int
        PGD's random start.

    Returns
    -------
    (float, ndarray)
    """
    network.eval()
    generator = torch.Generator().manual_seed(seed)
    correct, out = 0, []
    for start in range(0, len(pixels), BATCH):
        x = torch.from_numpy(np.ascontiguousarray(pixels[start : start + BATCH], dtype=np.float32))
        t = torch.as_tensor(y[start : start + BATCH], dtype=torch.long)
        adv = fgsm(network, x, t, epsilon) if attack == "fgsm" else pgd(network, x, t, epsilon, steps, generator=generator)
        with torch.no_grad():
            correct += int((network(adv).argmax(1) == t).sum())
        out.append(adv.numpy())
    return correct / max(len(pixels), 1), np.concatenate(out) if out else pixels


def attack_curves(ctx: "RunContext") -> dict[str, Any]:
    """Test accuracy under FGSM and PGD at each ``attack.pixel_epsilons`` (pixel units), on sampled test images.

    Returns
    -------
    dict
        The content of ``attack.json`` (``kind: image``): ``epsilons``, ``curves`` (``fgsm``, ``pgd``: accuracy per
        epsilon), ``examples`` (an image and its PGD versions, as nested lists).
    """
    recipe, prepared = ctx.recipe, ctx.data
    spec = recipe.attack
    rng = np.random.default_rng(recipe.seed)
    X, y = prepared.X["test"], prepared.y[prepared.split.test]
    keep = np.arange(len(X)) if len(X) <= spec.rows else np.sort(rng.choice(len(X), spec.rows, replace=False))
    X, y = X[keep], y[keep]
    network = ctx.network.eval()
    curves: dict[str, list[float]] = {"fgsm": [], "pgd": []}
    example = []
    with torch_threads(recipe.train.num_threads):
        for epsilon in spec.pixel_epsilons:
            accuracy, _ = accuracy_under_attack(network, X, y, "fgsm", epsilon)
            curves["fgsm"].append(accuracy)
            accuracy, adversarial = accuracy_under_attack(network, X, y, "pgd", epsilon, spec.pgd_steps, recipe.seed)
            curves["pgd"].append(accuracy)
            example.append({"epsilon": epsilon, "image": np.round(adversarial[0], 4).tolist()})
    return {
        "kind": "image",
        "samples": int(len(X)),
        "epsilons": list(spec.pixel_epsilons),
        "pgd_steps": spec.pgd_steps,
        "curves": curves,
        "examples": example,
        "true": str(prepared.labels[int(y[0])]) if len(y) else None,
        "method": "FGSM (Goodfellow et al. 2015) and PGD with a random start (Madry et al. 2018), L-infinity budget epsilon in units of the [0, 1] "
        "pixel range, adversarial pixels clipped to [0, 1]; the normalisation is inside the network, so the budget is in pixel space",
    }
