"""Evasion attacks on the network: FGSM and PGD under L-inf and L2, and random noise of the same size.

The attacks are IBM's Adversarial Robustness Toolbox (ART 1.20):
``FastGradientMethod`` (FGSM, Goodfellow, Shlens & Szegedy 2015; under L2 the
fast gradient method normalises the gradient instead of taking its sign) and
``ProjectedGradientDescent`` (PGD with a random start, Madry et al. 2018). They
run on the network seen from standardised features
(:class:`~shipyard.robustness.space.Standardised`), so epsilon is in standard
deviations of each training feature; ART's ``mask`` keeps the fixed features
(one-hot blocks, indicators) unchanged, and :meth:`AttackSpace.project` keeps
each perturbed row in the training range when ``clip`` is on.

The random-noise baseline moves every perturbable feature by a random
direction of exactly the budget (random signs times epsilon under L-inf, a
uniformly random direction of length epsilon under L2): a model that resists
it but not PGD is fooled by adversarial directions, not by noise.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from shipyard.recipe import AttackSpec
from shipyard.robustness.space import AttackSpace, Standardised
from shipyard.tasks import Task

ART_NORMS = {"inf": np.inf, "2": 2}
"""Recipe norm names to ART's ``norm`` argument."""
NOISE = "noise"
"""The random-noise baseline's name in the curves."""


@contextmanager
def quiet_art() -> Iterator[None]:
    """Silence ART's informational logging and its harmless 0/0 warnings (rows whose gradient is zero)."""
    logger = logging.getLogger("art")
    level = logger.level
    logger.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            yield
        finally:
            logger.setLevel(level)


@contextmanager
def numpy_seed(seed: int) -> Iterator[None]:
    """Seed numpy's global generator (ART draws PGD's random start from it), and restore its state afterwards."""
    state = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        np.random.set_state(state)


def make_attack(estimator: Any, method: str, norm: str, epsilon: float, steps: int = 20, step_size: float = 0.125, restarts: int = 1, batch_size: int = 512) -> Any:
    """An ART evasion attack.

    Parameters
    ----------
    estimator : ART estimator
        From :meth:`shipyard.tasks.base.Task.art_estimator`.
    method : {"fgsm", "pgd"}
    norm : {"inf", "2"}
    epsilon : float
        Budget (> 0), in the estimator's input units (standard deviations here).
    steps : int
        PGD iterations.
    step_size : float
        PGD step as a fraction of epsilon.
    restarts : int
        PGD random starts (ART's ``num_random_init``). ART starts at random only
        against classifiers; against a regressor PGD starts at the clean row
        (the basic iterative method of Kurakin et al. 2017), see :func:`random_start`.
    batch_size : int

    Returns
    -------
    art.attacks.EvasionAttack
        ``FastGradientMethod`` or ``ProjectedGradientDescent``.
    """
    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent

    if not random_start(estimator):
        restarts = 0
    if method == "fgsm":
        return FastGradientMethod(estimator, norm=ART_NORMS[norm], eps=epsilon, eps_step=epsilon, batch_size=batch_size)
    return ProjectedGradientDescent(
        estimator,
        norm=ART_NORMS[norm],
        eps=epsilon,
        eps_step=epsilon * step_size,
        max_iter=steps,
        num_random_init=restarts,
        batch_size=batch_size,
        verbose=False,
    )


def random_start(estimator: Any) -> bool:
    """Whether ART's PGD can start at a random point of the ball against this estimator (classifiers only)."""
    from art.estimators.classification import ClassifierMixin

    return isinstance(estimator, ClassifierMixin)


def perturb(attack: Any, space: AttackSpace, X: np.ndarray, targets: np.ndarray, clip: bool, seed: int) -> np.ndarray:
    """Run an ART attack in standardised units and bring its rows back to preprocessed units.

    Parameters
    ----------
    attack : ART evasion attack
        From :func:`make_attack` on a :class:`Standardised` estimator.
    space : AttackSpace
    X : ndarray of shape (n_rows, n_features)
        Clean rows, preprocessed units.
    targets : ndarray
        True targets (:meth:`Task.attack_targets`): the attack moves away from them.
    clip : bool
        Keep perturbed rows in the training range.
    seed : int
        Seeds PGD's random start.

    Returns
    -------
    ndarray of shape (n_rows, n_features), float32
    """
    Z = space.standardise(X)
    with numpy_seed(seed), quiet_art():
        Z_attacked = attack.generate(x=Z, y=targets, mask=space.mask.astype(np.float32))
    return space.project(X, space.from_standardised(X, Z, Z_attacked), clip)


def random_noise(space: AttackSpace, X: np.ndarray, norm: str, epsilon: float, clip: bool, seed: int) -> np.ndarray:
    """Rows moved by a random direction of exactly ``epsilon`` (standard deviations) in the given norm.

    Returns
    -------
    ndarray of shape (n_rows, n_features), float32
    """
    rng = np.random.default_rng(seed)
    if norm == "inf":
        delta = rng.choice([-1.0, 1.0], size=X.shape) * space.mask
    else:
        delta = rng.normal(size=X.shape) * space.mask
        length = np.linalg.norm(delta, axis=1, keepdims=True)
        delta = np.divide(delta, length, out=np.zeros_like(delta), where=length > 0)
    return space.project(X, (X + epsilon * delta * space.scale).astype(np.float32), clip)


def evasion_curves(
    network: nn.Module,
    task: Task,
    space: AttackSpace,
    X: np.ndarray,
    y: np.ndarray,
    spec: AttackSpec,
    n_outputs: int,
    seed: int = 0,
    positive_index: int | None = None,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Every attack of ``spec`` at every budget: the task's metrics, success rate and perturbation size.

    Parameters
    ----------
    network : nn.Module
        The finished network (logits or values), on the CPU.
    task : Task
    space : AttackSpace
    X : ndarray of shape (n_rows, n_features)
        Attacked rows (the test split), preprocessed.
    y : ndarray of shape (n_rows,)
    spec : AttackSpec
        Methods, norms, budgets, PGD settings, ``clip``.
    n_outputs : int
    seed : int
    positive_index, threshold : optional
        The run's decision rule (binary tasks).

    Returns
    -------
    dict
        ``clean`` (metrics on the clean rows), ``curves`` (``{norm: {method: [point, ...]}}``
        with ``epsilon``, ``scores``, ``mean_linf``, ``mean_l2`` per point, ``noise`` the
        random baseline), ``seconds`` per method and ``random_start`` (PGD's). Epsilon 0 is the clean rows themselves.
    """
    X = np.asarray(X, dtype=np.float32)
    clean = task.predict(network, X)
    targets = task.attack_targets(y)
    module = Standardised(network, space.scale).eval()
    bounds = space.art_bounds(X) if spec.clip else None
    estimator = task.art_estimator(module, X.shape[1], n_outputs, clip_values=bounds)
    curves: dict[str, dict[str, list[dict[str, Any]]]] = {}
    seconds: dict[str, float] = {}
    for n, norm in enumerate(spec.norms):
        budgets = spec.epsilons if norm == "inf" else spec.l2_epsilons
        curves[norm] = {}
        for m, method in enumerate([*spec.methods, NOISE]):
            tic = time.perf_counter()
            points = []
            for k, epsilon in enumerate(budgets):
                point_seed = seed * 1_000_003 + n * 10_007 + m * 101 + k
                if epsilon == 0:
                    attacked = X.copy()
                elif method == NOISE:
                    attacked = random_noise(space, X, norm, epsilon, spec.clip, point_seed)
                else:
                    attack = make_attack(estimator, method, norm, epsilon, spec.pgd_steps, spec.pgd_step_size, spec.pgd_restarts)
                    attacked = perturb(attack, space, X, targets, spec.clip, point_seed)
                linf, l2 = space.perturbation_norms(X, attacked)
                points.append(
                    {
                        "epsilon": float(epsilon),
                        "scores": task.robustness_scores(y, clean, task.predict(network, attacked), positive_index, threshold),
                        "mean_linf": float(linf.mean()),
                        "mean_l2": float(l2.mean()),
                        "max_linf": float(linf.max(initial=0.0)),
                        "max_l2": float(l2.max(initial=0.0)),
                    }
                )
            curves[norm][method] = points
            seconds[f"{method}_{norm}"] = time.perf_counter() - tic
    return {"clean": task.scores(y, clean, positive_index, threshold), "curves": curves, "seconds": seconds, "random_start": random_start(estimator)}
